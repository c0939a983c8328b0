// SamplingOperation (this engine's own; ATB samples with TopkToppSampling): greedy decoding,
// argmax over the last dim (first index on ties; NaN never wins).
//   param {outDataType: aclDataType code or name, int64 (9, default) or int32 (3)}
//   in: logits [..., vocab] float; out: [...] token ids. kernel "ArgMax".
#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

class SamplingOp : public FixedArityOp {
 public:
  explicit SamplingOp(const Json& param) : FixedArityOp("SamplingOperation", param, 1, 1) {
    Params p(type(), param);
    out_ = p.DataType("outDataType").value_or(DType::kInt64);
    if (out_ != DType::kInt64 && out_ != DType::kInt32)
      p.Bad("outDataType", fmt::format("must be int64 (9) or int32 (3), found {}", ShortName(out_)));
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 1);
    Check(IsFloatStorage(in[0].dtype), type(), "logits (input 0) must be a float tensor, found {}", ShortName(in[0].dtype));
    Check(!in[0].shape.empty() && in[0].shape.back() > 0, type(), "logits {} need a non-empty last dim",
          ShapeStr(in[0].shape));
    return {{out_, std::vector<int64_t>(in[0].shape.begin(), in[0].shape.end() - 1)}};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const int64_t vocab = in[0].shape.back(), rows = in[0].numel() / vocab;
    ctx.RunKernel("ArgMax", {&in[0]}, {&out[0]}, [&] {
      ParallelFor(ctx, rows, 1, [&](int64_t b, int64_t e) {
        std::vector<float> x(vocab);
        for (int64_t r = b; r < e; ++r) {
          LoadRow(in[0], r * vocab, vocab, x.data());
          int64_t best = 0;
          for (int64_t i = 1; i < vocab; ++i)
            if (x[i] > x[best] || (x[best] != x[best] && x[i] == x[i])) best = i;
          if (out_ == DType::kInt64)
            Mutable<int64_t>(out[0])[r] = best;
          else
            Mutable<int32_t>(out[0])[r] = static_cast<int32_t>(best);
        }
      });
    });
  }

 private:
  DType out_ = DType::kInt64;
};

}  // namespace

std::unique_ptr<Operation> CreateSampling(const Json& param) { return std::make_unique<SamplingOp>(param); }

}  // namespace ait::engine::ops
