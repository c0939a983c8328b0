// Helpers for the operation tests: tensors from doubles, float64 readback, seeded random
// data, a recording kernel observer, and tolerance checks tied to the storage dtype.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ait/convert.h"
#include "ait/error.h"
#include "ait_engine/operation.h"
#include "ops/kernels.h"

namespace ait::engine::testing {

using Vec = std::vector<double>;

// A tensor holding `v` rounded to `t` (integers round half-even and saturate).
inline Tensor Make(DType t, std::vector<int64_t> shape, const Vec& v) {
  Tensor x = Tensor::Allocate(t, std::move(shape));
  EXPECT_EQ(static_cast<size_t>(x.numel()), v.size());
  std::vector<float> f(v.begin(), v.end());
  ops::StoreF32(f.data(), f.size(), x);
  return x;
}

inline Vec Read(const Tensor& t) {
  Vec v(static_cast<size_t>(t.numel()));
  if (!v.empty()) ConvertToFloat64(t.dtype, t.data, v.size(), v.data());
  return v;
}

// The values a tensor of dtype t would hold for v (what the op sees as its input).
inline Vec Rounded(DType t, const Vec& v) { return Read(Make(t, {static_cast<int64_t>(v.size())}, v)); }

inline Vec Random(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (double& x : v) x = d(rng);
  return v;
}

inline std::vector<Tensor> RunOp(const std::string& type, const Json& param, const std::vector<Tensor>& in,
                               KernelObserver* obs = nullptr, int threads = 0) {
  auto op = CreateOperation(type, param);
  ExecContext ctx(threads, obs);
  return RunOperation(*op, in, ctx);
}

// Spacing of dtype t's values near |x| (one rounding step).
inline double Ulp(DType t, double x) {
  const int mant = t == DType::kFloat16 ? 10 : t == DType::kBFloat16 ? 7 : 23;
  const double ax = std::max(std::fabs(x), t == DType::kFloat16 ? 6.1e-5 : 1.2e-38);
  return std::ldexp(1.0, static_cast<int>(std::floor(std::log2(ax))) - mant);
}

// fp32: within 1e-5 relative (plus a floor scaled by the largest reference value, for
// near-cancelling sums); fp16/bf16: within `steps` rounding steps of the reference.
inline void ExpectNear(const Tensor& got, const Vec& ref, double steps = 1.0, const std::string& what = "") {
  ASSERT_EQ(static_cast<size_t>(got.numel()), ref.size()) << what;
  const Vec g = Read(got);
  double maxabs = 0;
  for (double r : ref) maxabs = std::max(maxabs, std::fabs(r));
  for (size_t i = 0; i < ref.size(); ++i) {
    const double tol = got.dtype == DType::kFloat32 ? 1e-5 * std::fabs(ref[i]) + 1e-6 * maxabs
                                                    : steps * Ulp(got.dtype, ref[i]) + 1e-6 * maxabs;
    ASSERT_NEAR(g[i], ref[i], tol) << what << " element " << i << " dtype " << ShortName(got.dtype);
  }
}

// Expects an ait::Error whose message contains every one of `parts`.
template <typename Fn>
void ExpectError(Fn&& fn, std::initializer_list<std::string> parts) {
  try {
    fn();
    ADD_FAILURE() << "expected an ait::Error";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

struct KernelRecord {
  size_t index;
  std::string name;
  std::vector<std::vector<int64_t>> in_shapes, out_shapes;
  std::vector<DType> out_dtypes;
};

class RecordingObserver : public KernelObserver {
 public:
  void BeforeKernel(size_t i, std::string_view name, const std::vector<const Tensor*>&,
                    const std::vector<const Tensor*>&) override {
    before.push_back(std::string(name));
  }
  void AfterKernel(size_t i, std::string_view name, const std::vector<const Tensor*>& in,
                   const std::vector<const Tensor*>& out) override {
    KernelRecord r{i, std::string(name), {}, {}, {}};
    for (auto* t : in) r.in_shapes.push_back(t->shape);
    for (auto* t : out) {
      r.out_shapes.push_back(t->shape);
      r.out_dtypes.push_back(t->dtype);
    }
    after.push_back(r);
  }
  std::vector<std::string> before;
  std::vector<KernelRecord> after;
};

inline const DType kFloatTypes[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};

}  // namespace ait::engine::testing
