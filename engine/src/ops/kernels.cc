// Shared helpers of the reference operations (see kernels.h).
#include "ops/kernels.h"

#include <cblas.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>

#include "ait/convert.h"

namespace ait::engine::ops {

bool IsFloatStorage(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }

std::vector<float> LoadF32(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (!v.empty()) ConvertToFloat32(t.dtype, t.data, v.size(), v.data());
  return v;
}

void LoadRow(const Tensor& t, int64_t offset, int64_t n, float* dst) {
  ConvertToFloat32(t.dtype, t.data + offset * ItemSize(t.dtype), static_cast<size_t>(n), dst);
}

const float* F32View(const Tensor& t, std::vector<float>& scratch) {
  if (t.dtype == DType::kFloat32) return reinterpret_cast<const float*>(t.data);
  scratch = LoadF32(t);
  return scratch.data();
}

namespace {
template <typename T>
void StoreInt(const float* src, size_t n, T* dst) {
  constexpr double lo = static_cast<double>(std::numeric_limits<T>::min());
  constexpr double hi = static_cast<double>(std::numeric_limits<T>::max());
  for (size_t i = 0; i < n; ++i) {
    double r = std::nearbyint(static_cast<double>(src[i]));  // half-even in the default mode
    if (std::isnan(r)) r = 0;
    dst[i] = static_cast<T>(std::clamp(r, lo, hi));
  }
}
}  // namespace

void StoreF32(const float* src, size_t n, const Tensor& dst, size_t offset) {
  std::byte* base = dst.mutable_data() + offset * ItemSize(dst.dtype);
  switch (dst.dtype) {
    case DType::kFloat32:
      if (n) std::memcpy(base, src, n * sizeof(float));  // src may be null when n is 0
      return;
    case DType::kFloat16: ConvertFloat32ToHalf(src, n, reinterpret_cast<uint16_t*>(base)); return;
    case DType::kBFloat16: ConvertFloat32ToBFloat16(src, n, reinterpret_cast<uint16_t*>(base)); return;
    case DType::kFloat64: {
      auto* d = reinterpret_cast<double*>(base);
      for (size_t i = 0; i < n; ++i) d[i] = src[i];
      return;
    }
    case DType::kInt8: StoreInt(src, n, reinterpret_cast<int8_t*>(base)); return;
    case DType::kUInt8: StoreInt(src, n, reinterpret_cast<uint8_t*>(base)); return;
    case DType::kInt16: StoreInt(src, n, reinterpret_cast<int16_t*>(base)); return;
    case DType::kInt32: StoreInt(src, n, reinterpret_cast<int32_t*>(base)); return;
    case DType::kInt64: StoreInt(src, n, reinterpret_cast<int64_t*>(base)); return;
    case DType::kBool: {
      for (size_t i = 0; i < n; ++i) base[i] = std::byte{src[i] != 0.0f};
      return;
    }
    default: Fail("engine", "cannot store float results as {}", ShortName(dst.dtype));
  }
}

float RoundTo(DType t, float x) {
  switch (t) {
    case DType::kFloat16: return HalfToFloat(FloatToHalf(x));
    case DType::kBFloat16: return BFloat16ToFloat(FloatToBFloat16(x));
    case DType::kInt8: return std::clamp(std::nearbyint(x), -128.0f, 127.0f);
    default: return x;
  }
}

int64_t IntAt(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::kInt8: return Data<int8_t>(t)[i];
    case DType::kUInt8: return Data<uint8_t>(t)[i];
    case DType::kInt16: return Data<int16_t>(t)[i];
    case DType::kInt32: return Data<int32_t>(t)[i];
    case DType::kInt64: return Data<int64_t>(t)[i];
    default: Fail("engine", "expected an integer tensor, found {}", ShortName(t.dtype));
  }
}

void ParallelFor(const ExecContext& ctx, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (n <= grain || ctx.threads() == 1) {
    fn(0, n);
    return;
  }
  auto run = [&] {
    tbb::parallel_for(tbb::blocked_range<int64_t>(0, n, grain),
                      [&](const tbb::blocked_range<int64_t>& r) { fn(r.begin(), r.end()); });
  };
  if (ctx.threads() > 0) {
    tbb::task_arena arena(ctx.threads());
    arena.execute(run);
  } else {
    run();
  }
}

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float* c, int64_t ldc, float alpha, float beta) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS leaves C untouched for k == 0 only when beta == 1
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (m > kMax || n > kMax || k > kMax || lda > kMax || ldb > kMax || ldc > kMax)
    Fail("engine", "matrix product of [{}, {}] x [{}, {}] exceeds the BLAS index range", m, k, k, n);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

void CheckCount(const std::string& op, const std::vector<TensorDesc>& in, size_t n) {
  if (in.size() != n) Fail(op, "expected {} input tensors, found {}", n, in.size());
}

std::string ShapeStr(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t NormalizeDim(const std::string& op, std::string_view field, int64_t dim, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (dim < -r || dim >= r) Fail(op, "param {}: {} is out of range for a rank-{} input", field, dim, rank);
  return dim < 0 ? dim + r : dim;
}

}  // namespace ait::engine::ops
