// RopeOperation (ATB RopeParam {rotaryCoeff=4, cosFormat=0}): rotary position embedding of q
// and k, HF's `x * cos + rotate_half(x) * sin` applied per head. rotaryCoeff c splits each head
// into c chunks and rotates chunk 2j against chunk 2j+1: c=2 is Llama's half rotation,
// c=headDim the interleaved (GPT-J) form, c=4 two half rotations (ChatGLM's 2-d rope).
//   in:  q [tokens, hiddenQ] (or [b, s, hiddenQ], [tokens, heads, headDim]),
//        k [tokens, hiddenK], cos [tokens, headDim], sin [tokens, headDim] (already gathered
//        at each token's position), seqLen [batch] int32 (sum = tokens)
//   out: ropeQ (q's shape, dtype), ropeK (k's shape, dtype). kernel "Rope".
#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

class RopeOp : public FixedArityOp {
 public:
  explicit RopeOp(const Json& param) : FixedArityOp("RopeOperation", param, 5, 2) {
    Params p(type(), param);
    coeff_ = p.Int("rotaryCoeff", 4);
    if (coeff_ < 2 || coeff_ % 2 != 0) p.Bad("rotaryCoeff", fmt::format("must be even and >= 2, found {}", coeff_));
    if (p.Int("cosFormat", 0) != 0) p.Bad("cosFormat", "only 0 is supported");
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 5);
    const char* names[] = {"q", "k", "cos", "sin"};
    for (int i = 0; i < 4; ++i)
      Check(IsFloatStorage(in[i].dtype) && in[i].shape.size() >= 2, type(),
            "{} (input {}) must be a float tensor of rank >= 2, found {} {}", names[i], i, ShortName(in[i].dtype),
            ShapeStr(in[i].shape));
    Check(in[2].shape == in[3].shape, type(), "cos {} and sin {} differ in shape", ShapeStr(in[2].shape),
          ShapeStr(in[3].shape));
    const int64_t head_dim = in[2].shape.back(), tokens = Numel(in[2].shape) / std::max<int64_t>(head_dim, 1);
    Check(head_dim > 0 && head_dim % coeff_ == 0, type(), "param rotaryCoeff {} does not divide headDim {} (cos's last dim)",
          coeff_, head_dim);
    for (int i = 0; i < 2; ++i) {
      const int64_t n = Numel(in[i].shape);
      Check(tokens > 0 && n % (tokens * head_dim) == 0, type(),
            "{} {} does not hold whole heads of headDim {} for {} tokens (cos {})", names[i], ShapeStr(in[i].shape),
            head_dim, tokens, ShapeStr(in[2].shape));
    }
    Check(in[4].dtype == DType::kInt32 || in[4].dtype == DType::kInt64, type(),
          "seqLen (input 4) must be int32 or int64, found {}", ShortName(in[4].dtype));
    return {in[0], in[1]};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const int64_t head_dim = in[2].shape.back(), tokens = in[2].numel() / head_dim;
    int64_t total = 0;
    for (int64_t b = 0; b < in[4].numel(); ++b) {
      Check(IntAt(in[4], b) >= 0, type(), "seqLen[{}] = {} is negative", b, IntAt(in[4], b));
      total += IntAt(in[4], b);
    }
    Check(total == tokens, type(), "seqLen sums to {}, but cos/sin hold {} tokens", total, tokens);
    ctx.RunKernel("Rope", {&in[0], &in[1], &in[2], &in[3], &in[4]}, {&out[0], &out[1]}, [&] {
      std::vector<float> cs, ss;
      const float* cosv = F32View(in[2], cs);
      const float* sinv = F32View(in[3], ss);
      for (int i = 0; i < 2; ++i) Rotate(in[i], out[i], cosv, sinv, tokens, head_dim, ctx);
    });
  }

 private:
  void Rotate(const Tensor& x, const Tensor& y, const float* cosv, const float* sinv, int64_t tokens, int64_t head_dim,
              ExecContext& ctx) const {
    const int64_t row = x.numel() / tokens, heads = row / head_dim, chunk = head_dim / coeff_;
    ParallelFor(ctx, tokens, std::max<int64_t>(1, 4096 / row), [&](int64_t b, int64_t e) {
      std::vector<float> v(row), r(row);
      for (int64_t t = b; t < e; ++t) {
        LoadRow(x, t * row, row, v.data());
        const float* c = cosv + t * head_dim;
        const float* s = sinv + t * head_dim;
        for (int64_t h = 0; h < heads; ++h) {
          const float* xv = v.data() + h * head_dim;
          float* rv = r.data() + h * head_dim;
          for (int64_t p = 0; p < head_dim; p += 2 * chunk)
            for (int64_t i = p; i < p + chunk; ++i) {
              const int64_t j = i + chunk;  // partner in the next chunk
              rv[i] = xv[i] * c[i] - xv[j] * s[i];
              rv[j] = xv[j] * c[j] + xv[i] * s[j];
            }
        }
        StoreF32(r.data(), row, y, t * row);
      }
    });
  }

  int64_t coeff_ = 4;
};

}  // namespace

std::unique_ptr<Operation> CreateRope(const Json& param) { return std::make_unique<RopeOp>(param); }

}  // namespace ait::engine::ops
