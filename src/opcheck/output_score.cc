// Precision standards and the scoring of one output tensor.
#include "opcheck/output_score.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "ait/convert.h"
#include "ait/error.h"
#include "ait/metrics.h"

namespace ait {

std::string PrecisionStandard::Text() const { return fmt::format("{}%(error<{})", required_rate, error_level); }

PrecisionStandard StandardFor(DType dtype) {
  switch (dtype) {
    case DType::kFloat16: return {0.001, 99.9};
    case DType::kBFloat16: return {0.004, 99.6};
    case DType::kInt8:
    case DType::kInt16:
    case DType::kUInt16: return {1, 99.9};
    case DType::kUInt8: return {1, 99};
    case DType::kBool: return {0.0001, 100};
    default: return {0.0001, 99.99};  // float64, float32, int32, int64, uint32, uint64
  }
}

namespace opcheck {
namespace {

constexpr double kEps32 = 1.1920928955078125e-07;  // 2^-23

// `floor`: relative errors are taken against at least this magnitude (kFloorOfRms of the
// reference's RMS), 0 for absolute errors.
double ElementError(double o, double g, double floor, bool relative) {
  const bool on = std::isnan(o), gn = std::isnan(g);
  if (on || gn) return on && gn ? 0.0 : std::numeric_limits<double>::infinity();
  if (std::isinf(o) || std::isinf(g)) return o == g ? 0.0 : std::numeric_limits<double>::infinity();
  const double diff = std::fabs(o - g);
  if (!relative) return diff;
  const double denom = std::max(std::fabs(g), floor);
  return denom > kEps32 ? diff / denom : diff;
}

// The spacing of `dtype`'s values at |g| (one unit in the last place), 0 for non-floats: a correct
// kernel may round an element lying near a rounding boundary either way.
double Ulp(DType dtype, double g) {
  int mantissa_bits = 0, min_exponent = 0;  // the fraction's bits; the exponent of the smallest normal
  switch (dtype) {
    case DType::kFloat16: mantissa_bits = 10, min_exponent = -14; break;
    case DType::kBFloat16: mantissa_bits = 7, min_exponent = -126; break;
    case DType::kFloat32: mantissa_bits = 23, min_exponent = -126; break;
    case DType::kFloat64: mantissa_bits = 52, min_exponent = -1022; break;
    default: return 0.0;
  }
  if (!std::isfinite(g)) return 0.0;
  int exponent = 0;
  std::frexp(g, &exponent);  // |g| = f * 2^exponent, f in [0.5, 1)
  return std::ldexp(1.0, std::max(exponent - 1, min_exponent) - mantissa_bits);
}

// The RMS of the finite elements of `ref`.
double Rms(const RefTensor& ref) {
  double sum = 0;
  int64_t n = 0;
  for (double g : ref.data)
    if (std::isfinite(g)) {
      sum += g * g;
      ++n;
    }
  return n ? std::sqrt(sum / static_cast<double>(n)) : 0.0;
}

std::string IndexText(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    if (shape[d] > 0) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
    }
  }
  std::string s = "[";
  for (size_t i = 0; i < idx.size(); ++i) s += (i ? ", " : "") + std::to_string(idx[i]);
  return s + "]";
}

OutputCheck Score(const double* out, DType out_dtype, const std::vector<int64_t>& out_shape, int64_t n,
                  const RefTensor& ref, int index, const MetricSet& metrics) {
  OutputCheck c;
  c.index = index;
  c.dtype = out_dtype;
  c.standard = StandardFor(out_dtype);
  c.elements = n;
  if (n != ref.numel()) {
    c.fail_reason = fmt::format("the output's shape {} does not hold the reference's {} ({} elements, expected {})",
                                ShapeText(out_shape), ShapeText(ref.shape), n, ref.numel());
    return c;
  }
  const bool relative = IsFloating(out_dtype);
  const double level = c.standard.error_level;
  const double floor = relative ? kFloorOfRms * Rms(ref) : 0.0;
  int64_t within = 0, abs_within = 0, worst = -1;
  double max_rel = 0, max_abs = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = ref.data[static_cast<size_t>(i)];
    const double e = ElementError(out[i], g, floor, relative);
    if (e <= level || (relative && std::fabs(out[i] - g) <= Ulp(out_dtype, g))) ++within;
    if (worst < 0 || e > max_rel) {
      max_rel = e;
      worst = i;
    }
    if (metrics.abs) {
      const double a = ElementError(out[i], g, 0.0, false);
      if (a <= level) ++abs_within;
      max_abs = std::max(max_abs, a);
    }
  }
  c.scored = true;
  c.rel_rate = n ? 100.0 * static_cast<double>(within) / static_cast<double>(n) : 100.0;
  c.max_rel = max_rel;
  if (metrics.abs) {
    c.abs_rate = n ? 100.0 * static_cast<double>(abs_within) / static_cast<double>(n) : 100.0;
    c.max_abs = max_abs;
  }
  if ((metrics.cosine || metrics.kl) && n > 0) {
    const PairMetrics m = ComputePairMetrics(ElementSpan{DType::kFloat64, ref.data.data(), n},
                                             ElementSpan{DType::kFloat64, out, n});
    if (metrics.cosine) c.cosine = m.cosine_similarity;
    if (metrics.kl) c.kl = m.kl_divergence;
  }
  if (worst >= 0 && max_rel > 0)
    c.worst = fmt::format("{}: {:.7g} (reference {:.7g})", IndexText(worst, ref.shape), out[worst],
                          ref.data[static_cast<size_t>(worst)]);
  c.passed = c.rel_rate >= c.standard.required_rate;
  if (!c.passed)
    c.fail_reason = fmt::format("relative pass rate: {:.4g} not met standard: {}.", c.rel_rate, c.standard.required_rate);
  return c;
}

}  // namespace

OutputCheck ScoreOutput(const Tensor& dumped, const RefTensor& reference, int index, const MetricSet& metrics) {
  if (!dumped.has_data) {
    OutputCheck c;
    c.index = index;
    c.dtype = dumped.dtype;
    c.standard = StandardFor(dumped.dtype);
    c.fail_reason = "the dumped output holds a description only, no data";
    return c;
  }
  if (!IsConvertible(dumped.dtype)) {
    OutputCheck c;
    c.index = index;
    c.dtype = dumped.dtype;
    c.fail_reason = fmt::format("the dumped output's dtype {} has no precision standard", ShortName(dumped.dtype));
    return c;
  }
  std::vector<double> values(static_cast<size_t>(dumped.numel()));
  ConvertToFloat64(dumped.dtype, dumped.data, values.size(), values.data());
  return Score(values.data(), dumped.dtype, dumped.shape, dumped.numel(), reference, index, metrics);
}

OutputCheck ScoreValues(const RefTensor& candidate, const RefTensor& reference, int index, const MetricSet& metrics) {
  return Score(candidate.data.data(), candidate.dtype, candidate.shape, candidate.numel(), reference, index, metrics);
}

}  // namespace opcheck
}  // namespace ait
