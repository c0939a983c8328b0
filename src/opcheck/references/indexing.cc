// Float64 references of GatherOperation and SamplingOperation (engine/src/ops/gather.cc,
// sampling.cc).
//   Gather {axis=0 (>= 0), batchDims=0 only}: table (any dtype), indices (integers, each in
//     [0, table.shape[axis])) -> table.shape[:axis] + indices.shape + table.shape[axis+1:],
//     table's dtype, values copied exactly.
//   Sampling (the engine's own greedy sampler) {outDataType int64 (9, default) or int32 (3)}:
//     logits [..., V] float, V > 0 -> [...] argmax over the last dim (first index on ties;
//     NaN never wins over a number).
#include <algorithm>
#include <cmath>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

std::vector<RefTensor> Gather(RefCall& call) {
  const AtbParams p = call.params();
  const int64_t axis = p.Int("axis", 0);
  if (axis < 0) p.Bad("axis", "must be >= 0, found " + std::to_string(axis));
  if (p.Int("batchDims", 0) != 0) p.Bad("batchDims", "only 0 is supported");
  RequireInputs(call, 2);
  const RefTensor& table = call.inputs[0];
  const auto& ts = table.shape;
  Require(axis < static_cast<int64_t>(ts.size()), call.type,
          fmt::format("param axis {} is out of range for table shape {}", axis, ShapeText(ts)));
  const std::vector<int64_t> idx = IntValues(call, 1, "indices");
  const auto ax = static_cast<size_t>(axis);
  const int64_t rows = ts[ax];
  for (size_t j = 0; j < idx.size(); ++j)
    Require(idx[j] >= 0 && idx[j] < rows, call.type,
            fmt::format("index {} out of range [0, {}) (position {} of indices)", idx[j], rows, j));
  std::vector<int64_t> out_shape(ts.begin(), ts.begin() + axis);
  out_shape.insert(out_shape.end(), call.inputs[1].shape.begin(), call.inputs[1].shape.end());
  out_shape.insert(out_shape.end(), ts.begin() + axis + 1, ts.end());
  RefTensor out = RefTensor::Zeros(table.dtype, out_shape, call.type);
  const int64_t outer = DimProduct(ts, 0, ax), inner = DimProduct(ts, ax + 1, ts.size());
  const auto n = static_cast<int64_t>(idx.size());
  if (out.numel() == 0) return {std::move(out)};
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n; ++j) {
      const double* src = table.data.data() + (o * rows + idx[j]) * inner;
      std::copy(src, src + inner, out.data.data() + (o * n + j) * inner);
    }
  return {std::move(out)};
}

std::vector<RefTensor> Sampling(RefCall& call) {
  const AtbParams p = call.params();
  const DType out_dtype = p.DataType("outDataType").value_or(DType::kInt64);
  if (out_dtype != DType::kInt64 && out_dtype != DType::kInt32)
    p.Bad("outDataType", fmt::format("must be int64 (9) or int32 (3), found {}", ShortName(out_dtype)));
  RequireInputs(call, 1);
  RequireFloat(call, 0, "logits");
  const RefTensor& x = call.inputs[0];
  Require(!x.shape.empty() && x.shape.back() > 0, call.type,
          fmt::format("logits {} need a non-empty last dim", ShapeText(x.shape)));
  const int64_t vocab = x.shape.back();
  RefTensor out = RefTensor::Zeros(out_dtype, {x.shape.begin(), x.shape.end() - 1}, call.type);
  for (int64_t r = 0; r < out.numel(); ++r) {
    const double* row = x.data.data() + r * vocab;
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
      if (row[i] > row[best] || (std::isnan(row[best]) && !std::isnan(row[i]))) best = i;
    out.data[r] = static_cast<double>(best);
  }
  return {std::move(out)};
}

}  // namespace

std::vector<Reference> IndexingReferences() {
  return {{"GatherOperation", Gather}, {"SamplingOperation", Sampling}};
}

}  // namespace ait::opcheck
