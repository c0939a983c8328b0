// RmsNormOperation and LayerNormOperation (ATB RmsNormParam / LayerNormParam, layerType NORM).
// Statistics and the affine step run in float32; the output rounds once to x's dtype.
//   RmsNorm   in: x [..., H], gamma [H]          out: y [..., H]   kernel "RmsNorm"
//             y = x / sqrt(mean(x^2) + eps) * gamma   (modelType GEMMA_MODEL: * (1 + gamma))
//   LayerNorm in: x [..., H], gamma [H], beta [H] out: y [..., H]  kernel "LayerNorm"
//             y = (x - mean) / sqrt(var + eps) * gamma + beta, over the trailing gamma.numel()
//             elements (beginNormAxis, when inside x's rank, must mark the same split).
#include <cmath>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

int ReadLayerType(const Params& p, std::initializer_list<std::pair<std::string_view, int>> names) {
  int t = p.Enum("layerType", 1, names);
  if (t != 1) p.Bad("layerType", "only NORM (1) is supported");
  return t;
}

// Rows of `h` elements in x whose last dims hold gamma.
int64_t CheckNormShapes(const std::string& op, const std::vector<TensorDesc>& in, size_t nparams) {
  const TensorDesc& x = in[0];
  Check(IsFloatStorage(x.dtype), op, "x (input 0) must be float32, float16 or bfloat16, found {}", ShortName(x.dtype));
  Check(!x.shape.empty(), op, "x (input 0) must have at least one dimension");
  const int64_t h = Numel(in[1].shape);
  for (size_t i = 1; i <= nparams; ++i) {
    Check(IsFloatStorage(in[i].dtype), op, "input {} must be a float tensor, found {}", i, ShortName(in[i].dtype));
    Check(Numel(in[i].shape) == h, op, "input {} has shape {}, expected {} elements like gamma", i,
          ShapeStr(in[i].shape), h);
  }
  int64_t tail = 1;
  for (size_t d = x.shape.size(); d-- > 0 && tail < h;) tail *= x.shape[d];
  Check(h > 0 && tail == h, op, "gamma has {} elements, which are not the trailing dims of x {}", h,
        ShapeStr(x.shape));
  return h;
}

class RmsNormOp : public FixedArityOp {
 public:
  explicit RmsNormOp(const Json& param) : FixedArityOp("RmsNormOperation", param, 2, 1) {
    Params p(type(), param);
    ReadLayerType(p, {{"RMS_NORM_UNDEFINED", 0}, {"RMS_NORM_NORM", 1}, {"RMS_NORM_PRENORM", 2}, {"RMS_NORM_POSTNORM", 3}});
    Params np = p.Sub("normParam");
    eps_ = static_cast<float>(np.Float("epsilon", 1e-5));
    if (!(eps_ >= 0)) np.Bad("epsilon", "must be >= 0");
    if (np.Enum("quantType", 0, {{"QUANT_UNQUANT", 0}, {"QUANT_INT8", 2}}) != 0)
      np.Bad("quantType", "only QUANT_UNQUANT (0) is supported");
    gemma_ = np.Enum("modelType", 0, {{"LLAMA_MODEL", 0}, {"GEMMA_MODEL", 1}}) == 1;
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 2);
    CheckNormShapes(type(), in, 1);
    return {in[0]};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const int64_t h = in[1].numel(), rows = in[0].numel() / h;
    ctx.RunKernel("RmsNorm", {&in[0], &in[1]}, {&out[0]}, [&] {
      std::vector<float> gs;
      const float* g = F32View(in[1], gs);
      ParallelFor(ctx, rows, std::max<int64_t>(1, 4096 / h), [&](int64_t b, int64_t e) {
        std::vector<float> x(h);
        for (int64_t r = b; r < e; ++r) {
          LoadRow(in[0], r * h, h, x.data());
          float ss = 0;
          for (int64_t i = 0; i < h; ++i) ss += x[i] * x[i];
          const float inv = 1.0f / std::sqrt(ss / static_cast<float>(h) + eps_);
          for (int64_t i = 0; i < h; ++i) x[i] = x[i] * inv * (gemma_ ? 1.0f + g[i] : g[i]);
          StoreF32(x.data(), h, out[0], r * h);
        }
      });
    });
  }

 private:
  float eps_ = 1e-5f;
  bool gemma_ = false;
};

class LayerNormOp : public FixedArityOp {
 public:
  explicit LayerNormOp(const Json& param) : FixedArityOp("LayerNormOperation", param, 3, 1) {
    Params p(type(), param);
    ReadLayerType(p, {{"LAYER_NORM_UNDEFINED", 0}, {"LAYER_NORM_NORM", 1}, {"LAYER_NORM_PRENORM", 2},
                      {"LAYER_NORM_POSTNORM", 3}});
    Params np = p.Sub("normParam");
    eps_ = static_cast<float>(np.Float("epsilon", 1e-5));
    if (!(eps_ >= 0)) np.Bad("epsilon", "must be >= 0");
    if (np.Enum("quantType", 0, {{"QUANT_UNQUANT", 0}, {"QUANT_INT8", 2}}) != 0)
      np.Bad("quantType", "only QUANT_UNQUANT (0) is supported");
    begin_norm_axis_ = np.Int("beginNormAxis", 0);
    if (begin_norm_axis_ < 0) np.Bad("beginNormAxis", "must be >= 0");
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 3);
    const int64_t h = CheckNormShapes(type(), in, 2);
    const auto& xs = in[0].shape;
    if (begin_norm_axis_ > 0 && begin_norm_axis_ < static_cast<int64_t>(xs.size())) {
      std::vector<int64_t> tail(xs.begin() + begin_norm_axis_, xs.end());
      Check(Numel(tail) == h, type(), "param normParam.beginNormAxis {} normalizes {} of x {}, but gamma has {} elements",
            begin_norm_axis_, ShapeStr(tail), ShapeStr(xs), h);
    }
    return {in[0]};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const int64_t h = in[1].numel(), rows = in[0].numel() / h;
    ctx.RunKernel("LayerNorm", {&in[0], &in[1], &in[2]}, {&out[0]}, [&] {
      std::vector<float> gs, bs;
      const float* g = F32View(in[1], gs);
      const float* beta = F32View(in[2], bs);
      ParallelFor(ctx, rows, std::max<int64_t>(1, 4096 / h), [&](int64_t b, int64_t e) {
        std::vector<float> x(h);
        for (int64_t r = b; r < e; ++r) {
          LoadRow(in[0], r * h, h, x.data());
          float mean = 0, var = 0;
          for (int64_t i = 0; i < h; ++i) mean += x[i];
          mean /= static_cast<float>(h);
          for (int64_t i = 0; i < h; ++i) var += (x[i] - mean) * (x[i] - mean);  // two-pass: no cancellation
          const float inv = 1.0f / std::sqrt(var / static_cast<float>(h) + eps_);
          for (int64_t i = 0; i < h; ++i) x[i] = (x[i] - mean) * inv * g[i] + beta[i];
          StoreF32(x.data(), h, out[0], r * h);
        }
      });
    });
  }

 private:
  float eps_ = 1e-5f;
  int64_t begin_norm_axis_ = 0;
};

}  // namespace

std::unique_ptr<Operation> CreateRmsNorm(const Json& param) { return std::make_unique<RmsNormOp>(param); }
std::unique_ptr<Operation> CreateLayerNorm(const Json& param) { return std::make_unique<LayerNormOp>(param); }

}  // namespace ait::engine::ops
