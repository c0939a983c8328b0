// Float64 references of the GEMM operations (engine/src/ops/linear.cc, linear_quant.cc):
//   LinearOperation {transposeA=false, transposeB=true, hasBias=true; outDataType must be -1,
//     enAccum false}: x [..., K] ([K, M] when transposeA), weight [N, K] ([K, N] when
//     !transposeB), bias [N] -> [..., N] ([M, N]) in x's dtype. y = x . w is STORED in x's dtype
//     (the MatMul kernel's output), then out = y + bias rounded to x's dtype.
//   MatMulOperation / MatmulOperation {transposeA=false, transposeB=false}: a [..., M, K],
//     b [..., K, N] or [K, N] (shared by every batch); the transposes swap the last two dims;
//     -> [..., M, N] in a's dtype.
//   LinearQuantOperation {quantMode 0 W8A16 (default) / 2 PER_TOKEN = W8A8, transposeB=true
//     only, transposeA=false only, hasBias=false, outDataType=-1 (x's dtype)}: x [..., K] float,
//     weight int8 [N, K], weightScale [N], bias [N] -> [..., N] in outDataType.
//     W8A16: y = x . (weight * scale)^T; with a bias y is STORED in the output dtype first.
//     W8A8: per token r, xScale_r = max|x_r| / 127 STORED as float32 (1 for an all-zero row),
//     xq = round-half-even(x / xScale_r) clamped to [-127, 127] (int8; the quotient in float32
//     as the kernel takes it, in double for float64 x), acc = xq . weight^T
//     exactly, out = acc * xScale_r * weightScale_n (+ bias_n), rounded once.
#include <algorithm>
#include <cmath>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

// Checks a bias of n elements (any shape whose last dim is n) at input i.
void RequireBias(const RefCall& call, size_t i, int64_t n) {
  RequireFloat(call, i, "bias");
  const RefTensor& b = call.inputs[i];
  Require(b.numel() == n && !b.shape.empty() && b.shape.back() == n, call.type,
          fmt::format("bias (input {}) has shape {}, expected [{}]", i, ShapeText(b.shape), n));
}

std::vector<RefTensor> Linear(RefCall& call) {
  const AtbParams p = call.params();
  const bool trans_a = p.Bool("transposeA", false), trans_b = p.Bool("transposeB", true);
  const bool has_bias = p.Bool("hasBias", true);
  if (p.DataType("outDataType")) p.Bad("outDataType", "quantized linear is LinearQuantOperation; leave this -1");
  if (p.Bool("enAccum", false)) p.Bad("enAccum", "accumulation into the output is not supported");
  RequireInputs(call, has_bias ? 3 : 2);
  RequireFloat(call, 0, "x");
  RequireFloat(call, 1, "weight");
  const RefTensor& x = call.inputs[0];
  const RefTensor& w = call.inputs[1];
  Require(w.shape.size() == 2, call.type, "weight (input 1) must be 2-d, found " + ShapeText(w.shape));
  const int64_t wk = trans_b ? w.shape[1] : w.shape[0], n = trans_b ? w.shape[0] : w.shape[1];
  std::vector<int64_t> out_shape;
  int64_t m = 0, k = 0;
  if (trans_a) {
    Require(x.shape.size() == 2, call.type,
            "x (input 0) must be 2-d [K, M] with transposeA, found " + ShapeText(x.shape));
    k = x.shape[0];
    m = x.shape[1];
    out_shape = {m, n};
  } else {
    Require(!x.shape.empty(), call.type, "x (input 0) must have at least one dimension");
    k = x.shape.back();
    m = DimProduct(x.shape, 0, x.shape.size() - 1);
    out_shape = x.shape;
    out_shape.back() = n;
  }
  Require(k == wk, call.type,
          fmt::format("x {} and weight {} disagree on K ({} vs {}; transposeA={}, transposeB={})", ShapeText(x.shape),
                      ShapeText(w.shape), k, wk, trans_a, trans_b));
  if (has_bias) RequireBias(call, 2, n);

  RefTensor y = RefTensor::Zeros(x.dtype, out_shape, call.type);
  Dgemm(trans_a, trans_b, m, n, k, x.data.data(), trans_a ? m : k, w.data.data(), trans_b ? k : n, y.data.data(), n);
  RoundAll(x.dtype, y.data);  // the MatMul kernel's stored product
  if (has_bias) {
    const std::vector<double>& b = call.inputs[2].data;
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j) y.data[r * n + j] += b[j];
    RoundAll(x.dtype, y.data);
  }
  return {std::move(y)};
}

std::vector<RefTensor> MatMul(RefCall& call) {
  const AtbParams p = call.params();
  const bool trans_a = p.Bool("transposeA", false), trans_b = p.Bool("transposeB", false);
  RequireInputs(call, 2);
  RequireFloat(call, 0, "a");
  RequireFloat(call, 1, "b");
  const auto& a = call.inputs[0].shape;
  const auto& b = call.inputs[1].shape;
  Require(a.size() >= 2 && b.size() >= 2, call.type,
          fmt::format("inputs must be at least 2-d, found {} and {}", ShapeText(a), ShapeText(b)));
  Require(b.size() == 2 || b.size() == a.size(), call.type,
          fmt::format("b {} must be 2-d or have a's rank {}", ShapeText(b), a.size()));
  if (b.size() == a.size())
    Require(std::equal(a.begin(), a.end() - 2, b.begin()), call.type,
            fmt::format("batch dims of a {} and b {} differ", ShapeText(a), ShapeText(b)));
  const size_t ra = a.size(), rb = b.size();
  const int64_t m = trans_a ? a[ra - 1] : a[ra - 2], k = trans_a ? a[ra - 2] : a[ra - 1];
  const int64_t kb = trans_b ? b[rb - 1] : b[rb - 2], n = trans_b ? b[rb - 2] : b[rb - 1];
  Require(k == kb, call.type,
          fmt::format("a {} and b {} disagree on K ({} vs {}; transposeA={}, transposeB={})", ShapeText(a),
                      ShapeText(b), k, kb, trans_a, trans_b));
  std::vector<int64_t> out_shape(a.begin(), a.end() - 2);
  out_shape.push_back(m);
  out_shape.push_back(n);
  const int64_t batches = DimProduct(a, 0, ra - 2);
  const bool shared_b = rb == 2;
  const DType dtype = call.inputs[0].dtype;
  RefTensor out = RefTensor::Zeros(dtype, out_shape, call.type);
  const double* ad = call.inputs[0].data.data();
  const double* bd = call.inputs[1].data.data();
  for (int64_t i = 0; i < batches; ++i)
    Dgemm(trans_a, trans_b, m, n, k, ad + i * m * k, trans_a ? m : k, bd + (shared_b ? 0 : i * k * n), trans_b ? k : n,
          out.data.data() + i * m * n, n);
  RoundAll(dtype, out.data);
  return {std::move(out)};
}

std::vector<RefTensor> LinearQuant(RefCall& call) {
  const AtbParams p = call.params();
  const int mode =
      p.Enum("quantMode", 0, {{"QUANT_UNDEFINED", 0}, {"W8A16", 0}, {"PER_CHANNEL", 1}, {"PER_TOKEN", 2}, {"W8A8", 2}});
  if (mode == 1)
    p.Bad("quantMode", "PER_CHANNEL (static activation scales) is not supported; use 0 (W8A16) or 2 (PER_TOKEN)");
  if (!p.Bool("transposeB", true)) p.Bad("transposeB", "int8 weights must be [N, K] (transposeB=true)");
  if (p.Bool("transposeA", false)) p.Bad("transposeA", "only false is supported");
  const bool has_bias = p.Bool("hasBias", false);
  const std::optional<DType> out_param = p.DataType("outDataType");
  if (out_param && !(IsFloating(*out_param) && *out_param != DType::kFloat64))
    p.Bad("outDataType", fmt::format("must be a float type, found {}", ShortName(*out_param)));

  RequireInputs(call, has_bias ? 4 : 3);
  RequireFloat(call, 0, "x");
  const RefTensor& x = call.inputs[0];
  const RefTensor& w = call.inputs[1];
  Require(w.dtype == DType::kInt8, call.type,
          fmt::format("weight (input 1) must be int8, found {}", ShortName(w.dtype)));
  Require(w.shape.size() == 2, call.type, "weight (input 1) must be 2-d [N, K], found " + ShapeText(w.shape));
  const int64_t n = w.shape[0], k = w.shape[1];
  Require(!x.shape.empty() && x.shape.back() == k, call.type,
          fmt::format("x {} and weight {} disagree on K", ShapeText(x.shape), ShapeText(w.shape)));
  RequireFloat(call, 2, "weightScale");
  Require(call.inputs[2].numel() == n, call.type,
          fmt::format("weightScale (input 2) has shape {}, expected [{}]", ShapeText(call.inputs[2].shape), n));
  if (has_bias) {
    RequireFloat(call, 3, "bias");
    Require(call.inputs[3].numel() == n, call.type,
            fmt::format("bias (input 3) has shape {}, expected [{}]", ShapeText(call.inputs[3].shape), n));
  }
  const DType out_dtype = out_param.value_or(x.dtype);
  const std::vector<double>& scale = call.inputs[2].data;
  const double* bias = has_bias ? call.inputs[3].data.data() : nullptr;
  const int64_t m = DimProduct(x.shape, 0, x.shape.size() - 1);
  std::vector<int64_t> out_shape = x.shape;
  out_shape.back() = n;
  RefTensor out = RefTensor::Zeros(out_dtype, out_shape, call.type);

  if (mode == 0) {  // W8A16: dequantized weights, a float GEMM, then the bias on the stored product
    std::vector<double> wd(w.data);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) wd[r * k + c] *= scale[r];
    Dgemm(false, true, m, n, k, x.data.data(), k, wd.data(), k, out.data.data(), n);
    if (has_bias) {
      RoundAll(out_dtype, out.data);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) out.data[r * n + j] += bias[j];
    }
    RoundAll(out_dtype, out.data);
    return {std::move(out)};
  }

  // W8A8 per token: quantize each row of x, integer GEMM (exact in double: |acc| < 2^53), dequant.
  std::vector<double> xq(static_cast<size_t>(m * k)), xscale(static_cast<size_t>(m));
  for (int64_t r = 0; r < m; ++r) {
    const double* row = x.data.data() + r * k;
    double amax = 0;
    for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(row[c]));
    const double s = amax > 0 ? RoundTo(DType::kFloat32, amax / 127.0) : 1.0;  // xScale is stored as float32
    xscale[r] = s;
    for (int64_t c = 0; c < k; ++c)
      xq[r * k + c] = std::clamp(std::nearbyint(Float32Math(x.dtype, row[c] / s)), -127.0, 127.0);
  }
  Dgemm(false, true, m, n, k, xq.data(), k, w.data.data(), k, out.data.data(), n);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j)
      out.data[r * n + j] = out.data[r * n + j] * xscale[r] * scale[j] + (bias ? bias[j] : 0.0);
  RoundAll(out_dtype, out.data);
  return {std::move(out)};
}

}  // namespace

std::vector<Reference> LinearReferences() {
  return {{"LinearOperation", Linear},
          {"MatMulOperation", MatMul},
          {"MatmulOperation", MatMul},
          {"LinearQuantOperation", LinearQuant}};
}

}  // namespace ait::opcheck
