// Float64 references of ActivationOperation and SoftmaxOperation (engine/src/ops/activation.cc),
// each output rounded once to x's dtype.
//   Activation {activationType (required; integer or name), scale=1 (ATB float), dim=-1,
//     geluMode 0 TANH_MODE / 1 NONE_MODE (erf)}: x -> y, x's shape except SWIGLU_FORWARD.
//     RELU 1 max(x, 0); GELU 2 tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))
//     or, geluMode 1, 0.5x(1 + erf(x/sqrt 2)); FAST_GELU 3 x sigmoid(1.702x); SWISH 4
//     x sigmoid(scale x); SWIGLU_FORWARD 6 x split in halves a, b along dim (even size):
//     silu(a) b, that dim halved; SIGMOID 8.
//   Softmax {axes: non-empty, consecutive, increasing (negative counts from the end)}:
//     x -> softmax over the axes taken together, x's shape.
#include <cmath>
#include <numbers>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

enum Act { kRelu = 1, kGelu = 2, kFastGelu = 3, kSwish = 4, kSwiGlu = 6, kSigmoid = 8 };

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<RefTensor> Activation(RefCall& call) {
  const AtbParams p = call.params();
  const int act = p.Enum("activationType", 0,
                         {{"ACTIVATION_RELU", kRelu}, {"relu", kRelu}, {"ACTIVATION_GELU", kGelu}, {"gelu", kGelu},
                          {"ACTIVATION_FAST_GELU", kFastGelu}, {"fast_gelu", kFastGelu}, {"ACTIVATION_SWISH", kSwish},
                          {"swish", kSwish}, {"silu", kSwish}, {"ACTIVATION_SWIGLU_FORWARD", kSwiGlu},
                          {"swiglu", kSwiGlu}, {"ACTIVATION_SIGMOID", kSigmoid}, {"sigmoid", kSigmoid}});
  if (act == 0) p.Bad("activationType", "is required (e.g. 4 = ACTIVATION_SWISH)");
  const double scale = RoundTo(DType::kFloat32, p.Float("scale", 1.0));
  const int64_t dim = p.Int("dim", -1);
  const bool gelu_erf = p.Enum("geluMode", 0, {{"TANH_MODE", 0}, {"NONE_MODE", 1}}) == 1;
  RequireInputs(call, 1);
  RequireFloat(call, 0, "x");
  const RefTensor& x = call.inputs[0];

  if (act == kSwiGlu) {
    const auto d = static_cast<size_t>(NormalizeDim(call.type, "dim", dim, x.shape.size()));
    Require(x.shape[d] % 2 == 0, call.type,
            fmt::format("SWIGLU_FORWARD needs an even size along dim {}, x is {}", dim, ShapeText(x.shape)));
    std::vector<int64_t> out_shape = x.shape;
    out_shape[d] /= 2;
    RefTensor y = RefTensor::Zeros(x.dtype, out_shape, call.type);
    if (y.numel() == 0) return {std::move(y)};
    const int64_t half = out_shape[d] * DimProduct(x.shape, d + 1, x.shape.size());
    const int64_t outer = DimProduct(x.shape, 0, d);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < half; ++i) {
        const double a = x.data[o * 2 * half + i], b = x.data[o * 2 * half + half + i];
        y.data[o * half + i] = a * Sigmoid(a) * b;
      }
    RoundAll(y.dtype, y.data);
    return {std::move(y)};
  }

  const double kSqrt2OverPi = std::sqrt(2.0 / std::numbers::pi);
  RefTensor y = x;
  for (double& v : y.data) {
    switch (act) {
      case kRelu: v = v > 0 ? v : 0.0; break;
      case kGelu:
        v = gelu_erf ? 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)))
                     : 0.5 * v * (1.0 + std::tanh(kSqrt2OverPi * (v + 0.044715 * v * v * v)));
        break;
      case kFastGelu: v = v * Sigmoid(1.702 * v); break;
      case kSwish: v = v * Sigmoid(scale * v); break;
      default: v = Sigmoid(v); break;
    }
  }
  RoundAll(y.dtype, y.data);
  return {std::move(y)};
}

std::vector<RefTensor> Softmax(RefCall& call) {
  const AtbParams p = call.params();
  const std::vector<int64_t> axes = p.IntList("axes");
  if (axes.empty()) p.Bad("axes", "must name at least one axis");
  RequireInputs(call, 1);
  RequireFloat(call, 0, "x");
  const RefTensor& x = call.inputs[0];
  std::vector<int64_t> dims;
  for (int64_t a : axes) dims.push_back(NormalizeDim(call.type, "axes", a, x.shape.size()));
  for (size_t i = 1; i < dims.size(); ++i)
    if (dims[i] != dims[i - 1] + 1) p.Bad("axes", "must be consecutive and increasing");
  const auto first = static_cast<size_t>(dims.front()), last = static_cast<size_t>(dims.back());
  const int64_t len = DimProduct(x.shape, first, last + 1), inner = DimProduct(x.shape, last + 1, x.shape.size());
  const int64_t outer = DimProduct(x.shape, 0, first);
  RefTensor y = x;
  if (y.numel() == 0) return {std::move(y)};
  for (int64_t r = 0; r < outer * inner; ++r) {
    double* base = y.data.data() + (r / inner) * len * inner + r % inner;
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < len; ++i) mx = std::max(mx, base[i * inner]);
    for (int64_t i = 0; i < len; ++i) sum += (base[i * inner] = std::exp(base[i * inner] - mx));
    for (int64_t i = 0; i < len; ++i) base[i * inner] /= sum;
  }
  RoundAll(y.dtype, y.data);
  return {std::move(y)};
}

}  // namespace

std::vector<Reference> ActivationReferences() {
  return {{"ActivationOperation", Activation}, {"SoftmaxOperation", Softmax}};
}

}  // namespace ait::opcheck
