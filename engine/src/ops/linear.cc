// LinearOperation (ATB LinearParam) and MatMulOperation: float GEMMs on the OpenBLAS sgemm core.
//   Linear  param {transposeA=false, transposeB=true, hasBias=true} (ATB's defaults)
//           in: x [..., K] ([K, M] when transposeA), weight [N, K] ([K, N] when !transposeB),
//               bias [N] (only when hasBias)
//           out: [..., N] ([M, N] when transposeA), x's dtype
//           kernels: "MatMul" (x, weight -> y), then "BiasAdd" (y, bias -> out) when hasBias;
//           y is a separate tensor in x's dtype, so the bias adds to a rounded product as an
//           unfused accelerator kernel would.
//   MatMul  (also "MatmulOperation", ATB's spelling) a batched product without weight
//           semantics: param {transposeA=false, transposeB=false}
//           in: a [..., M, K], b [..., K, N] or [K, N] (shared by every batch); transposes swap
//               the last two dims. out: [..., M, N], a's dtype. kernel "MatMul".
#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

void CheckFloat(const std::string& op, const TensorDesc& d, std::string_view what) {
  Check(IsFloatStorage(d.dtype), op, "{} must be float32, float16 or bfloat16, found {}", what, ShortName(d.dtype));
}

class LinearOp : public Operation {
 public:
  explicit LinearOp(const Json& param) : Operation("LinearOperation", param) {
    Params p(type(), param);
    trans_a_ = p.Bool("transposeA", false);
    trans_b_ = p.Bool("transposeB", true);
    has_bias_ = p.Bool("hasBias", true);
    if (p.DataType("outDataType")) p.Bad("outDataType", "quantized linear is LinearQuantOperation; leave this -1");
    if (p.Bool("enAccum", false)) p.Bad("enAccum", "accumulation into the output is not supported");
  }
  size_t in_count() const override { return has_bias_ ? 3 : 2; }
  size_t out_count() const override { return 1; }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, in_count());
    const auto& x = in[0].shape;
    const auto& w = in[1].shape;
    CheckFloat(type(), in[0], "x (input 0)");
    CheckFloat(type(), in[1], "weight (input 1)");
    Check(w.size() == 2, type(), "weight (input 1) must be 2-d, found {}", ShapeStr(w));
    const int64_t wk = trans_b_ ? w[1] : w[0], n = trans_b_ ? w[0] : w[1];
    std::vector<int64_t> out;
    int64_t k;
    if (trans_a_) {
      Check(x.size() == 2, type(), "x (input 0) must be 2-d [K, M] with transposeA, found {}", ShapeStr(x));
      k = x[0];
      out = {x[1], n};
    } else {
      Check(!x.empty(), type(), "x (input 0) must have at least one dimension");
      k = x.back();
      out = x;
      out.back() = n;
    }
    Check(k == wk, type(), "x {} and weight {} disagree on K ({} vs {}; transposeA={}, transposeB={})", ShapeStr(x),
          ShapeStr(w), k, wk, trans_a_, trans_b_);
    if (has_bias_) {
      CheckFloat(type(), in[2], "bias (input 2)");
      Check(Numel(in[2].shape) == n && !in[2].shape.empty() && in[2].shape.back() == n, type(),
            "bias (input 2) has shape {}, expected [{}]", ShapeStr(in[2].shape), n);
    }
    return {{in[0].dtype, out}};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const Tensor& x = in[0];
    const Tensor& w = in[1];
    const int64_t n = trans_b_ ? w.shape[0] : w.shape[1], k = trans_b_ ? w.shape[1] : w.shape[0];
    const int64_t m = n == 0 ? 0 : out[0].numel() / n;
    Tensor y = has_bias_ ? Tensor::Allocate(x.dtype, out[0].shape) : out[0];
    ctx.RunKernel("MatMul", {&x, &w}, {&y}, [&] {
      std::vector<float> xs, ws, acc(static_cast<size_t>(m * n));
      const float* xf = F32View(x, xs);
      const float* wf = F32View(w, ws);
      Sgemm(trans_a_, trans_b_, m, n, k, xf, trans_a_ ? m : k, wf, trans_b_ ? k : n, acc.data(), n);
      StoreF32(acc.data(), acc.size(), y);
    });
    if (!has_bias_) return;
    ctx.RunKernel("BiasAdd", {&y, &in[2]}, {&out[0]}, [&] {
      std::vector<float> v = LoadF32(y), bs;
      const float* b = F32View(in[2], bs);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) v[r * n + j] += b[j];
      StoreF32(v.data(), v.size(), out[0]);
    });
  }

 private:
  bool trans_a_ = false, trans_b_ = true, has_bias_ = true;
};

class MatMulOp : public FixedArityOp {
 public:
  MatMulOp(std::string type, const Json& param) : FixedArityOp(std::move(type), param, 2, 1) {
    Params p(this->type(), param);
    trans_a_ = p.Bool("transposeA", false);
    trans_b_ = p.Bool("transposeB", false);
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 2);
    CheckFloat(type(), in[0], "a (input 0)");
    CheckFloat(type(), in[1], "b (input 1)");
    const auto& a = in[0].shape;
    const auto& b = in[1].shape;
    Check(a.size() >= 2 && b.size() >= 2, type(), "inputs must be at least 2-d, found {} and {}", ShapeStr(a),
          ShapeStr(b));
    Check(b.size() == 2 || b.size() == a.size(), type(), "b {} must be 2-d or have a's rank {}", ShapeStr(b), a.size());
    if (b.size() == a.size())
      for (size_t i = 0; i + 2 < a.size(); ++i)
        Check(a[i] == b[i], type(), "batch dims of a {} and b {} differ", ShapeStr(a), ShapeStr(b));
    const size_t ra = a.size(), rb = b.size();
    const int64_t m = trans_a_ ? a[ra - 1] : a[ra - 2], k = trans_a_ ? a[ra - 2] : a[ra - 1];
    const int64_t kb = trans_b_ ? b[rb - 1] : b[rb - 2], n = trans_b_ ? b[rb - 2] : b[rb - 1];
    Check(k == kb, type(), "a {} and b {} disagree on K ({} vs {}; transposeA={}, transposeB={})", ShapeStr(a),
          ShapeStr(b), k, kb, trans_a_, trans_b_);
    std::vector<int64_t> out(a.begin(), a.end() - 2);
    out.push_back(m);
    out.push_back(n);
    return {{in[0].dtype, out}};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const auto& a = in[0].shape;
    const auto& b = in[1].shape;
    const size_t ra = a.size(), rb = b.size();
    const int64_t m = trans_a_ ? a[ra - 1] : a[ra - 2], k = trans_a_ ? a[ra - 2] : a[ra - 1];
    const int64_t n = trans_b_ ? b[rb - 2] : b[rb - 1];
    const int64_t batches = m * n == 0 ? 0 : out[0].numel() / (m * n);
    const bool shared_b = rb == 2;
    ctx.RunKernel("MatMul", {&in[0], &in[1]}, {&out[0]}, [&] {
      std::vector<float> as, bs, acc(static_cast<size_t>(out[0].numel()));
      const float* af = F32View(in[0], as);
      const float* bf = F32View(in[1], bs);
      for (int64_t i = 0; i < batches; ++i)
        Sgemm(trans_a_, trans_b_, m, n, k, af + i * m * k, trans_a_ ? m : k, bf + (shared_b ? 0 : i * k * n),
              trans_b_ ? k : n, acc.data() + i * m * n, n);
      StoreF32(acc.data(), acc.size(), out[0]);
    });
  }

 private:
  bool trans_a_ = false, trans_b_ = false;
};

}  // namespace

std::unique_ptr<Operation> CreateLinear(const Json& param) { return std::make_unique<LinearOp>(param); }
std::unique_ptr<Operation> CreateMatMul(const std::string& type, const Json& param) {
  return std::make_unique<MatMulOp>(type, param);
}

}  // namespace ait::engine::ops
