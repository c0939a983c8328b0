// ComputePairMetrics against a straightforward float64 reference (FORMATS.md 7.6): many
// sizes around the chunk length, every dtype pairing, cyclic reads, zero and tiny goldens,
// softmax at large magnitudes, NaN/inf accounting, unaligned inputs, every SIMD target.
#include <gtest/gtest.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "ait/convert.h"
#include "ait/metrics.h"
#include "test_util.h"

namespace ait {
namespace {

constexpr float kEps = 1.1920928955078125e-07f;  // 2^-23
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A tensor's bytes plus the float32 values the metrics are defined on.
struct Tensor1D {
  DType dtype;
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  ElementSpan span() const { return {dtype, bytes.data(), static_cast<int64_t>(values.size())}; }
};

// Encodes `v` as `dtype` (rounding as a writer would); `values` holds what was stored.
Tensor1D Encode(DType dtype, const std::vector<float>& v) {
  Tensor1D t{dtype, std::vector<uint8_t>(v.size() * ItemSize(dtype)), {}};
  for (size_t i = 0; i < v.size(); ++i) {
    uint8_t* p = t.bytes.data() + i * ItemSize(dtype);
    float stored = v[i];
    auto put = [p](auto x) { std::memcpy(p, &x, sizeof x); };
    switch (dtype) {
      case DType::kFloat32: put(v[i]); break;
      case DType::kFloat16: put(FloatToHalf(v[i])), stored = HalfToFloat(FloatToHalf(v[i])); break;
      case DType::kBFloat16: put(FloatToBFloat16(v[i])), stored = BFloat16ToFloat(FloatToBFloat16(v[i])); break;
      case DType::kFloat64: {
        double x = static_cast<double>(v[i]) * (1 + 1e-9);  // not a float32 value: must round
        put(x), stored = static_cast<float>(x);
        break;
      }
      case DType::kInt8: {
        auto x = static_cast<int8_t>(std::clamp(std::lround(v[i] * 30), -128L, 127L));
        put(x), stored = x;
        break;
      }
      case DType::kBool: put(static_cast<uint8_t>(v[i] > 0)), stored = v[i] > 0; break;
      default: ADD_FAILURE() << "no encoder for " << ShortName(dtype);
    }
    t.values.push_back(stored);
  }
  return t;
}

std::vector<float> Normal(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}
std::vector<float> Uniform(size_t n, unsigned seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The definitions, written the obvious way: float64 sums, two-pass softmax.
PairMetrics Reference(const std::vector<float>& g0, const std::vector<float>& m0) {
  const size_t n = std::max(g0.size(), m0.size());
  std::vector<float> g(n), m(n);
  for (size_t i = 0; i < n; ++i) g[i] = g0[i % g0.size()], m[i] = m0[i % m0.size()];
  auto stats = [](const std::vector<float>& v) {
    SideStats s;
    double sum = 0;
    s.max = -INFINITY, s.min = INFINITY;
    for (float x : v) {
      s.nan_count += std::isnan(x);
      s.inf_count += std::isinf(x);
      s.max = std::max<double>(s.max, x), s.min = std::min<double>(s.min, x), sum += x;
    }
    s.mean = sum / v.size();
    if (s.nan_count) s.max = s.min = kNaN;
    return s;
  };
  PairMetrics r;
  r.golden = stats(g0), r.my = stats(m0);
  double gm = 0, gg = 0, mm = 0, dd = 0, sum_r = 0, sum_a = 0;
  float max_r = 0, max_a = 0;
  for (size_t i = 0; i < n; ++i) {
    gm += double(g[i]) * m[i], gg += double(g[i]) * g[i], mm += double(m[i]) * m[i];
    dd += (double(m[i]) - g[i]) * (double(m[i]) - g[i]);
    float ri = std::fabs(g[i]) > kEps ? std::fabs(m[i] / g[i] - 1.0f) : 0.0f;  // float32, as numpy
    float ai = std::fabs(g[i]) > kEps ? std::fabs(m[i] - g[i]) : 0.0f;
    max_r = std::max(max_r, ri), max_a = std::max(max_a, ai), sum_r += ri, sum_a += ai;
  }
  r.cosine_similarity = gg == 0 && mm == 0 ? 1.0 : std::round(gm / (std::max(std::sqrt(gg), 1e-8) * std::max(std::sqrt(mm), 1e-8)) * 1e10) / 1e10;
  r.max_relative_error = max_r, r.mean_relative_error = sum_r / n;
  r.max_absolute_error = max_a, r.mean_absolute_error = sum_a / n;
  r.relative_euclidean_distance = std::sqrt(gg) <= kEps ? 0.0 : dd / gg;
  auto log_sum_exp = [](const std::vector<float>& v) {
    double mx = *std::max_element(v.begin(), v.end()), s = 0;
    for (float x : v) s += std::exp(x - mx);
    return mx + std::log(s);
  };
  const double lse_g = log_sum_exp(g), lse_m = log_sum_exp(m);
  double kl = 0;
  for (size_t i = 0; i < n; ++i) {
    const double log_p = g[i] - lse_g, log_q = m[i] - lse_m;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  r.kl_divergence = std::max(kl, 0.0);
  return r;
}

double RelErr(double actual, double expected) {
  if (actual == expected) return 0;
  return std::fabs(actual - expected) / std::max(std::fabs(expected), 1e-300);
}

// How close KL must be. Exps are float32 (~1 ulp each), so where a few elements dominate
// the softmax (tiny n, logits of ~100) KL carries ~1e-7 * (logit scale) of error; over
// many elements those errors average out and 1e-7 relative holds.
struct KlTolerance {
  double rel = 1e-6;
  double abs = 5e-8;  // a single element: KL is a float32 rounding error of g - m
};

// Every metric within `rel` of the reference (max errors and extrema exactly: they are
// single float32 values); cosine within its 10-decimal rounding.
void ExpectMatches(const PairMetrics& ref, const PairMetrics& got, double rel = 1e-7, KlTolerance kl = {}) {
  EXPECT_NEAR(got.cosine_similarity, ref.cosine_similarity, 1.5e-10);
  EXPECT_EQ(got.max_relative_error, ref.max_relative_error);
  EXPECT_EQ(got.max_absolute_error, ref.max_absolute_error);
  EXPECT_LE(RelErr(got.mean_relative_error, ref.mean_relative_error), rel) << got.mean_relative_error;
  EXPECT_LE(RelErr(got.mean_absolute_error, ref.mean_absolute_error), rel) << got.mean_absolute_error;
  EXPECT_LE(RelErr(got.relative_euclidean_distance, ref.relative_euclidean_distance), rel);
  EXPECT_TRUE(RelErr(got.kl_divergence, ref.kl_divergence) <= kl.rel ||
              std::fabs(got.kl_divergence - ref.kl_divergence) <= kl.abs)
      << "kl " << got.kl_divergence << " reference " << ref.kl_divergence;
  for (auto [r, g] : {std::pair{ref.golden, got.golden}, std::pair{ref.my, got.my}}) {
    EXPECT_EQ(g.max, r.max);
    EXPECT_EQ(g.min, r.min);
    EXPECT_LE(RelErr(g.mean, r.mean), 1e-12);
    EXPECT_EQ(g.nan_count, r.nan_count);
    EXPECT_EQ(g.inf_count, r.inf_count);
  }
}

PairMetrics Compute(const Tensor1D& g, const Tensor1D& m) { return ComputePairMetrics(g.span(), m.span()); }

using testing::ForEachTarget;

constexpr size_t kSizes[] = {1, 2, 7, 15, 16, 17, 31, 1000, 2047, 2048, 2049, 4095, 4096, 4097, 10007};

TEST(Metrics, MatchTheFloat64ReferenceAtManySizesOnEveryTarget) {
  ForEachTarget([] {
    for (size_t n : kSizes) {
      SCOPED_TRACE(n);
      auto g = Encode(DType::kFloat32, Normal(n, 1));
      auto near = Normal(n, 2, 0.01f);
      for (size_t i = 0; i < n; ++i) near[i] += g.values[i];
      auto m_near = Encode(DType::kFloat32, near);
      auto m_far = Encode(DType::kFloat32, Normal(n, 3, 2.0f));
      ExpectMatches(Reference(g.values, m_near.values), Compute(g, m_near));
      ExpectMatches(Reference(g.values, m_far.values), Compute(g, m_far));
    }
  });
}

TEST(Metrics, MatchTheFloat64ReferenceOnAMillionElements) {
  const size_t n = 1 << 20;
  auto g = Encode(DType::kFloat32, Normal(n, 11, 3.0f));
  auto m_far = Encode(DType::kFloat32, Uniform(n, 12, -4, 4));
  ExpectMatches(Reference(g.values, m_far.values), Compute(g, m_far), 1e-7, {1e-7, 0});
  // fp16 rounding only, the realistic case: KL ~1e-6, all of it cancellation-prone.
  auto m16 = Encode(DType::kFloat16, g.values);
  PairMetrics ref = Reference(g.values, m16.values), got = Compute(g, m16);
  ExpectMatches(ref, got, 1e-7, {1e-7, 0});
  EXPECT_GT(ref.kl_divergence, 1e-8);
}

TEST(Metrics, KlIsAccurateWhenMyIsGoldenScaledPlusABias) {
  // A planted bias shifts every logit: KL ignores the shift, and so must its error.
  ForEachTarget([] {
    for (float bias : {0.5f, -3.0f, 40.0f}) {
      SCOPED_TRACE(bias);
      auto g = Encode(DType::kFloat32, Normal(100000, 21));
      std::vector<float> m(g.values);
      for (float& v : m) v = 1.2f * v + bias;
      auto m16 = Encode(DType::kFloat16, m);
      ExpectMatches(Reference(g.values, m16.values), Compute(g, m16), 1e-7, {1e-7, 0});
    }
  });
}

TEST(Metrics, EveryDtypePairingMatchesTheReference) {
  const DType kTypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                          DType::kInt8,    DType::kFloat64, DType::kBool};
  const auto gv = Normal(3001, 21), mv = Normal(3001, 22);
  for (DType gt : kTypes) {
    for (DType mt : kTypes) {
      SCOPED_TRACE(std::string(ShortName(gt)) + " vs " + std::string(ShortName(mt)));
      auto g = Encode(gt, gv), m = Encode(mt, mv);
      ExpectMatches(Reference(g.values, m.values), Compute(g, m));
    }
  }
}

TEST(Metrics, ShorterSideIsReadCyclicallyAndKeepsItsOwnStats) {
  // (long, short): short side tiny, under a chunk, not dividing a chunk, over a chunk.
  const std::pair<size_t, size_t> kShapes[] = {{5000, 1}, {3000, 3}, {7000, 700}, {12000, 3000}, {4096, 2048},
                                               {30, 10}};
  ForEachTarget([&] {
    for (auto [n_long, n_short] : kShapes) {
      SCOPED_TRACE(std::to_string(n_long) + "/" + std::to_string(n_short));
      auto big = Encode(DType::kFloat32, Normal(n_long, 31));
      auto small = Encode(DType::kFloat16, Normal(n_short, 32));
      ExpectMatches(Reference(big.values, small.values), Compute(big, small));
      ExpectMatches(Reference(small.values, big.values), Compute(small, big));
    }
  });
}

TEST(Metrics, CosineOfTinyNormsClampsEachNormAlone) {
  // Norms from ~6e-11 up: torch >= 1.12 clamps |g| and |m| at 1e-8 each, so a near-equal pair
  // of small norm is still near-equal (the product clamp of torch 1.9 made pairs of norm up to
  // 1e-4 look unrelated).
  ForEachTarget([&] {
    for (int exp10 = -12; exp10 <= 6; exp10 += 3) {
      SCOPED_TRACE("scale 1e" + std::to_string(exp10));
      const float scale = static_cast<float>(std::pow(10.0, exp10));
      std::vector<float> g = Normal(4099, 41), m = Normal(4099, 42);
      for (size_t i = 0; i < g.size(); ++i) {
        g[i] *= scale;
        m[i] = g[i] + 0.3f * scale * m[i];
      }
      auto eg = Encode(DType::kFloat32, g), em = Encode(DType::kFloat32, m);
      const PairMetrics got = Compute(eg, em);
      ExpectMatches(Reference(eg.values, em.values), got);
      // Above the clamp (norm ~64 x scale > 1e-8) only the direction counts; below it,
      // torch's answer shrinks with the norms, and so does ours (the reference holds both).
      if (exp10 >= -9) {
        EXPECT_GT(got.cosine_similarity, 0.95);
      }
    }
  });
}

TEST(Metrics, ZeroSides) {
  auto zeros = Encode(DType::kFloat32, std::vector<float>(100, 0.0f));
  auto ones = Encode(DType::kFloat32, std::vector<float>(100, 1.0f));
  PairMetrics both = Compute(zeros, zeros);
  EXPECT_EQ(both.cosine_similarity, 1.0);
  EXPECT_EQ(both.relative_euclidean_distance, 0.0);
  EXPECT_EQ(both.kl_divergence, 0.0);
  PairMetrics golden_zero = Compute(zeros, ones);
  EXPECT_EQ(golden_zero.cosine_similarity, 0.0);
  EXPECT_EQ(golden_zero.max_relative_error, 0.0);  // every element masked by |g| <= eps
  EXPECT_EQ(golden_zero.max_absolute_error, 0.0);
  EXPECT_EQ(golden_zero.relative_euclidean_distance, 0.0);
  EXPECT_EQ(golden_zero.kl_divergence, 0.0);  // both softmaxes are uniform
  PairMetrics my_zero = Compute(ones, zeros);
  EXPECT_EQ(my_zero.cosine_similarity, 0.0);
  EXPECT_EQ(my_zero.max_relative_error, 1.0);
  EXPECT_EQ(my_zero.mean_absolute_error, 1.0);
  EXPECT_EQ(my_zero.relative_euclidean_distance, 1.0);
  ExpectMatches(Reference(ones.values, zeros.values), my_zero);
}

TEST(Metrics, GoldenValuesAtOrBelowEpsilonAreMasked) {
  const std::vector<float> g = {kEps, -kEps, 1e-8f, 0.0f, std::nextafter(kEps, 1.0f), 2.0f, -0.0f};
  const std::vector<float> m = {5.0f, 5.0f, 5.0f, 5.0f, 3 * kEps, 3.0f, 7.0f};
  auto tg = Encode(DType::kFloat32, g), tm = Encode(DType::kFloat32, m);
  PairMetrics got = Compute(tg, tm);
  const float r_just_above = std::fabs(3 * kEps / std::nextafter(kEps, 1.0f) - 1.0f);
  EXPECT_EQ(got.max_relative_error, std::max(r_just_above, 0.5f));
  EXPECT_EQ(got.max_absolute_error, 1.0f);  // only |3 - 2| counts among large ones
  EXPECT_NEAR(got.mean_relative_error, (r_just_above + 0.5) / 7, 1e-15);
  ExpectMatches(Reference(g, m), got);
}

TEST(Metrics, KlStaysFiniteAndExactAtLargeLogits) {
  ForEachTarget([] {
    for (float range : {80.0f, 1000.0f}) {
      SCOPED_TRACE(range);
      auto g = Encode(DType::kFloat32, Uniform(20000, 41, -range, range));
      auto m = Encode(DType::kFloat32, Uniform(20000, 42, -range, range));
      PairMetrics got = Compute(g, m);
      ASSERT_TRUE(std::isfinite(got.kl_divergence));
      ExpectMatches(Reference(g.values, m.values), got);
    }
    // A maximum that grows chunk after chunk makes every chunk rescale the running sums.
    std::vector<float> up(9000), down(9000);
    for (size_t i = 0; i < up.size(); ++i) up[i] = -80 + 160.0f * i / up.size(), down[i] = -up[i] * 0.5f;
    auto g = Encode(DType::kFloat32, up), m = Encode(DType::kFloat32, down);
    ExpectMatches(Reference(up, down), Compute(g, m));
    ExpectMatches(Reference(down, up), Compute(m, g));
  });
}

TEST(Metrics, CountsNanAndInfAndPropagatesThemIntoStats) {
  ForEachTarget([] {
    for (size_t n : {size_t{7}, size_t{2049}, size_t{5000}}) {
      std::vector<float> g = Normal(n, 51), m = Normal(n, 52);
      g[0] = NAN, g[n - 1] = INFINITY, m[n / 2] = -INFINITY, m[n - 1] = INFINITY;
      if (n > 100) g[n / 3] = NAN, g[n - 2] = -INFINITY;
      auto tg = Encode(DType::kFloat32, g), tm = Encode(DType::kFloat32, m);
      PairMetrics got = Compute(tg, tm);
      EXPECT_EQ(got.golden.nan_count, n > 100 ? 2 : 1);
      EXPECT_EQ(got.golden.inf_count, n > 100 ? 2 : 1);
      EXPECT_TRUE(std::isnan(got.golden.max) && std::isnan(got.golden.min) && std::isnan(got.golden.mean));
      EXPECT_EQ(got.my.nan_count, 0);
      EXPECT_EQ(got.my.inf_count, 2);
      EXPECT_EQ(got.my.max, INFINITY);
      EXPECT_EQ(got.my.min, -INFINITY);
      EXPECT_TRUE(std::isnan(got.my.mean));  // inf + -inf
    }
    // Only +inf: the mean is +inf, extrema are exact.
    std::vector<float> v = {1, 2, INFINITY, -3};
    auto t = Encode(DType::kFloat32, v);
    PairMetrics got = Compute(t, t);
    EXPECT_EQ(got.golden.mean, INFINITY);
    EXPECT_EQ(got.golden.max, INFINITY);
    EXPECT_EQ(got.golden.min, -3);
  });
}

TEST(Metrics, NanCountsOfACyclicSideAreItsOwn) {
  std::vector<float> small = {1, NAN, 3, INFINITY, 5};
  auto ts = Encode(DType::kFloat32, small), tl = Encode(DType::kFloat32, Normal(5 * 999, 61));
  for (auto got : {Compute(ts, tl), Compute(tl, ts)}) {
    const SideStats& s = got.golden.nan_count ? got.golden : got.my;
    EXPECT_EQ(s.nan_count, 1);
    EXPECT_EQ(s.inf_count, 1);
  }
  small[1] = 2;  // now only inf: extrema and mean are the small tensor's own
  auto ts2 = Encode(DType::kFloat32, small);
  PairMetrics got = Compute(tl, ts2);
  EXPECT_EQ(got.my.inf_count, 1);
  EXPECT_EQ(got.my.max, INFINITY);
  EXPECT_EQ(got.my.min, 1);
}

TEST(Metrics, UnalignedInputsGiveTheSameResult) {
  const size_t n = 4100;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
    SCOPED_TRACE(ShortName(t));
    auto g = Encode(t, Normal(n, 71)), m = Encode(DType::kFloat32, Normal(n, 72));
    PairMetrics aligned = Compute(g, m);
    for (size_t offset : {1, 2, 3}) {
      std::vector<uint8_t> gb(offset + g.bytes.size()), mb(offset + m.bytes.size());
      std::memcpy(gb.data() + offset, g.bytes.data(), g.bytes.size());
      std::memcpy(mb.data() + offset, m.bytes.data(), m.bytes.size());
      PairMetrics got = ComputePairMetrics({t, gb.data() + offset, int64_t(n)},
                                           {DType::kFloat32, mb.data() + offset, int64_t(n)});
      EXPECT_EQ(got.kl_divergence, aligned.kl_divergence);
      EXPECT_EQ(got.cosine_similarity, aligned.cosine_similarity);
      EXPECT_EQ(got.mean_absolute_error, aligned.mean_absolute_error);
      EXPECT_EQ(got.golden.mean, aligned.golden.mean);
      ExpectMatches(Reference(g.values, m.values), got);
    }
  }
}

}  // namespace
}  // namespace ait
