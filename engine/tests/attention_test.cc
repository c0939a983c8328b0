// Rope and SelfAttention against float64 references: HF rotate_half and interleaved rope,
// and prefill + decode through the KV cache equal to full causal attention over all tokens
// (grouped-query heads, one head, two sequences at once, a mask, every float dtype).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "op_test_util.h"

namespace ait::engine::testing {
namespace {

// cos/sin rows [tokens, hd] for the positions, HF's layout (freqs repeated in halves).
void CosSin(const std::vector<int>& pos, int64_t hd, Vec* c, Vec* s) {
  for (int p : pos)
    for (int64_t i = 0; i < hd; ++i) {
      const double f = p / std::pow(10000.0, 2.0 * (i % (hd / 2)) / hd);
      c->push_back(std::cos(f));
      s->push_back(std::sin(f));
    }
}

TEST(Rope, HalfRotationLikeHfLlamaWithGqaEveryDtype) {
  const int64_t tokens = 5, hd = 8, hq = 3 * hd, hk = 1 * hd;
  for (DType t : kFloatTypes) {
    Vec c, s;
    CosSin({0, 1, 2, 0, 1}, hd, &c, &s);  // two sequences: 3 + 2 tokens
    c = Rounded(t, c), s = Rounded(t, s);
    const Vec q = Rounded(t, Random(tokens * hq, 50)), k = Rounded(t, Random(tokens * hk, 51));
    RecordingObserver obs;
    auto out = RunOp("RopeOperation", {{"rotaryCoeff", 2}},
                     {Make(t, {tokens, hq}, q), Make(t, {tokens, hk}, k), Make(t, {tokens, hd}, c), Make(t, {tokens, hd}, s),
                      Make(DType::kInt32, {2}, {3, 2})}, &obs);
    auto ref = [&](const Vec& x, int64_t hidden) {  // x * cos + rotate_half(x) * sin, per head
      Vec y(x.size());
      for (int64_t tk = 0; tk < tokens; ++tk)
        for (int64_t h = 0; h < hidden / hd; ++h)
          for (int64_t i = 0; i < hd; ++i) {
            const double* xv = &x[tk * hidden + h * hd];
            const double rot = i < hd / 2 ? -xv[i + hd / 2] : xv[i - hd / 2];
            y[tk * hidden + h * hd + i] = xv[i] * c[tk * hd + i] + rot * s[tk * hd + i];
          }
      return y;
    };
    ExpectNear(out[0], ref(q, hq), 1, "rope q");
    ExpectNear(out[1], ref(k, hk), 1, "rope k");
    EXPECT_EQ(obs.before, (std::vector<std::string>{"Rope"}));
    EXPECT_EQ(obs.after[0].out_shapes, (std::vector<std::vector<int64_t>>{{tokens, hq}, {tokens, hk}}));
  }
}

TEST(Rope, InterleavedWhenCoeffIsHeadDim) {
  const int64_t tokens = 1, hd = 6;
  const Vec q = Random(hd * 2, 52), k = Random(hd, 53), c = Random(hd, 54), s = Random(hd, 55);
  auto out = RunOp("RopeOperation", {{"rotaryCoeff", hd}},
                   {Make(DType::kFloat32, {tokens, 2, hd}, q), Make(DType::kFloat32, {tokens, hd}, k), Make(DType::kFloat32, {1, hd}, c),
                    Make(DType::kFloat32, {1, hd}, s), Make(DType::kInt32, {1}, {1})});
  Vec ref(q.size());
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < hd; i += 2) {
      const double a = q[h * hd + i], b = q[h * hd + i + 1];
      ref[h * hd + i] = a * c[i] - b * s[i];
      ref[h * hd + i + 1] = b * c[i + 1] + a * s[i + 1];
    }
  ExpectNear(out[0], ref);
  ExpectError([&] { RunOp("RopeOperation", {{"rotaryCoeff", 2}}, {Make(DType::kFloat32, {1, 12}, q), Make(DType::kFloat32, {1, 6}, k),
                                                                  Make(DType::kFloat32, {1, 6}, c), Make(DType::kFloat32, {1, 6}, s),
                                                                  Make(DType::kInt32, {1}, {2})}); },
              {"RopeOperation", "seqLen"});
  ExpectError([] { CreateOperation("RopeOperation", {{"rotaryCoeff", 3}}); }, {"RopeOperation", "rotaryCoeff"});
}

// Full causal attention of one sequence in float64. q [T, H*hd], k/v [T, KV*hd]; `round`
// models where the engine stores scores and probabilities (identity for float32 storage).
Vec AttentionRef(const Vec& q, const Vec& k, const Vec& v, int64_t T, int64_t H, int64_t KV, int64_t hd, double scale,
                 const std::function<double(int64_t, int64_t)>& mask, const std::function<double(double)>& round) {
  Vec out(T * H * hd, 0.0);
  for (int64_t h = 0; h < H; ++h) {
    const int64_t g = h / (H / KV);
    for (int64_t i = 0; i < T; ++i) {
      Vec s(i + 1);
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double d = 0;
        for (int64_t e = 0; e < hd; ++e) d += q[i * H * hd + h * hd + e] * k[j * KV * hd + g * hd + e];
        s[j] = round(d * scale + mask(i, j));
        mx = std::max(mx, s[j]);
      }
      for (double& x : s) sum += (x = std::exp(x - mx));
      for (int64_t j = 0; j <= i; ++j)
        for (int64_t e = 0; e < hd; ++e) out[i * H * hd + h * hd + e] += round(s[j] / sum) * v[j * KV * hd + g * hd + e];
    }
  }
  return out;
}

struct AttnCase {
  DType t;
  int64_t heads, kv_heads, hd;
  int kernel_type;
  double steps;
};

// Runs sequences of lengths `total` with prefill lengths `prefill`, decoding the rest one token
// per step for every sequence at once; compares every output row with AttentionRef.
void CheckPrefillThenDecode(const AttnCase& c, const std::vector<int64_t>& prefill, const std::vector<int64_t>& total,
                            bool with_mask) {
  const int64_t batch = prefill.size(), max_seq = 12, layers = 2, layer = 1, H = c.heads, KV = c.kv_heads, hd = c.hd;
  const double scale = 1 / std::sqrt(static_cast<double>(hd));
  Json param = {{"headNum", H}, {"kvHeadNum", KV == H ? 0 : KV}, {"qScale", 1.0}, {"qkScale", scale},
                {"kernelType", c.kernel_type}, {"calcType", 0}, {"maskType", 1}};
  auto op = CreateOperation("SelfAttentionOperation", param);
  std::vector<Vec> q(batch), k(batch), v(batch), got(batch);
  for (int64_t b = 0; b < batch; ++b) {
    q[b] = Rounded(c.t, Random(total[b] * H * hd, 60 + b, -2, 2));
    k[b] = Rounded(c.t, Random(total[b] * KV * hd, 70 + b, -2, 2));
    v[b] = Rounded(c.t, Random(total[b] * KV * hd, 80 + b));
  }
  Vec mask_v(max_seq * max_seq, 0.0);
  if (with_mask) mask_v = Rounded(c.t, Random(max_seq * max_seq, 90, -1, 0));
  Tensor mask = with_mask ? Make(c.t, {max_seq, max_seq}, mask_v) : Tensor::Allocate(c.t, {0});
  Tensor ck = Tensor::Allocate(c.t, {layers, batch, max_seq, KV * hd}), cv = Tensor::Allocate(c.t, {layers, batch, max_seq, KV * hd});
  std::vector<int64_t> done(batch, 0);
  for (int step = 0;; ++step) {
    std::vector<int64_t> len(batch);
    Vec qs, ks, vs, offs, lens;
    int64_t tokens = 0;
    for (int64_t b = 0; b < batch; ++b) {
      len[b] = step == 0 ? prefill[b] : std::min<int64_t>(1, total[b] - done[b]);
      qs.insert(qs.end(), q[b].begin() + done[b] * H * hd, q[b].begin() + (done[b] + len[b]) * H * hd);
      ks.insert(ks.end(), k[b].begin() + done[b] * KV * hd, k[b].begin() + (done[b] + len[b]) * KV * hd);
      vs.insert(vs.end(), v[b].begin() + done[b] * KV * hd, v[b].begin() + (done[b] + len[b]) * KV * hd);
      offs.push_back(static_cast<double>(done[b] + len[b]));
      lens.push_back(static_cast<double>(len[b]));
      tokens += len[b];
    }
    if (tokens == 0) break;
    RecordingObserver obs;
    ExecContext ctx(0, &obs);
    auto out = RunOperation(*op, {Make(c.t, {tokens, H * hd}, qs), Make(c.t, {tokens, KV * hd}, ks), Make(c.t, {tokens, KV * hd}, vs),
                                  ck, cv, mask, Make(DType::kInt32, {batch}, offs), Make(DType::kInt32, {batch}, lens),
                                  Make(DType::kInt32, {1}, {static_cast<double>(layer)})}, ctx);
    EXPECT_EQ(obs.before, (std::vector<std::string>{"KVCache", "QKMatmul", "Softmax", "PVMatmul"}));
    for (size_t i = 0; i < obs.after.size(); ++i) EXPECT_EQ(obs.after[i].index, i);
    int64_t max_kv = 0;
    for (double o : offs) max_kv = std::max<int64_t>(max_kv, static_cast<int64_t>(o));
    EXPECT_EQ(obs.after[1].out_shapes[0], (std::vector<int64_t>{H, tokens, max_kv}));
    EXPECT_EQ(obs.after[2].out_dtypes[0], c.kernel_type == 1 ? DType::kFloat32 : c.t);
    const Vec o = Read(out[0]);
    int64_t at = 0;
    for (int64_t b = 0; b < batch; ++b) {
      got[b].insert(got[b].end(), o.begin() + at * H * hd, o.begin() + (at + len[b]) * H * hd);
      at += len[b];
      done[b] += len[b];
    }
  }
  // The cache holds every sequence's k at its positions, in the chosen layer only.
  const Vec cache = Read(ck);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t e = 0; e < total[b] * KV * hd; ++e)
      ASSERT_EQ(cache[((layer * batch + b) * max_seq) * KV * hd + e], k[b][e]);
  for (int64_t e = 0; e < batch * max_seq * KV * hd; ++e) ASSERT_EQ(cache[e], 0.0);  // layer 0 untouched

  auto round = [&](double x) { return c.kernel_type == 1 ? x : Rounded(c.t, {x})[0]; };
  for (int64_t b = 0; b < batch; ++b) {
    Vec ref = AttentionRef(q[b], k[b], v[b], total[b], H, KV, hd, scale,
                           [&](int64_t i, int64_t j) { return mask_v[i * max_seq + j]; }, round);
    ExpectNear(Make(c.t, {static_cast<int64_t>(got[b].size())}, got[b]), ref, c.steps,
               fmt::format("{} heads {}/{} seq {}", ShortName(c.t), H, KV, b));
  }
}

TEST(SelfAttention, PrefillThenDecodeEqualsFullCausalAttention) {
  for (const AttnCase& c : {AttnCase{DType::kFloat32, 4, 2, 8, 0, 1}, AttnCase{DType::kFloat32, 1, 1, 5, 0, 1},
                            AttnCase{DType::kFloat32, 6, 1, 4, 1, 1}, AttnCase{DType::kFloat16, 4, 2, 8, 1, 1},
                            AttnCase{DType::kBFloat16, 2, 2, 8, 1, 1}, AttnCase{DType::kFloat16, 4, 4, 8, 0, 2},
                            AttnCase{DType::kBFloat16, 4, 2, 6, 0, 2}}) {
    SCOPED_TRACE(fmt::format("{} H={} KV={} hd={} kernelType={}", ShortName(c.t), c.heads, c.kv_heads, c.hd, c.kernel_type));
    CheckPrefillThenDecode(c, {5}, {8}, false);
    CheckPrefillThenDecode(c, {3, 1}, {6, 4}, false);  // two sequences of different lengths
  }
}

TEST(SelfAttention, AddsTheAttentionMask) {
  CheckPrefillThenDecode(AttnCase{DType::kFloat32, 2, 1, 4, 0, 1}, {4}, {6}, true);
}

TEST(SelfAttention, RejectsBadParamsAndInputs) {
  ExpectError([] { CreateOperation("SelfAttentionOperation", {}); }, {"SelfAttentionOperation", "headNum"});
  ExpectError([] { CreateOperation("SelfAttentionOperation", {{"headNum", 4}, {"kvHeadNum", 3}}); },
              {"SelfAttentionOperation", "kvHeadNum"});
  ExpectError([] { CreateOperation("SelfAttentionOperation", {{"headNum", 4}, {"maskType", 2}}); },
              {"SelfAttentionOperation", "maskType"});
  auto f = [](std::vector<int64_t> q_shape, double seqlen, double offset) {
    const DType t = DType::kFloat32;
    return RunOp("SelfAttentionOperation", {{"headNum", 2}},
                 {Tensor::Allocate(t, q_shape), Tensor::Allocate(t, {2, 8}), Tensor::Allocate(t, {2, 8}),
                  Tensor::Allocate(t, {1, 1, 4, 8}), Tensor::Allocate(t, {1, 1, 4, 8}), Tensor::Allocate(t, {0}),
                  Make(DType::kInt32, {1}, {offset}), Make(DType::kInt32, {1}, {seqlen}), Make(DType::kInt32, {1}, {0})});
  };
  ExpectError([&] { f({2, 8}, 1, 1); }, {"SelfAttentionOperation", "seqLen sums to 1"});
  ExpectError([&] { f({2, 8}, 2, 5); }, {"SelfAttentionOperation", "maxSeqLen"});
  ExpectError([&] { f({2, 7}, 2, 2); }, {"SelfAttentionOperation", "headNum"});
  EXPECT_NO_THROW(f({2, 8}, 2, 3));
}

}  // namespace
}  // namespace ait::engine::testing
