// LinearQuantOperation: int8 weights with per-output-channel scales, two schemes.
//   param {quantMode: 0 / "W8A16" (weight-only, the default) | 2 / "PER_TOKEN" / "W8A8"
//          (dynamic per-token symmetric activation quantization; ATB LinearParam.quantMode),
//          transposeB=true (only true: weights are [N, K] as HF stores them), hasBias=false,
//          outDataType=-1 (aclDataType code or name; -1 = x's dtype)}
//   in:  x [..., K] float, weight [N, K] int8, weightScale [N] float, bias [N] (when hasBias)
//   out: [..., N] in outDataType
//   W8A16 kernels: "AntiQuantMatMul" (x, weight, weightScale -> y): y = x . (weight * scale)^T
//                  in float32, then "BiasAdd" (y, bias -> out) when hasBias.
//   W8A8 kernels:  "QuantPerToken" (x -> xq int8 [M, K], xScale float32 [M]) with
//                  xScale = max|x_row| / 127, xq = round(x / xScale) in [-127, 127];
//                  "QuantMatMul" (xq, weight -> acc int32 [M, N]), exact integer sums;
//                  "Dequant" (acc, xScale, weightScale[, bias] -> out) = acc * xScale *
//                  weightScale (+ bias), rounded once to the output dtype.
#include <algorithm>
#include <cmath>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

class LinearQuantOp : public Operation {
 public:
  explicit LinearQuantOp(const Json& param) : Operation("LinearQuantOperation", param) {
    Params p(type(), param);
    const int mode = p.Enum("quantMode", 0,
                            {{"QUANT_UNDEFINED", 0}, {"W8A16", 0}, {"PER_CHANNEL", 1}, {"PER_TOKEN", 2}, {"W8A8", 2}});
    if (mode == 1)
      p.Bad("quantMode", "PER_CHANNEL (static activation scales) is not supported; use 0 (W8A16) or 2 (PER_TOKEN)");
    per_token_ = mode == 2;
    if (!p.Bool("transposeB", true)) p.Bad("transposeB", "int8 weights must be [N, K] (transposeB=true)");
    if (p.Bool("transposeA", false)) p.Bad("transposeA", "only false is supported");
    has_bias_ = p.Bool("hasBias", false);
    out_dtype_ = p.DataType("outDataType");
    if (out_dtype_ && !IsFloatStorage(*out_dtype_))
      p.Bad("outDataType", fmt::format("must be a float type, found {}", ShortName(*out_dtype_)));
  }
  size_t in_count() const override { return has_bias_ ? 4 : 3; }
  size_t out_count() const override { return 1; }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, in_count());
    const auto& x = in[0].shape;
    const auto& w = in[1].shape;
    Check(IsFloatStorage(in[0].dtype), type(), "x (input 0) must be a float tensor, found {}", ShortName(in[0].dtype));
    Check(in[1].dtype == DType::kInt8, type(), "weight (input 1) must be int8, found {}", ShortName(in[1].dtype));
    Check(w.size() == 2, type(), "weight (input 1) must be 2-d [N, K], found {}", ShapeStr(w));
    Check(!x.empty() && x.back() == w[1], type(), "x {} and weight {} disagree on K", ShapeStr(x), ShapeStr(w));
    for (size_t i = 2; i < in.size(); ++i) {
      Check(IsFloatStorage(in[i].dtype), type(), "{} (input {}) must be a float tensor, found {}",
            i == 2 ? "weightScale" : "bias", i, ShortName(in[i].dtype));
      Check(Numel(in[i].shape) == w[0], type(), "{} (input {}) has shape {}, expected [{}]",
            i == 2 ? "weightScale" : "bias", i, ShapeStr(in[i].shape), w[0]);
    }
    std::vector<int64_t> out = x;
    out.back() = w[0];
    return {{out_dtype_.value_or(in[0].dtype), out}};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    if (per_token_)
      ExecuteW8A8(in, out, ctx);
    else
      ExecuteW8A16(in, out, ctx);
  }

 private:
  void ExecuteW8A16(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const {
    const Tensor& x = in[0];
    const int64_t n = in[1].shape[0], k = in[1].shape[1], m = n == 0 ? 0 : out[0].numel() / n;
    Tensor y = has_bias_ ? Tensor::Allocate(out[0].dtype, out[0].shape) : out[0];
    ctx.RunKernel("AntiQuantMatMul", {&x, &in[1], &in[2]}, {&y}, [&] {
      std::vector<float> w = LoadF32(in[1]), ss, xs, acc(static_cast<size_t>(m * n));
      const float* scale = F32View(in[2], ss);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) w[r * k + c] *= scale[r];
      Sgemm(false, true, m, n, k, F32View(x, xs), k, w.data(), k, acc.data(), n);
      StoreF32(acc.data(), acc.size(), y);
    });
    if (!has_bias_) return;
    ctx.RunKernel("BiasAdd", {&y, &in[3]}, {&out[0]}, [&] {
      std::vector<float> v = LoadF32(y), bs;
      const float* b = F32View(in[3], bs);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) v[r * n + j] += b[j];
      StoreF32(v.data(), v.size(), out[0]);
    });
  }

  void ExecuteW8A8(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const {
    const int64_t n = in[1].shape[0], k = in[1].shape[1], m = k == 0 ? 0 : in[0].numel() / k;
    Tensor xq = Tensor::Allocate(DType::kInt8, {m, k});
    Tensor xscale = Tensor::Allocate(DType::kFloat32, {m});
    ctx.RunKernel("QuantPerToken", {&in[0]}, {&xq, &xscale}, [&] {
      ParallelFor(ctx, m, std::max<int64_t>(1, 4096 / std::max<int64_t>(k, 1)), [&](int64_t b, int64_t e) {
        std::vector<float> row(k);
        for (int64_t r = b; r < e; ++r) {
          LoadRow(in[0], r * k, k, row.data());
          float amax = 0;
          for (float v : row) amax = std::max(amax, std::fabs(v));
          const float s = amax > 0 ? amax / 127.0f : 1.0f;  // an all-zero row quantizes to zeros
          Mutable<float>(xscale)[r] = s;
          for (int64_t c = 0; c < k; ++c)
            Mutable<int8_t>(xq)[r * k + c] = static_cast<int8_t>(std::clamp(std::nearbyint(row[c] / s), -127.0f, 127.0f));
        }
      });
    });
    Tensor acc = Tensor::Allocate(DType::kInt32, {m, n});
    ctx.RunKernel("QuantMatMul", {&xq, &in[1]}, {&acc}, [&] {
      const int8_t* a = Data<int8_t>(xq);
      const int8_t* w = Data<int8_t>(in[1]);
      int32_t* c = Mutable<int32_t>(acc);
      ParallelFor(ctx, m * n, std::max<int64_t>(1, 65536 / std::max<int64_t>(k, 1)), [&](int64_t b, int64_t e) {
        for (int64_t idx = b; idx < e; ++idx) {
          const int8_t* ar = a + (idx / n) * k;
          const int8_t* wr = w + (idx % n) * k;
          int32_t s = 0;
          for (int64_t i = 0; i < k; ++i) s += static_cast<int16_t>(ar[i]) * static_cast<int16_t>(wr[i]);
          c[idx] = s;
        }
      });
    });
    std::vector<const Tensor*> dq_in = {&acc, &xscale, &in[2]};
    if (has_bias_) dq_in.push_back(&in[3]);
    ctx.RunKernel("Dequant", dq_in, {&out[0]}, [&] {
      std::vector<float> ws, bs, v(static_cast<size_t>(m * n));
      const float* wscale = F32View(in[2], ws);
      const float* bias = has_bias_ ? F32View(in[3], bs) : nullptr;
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j)
          v[r * n + j] = static_cast<float>(Data<int32_t>(acc)[r * n + j]) * Data<float>(xscale)[r] * wscale[j] +
                         (bias ? bias[j] : 0.0f);
      StoreF32(v.data(), v.size(), out[0]);
    });
  }

  bool per_token_ = false, has_bias_ = false;
  std::optional<DType> out_dtype_;
};

}  // namespace

std::unique_ptr<Operation> CreateLinearQuant(const Json& param) { return std::make_unique<LinearQuantOp>(param); }

}  // namespace ait::engine::ops
