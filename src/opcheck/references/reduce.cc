// References of ATB's reductions (Cumsum, Reduce, Sort) and of the training operations of its
// unpadded attention path (FastSoftMax, FastSoftMaxGrad, StridedBatchMatmul, RopeGrad), whose
// inputs are flat sequences of per-batch blocks described by their params.
//
// Sources: ATB's public headers (hicann/ascend-transformer-boost include/atb/infer_op_params.h:
// CumsumParam, ReduceParam, SortParam; include/atb/train_op_params.h: FastSoftMaxParam,
// FastSoftMaxGradParam, StridedBatchMatmulParam, RopeGradParam), its operations' shape checks
// (src/ops/ops_infer, src/ops/ops_train), its param-to-JSON names (src/atb/utils/
// param_to_json.cpp) and the golden functions of its tests (tests/apitest); the code is ours.
//
// CumsumOperation
//   params   axes (exactly one axis), exclusive, reverse (aclnnCumsumV2's meaning: exclusive
//            leaves the element itself out, reverse sums from the end of the axis).
//   x -> y   same shape and dtype.
// ReduceOperation
//   params   reduceType REDUCE_MAX(1) | REDUCE_MIN(2) | REDUCE_SUM(3); axis: non-empty list of
//            dims in [0, rank).
//   x -> y   x's dtype, the listed dims removed. MAX/MIN propagate NaN (as torch.amax/amin).
// SortOperation
//   params   num: one value k, 0 < k <= x's last dim.
//   x -> (values, indices)  the k largest along the last dim in descending order, values in x's
//            dtype, indices int32. Equal values keep their input order (lower index first) and
//            NaN counts as the largest (torch.sort(descending=True, stable=True)); a kernel that
//            orders ties otherwise differs only in the indices of tied values.
// FastSoftMaxOperation
//   params   headNum > 0, qSeqLen (per batch, > 0).
//   x -> y   x is 1-D, the concatenation over batch b of headNum * qSeqLen[b] rows of length
//            qSeqLen[b]; y is the softmax of every row, in x's dtype.
// FastSoftMaxGradOperation
//   params   as FastSoftMax.  inputs y (softmax output), dy, both laid out as above.
//   -> dx    dx = y * (dy - sum(y * dy)) per row, in y's dtype.
// StridedBatchMatmulOperation
//   params   transposeA, transposeB (also read as transA / transB), batch, headNum, and per batch
//            lists m, n, k, lda, ldb, ldc, strideA, strideB, strideC.
//   (A, B) -> C  A and B are read flat. For batch i and head j, op(A) is the m x k matrix whose
//            stored row t (rows: m, or k when transposed; columns: k, or m) starts at
//            baseA_i + strideA[i] * j + lda[i] * t, likewise B (k x n); C = op(A) op(B) is
//            written with row t at baseC_i + strideC[i] * j + ldc[i] * t. The bases advance by
//            headNum * m*k (A), * k*n (B), * m*n (C) per batch. C is 1-D of length
//            headNum * sum(m*n), in A's dtype; elements no product writes are 0. Every read and
//            write must stay inside its tensor.
// RopeGradOperation
//   params   qSeqLen (per batch, > 0; ATB's GetParamJson writes it as "c_qSeqLen").
//   inputs   qGrad, kGrad [ntokens, hidden] (hidden a multiple of 128), cos, sin [maxSeq, 128]
//            with ntokens = sum(qSeqLen).
//   outputs  for each 128-wide head slice of a row of batch b at position p < qSeqLen[b]:
//            grad * (cos[p] + [sin[p][64:], -sin[p][:64]]), element-wise; the dtypes of qGrad
//            and kGrad. This is the formula of ATB's own RopeGrad tests (kernel and operation
//            level), kept as written there.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

// The [outer, len, inner] view of x around dim `axis`.
struct AxisView {
  int64_t outer = 1, len = 1, inner = 1;
};

AxisView ViewAround(const std::vector<int64_t>& shape, int64_t axis) {
  AxisView v;
  v.outer = DimProduct(shape, 0, static_cast<size_t>(axis));
  v.len = shape[static_cast<size_t>(axis)];
  v.inner = DimProduct(shape, static_cast<size_t>(axis) + 1, shape.size());
  return v;
}

// ---- Cumsum ----

std::vector<RefTensor> Cumsum(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const std::vector<int64_t> axes = p.IntList("axes");
  if (axes.size() != 1) p.Bad("axes", fmt::format("must hold exactly one axis, found {}", axes.size()));
  const bool exclusive = p.Bool("exclusive", false);
  const bool reverse = p.Bool("reverse", false);
  RefTensor x = std::move(call.inputs[0]);
  const int64_t axis = NormalizeDim(call.type, "axes", axes[0], x.shape.size());
  const AxisView v = ViewAround(x.shape, axis);
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t in = 0; in < v.inner; ++in) {
      double sum = 0.0;
      for (int64_t s = 0; s < v.len; ++s) {
        const int64_t pos = reverse ? v.len - 1 - s : s;
        double& e = x.data[(o * v.len + pos) * v.inner + in];
        const double value = e;
        if (exclusive) {
          e = sum;
          sum += value;
        } else {
          sum += value;
          e = sum;
        }
      }
    }
  RoundAll(x.dtype, x.data);
  return {std::move(x)};
}

// ---- Reduce ----

std::vector<RefTensor> Reduce(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const int type = p.Enum("reduceType", 0, {{"REDUCE_MAX", 1}, {"REDUCE_MIN", 2}, {"REDUCE_SUM", 3}});
  if (type == 0) p.Bad("reduceType", "is missing (REDUCE_UNDEFINED); expected REDUCE_MAX, REDUCE_MIN or REDUCE_SUM");
  const RefTensor& x = call.inputs[0];
  const size_t rank = x.shape.size();
  const std::vector<int64_t> axis = p.IntList("axis");
  if (axis.empty() || axis.size() > rank)
    p.Bad("axis", fmt::format("must list 1..{} dims of the rank-{} input, found {}", rank, rank, axis.size()));
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axis) {
    if (a < 0 || a >= static_cast<int64_t>(rank))
      p.Bad("axis", fmt::format("{} is out of range for a rank-{} input", a, rank));
    reduced[static_cast<size_t>(a)] = true;
  }
  std::vector<int64_t> out_shape;
  for (size_t d = 0; d < rank; ++d)
    if (!reduced[d]) out_shape.push_back(x.shape[d]);
  RefTensor out = RefTensor::Zeros(x.dtype, out_shape, call.type);
  // Out element of every input element: strides of the kept dims.
  std::vector<int64_t> out_stride(rank, 0);
  int64_t stride = 1, group = 1;
  for (size_t d = rank; d-- > 0;) {
    if (reduced[d]) {
      group *= x.shape[d];
      continue;
    }
    out_stride[d] = stride;
    stride *= x.shape[d];
  }
  if (group == 0 && type != 3 && out.numel() > 0)
    Fail(call.type, "reduces an empty dim of {}: the max or min of nothing is undefined", ShapeText(x.shape));
  const double init = type == 1   ? -std::numeric_limits<double>::infinity()
                      : type == 2 ? std::numeric_limits<double>::infinity()
                                  : 0.0;
  std::fill(out.data.begin(), out.data.end(), init);
  std::vector<int64_t> idx(rank, 0);
  for (size_t e = 0; e < x.data.size(); ++e) {
    int64_t o = 0;
    for (size_t d = 0; d < rank; ++d) o += idx[d] * out_stride[d];
    double& acc = out.data[static_cast<size_t>(o)];
    const double v = x.data[e];
    if (type == 3) {
      acc += v;
    } else if (std::isnan(v) || std::isnan(acc)) {
      acc = std::numeric_limits<double>::quiet_NaN();
    } else {
      acc = type == 1 ? std::max(acc, v) : std::min(acc, v);
    }
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  RoundAll(out.dtype, out.data);
  return {std::move(out)};
}

// ---- Sort ----

std::vector<RefTensor> Sort(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 1);
  const RefTensor& x = call.inputs[0];
  Require(!x.shape.empty(), call.type, "x (input 0) must have at least one dim, found a scalar");
  const std::vector<int64_t> num = p.IntList("num");
  if (num.size() != 1) p.Bad("num", fmt::format("must hold exactly one value, found {}", num.size()));
  const int64_t last = x.shape.back();
  const int64_t k = num[0];
  if (k <= 0 || k > last) p.Bad("num", fmt::format("{} must be in [1, {}] (x's last dim)", k, last));
  const int64_t rows = DimProduct(x.shape, 0, x.shape.size() - 1);
  std::vector<int64_t> out_shape = x.shape;
  out_shape.back() = k;
  RefTensor values = RefTensor::Zeros(x.dtype, out_shape, call.type);
  RefTensor indices = RefTensor::Zeros(DType::kInt32, out_shape, call.type);
  std::vector<int64_t> order(static_cast<size_t>(last));
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = &x.data[r * last];
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [row](int64_t a, int64_t b) {
      const bool na = std::isnan(row[a]), nb = std::isnan(row[b]);
      if (na || nb) return na && !nb;
      return row[a] > row[b];
    });
    for (int64_t j = 0; j < k; ++j) {
      values.data[r * k + j] = row[order[j]];
      indices.data[r * k + j] = static_cast<double>(order[j]);
    }
  }
  RoundAll(values.dtype, values.data);
  return {std::move(values), std::move(indices)};
}

// ---- FastSoftMax, FastSoftMaxGrad ----

// qSeqLen and headNum, checked against the 1-D inputs' length.
struct SeqBlocks {
  int64_t heads = 0;
  std::vector<int64_t> lens;
};

SeqBlocks ReadSeqBlocks(const RefCall& call, const AtbParams& p, size_t inputs) {
  SeqBlocks s;
  s.heads = p.Int("headNum", 0);
  if (s.heads <= 0) p.Bad("headNum", "must be > 0, found " + std::to_string(s.heads));
  s.lens = p.IntList("qSeqLen");
  if (s.lens.empty()) p.Bad("qSeqLen", "must list one length per batch, found none");
  int64_t total = 0;
  for (int64_t l : s.lens) {
    if (l <= 0 || l > (1 << 20)) p.Bad("qSeqLen", fmt::format("{} is not a length in [1, 2^20]", l));
    if (__builtin_mul_overflow(l * l, s.heads, &l) || __builtin_add_overflow(total, l, &total))
      p.Bad("qSeqLen", "headNum * sum(qSeqLen^2) overflows int64");
  }
  for (size_t i = 0; i < inputs; ++i) {
    const RefTensor& t = call.inputs[i];
    Require(t.shape.size() == 1 && t.shape[0] == total, call.type,
            fmt::format("input {} {} must be 1-D of headNum * sum(qSeqLen^2) = {} elements", i, ShapeText(t.shape),
                        total));
  }
  return s;
}

std::vector<RefTensor> FastSoftMax(RefCall& call) {
  RequireInputs(call, 1);
  const SeqBlocks s = ReadSeqBlocks(call, call.params(), 1);
  RefTensor x = std::move(call.inputs[0]);
  int64_t start = 0;
  for (int64_t len : s.lens)
    for (int64_t r = 0; r < s.heads * len; ++r, start += len) {
      double* row = &x.data[start];
      const double mx = *std::max_element(row, row + len);
      double sum = 0.0;
      for (int64_t j = 0; j < len; ++j) sum += row[j] = std::exp(row[j] - mx);
      for (int64_t j = 0; j < len; ++j) row[j] /= sum;
    }
  RoundAll(x.dtype, x.data);
  return {std::move(x)};
}

std::vector<RefTensor> FastSoftMaxGrad(RefCall& call) {
  RequireInputs(call, 2);
  const SeqBlocks s = ReadSeqBlocks(call, call.params(), 2);
  RefTensor y = std::move(call.inputs[0]);
  const RefTensor& dy = call.inputs[1];
  int64_t start = 0;
  for (int64_t len : s.lens)
    for (int64_t r = 0; r < s.heads * len; ++r, start += len) {
      double* row = &y.data[start];
      const double* g = &dy.data[start];
      double dot = 0.0;
      for (int64_t j = 0; j < len; ++j) dot += row[j] * g[j];
      for (int64_t j = 0; j < len; ++j) row[j] *= g[j] - dot;
    }
  RoundAll(y.dtype, y.data);
  return {std::move(y)};
}

// ---- StridedBatchMatmul ----

std::vector<RefTensor> StridedBatchMatmul(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 2);
  const std::string& op = call.type;
  const bool ta = p.Has("transposeA") ? p.Bool("transposeA", false) : p.Bool("transA", false);
  const bool tb = p.Has("transposeB") ? p.Bool("transposeB", false) : p.Bool("transB", false);
  const int64_t batch = p.Int("batch", 1);
  const int64_t heads = p.Int("headNum", 1);
  if (batch <= 0) p.Bad("batch", "must be > 0, found " + std::to_string(batch));
  if (heads <= 0) p.Bad("headNum", "must be > 0, found " + std::to_string(heads));
  constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
  auto list = [&](std::string_view field, bool positive) {
    std::vector<int64_t> v = p.IntList(field);
    if (static_cast<int64_t>(v.size()) != batch)
      p.Bad(field, fmt::format("must hold batch = {} values, found {}", batch, v.size()));
    for (int64_t e : v)
      if (e < (positive ? 1 : 0) || e > kMaxInt32)
        p.Bad(field, fmt::format("{} is outside [{}, 2^31)", e, positive ? 1 : 0));
    return v;
  };
  const auto m = list("m", true), n = list("n", true), k = list("k", true);
  const auto lda = list("lda", false), ldb = list("ldb", false), ldc = list("ldc", false);
  const auto sa = list("strideA", false), sb = list("strideB", false), sc = list("strideC", false);
  const RefTensor& a = call.inputs[0];
  const RefTensor& b = call.inputs[1];
  const auto na = static_cast<int64_t>(a.data.size()), nb = static_cast<int64_t>(b.data.size());
  // Every value below is < 2^31 and heads <= 2^63 / 2^31 is checked, so products of two stay
  // within int64; sums go through the checked helpers.
  if (heads > kMaxInt32) p.Bad("headNum", "must be < 2^31");
  auto add = [&](int64_t x, int64_t y) {
    int64_t r;
    if (__builtin_add_overflow(x, y, &r)) Fail(op, "an offset computed from the params overflows int64");
    return r;
  };
  auto mul = [&](int64_t x, int64_t y) {
    int64_t r;
    if (__builtin_mul_overflow(x, y, &r)) Fail(op, "an offset computed from the params overflows int64");
    return r;
  };
  int64_t out_len = 0;
  for (int64_t i = 0; i < batch; ++i) out_len = add(out_len, mul(heads, m[i] * n[i]));
  const int64_t kMaxElements = call.max_output_elements;
  if (out_len > kMaxElements)
    Fail(op, "output of {} elements is larger than the {} opcheck expects here", out_len, kMaxElements);
  RefTensor c = RefTensor::Zeros(a.dtype, {out_len}, op);
  int64_t base_a = 0, base_b = 0, base_c = 0;
  std::vector<double> ma, mb, mc;
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t rows_a = ta ? k[i] : m[i], cols_a = ta ? m[i] : k[i];
    const int64_t rows_b = tb ? n[i] : k[i], cols_b = tb ? k[i] : n[i];
    // The last element each head reads or writes, checked once per batch (offsets grow with j).
    const int64_t end_a = add(add(base_a, mul(sa[i], heads - 1)), add(mul(lda[i], rows_a - 1), cols_a));
    const int64_t end_b = add(add(base_b, mul(sb[i], heads - 1)), add(mul(ldb[i], rows_b - 1), cols_b));
    const int64_t end_c = add(add(base_c, mul(sc[i], heads - 1)), add(mul(ldc[i], m[i] - 1), n[i]));
    if (end_a > na) Fail(op, "batch {} reads A up to element {}, A holds {}", i, end_a, na);
    if (end_b > nb) Fail(op, "batch {} reads B up to element {}, B holds {}", i, end_b, nb);
    if (end_c > out_len) Fail(op, "batch {} writes C up to element {}, C holds {}", i, end_c, out_len);
    if (m[i] * k[i] > kMaxElements || k[i] * n[i] > kMaxElements)
      Fail(op, "batch {}: an operand of [{}, {}] x [{}, {}] is larger than opcheck checks ({} elements)", i, m[i],
           k[i], k[i], n[i], kMaxElements);
    ma.resize(static_cast<size_t>(rows_a * cols_a));
    mb.resize(static_cast<size_t>(rows_b * cols_b));
    mc.resize(static_cast<size_t>(m[i] * n[i]));
    for (int64_t j = 0; j < heads; ++j) {
      for (int64_t t = 0; t < rows_a; ++t)
        std::copy_n(&a.data[base_a + sa[i] * j + lda[i] * t], cols_a, &ma[t * cols_a]);
      for (int64_t t = 0; t < rows_b; ++t)
        std::copy_n(&b.data[base_b + sb[i] * j + ldb[i] * t], cols_b, &mb[t * cols_b]);
      Dgemm(ta, tb, m[i], n[i], k[i], ma.data(), cols_a, mb.data(), cols_b, mc.data(), n[i]);
      for (int64_t t = 0; t < m[i]; ++t) std::copy_n(&mc[t * n[i]], n[i], &c.data[base_c + sc[i] * j + ldc[i] * t]);
    }
    base_a = add(base_a, mul(heads, m[i] * k[i]));
    base_b = add(base_b, mul(heads, k[i] * n[i]));
    base_c = add(base_c, mul(heads, m[i] * n[i]));
  }
  RoundAll(c.dtype, c.data);
  return {std::move(c)};
}

// ---- RopeGrad ----

std::vector<RefTensor> RopeGrad(RefCall& call) {
  const AtbParams p = call.params();
  RequireInputs(call, 4);
  const std::string& op = call.type;
  const char* field = p.Has("qSeqLen") ? "qSeqLen" : "c_qSeqLen";
  const std::vector<int64_t> lens = p.IntList(field);
  if (lens.empty()) p.Bad(field, "must list one length per batch, found none");
  for (size_t i = 0; i < 4; ++i)
    Require(call.inputs[i].shape.size() == 2, op,
            fmt::format("input {} must be 2-D, found {}", i, ShapeText(call.inputs[i].shape)));
  const std::vector<int64_t> qs = call.inputs[0].shape;  // copies: inputs 0 and 1 move into the outputs
  const std::vector<int64_t> cs = call.inputs[2].shape;
  constexpr int64_t kHead = 128, kHalf = 64;
  Require(call.inputs[1].shape == qs, op,
          fmt::format("qGrad {} and kGrad {} must have one shape", ShapeText(qs), ShapeText(call.inputs[1].shape)));
  Require(qs[1] % kHead == 0, op, fmt::format("the hidden size of qGrad {} must be a multiple of 128", ShapeText(qs)));
  Require(call.inputs[3].shape == cs && cs[1] == kHead, op,
          fmt::format("cos {} and sin {} must both be [maxSeq, 128]", ShapeText(cs), ShapeText(call.inputs[3].shape)));
  int64_t total = 0;
  for (int64_t l : lens) {
    if (l <= 0 || l > cs[0]) p.Bad(field, fmt::format("{} is outside [1, maxSeq = {}]", l, cs[0]));
    total += l;
  }
  Require(total == qs[0], op, fmt::format("qSeqLen sums to {} tokens, qGrad holds {}", total, qs[0]));
  const RefTensor& cos = call.inputs[2];
  const RefTensor& sin = call.inputs[3];
  std::vector<double> factor(static_cast<size_t>(kHead));
  std::vector<RefTensor> out{std::move(call.inputs[0]), std::move(call.inputs[1])};
  int64_t row = 0;
  for (int64_t l : lens)
    for (int64_t pos = 0; pos < l; ++pos, ++row) {
      const double* c = &cos.data[pos * kHead];
      const double* s = &sin.data[pos * kHead];
      for (int64_t d = 0; d < kHead; ++d) factor[d] = c[d] + (d < kHalf ? s[d + kHalf] : -s[d - kHalf]);
      for (RefTensor& g : out) {
        double* r = &g.data[row * qs[1]];
        for (int64_t e = 0; e < qs[1]; ++e) r[e] *= factor[e % kHead];
      }
    }
  for (RefTensor& g : out) RoundAll(g.dtype, g.data);
  return out;
}

}  // namespace

std::vector<Reference> ReduceReferences() {
  return {
      {"CumsumOperation", Cumsum},
      {"FastSoftMaxGradOperation", FastSoftMaxGrad},
      {"FastSoftMaxOperation", FastSoftMax},
      {"ReduceOperation", Reduce},
      {"RopeGradOperation", RopeGrad},
      {"SortOperation", Sort},
      {"StridedBatchMatmulOperation", StridedBatchMatmul},
  };
}

}  // namespace ait::opcheck
