// Float64 references of the data-movement operations (engine/src/ops/shape_ops.cc, and ATB's
// SliceOperation, which the engine lacks): values move unchanged, any dtype, output dtype x's.
//   Split {splitDim=0 (negative counts from the end), splitNum=2 (>= 1), splitSizes=[] (then
//     splitNum equal parts; else splitNum sizes >= 0 summing to the dim)}: x -> splitNum parts.
//   Concat {concatDim=0}: x, y (same dtype and rank, equal outside concatDim) -> [x; y].
//   Transpose {perm (required, a permutation of 0..rank-1)}: out dim i is x dim perm[i].
//   Slice (ATB SliceParam {offsets, size}, one entry per dim): start = offsets[i] (+ dim when
//     negative) in [0, dim); size[i] > 0, or -1 = to the end; start + size <= dim.
#include <algorithm>
#include <numeric>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

std::vector<RefTensor> Split(RefCall& call) {
  const AtbParams p = call.params();
  const int64_t dim = p.Int("splitDim", 0), num = p.Int("splitNum", 2);
  std::vector<int64_t> sizes = p.IntList("splitSizes");
  // The upper bound only keeps a hostile param from allocating billions of empty parts.
  if (num < 1 || num > 65536) p.Bad("splitNum", fmt::format("must be in [1, 65536], found {}", num));
  if (!sizes.empty() && static_cast<int64_t>(sizes.size()) != num)
    p.Bad("splitSizes", fmt::format("holds {} sizes, but splitNum is {}", sizes.size(), num));
  for (int64_t s : sizes)
    if (s < 0) p.Bad("splitSizes", "sizes must be >= 0");
  RequireInputs(call, 1);
  const RefTensor& x = call.inputs[0];
  const auto d = static_cast<size_t>(NormalizeDim(call.type, "splitDim", dim, x.shape.size()));
  if (sizes.empty()) {
    Require(x.shape[d] % num == 0, call.type,
            fmt::format("dim {} of x {} is not divisible by param splitNum {}", d, ShapeText(x.shape), num));
    sizes.assign(static_cast<size_t>(num), x.shape[d] / num);
  }
  int64_t total = 0;
  for (int64_t s : sizes)
    if (__builtin_add_overflow(total, s, &total)) p.Bad("splitSizes", "sizes overflow int64");
  Require(total == x.shape[d], call.type,
          fmt::format("param splitSizes sum to {}, not to dim {} of x {}", total, d, ShapeText(x.shape)));
  const int64_t outer = DimProduct(x.shape, 0, d), inner = DimProduct(x.shape, d + 1, x.shape.size());
  const int64_t row = x.shape[d] * inner;
  std::vector<RefTensor> out;
  int64_t at = 0;  // elements into each row of x
  for (int64_t s : sizes) {
    std::vector<int64_t> shape = x.shape;
    shape[d] = s;
    RefTensor t = RefTensor::Zeros(x.dtype, shape, call.type);
    const int64_t n = s * inner;
    if (t.numel() > 0)
      for (int64_t o = 0; o < outer; ++o)
        std::copy_n(x.data.data() + o * row + at, n, t.data.data() + o * n);
    at += n;
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<RefTensor> Concat(RefCall& call) {
  const int64_t dim = call.params().Int("concatDim", 0);
  RequireInputs(call, 2);
  const RefTensor& a = call.inputs[0];
  const RefTensor& b = call.inputs[1];
  Require(a.dtype == b.dtype, call.type,
          fmt::format("inputs differ in dtype ({} vs {})", ShortName(a.dtype), ShortName(b.dtype)));
  Require(a.shape.size() == b.shape.size(), call.type,
          fmt::format("inputs differ in rank ({} vs {})", ShapeText(a.shape), ShapeText(b.shape)));
  const auto d = static_cast<size_t>(NormalizeDim(call.type, "concatDim", dim, a.shape.size()));
  for (size_t i = 0; i < a.shape.size(); ++i)
    Require(i == d || a.shape[i] == b.shape[i], call.type,
            fmt::format("inputs {} and {} differ outside concatDim {}", ShapeText(a.shape), ShapeText(b.shape), d));
  std::vector<int64_t> shape = a.shape;
  shape[d] += b.shape[d];
  RefTensor out = RefTensor::Zeros(a.dtype, shape, call.type);
  if (out.numel() == 0) return {std::move(out)};
  const int64_t outer = DimProduct(a.shape, 0, d), inner = DimProduct(a.shape, d + 1, a.shape.size());
  const int64_t na = a.shape[d] * inner, nb = b.shape[d] * inner;
  for (int64_t o = 0; o < outer; ++o) {
    std::copy_n(a.data.data() + o * na, na, out.data.data() + o * (na + nb));
    std::copy_n(b.data.data() + o * nb, nb, out.data.data() + o * (na + nb) + na);
  }
  return {std::move(out)};
}

std::vector<RefTensor> Transpose(RefCall& call) {
  const AtbParams p = call.params();
  const std::vector<int64_t> perm = p.IntList("perm");
  if (perm.empty()) p.Bad("perm", "is required");
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != static_cast<int64_t>(i)) p.Bad("perm", "must be a permutation of 0..rank-1");
  RequireInputs(call, 1);
  const RefTensor& x = call.inputs[0];
  const size_t rank = x.shape.size();
  Require(rank == perm.size(), call.type,
          fmt::format("param perm has {} entries, x {} has rank {}", perm.size(), ShapeText(x.shape), rank));
  std::vector<int64_t> shape(rank), in_stride(rank, 1);
  for (size_t i = 0; i < rank; ++i) shape[i] = x.shape[perm[i]];
  for (size_t i = rank; i-- > 1;) in_stride[i - 1] = in_stride[i] * x.shape[i];
  RefTensor out = RefTensor::Zeros(x.dtype, shape, call.type);
  for (int64_t i = 0; i < out.numel(); ++i) {  // walk the output in order, gather from x
    int64_t rem = i, src = 0;
    for (size_t d = rank; d-- > 0;) {
      src += (rem % shape[d]) * in_stride[perm[d]];
      rem /= shape[d];
    }
    out.data[i] = x.data[src];
  }
  return {std::move(out)};
}

std::vector<RefTensor> Slice(RefCall& call) {
  const AtbParams p = call.params();
  const std::vector<int64_t> offsets = p.IntList("offsets"), sizes = p.IntList("size");
  RequireInputs(call, 1);
  const RefTensor& x = call.inputs[0];
  const size_t rank = x.shape.size();
  if (offsets.size() != rank)
    p.Bad("offsets", fmt::format("has {} entries, x {} has rank {}", offsets.size(), ShapeText(x.shape), rank));
  if (sizes.size() != rank)
    p.Bad("size", fmt::format("has {} entries, x {} has rank {}", sizes.size(), ShapeText(x.shape), rank));
  std::vector<int64_t> start(rank), shape(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t dim = x.shape[i];
    start[i] = offsets[i] < 0 ? offsets[i] + dim : offsets[i];
    if (start[i] < 0 || start[i] >= dim)
      p.Bad("offsets", fmt::format("offset {} of dim {} is out of range for x {}", offsets[i], i, ShapeText(x.shape)));
    if (sizes[i] != -1 && sizes[i] <= 0)
      p.Bad("size", fmt::format("size {} of dim {} must be > 0 or -1", sizes[i], i));
    shape[i] = sizes[i] == -1 ? dim - start[i] : sizes[i];
    if (shape[i] > dim - start[i])
      p.Bad("size", fmt::format("offset {} + size {} exceed dim {} ({}) of x {}", start[i], shape[i], i, dim,
                                ShapeText(x.shape)));
  }
  std::vector<int64_t> in_stride(rank, 1);
  for (size_t i = rank; i-- > 1;) in_stride[i - 1] = in_stride[i] * x.shape[i];
  RefTensor out = RefTensor::Zeros(x.dtype, shape, call.type);
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t rem = i, src = 0;
    for (size_t d = rank; d-- > 0;) {
      src += (start[d] + rem % shape[d]) * in_stride[d];
      rem /= shape[d];
    }
    out.data[i] = x.data[src];
  }
  return {std::move(out)};
}

}  // namespace

std::vector<Reference> ShapeReferences() {
  return {{"ConcatOperation", Concat},
          {"SliceOperation", Slice},
          {"SplitOperation", Split},
          {"TransposeOperation", Transpose}};
}

}  // namespace ait::opcheck
