// Float64 reference of RopeOperation (engine/src/ops/rope.cc; ATB RopeParam {rotaryCoeff=4,
// cosFormat=0 only}). rotaryCoeff c (even, >= 2) splits each head into c chunks and rotates
// chunk 2j against chunk 2j+1: r[i] = x[i] cos[i] - x[i+chunk] sin[i],
// r[i+chunk] = x[i+chunk] cos[i+chunk] + x[i] sin[i+chunk] (c=2: Llama's rotate_half).
//   in:  q [tokens, ...], k [tokens, ...] (whole heads of headDim per token), cos, sin
//        [tokens, headDim] (gathered per token), seqLen [batch] integers summing to tokens
//   out: ropeQ (q's shape and dtype), ropeK (k's shape and dtype), each rounded once.
#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

RefTensor Rotate(const RefTensor& x, const std::vector<double>& cosv, const std::vector<double>& sinv, int64_t tokens,
                 int64_t head_dim, int64_t coeff) {
  RefTensor y = x;
  const int64_t row = x.numel() / tokens, heads = row / head_dim, chunk = head_dim / coeff;
  for (int64_t t = 0; t < tokens; ++t) {
    const double* c = cosv.data() + t * head_dim;
    const double* s = sinv.data() + t * head_dim;
    for (int64_t h = 0; h < heads; ++h) {
      const double* xv = x.data.data() + t * row + h * head_dim;
      double* rv = y.data.data() + t * row + h * head_dim;
      for (int64_t p = 0; p < head_dim; p += 2 * chunk)
        for (int64_t i = p; i < p + chunk; ++i) {
          const int64_t j = i + chunk;  // the partner in the next chunk
          rv[i] = xv[i] * c[i] - xv[j] * s[i];
          rv[j] = xv[j] * c[j] + xv[i] * s[j];
        }
    }
  }
  RoundAll(y.dtype, y.data);
  return y;
}

std::vector<RefTensor> Rope(RefCall& call) {
  const AtbParams p = call.params();
  const int64_t coeff = p.Int("rotaryCoeff", 4);
  if (coeff < 2 || coeff % 2 != 0) p.Bad("rotaryCoeff", fmt::format("must be even and >= 2, found {}", coeff));
  if (p.Int("cosFormat", 0) != 0) p.Bad("cosFormat", "only 0 is supported");
  RequireInputs(call, 5);
  const char* names[] = {"q", "k", "cos", "sin"};
  for (size_t i = 0; i < 4; ++i) {
    RequireFloat(call, i, names[i]);
    Require(call.inputs[i].shape.size() >= 2, call.type,
            fmt::format("{} (input {}) must have rank >= 2, found {}", names[i], i, ShapeText(call.inputs[i].shape)));
  }
  const RefTensor& cos = call.inputs[2];
  const RefTensor& sin = call.inputs[3];
  Require(cos.shape == sin.shape, call.type,
          fmt::format("cos {} and sin {} differ in shape", ShapeText(cos.shape), ShapeText(sin.shape)));
  const int64_t head_dim = cos.shape.back();
  Require(head_dim > 0 && head_dim % coeff == 0, call.type,
          fmt::format("param rotaryCoeff {} does not divide headDim {} (cos's last dim)", coeff, head_dim));
  const int64_t tokens = cos.numel() / head_dim;
  for (size_t i = 0; i < 2; ++i)
    Require(tokens > 0 && call.inputs[i].numel() % (tokens * head_dim) == 0, call.type,
            fmt::format("{} {} does not hold whole heads of headDim {} for {} tokens (cos {})", names[i],
                        ShapeText(call.inputs[i].shape), head_dim, tokens, ShapeText(cos.shape)));
  const std::vector<int64_t> seq_len = IntValues(call, 4, "seqLen");
  int64_t total = 0;
  for (size_t b = 0; b < seq_len.size(); ++b) {
    Require(seq_len[b] >= 0 && seq_len[b] <= tokens, call.type,
            fmt::format("seqLen[{}] = {} is out of range [0, {}]", b, seq_len[b], tokens));
    total += seq_len[b];
  }
  Require(total == tokens, call.type, fmt::format("seqLen sums to {}, but cos/sin hold {} tokens", total, tokens));
  return {Rotate(call.inputs[0], cos.data, sin.data, tokens, head_dim, coeff),
          Rotate(call.inputs[1], cos.data, sin.data, tokens, head_dim, coeff)};
}

}  // namespace

std::vector<Reference> RopeReferences() { return {{"RopeOperation", Rope}}; }

}  // namespace ait::opcheck
