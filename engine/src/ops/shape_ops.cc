// Data-movement operations (any dtype, bytes copied unchanged):
//   SplitOperation (ATB SplitParam {splitDim=0, splitNum=2, splitSizes=[]}): in x; out splitNum
//     tensors along splitDim, equal parts or splitSizes. kernel "Split".
//   ConcatOperation (ATB ConcatParam {concatDim=0}): in x, y (same dtype, equal other dims);
//     out their concatenation. kernel "Concat".
//   TransposeOperation (ATB TransposeParam {perm}): in x; out[i...] = x permuted: out dim i is
//     x dim perm[i]. kernel "Transpose".
#include <cstring>
#include <numeric>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

// outer x dim x inner-bytes view around dimension `d`.
void OuterInner(const std::vector<int64_t>& shape, int64_t d, DType t, int64_t* outer, int64_t* inner) {
  *outer = 1;
  *inner = static_cast<int64_t>(ItemSize(t));
  for (int64_t i = 0; i < d; ++i) *outer *= shape[i];
  for (size_t i = d + 1; i < shape.size(); ++i) *inner *= shape[i];
}

class SplitOp : public Operation {
 public:
  explicit SplitOp(const Json& param) : Operation("SplitOperation", param) {
    Params p(type(), param);
    dim_ = p.Int("splitDim", 0);
    num_ = p.Int("splitNum", 2);
    sizes_ = p.IntList("splitSizes");
    if (num_ < 1) p.Bad("splitNum", fmt::format("must be >= 1, found {}", num_));
    if (!sizes_.empty() && static_cast<int64_t>(sizes_.size()) != num_)
      p.Bad("splitSizes", fmt::format("holds {} sizes, but splitNum is {}", sizes_.size(), num_));
    for (int64_t s : sizes_)
      if (s < 0) p.Bad("splitSizes", "sizes must be >= 0");
  }
  size_t in_count() const override { return 1; }
  size_t out_count() const override { return static_cast<size_t>(num_); }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 1);
    const auto& s = in[0].shape;
    const int64_t d = NormalizeDim(type(), "splitDim", dim_, s.size());
    std::vector<int64_t> sizes = sizes_;
    if (sizes.empty()) {
      Check(s[d] % num_ == 0, type(), "dim {} of x {} is not divisible by param splitNum {}", d, ShapeStr(s), num_);
      sizes.assign(num_, s[d] / num_);
    }
    Check(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) == s[d], type(),
          "param splitSizes do not sum to dim {} of x {}", d, ShapeStr(s));
    std::vector<TensorDesc> out;
    for (int64_t n : sizes) {
      out.push_back(in[0]);
      out.back().shape[d] = n;
    }
    return out;
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const int64_t d = NormalizeDim(type(), "splitDim", dim_, in[0].shape.size());
    std::vector<const Tensor*> outs;
    for (const Tensor& t : out) outs.push_back(&t);
    ctx.RunKernel("Split", {&in[0]}, outs, [&] {
      int64_t outer, inner;
      OuterInner(in[0].shape, d, in[0].dtype, &outer, &inner);
      const int64_t row = in[0].shape[d] * inner;
      for (int64_t o = 0; o < outer; ++o) {
        int64_t at = 0;
        for (const Tensor& t : out) {
          const int64_t n = t.shape[d] * inner;
          std::memcpy(t.mutable_data() + o * n, in[0].data + o * row + at, n);
          at += n;
        }
      }
    });
  }

 private:
  int64_t dim_ = 0, num_ = 2;
  std::vector<int64_t> sizes_;
};

class ConcatOp : public FixedArityOp {
 public:
  explicit ConcatOp(const Json& param) : FixedArityOp("ConcatOperation", param, 2, 1) {
    dim_ = Params(type(), param).Int("concatDim", 0);
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 2);
    const auto &a = in[0].shape, &b = in[1].shape;
    Check(in[0].dtype == in[1].dtype, type(), "inputs differ in dtype ({} vs {})", ShortName(in[0].dtype),
          ShortName(in[1].dtype));
    Check(a.size() == b.size(), type(), "inputs differ in rank ({} vs {})", ShapeStr(a), ShapeStr(b));
    const int64_t d = NormalizeDim(type(), "concatDim", dim_, a.size());
    for (size_t i = 0; i < a.size(); ++i)
      Check(static_cast<int64_t>(i) == d || a[i] == b[i], type(), "inputs {} and {} differ outside concatDim {}",
            ShapeStr(a), ShapeStr(b), d);
    TensorDesc out = in[0];
    out.shape[d] += b[d];
    return {out};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const int64_t d = NormalizeDim(type(), "concatDim", dim_, in[0].shape.size());
    ctx.RunKernel("Concat", {&in[0], &in[1]}, {&out[0]}, [&] {
      int64_t outer, inner;
      OuterInner(in[0].shape, d, in[0].dtype, &outer, &inner);
      const int64_t na = in[0].shape[d] * inner, nb = in[1].shape[d] * inner;
      for (int64_t o = 0; o < outer; ++o) {
        std::memcpy(out[0].mutable_data() + o * (na + nb), in[0].data + o * na, na);
        std::memcpy(out[0].mutable_data() + o * (na + nb) + na, in[1].data + o * nb, nb);
      }
    });
  }

 private:
  int64_t dim_ = 0;
};

class TransposeOp : public FixedArityOp {
 public:
  explicit TransposeOp(const Json& param) : FixedArityOp("TransposeOperation", param, 1, 1) {
    Params p(type(), param);
    perm_ = p.IntList("perm");
    std::vector<int64_t> sorted = perm_;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted[i] != static_cast<int64_t>(i)) p.Bad("perm", "must be a permutation of 0..rank-1");
    if (perm_.empty()) p.Bad("perm", "is required");
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 1);
    Check(in[0].shape.size() == perm_.size(), type(), "param perm has {} entries, x {} has rank {}", perm_.size(),
          ShapeStr(in[0].shape), in[0].shape.size());
    TensorDesc out = in[0];
    for (size_t i = 0; i < perm_.size(); ++i) out.shape[i] = in[0].shape[perm_[i]];
    return {out};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    ctx.RunKernel("Transpose", {&in[0]}, {&out[0]}, [&] {
      const auto& s = in[0].shape;
      const size_t rank = s.size(), item = ItemSize(in[0].dtype);
      std::vector<int64_t> in_stride(rank, 1);
      for (size_t i = rank; i-- > 1;) in_stride[i - 1] = in_stride[i] * s[i];
      const int64_t n = in[0].numel();
      for (int64_t i = 0; i < n; ++i) {  // walk the output in order, gather from the input
        int64_t rem = i, src = 0;
        for (size_t d = rank; d-- > 0;) {
          src += (rem % out[0].shape[d]) * in_stride[perm_[d]];
          rem /= out[0].shape[d];
        }
        std::memcpy(out[0].mutable_data() + i * item, in[0].data + src * item, item);
      }
    });
  }

 private:
  std::vector<int64_t> perm_;
};

}  // namespace

std::unique_ptr<Operation> CreateSplit(const Json& param) { return std::make_unique<SplitOp>(param); }
std::unique_ptr<Operation> CreateConcat(const Json& param) { return std::make_unique<ConcatOp>(param); }
std::unique_ptr<Operation> CreateTranspose(const Json& param) { return std::make_unique<TransposeOp>(param); }

}  // namespace ait::engine::ops
