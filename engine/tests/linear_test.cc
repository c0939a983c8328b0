// Linear, MatMul and LinearQuant against float64 references: every float dtype, odd sizes,
// one token, the observed kernels, and int8 results that stay inside the quantization
// error bound while differing from the float result.
#include <gtest/gtest.h>

#include <cmath>

#include "op_test_util.h"

namespace ait::engine::testing {
namespace {

// y[m, n] = sum_k x[m, k] * w(n, k), w [N, K] when wt else [K, N].
Vec MatMulRef(const Vec& x, const Vec& w, int64_t m, int64_t n, int64_t k, bool wt) {
  Vec y(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < k; ++c) y[i * n + j] += x[i * k + c] * (wt ? w[j * k + c] : w[c * n + j]);
  return y;
}

TEST(Linear, MatchesFloat64EveryDtypeWithAndWithoutBias) {
  for (DType t : kFloatTypes)
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 13}, {5, 9, 33}, {4, 16, 64}})
      for (bool trans_b : {true, false})
        for (bool bias : {true, false}) {
          const Vec x = Rounded(t, Random(m * k, 20)), w = Rounded(t, Random(n * k, 21)), b = Rounded(t, Random(n, 22));
          std::vector<Tensor> in = {Make(t, {m, k}, x), Make(t, trans_b ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n}, w)};
          if (bias) in.push_back(Make(t, {n}, b));
          RecordingObserver obs;
          auto out = RunOp("LinearOperation", {{"transposeB", trans_b}, {"hasBias", bias}}, in, &obs);
          ASSERT_EQ(out[0].shape, (std::vector<int64_t>{m, n}));
          Vec ref = MatMulRef(x, w, m, n, k, trans_b);
          if (bias) {  // the product is stored (rounded) before the bias kernel adds to it
            ref = Rounded(t, ref);
            for (int64_t i = 0; i < m * n; ++i) ref[i] += b[i % n];
          }
          ExpectNear(out[0], ref, 1, "linear");
          ASSERT_EQ(obs.after.size(), bias ? 2u : 1u);
          EXPECT_EQ(obs.before, (std::vector<std::string>(bias ? std::vector<std::string>{"MatMul", "BiasAdd"}
                                                               : std::vector<std::string>{"MatMul"})));
          EXPECT_EQ(obs.after[0].index, 0u);
          EXPECT_EQ(obs.after[0].in_shapes[1], in[1].shape);
          EXPECT_EQ(obs.after[0].out_shapes[0], (std::vector<int64_t>{m, n}));
          if (bias) {
            EXPECT_EQ(obs.after[1].index, 1u);
            EXPECT_EQ(obs.after[1].in_shapes[1], (std::vector<int64_t>{n}));
          }
        }
}

TEST(Linear, BatchSeqHiddenInputAndErrors) {
  const Vec x = Random(2 * 3 * 10, 23), w = Random(4 * 10, 24);
  auto out = RunOp("LinearOperation", {{"hasBias", false}}, {Make(DType::kFloat32, {2, 3, 10}, x), Make(DType::kFloat32, {4, 10}, w)});
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{2, 3, 4}));
  ExpectNear(out[0], MatMulRef(Rounded(DType::kFloat32, x), Rounded(DType::kFloat32, w), 6, 4, 10, true));
  ExpectError([] { RunOp("LinearOperation", {{"hasBias", false}}, {Make(DType::kFloat32, {2, 10}, Vec(20)), Make(DType::kFloat32, {4, 9}, Vec(36))}); },
              {"LinearOperation", "K"});
  ExpectError([] { RunOp("LinearOperation", {}, {Make(DType::kFloat32, {2, 10}, Vec(20)), Make(DType::kFloat32, {4, 10}, Vec(40))}); },
              {"LinearOperation", "expected 3 input"});  // ATB's hasBias defaults to true
  ExpectError([] { CreateOperation("LinearOperation", {{"transposeB", "yes"}}); }, {"LinearOperation", "transposeB"});
}

TEST(MatMul, BatchedSharedAndTransposed) {
  for (DType t : kFloatTypes) {
    const Vec a = Rounded(t, Random(2 * 3 * 5, 25)), b = Rounded(t, Random(2 * 5 * 4, 26));
    auto out = RunOp("MatMulOperation", {}, {Make(t, {2, 3, 5}, a), Make(t, {2, 5, 4}, b)});
    ASSERT_EQ(out[0].shape, (std::vector<int64_t>{2, 3, 4}));
    Vec ref;
    for (int i = 0; i < 2; ++i) {
      Vec r = MatMulRef(Vec(a.begin() + i * 15, a.begin() + i * 15 + 15), Vec(b.begin() + i * 20, b.begin() + i * 20 + 20), 3, 4, 5, false);
      ref.insert(ref.end(), r.begin(), r.end());
    }
    ExpectNear(out[0], ref, 1, "batched");
    // Shared, transposed b [N, K].
    auto shared = RunOp("MatmulOperation", {{"transposeB", true}}, {Make(t, {2, 3, 5}, a), Make(t, {4, 5}, Vec(b.begin(), b.begin() + 20))});
    ExpectNear(shared[0], [&] {
      Vec r;
      for (int i = 0; i < 2; ++i) {
        Vec p = MatMulRef(Vec(a.begin() + i * 15, a.begin() + i * 15 + 15), Vec(b.begin(), b.begin() + 20), 3, 4, 5, true);
        r.insert(r.end(), p.begin(), p.end());
      }
      return r;
    }(), 1, "shared");
  }
  ExpectError([] { RunOp("MatMulOperation", {}, {Make(DType::kFloat32, {2, 3}, Vec(6)), Make(DType::kFloat32, {4, 2}, Vec(8))}); },
              {"MatMulOperation", "K"});
}

// Symmetric per-row int8 quantization of w [N, K]: scale = max|row| / 127.
void QuantizeRows(const Vec& w, int64_t n, int64_t k, Vec* wq, Vec* scale) {
  wq->resize(w.size());
  scale->resize(n);
  for (int64_t r = 0; r < n; ++r) {
    double amax = 0;
    for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(w[r * k + c]));
    (*scale)[r] = static_cast<float>(amax / 127);
    for (int64_t c = 0; c < k; ++c) (*wq)[r * k + c] = std::nearbyint(w[r * k + c] / (*scale)[r]);
  }
}

TEST(LinearQuant, W8A16WithinWeightQuantErrorAndNotFloat) {
  for (DType t : kFloatTypes)
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 5, 17}, {6, 11, 40}}) {
      const Vec x = Rounded(t, Random(m * k, 30)), w = Random(n * k, 31), b = Rounded(t, Random(n, 32));
      Vec wq, ws;
      QuantizeRows(w, n, k, &wq, &ws);
      RecordingObserver obs;
      auto out = RunOp("LinearQuantOperation", {{"quantMode", "W8A16"}, {"hasBias", true}},
                       {Make(t, {m, k}, x), Make(DType::kInt8, {n, k}, wq), Make(DType::kFloat32, {n}, ws), Make(t, {n}, b)}, &obs);
      EXPECT_EQ(obs.before, (std::vector<std::string>{"AntiQuantMatMul", "BiasAdd"}));
      Vec deq(wq.size());
      for (int64_t i = 0; i < n * k; ++i) deq[i] = wq[i] * ws[i / k];
      Vec ref = Rounded(t, MatMulRef(x, deq, m, n, k, true));
      for (int64_t i = 0; i < m * n; ++i) ref[i] += b[i % n];
      ExpectNear(out[0], ref, 1, "w8a16 exact dequant");
      // Against the float weights: |error| <= sum_k |x| * scale / 2 (+ output rounding).
      const Vec exact = MatMulRef(x, w, m, n, k, true), got = Read(out[0]);
      double maxdiff = 0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double bound = 0;
          for (int64_t c = 0; c < k; ++c) bound += std::fabs(x[i * k + c]) * ws[j] / 2;
          const double e = exact[i * n + j] + b[j];
          EXPECT_LE(std::fabs(got[i * n + j] - e), bound + 2 * Ulp(t == DType::kFloat32 ? DType::kFloat16 : t, e));
          maxdiff = std::max(maxdiff, std::fabs(got[i * n + j] - e));
        }
      EXPECT_GT(maxdiff, 1e-4) << "quantized result should differ from the float one";
    }
}

TEST(LinearQuant, W8A8PerTokenKernelsBoundAndNotFloat) {
  for (DType t : kFloatTypes) {
    const int64_t m = 3, n = 7, k = 29;
    const Vec x = Rounded(t, Random(m * k, 40, -3, 3)), w = Random(n * k, 41);
    Vec wq, ws;
    QuantizeRows(w, n, k, &wq, &ws);
    RecordingObserver obs;
    auto out = RunOp("LinearQuantOperation", {{"quantMode", 2}, {"outDataType", AtbCode(t)}},
                     {Make(t, {m, k}, x), Make(DType::kInt8, {n, k}, wq), Make(DType::kFloat32, {n}, ws)}, &obs);
    ASSERT_EQ(obs.after.size(), 3u);
    EXPECT_EQ(obs.before, (std::vector<std::string>{"QuantPerToken", "QuantMatMul", "Dequant"}));
    EXPECT_EQ(obs.after[0].out_dtypes, (std::vector<DType>{DType::kInt8, DType::kFloat32}));
    EXPECT_EQ(obs.after[0].out_shapes[1], (std::vector<int64_t>{m}));
    EXPECT_EQ(obs.after[1].out_dtypes[0], DType::kInt32);
    EXPECT_EQ(obs.after[1].out_shapes[0], (std::vector<int64_t>{m, n}));
    EXPECT_EQ(obs.after[2].index, 2u);
    // Emulate the scheme exactly in float64, then bound the distance from the float result.
    Vec ref(m * n), xs(m);
    for (int64_t i = 0; i < m; ++i) {
      double amax = 0;
      for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(x[i * k + c]));
      xs[i] = static_cast<float>(static_cast<float>(amax) / 127.0f);
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t c = 0; c < k; ++c)
          acc += std::clamp(std::nearbyint(static_cast<float>(x[i * k + c]) / static_cast<float>(xs[i])), -127.0f, 127.0f) * wq[j * k + c];
        ref[i * n + j] = acc * xs[i] * ws[j];
      }
    }
    ExpectNear(out[0], ref, 1, "w8a8 emulation");
    const Vec exact = MatMulRef(x, w, m, n, k, true), got = Read(out[0]);
    double maxdiff = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double bound = 0;
        for (int64_t c = 0; c < k; ++c)
          bound += std::fabs(x[i * k + c]) * ws[j] / 2 + std::fabs(w[j * k + c]) * xs[i] / 2 + xs[i] * ws[j] / 4;
        const double e = exact[i * n + j];
        EXPECT_LE(std::fabs(got[i * n + j] - e), bound + 2 * Ulp(t == DType::kFloat32 ? DType::kFloat16 : t, e));
        maxdiff = std::max(maxdiff, std::fabs(got[i * n + j] - e));
      }
    EXPECT_GT(maxdiff, 1e-4);
  }
}

TEST(LinearQuant, RejectsBadParamsAndShapes) {
  ExpectError([] { CreateOperation("LinearQuantOperation", {{"quantMode", 1}}); }, {"LinearQuantOperation", "quantMode"});
  ExpectError([] { CreateOperation("LinearQuantOperation", {{"transposeB", false}}); }, {"LinearQuantOperation", "transposeB"});
  ExpectError([] { RunOp("LinearQuantOperation", {}, {Make(DType::kFloat16, {2, 4}, Vec(8)), Make(DType::kFloat16, {3, 4}, Vec(12)),
                                                      Make(DType::kFloat32, {3}, Vec(3))}); },
              {"LinearQuantOperation", "weight", "int8"});
  ExpectError([] { RunOp("LinearQuantOperation", {}, {Make(DType::kFloat16, {2, 4}, Vec(8)), Make(DType::kInt8, {3, 4}, Vec(12)),
                                                      Make(DType::kFloat32, {2}, Vec(2))}); },
              {"LinearQuantOperation", "weightScale"});
}

}  // namespace
}  // namespace ait::engine::testing
