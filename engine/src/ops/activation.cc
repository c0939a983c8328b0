// ActivationOperation (ATB ActivationParam {activationType, scale, dim, geluMode}) and
// SoftmaxOperation (ATB SoftmaxParam {axes}). float32 math, one rounding to x's dtype.
//   Activation in: x; out: x's shape (SWIGLU_FORWARD: `dim` halved). One kernel named after
//     the type: RELU 1 "Relu", GELU 2 "Gelu" (geluMode 0 TANH_MODE: tanh approximation,
//     1 NONE_MODE: erf), FAST_GELU 3 "FastGelu" (x * sigmoid(1.702 x)), SWISH 4 "Swish"
//     (x * sigmoid(scale * x); silu at scale 1), SWIGLU_FORWARD 6 "SwiGlu" (x split in halves
//     a, b along `dim`: silu(a) * b), SIGMOID 8 "Sigmoid".
//   Softmax in: x; out: x's shape; softmax over the (contiguous) axes. kernel "Softmax".
#include <cmath>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

enum Act { kRelu = 1, kGelu = 2, kFastGelu = 3, kSwish = 4, kSwiGlu = 6, kSigmoid = 8 };

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

class ActivationOp : public FixedArityOp {
 public:
  explicit ActivationOp(const Json& param) : FixedArityOp("ActivationOperation", param, 1, 1) {
    Params p(type(), param);
    act_ = p.Enum("activationType", 0,
                  {{"ACTIVATION_RELU", kRelu}, {"relu", kRelu}, {"ACTIVATION_GELU", kGelu}, {"gelu", kGelu},
                   {"ACTIVATION_FAST_GELU", kFastGelu}, {"fast_gelu", kFastGelu}, {"ACTIVATION_SWISH", kSwish},
                   {"swish", kSwish}, {"silu", kSwish}, {"ACTIVATION_SWIGLU_FORWARD", kSwiGlu}, {"swiglu", kSwiGlu},
                   {"ACTIVATION_SIGMOID", kSigmoid}, {"sigmoid", kSigmoid}});
    if (act_ == 0) p.Bad("activationType", "is required (e.g. 4 = ACTIVATION_SWISH)");
    scale_ = static_cast<float>(p.Float("scale", 1.0));
    dim_ = p.Int("dim", -1);
    gelu_erf_ = p.Enum("geluMode", 0, {{"TANH_MODE", 0}, {"NONE_MODE", 1}}) == 1;
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 1);
    Check(IsFloatStorage(in[0].dtype), type(), "x (input 0) must be a float tensor, found {}", ShortName(in[0].dtype));
    if (act_ != kSwiGlu) return {in[0]};
    const int64_t d = NormalizeDim(type(), "dim", dim_, in[0].shape.size());
    Check(in[0].shape[d] % 2 == 0, type(), "SWIGLU_FORWARD needs an even size along dim {}, x is {}", dim_,
          ShapeStr(in[0].shape));
    TensorDesc out = in[0];
    out.shape[d] /= 2;
    return {out};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    static const char* names[] = {"", "Relu", "Gelu", "FastGelu", "Swish", "", "SwiGlu", "", "Sigmoid"};
    ctx.RunKernel(names[act_], {&in[0]}, {&out[0]}, [&] {
      const std::vector<float> x = LoadF32(in[0]);
      std::vector<float> y(static_cast<size_t>(out[0].numel()));
      if (act_ == kSwiGlu) {
        const int64_t d = NormalizeDim(type(), "dim", dim_, in[0].shape.size());
        int64_t inner = 1;
        for (size_t i = d + 1; i < in[0].shape.size(); ++i) inner *= in[0].shape[i];
        const int64_t half = in[0].shape[d] / 2 * inner, outer = in[0].numel() / std::max<int64_t>(2 * half, 1);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < half; ++i) {
            const float a = x[o * 2 * half + i], b = x[o * 2 * half + half + i];
            y[o * half + i] = a * Sigmoid(a) * b;
          }
      } else {
        ParallelFor(ctx, static_cast<int64_t>(x.size()), 16384, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) y[i] = Apply(x[i]);
        });
      }
      StoreF32(y.data(), y.size(), out[0]);
    });
  }

 private:
  float Apply(float x) const {
    switch (act_) {
      case kRelu: return x > 0 ? x : 0.0f;
      case kGelu:
        if (gelu_erf_) return 0.5f * x * (1.0f + std::erf(x * 0.70710678f));
        return 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
      case kFastGelu: return x * Sigmoid(1.702f * x);
      case kSwish: return x * Sigmoid(scale_ * x);
      default: return Sigmoid(x);
    }
  }

  int act_ = 0;
  float scale_ = 1.0f;
  int64_t dim_ = -1;
  bool gelu_erf_ = false;
};

class SoftmaxOp : public FixedArityOp {
 public:
  explicit SoftmaxOp(const Json& param) : FixedArityOp("SoftmaxOperation", param, 1, 1) {
    Params p(type(), param);
    axes_ = p.IntList("axes");
    if (axes_.empty()) p.Bad("axes", "must name at least one axis");
    for (size_t i = 1; i < axes_.size(); ++i)
      if (axes_[i] != axes_[i - 1] + 1) p.Bad("axes", "must be consecutive and increasing");
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 1);
    Check(IsFloatStorage(in[0].dtype), type(), "x (input 0) must be a float tensor, found {}", ShortName(in[0].dtype));
    Range(in[0].shape);
    return {in[0]};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const auto [first, last] = Range(in[0].shape);
    int64_t len = 1, inner = 1;
    for (int64_t i = first; i <= last; ++i) len *= in[0].shape[i];
    for (size_t i = last + 1; i < in[0].shape.size(); ++i) inner *= in[0].shape[i];
    const int64_t outer = in[0].numel() / std::max<int64_t>(len * inner, 1);
    ctx.RunKernel("Softmax", {&in[0]}, {&out[0]}, [&] {
      std::vector<float> x = LoadF32(in[0]);
      ParallelFor(ctx, outer * inner, std::max<int64_t>(1, 8192 / std::max<int64_t>(len, 1)), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          float* base = x.data() + (r / inner) * len * inner + r % inner;
          float mx = -INFINITY, sum = 0;
          for (int64_t i = 0; i < len; ++i) mx = std::max(mx, base[i * inner]);
          for (int64_t i = 0; i < len; ++i) sum += (base[i * inner] = std::exp(base[i * inner] - mx));
          for (int64_t i = 0; i < len; ++i) base[i * inner] /= sum;
        }
      });
      StoreF32(x.data(), x.size(), out[0]);
    });
  }

 private:
  std::pair<int64_t, int64_t> Range(const std::vector<int64_t>& shape) const {
    return {NormalizeDim(type(), "axes", axes_.front(), shape.size()), NormalizeDim(type(), "axes", axes_.back(), shape.size())};
  }
  std::vector<int64_t> axes_;
};

}  // namespace

std::unique_ptr<Operation> CreateActivation(const Json& param) { return std::make_unique<ActivationOp>(param); }
std::unique_ptr<Operation> CreateSoftmax(const Json& param) { return std::make_unique<SoftmaxOp>(param); }

}  // namespace ait::engine::ops
