// Float64 references of the normalizations (engine/src/ops/norm.cc), layerType NORM (1) only;
// normParam.epsilon (default 1e-5, ATB's float) >= 0, normParam.quantType QUANT_UNQUANT only.
// The statistics run over the trailing dims of x that hold gamma's elements; one rounding to
// x's dtype at the end.
//   RmsNormOperation   x [..., H], gamma [H] -> y = x / sqrt(mean(x^2) + eps) * gamma
//                      (normParam.modelType GEMMA_MODEL (1): * (1 + gamma))
//   LayerNormOperation x [..., H], gamma [H], beta [H] -> y = (x - mean) / sqrt(var + eps) *
//                      gamma + beta (biased variance); normParam.beginNormAxis >= 0, when
//                      inside x's rank it must mark the same split.
#include <cmath>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

struct NormSetup {
  double eps = 1e-5;
  AtbParams norm_param;
};

NormSetup ReadNormParams(const RefCall& call, std::initializer_list<std::pair<std::string_view, int>> layer_types) {
  const AtbParams p = call.params();
  if (p.Enum("layerType", 1, layer_types) != 1) p.Bad("layerType", "only NORM (1) is supported");
  AtbParams np = p.Sub("normParam");
  const double eps = RoundTo(DType::kFloat32, np.Float("epsilon", 1e-5));  // ATB's epsilon is a float
  if (!(eps >= 0)) np.Bad("epsilon", "must be >= 0");
  if (np.Enum("quantType", 0, {{"QUANT_UNQUANT", 0}, {"QUANT_INT8", 2}}) != 0)
    np.Bad("quantType", "only QUANT_UNQUANT (0) is supported");
  return {eps, np};
}

// Checks x and its `nparams` per-element parameter tensors; returns H, gamma's element count,
// which must be the product of x's trailing dims.
int64_t CheckNormShapes(const RefCall& call, size_t nparams) {
  RequireFloat(call, 0, "x");
  const auto& xs = call.inputs[0].shape;
  Require(!xs.empty(), call.type, "x (input 0) must have at least one dimension");
  const int64_t h = call.inputs[1].numel();
  for (size_t i = 1; i <= nparams; ++i) {
    RequireFloat(call, i, i == 1 ? "gamma" : "beta");
    Require(call.inputs[i].numel() == h, call.type,
            fmt::format("input {} has shape {}, expected {} elements like gamma", i, ShapeText(call.inputs[i].shape),
                        h));
  }
  int64_t tail = 1;
  for (size_t d = xs.size(); d-- > 0 && tail < h;)
    if (__builtin_mul_overflow(tail, xs[d], &tail)) {
      tail = 0;  // a hostile shape: no match
      break;
    }
  Require(h > 0 && tail == h, call.type,
          fmt::format("gamma has {} elements, which are not the trailing dims of x {}", h, ShapeText(xs)));
  return h;
}

std::vector<RefTensor> RmsNorm(RefCall& call) {
  const NormSetup s = ReadNormParams(
      call, {{"RMS_NORM_UNDEFINED", 0}, {"RMS_NORM_NORM", 1}, {"RMS_NORM_PRENORM", 2}, {"RMS_NORM_POSTNORM", 3}});
  const bool gemma = s.norm_param.Enum("modelType", 0, {{"LLAMA_MODEL", 0}, {"GEMMA_MODEL", 1}}) == 1;
  RequireInputs(call, 2);
  const int64_t h = CheckNormShapes(call, 1);
  RefTensor y = call.inputs[0];
  const std::vector<double>& g = call.inputs[1].data;
  for (int64_t r = 0; r < y.numel() / h; ++r) {
    double* x = y.data.data() + r * h;
    double ss = 0;
    for (int64_t i = 0; i < h; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(h) + s.eps);
    for (int64_t i = 0; i < h; ++i) x[i] = x[i] * inv * (gemma ? 1.0 + g[i] : g[i]);
  }
  RoundAll(y.dtype, y.data);
  return {std::move(y)};
}

std::vector<RefTensor> LayerNorm(RefCall& call) {
  const NormSetup s = ReadNormParams(call, {{"LAYER_NORM_UNDEFINED", 0}, {"LAYER_NORM_NORM", 1},
                                            {"LAYER_NORM_PRENORM", 2}, {"LAYER_NORM_POSTNORM", 3}});
  const int64_t begin_axis = s.norm_param.Int("beginNormAxis", 0);
  if (begin_axis < 0) s.norm_param.Bad("beginNormAxis", "must be >= 0");
  RequireInputs(call, 3);
  const int64_t h = CheckNormShapes(call, 2);
  const auto& xs = call.inputs[0].shape;
  if (begin_axis > 0 && begin_axis < static_cast<int64_t>(xs.size())) {
    const int64_t normalized = DimProduct(xs, static_cast<size_t>(begin_axis), xs.size());
    Require(normalized == h, call.type,
            fmt::format("param normParam.beginNormAxis {} normalizes {} elements of x {}, but gamma has {}", begin_axis,
                        normalized, ShapeText(xs), h));
  }
  RefTensor y = call.inputs[0];
  const std::vector<double>& g = call.inputs[1].data;
  const std::vector<double>& beta = call.inputs[2].data;
  for (int64_t r = 0; r < y.numel() / h; ++r) {
    double* x = y.data.data() + r * h;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < h; ++i) mean += x[i];
    mean /= static_cast<double>(h);
    for (int64_t i = 0; i < h; ++i) var += (x[i] - mean) * (x[i] - mean);
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(h) + s.eps);
    for (int64_t i = 0; i < h; ++i) x[i] = (x[i] - mean) * inv * g[i] + beta[i];
  }
  RoundAll(y.dtype, y.data);
  return {std::move(y)};
}

}  // namespace

std::vector<Reference> NormReferences() {
  return {{"LayerNormOperation", LayerNorm}, {"RmsNormOperation", RmsNorm}};
}

}  // namespace ait::opcheck
