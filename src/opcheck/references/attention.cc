// Float64 reference of SelfAttentionOperation (engine/src/ops/self_attention.cc; ATB
// SelfAttentionParam, flash attention with a KV cache): this step's k/v go into the caches,
// then causal attention of the step's queries over every cached position.
//   param: headNum > 0, kvHeadNum (0 = headNum; divides headNum: GQA), qScale=1, qkScale=1
//          (ATB floats; scores = q.k * qScale * qkScale), kernelType 0 DEFAULT (scores and
//          probabilities STORED in q's dtype) / 1 HIGH_PRECISION (stored in float32; float64
//          inputs keep float64), headDim (checked if set); calcType 0/1/2, maskType 0/1/9 and
//          the single-valued enums accepted as the engine accepts them.
//   in:    q [nTokens, headNum*headDim] (or [nTokens, headNum, headDim]), k, v [nTokens,
//          kvHeadNum*headDim], cacheK, cacheV [layers, batch, maxSeqLen, kvHeadNum*headDim]
//          (or without layers; k's dtype), mask [maxSeqLen, maxSeqLen] or [batch, maxSeqLen,
//          maxSeqLen] added to the scores (empty = none), tokenOffset [batch], seqLen [batch],
//          layerId [1] (integers).
//   out:   attention output, q's shape and dtype. The dumped caches are those after the op,
//          already holding this step's rows; the reference writes k/v into a copy of them at
//          rows [tokenOffset - seqLen, tokenOffset) (rounded to the cache dtype) so either
//          state gives the same result.
//   Token i of sequence b sits at position pos = tokenOffset[b] - seqLen[b] + its index and
//   attends to kv positions j <= pos: s_j = round_mid(q.k_j * scale + mask[pos, j]),
//   p = round_mid(softmax(s)) (a score at or below the mid dtype's lowest finite value is
//   masked: probability exactly 0), out = round_q(sum_j p_j v_j).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

// The most negative finite value `t` stores: what a masked score holds.
double LowestFinite(DType t) {
  switch (t) {
    case DType::kFloat16: return -65504.0;
    case DType::kBFloat16: return -3.3895313892515355e38;
    case DType::kFloat32: return std::numeric_limits<float>::lowest();
    default: return std::numeric_limits<double>::lowest();
  }
}

struct AttentionParams {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  double scale = 1;
  bool high_precision = false;
};

AttentionParams ReadParams(const RefCall& call) {
  const AtbParams p = call.params();
  AttentionParams a;
  a.heads = p.Int("headNum", 0);
  if (a.heads <= 0) p.Bad("headNum", fmt::format("must be > 0, found {}", a.heads));
  a.kv_heads = p.Int("kvHeadNum", 0);
  if (a.kv_heads == 0) a.kv_heads = a.heads;
  if (a.kv_heads < 0 || a.heads % a.kv_heads != 0)
    p.Bad("kvHeadNum", fmt::format("must divide headNum {}, found {}", a.heads, a.kv_heads));
  a.head_dim = p.Int("headDim", 0);
  // ATB's qScale and qkScale are floats.
  a.scale = RoundTo(DType::kFloat32, p.Float("qScale", 1.0)) * RoundTo(DType::kFloat32, p.Float("qkScale", 1.0));
  a.high_precision = p.Enum("kernelType", 0, {{"KERNELTYPE_DEFAULT", 0}, {"KERNELTYPE_HIGH_PRECISION", 1}}) == 1;
  p.Enum("calcType", 0, {{"UNDEFINED", 0}, {"ENCODER", 1}, {"DECODER", 2}});
  p.Enum("maskType", 0, {{"MASK_TYPE_UNDEFINED", 0}, {"MASK_TYPE_NORM", 1}, {"MASK_TYPE_CAUSAL_MASK", 9}});
  p.Enum("clampType", 0, {{"CLAMP_TYPE_UNDEFINED", 0}});
  p.Enum("kvcacheCfg", 0, {{"K_CACHE_V_CACHE", 0}});
  p.Enum("scaleType", 0, {{"SCALE_TYPE_TOR", 0}});
  p.Enum("inputLayout", 0, {{"TYPE_BSND", 0}});
  p.Enum("quantType", 0, {{"TYPE_QUANT_UNQUANT", 0}});
  if (p.Bool("batchRunStatusEnable", false)) p.Bad("batchRunStatusEnable", "only false is supported");
  return a;
}

std::vector<RefTensor> SelfAttention(RefCall& call) {
  const AttentionParams a = ReadParams(call);
  RequireInputs(call, 9);
  const char* names[] = {"q", "k", "v", "cacheK", "cacheV"};
  for (size_t i = 0; i < 5; ++i) RequireFloat(call, i, names[i]);
  const std::vector<RefTensor>& in = call.inputs;
  const DType q_dtype = in[0].dtype, cache_dtype = in[3].dtype;
  Require(in[1].dtype == q_dtype && in[2].dtype == q_dtype, call.type, "q, k and v must share a dtype");
  Require(in[3].dtype == in[1].dtype && in[4].dtype == in[1].dtype, call.type,
          fmt::format("cacheK and cacheV must have k's dtype {}", ShortName(in[1].dtype)));

  // Shapes, every relationship checked before anything is indexed.
  const auto& qs = in[0].shape;
  Require(qs.size() == 2 || qs.size() == 3, call.type,
          "q (input 0) must be [nTokens, hidden] or [nTokens, heads, headDim], found " + ShapeText(qs));
  const int64_t tokens = qs[0], q_hidden = in[0].numel() / std::max<int64_t>(tokens, 1);
  Require(q_hidden % a.heads == 0, call.type,
          fmt::format("q hidden size {} is not a multiple of param headNum {}", q_hidden, a.heads));
  const int64_t hd = q_hidden / a.heads, kvh = a.kv_heads * hd, group = a.heads / a.kv_heads;
  Require(a.head_dim <= 0 || a.head_dim == hd, call.type,
          fmt::format("param headDim {} disagrees with q {} and headNum {}", a.head_dim, ShapeText(qs), a.heads));
  for (size_t i = 1; i <= 2; ++i)
    Require(!in[i].shape.empty() && in[i].shape[0] == tokens && in[i].numel() == tokens * kvh, call.type,
            fmt::format("{} (input {}) has shape {}, expected [{}, {}] (kvHeadNum {} x headDim {})", names[i], i,
                        ShapeText(in[i].shape), tokens, kvh, a.kv_heads, hd));
  const auto& cs = in[3].shape;
  Require((cs.size() == 3 || cs.size() == 4) && cs.back() == kvh, call.type,
          fmt::format("cacheK (input 3) has shape {}, expected [layers, batch, maxSeqLen, {}]", ShapeText(cs), kvh));
  Require(in[4].shape == cs, call.type,
          fmt::format("cacheV {} differs from cacheK {}", ShapeText(in[4].shape), ShapeText(cs)));
  const int64_t layers = cs.size() == 4 ? cs[0] : 1, batch = cs[cs.size() - 3], max_seq = cs[cs.size() - 2];
  const RefTensor& mask = in[5];
  const bool has_mask = mask.numel() > 0;
  if (has_mask) {
    RequireFloat(call, 5, "attentionMask");
    const auto& m = mask.shape;
    const bool ok = (m.size() == 2 || (m.size() == 3 && m[0] == batch)) && m[m.size() - 1] == max_seq &&
                    m[m.size() - 2] == max_seq;
    Require(ok, call.type,
            fmt::format("attentionMask (input 5) has shape {}, expected [{}, {}] or [{}, {}, {}]", ShapeText(m),
                        max_seq, max_seq, batch, max_seq, max_seq));
  }
  const std::vector<int64_t> offsets = IntValues(call, 6, "tokenOffset");
  const std::vector<int64_t> seq_lens = IntValues(call, 7, "seqLen");
  const std::vector<int64_t> layer_ids = IntValues(call, 8, "layerId");
  Require(static_cast<int64_t>(offsets.size()) == batch && static_cast<int64_t>(seq_lens.size()) == batch, call.type,
          fmt::format("tokenOffset {} and seqLen {} must hold one value per cache batch entry ({})",
                      ShapeText(in[6].shape), ShapeText(in[7].shape), batch));
  Require(layer_ids.size() == 1, call.type,
          "layerId (input 8) must hold one value, found shape " + ShapeText(in[8].shape));
  const int64_t layer = layer_ids[0];
  Require(layer >= 0 && layer < layers, call.type, fmt::format("layerId {} is out of range [0, {})", layer, layers));

  // Each token's sequence and position.
  std::vector<int64_t> seq_of(tokens), pos_of(tokens);
  int64_t t = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t off = offsets[b], len = seq_lens[b];
    Require(len >= 0 && len <= off && off <= max_seq, call.type,
            fmt::format("sequence {}: need 0 <= seqLen ({}) <= tokenOffset ({}) <= maxSeqLen ({})", b, len, off,
                        max_seq));
    Require(len <= tokens - t, call.type, fmt::format("seqLen sums to more than the {} tokens of q", tokens));
    for (int64_t i = 0; i < len; ++i, ++t) {
      seq_of[t] = b;
      pos_of[t] = off - len + i;
    }
  }
  Require(t == tokens, call.type, fmt::format("seqLen sums to {}, but q holds {} tokens", t, tokens));

  // This step's k/v written into copies of the caches (a no-op for the caches dumped after).
  std::vector<double> ck = in[3].data, cv = in[4].data;
  const int64_t cache_base = layer * batch * max_seq * kvh;
  auto cache_row = [&](int64_t b, int64_t pos) { return cache_base + (b * max_seq + pos) * kvh; };
  for (int64_t i = 0; i < tokens; ++i)
    for (int64_t c = 0; c < kvh; ++c) {
      ck[cache_row(seq_of[i], pos_of[i]) + c] = RoundTo(cache_dtype, in[1].data[i * kvh + c]);
      cv[cache_row(seq_of[i], pos_of[i]) + c] = RoundTo(cache_dtype, in[2].data[i * kvh + c]);
    }

  // Per sequence and head, BLAS products over the sequence's cached rows [0, tokenOffset):
  // scores [n, off] = q_h . K_g^T, then row i (position off - n + i) keeps columns j <= pos.
  const DType mid = a.high_precision ? (q_dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32) : q_dtype;
  const double masked = LowestFinite(mid);
  RefTensor out = RefTensor::Zeros(q_dtype, qs, call.type);
  std::vector<double> scores, probs;
  for (int64_t b = 0, t0 = 0; b < batch; t0 += seq_lens[b], ++b) {
    const int64_t n = seq_lens[b], off = offsets[b];
    if (n == 0) continue;
    const double* mask_b = has_mask ? mask.data.data() + (mask.shape.size() == 3 ? b * max_seq * max_seq : 0) : nullptr;
    scores.assign(static_cast<size_t>(n * off), 0.0);
    probs.assign(static_cast<size_t>(n * off), 0.0);
    for (int64_t h = 0; h < a.heads; ++h) {
      const int64_t kv_col = (h / group) * hd;
      const double* qh = in[0].data.data() + t0 * q_hidden + h * hd;
      Dgemm(false, true, n, off, hd, qh, q_hidden, ck.data() + cache_row(b, 0) + kv_col, kvh, scores.data(), off);
      bool finite_v = true;  // 0 * inf would leak a later position's inf/NaN into the BLAS product
      for (int64_t i = 0; i < n; ++i) {
        const int64_t pos = off - n + i;
        double* s = scores.data() + i * off;
        double* p = probs.data() + i * off;
        double mx = -std::numeric_limits<double>::infinity(), sum = 0;
        for (int64_t j = 0; j <= pos; ++j) {
          s[j] = RoundTo(mid, s[j] * a.scale + (mask_b ? mask_b[pos * max_seq + j] : 0.0));  // the stored score
          mx = std::max(mx, s[j]);
        }
        for (int64_t j = 0; j <= pos; ++j) sum += (p[j] = s[j] <= masked ? 0.0 : std::exp(s[j] - mx));
        for (int64_t j = 0; j <= pos; ++j) p[j] = RoundTo(mid, p[j] / sum);  // the stored probability
        for (int64_t d = 0; d < hd; ++d) finite_v = finite_v && std::isfinite(cv[cache_row(b, pos) + kv_col + d]);
      }
      double* oh = out.data.data() + t0 * q_hidden + h * hd;
      if (finite_v) {
        Dgemm(false, false, n, hd, off, probs.data(), off, cv.data() + cache_row(b, 0) + kv_col, kvh, oh, q_hidden);
        continue;
      }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= off - n + i; ++j)
          for (int64_t d = 0; d < hd; ++d)
            oh[i * q_hidden + d] += probs[i * off + j] * cv[cache_row(b, j) + kv_col + d];
    }
  }
  RoundAll(q_dtype, out.data);
  return {std::move(out)};
}

}  // namespace

std::vector<Reference> AttentionReferences() { return {{"SelfAttentionOperation", SelfAttention}}; }

}  // namespace ait::opcheck
