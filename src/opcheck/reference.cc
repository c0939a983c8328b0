// RefTensor and the helpers every reference family uses.
#include "opcheck/reference.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ait/convert.h"
#include "ait/error.h"

namespace ait::opcheck {

int64_t RefTensor::numel() const { return static_cast<int64_t>(data.size()); }

RefTensor RefTensor::Zeros(DType dtype, std::vector<int64_t> shape, std::string_view where) {
  RefTensor t;
  t.dtype = dtype;
  const int64_t n = CheckedNumel(shape, sizeof(double), where);
  t.shape = std::move(shape);
  t.data.assign(static_cast<size_t>(n), 0.0);
  return t;
}

RefTensor RefTensor::From(const Tensor& t, std::string_view where) {
  if (!t.has_data) Fail(where, "holds a description only (shape {} {}), no data", t.ShapeString(), ShortName(t.dtype));
  if (!IsConvertible(t.dtype)) Fail(where, "has dtype {}, which opcheck cannot read as numbers", ShortName(t.dtype));
  RefTensor r;
  r.dtype = t.dtype;
  r.shape = t.shape;
  r.data.resize(static_cast<size_t>(t.numel()));
  ConvertToFloat64(t.dtype, t.data, r.data.size(), r.data.data());
  return r;
}

namespace {
template <typename I>
double RoundInt(double x) {
  if (std::isnan(x)) return 0.0;
  const double r = std::nearbyint(x);  // the default rounding mode: half to even
  return std::clamp(r, static_cast<double>(std::numeric_limits<I>::lowest()),
                    static_cast<double>(std::numeric_limits<I>::max()));
}
}  // namespace

double RoundTo(DType t, double x) {
  switch (t) {
    case DType::kFloat64: return x;
    case DType::kFloat32: return static_cast<float>(x);
    case DType::kFloat16: return HalfToFloat(FloatToHalf(static_cast<float>(x)));
    case DType::kBFloat16: return BFloat16ToFloat(FloatToBFloat16(static_cast<float>(x)));
    case DType::kInt8: return RoundInt<int8_t>(x);
    case DType::kInt16: return RoundInt<int16_t>(x);
    case DType::kInt32: return RoundInt<int32_t>(x);
    case DType::kInt64: return RoundInt<int64_t>(x);
    case DType::kUInt8: return RoundInt<uint8_t>(x);
    case DType::kUInt16: return RoundInt<uint16_t>(x);
    case DType::kUInt32: return RoundInt<uint32_t>(x);
    case DType::kUInt64: return RoundInt<uint64_t>(x);
    case DType::kBool: return x != 0.0 ? 1.0 : 0.0;
    case DType::kComplex64: break;
  }
  return x;
}

void RoundAll(DType t, std::vector<double>& v) {
  if (t == DType::kFloat64) return;
  for (double& x : v) x = RoundTo(t, x);
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t NormalizeDim(const std::string& op, std::string_view field, int64_t dim, size_t rank) {
  const auto r = static_cast<int64_t>(rank);
  if (dim < -r || dim >= r) Fail(op, "param {}: {} is out of range for a rank-{} input", field, dim, rank);
  return dim < 0 ? dim + r : dim;
}

void Require(bool ok, const std::string& op, const std::string& what) {
  if (!ok) Fail(op, "{}", what);
}

void RequireInputs(const RefCall& call, size_t n) {
  if (call.inputs.size() != n) Fail(call.type, "expected {} input tensors, found {}", n, call.inputs.size());
}

void Dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
           int64_t ldb, double* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0);
    return;
  }
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  if (m > kMax || n > kMax || k > kMax || lda > kMax || ldb > kMax || ldc > kMax)
    Fail("opcheck", "matrix product of [{}, {}] x [{}, {}] exceeds the BLAS index range", m, k, k, n);
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), 0.0, c, static_cast<int>(ldc));
}

void RequireFloat(const RefCall& call, size_t i, std::string_view name) {
  const DType t = call.inputs.at(i).dtype;
  if (!IsFloating(t)) Fail(call.type, "{} (input {}) must be a float tensor, found {}", name, i, ShortName(t));
}

std::vector<int64_t> IntValues(const RefCall& call, size_t i, std::string_view name) {
  const RefTensor& t = call.inputs.at(i);
  if (IsFloating(t.dtype) || !IsConvertible(t.dtype) || t.dtype == DType::kBool)
    Fail(call.type, "{} (input {}) must be an integer tensor, found {}", name, i, ShortName(t.dtype));
  std::vector<int64_t> v;
  v.reserve(t.data.size());
  for (double x : t.data) {
    if (!(std::floor(x) == x && std::fabs(x) < 0x1p63))
      Fail(call.type, "{} (input {}) holds {}, not an integer", name, i, x);
    v.push_back(static_cast<int64_t>(x));
  }
  return v;
}

int64_t DimProduct(const std::vector<int64_t>& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t d = begin; d < end && d < shape.size(); ++d)
    if (__builtin_mul_overflow(p, shape[d], &p)) Fail("opcheck", "shape {} overflows int64", ShapeText(shape));
  return p;
}

double Float32Math(DType input, double x) { return input == DType::kFloat64 ? x : RoundTo(DType::kFloat32, x); }

}  // namespace ait::opcheck
