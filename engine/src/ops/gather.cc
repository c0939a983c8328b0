// GatherOperation (ATB GatherParam {axis, batchDims}): out = table.take(indices, axis), the
// embedding lookup of a decoder. Any dtype; indices int32 or int64. Kernel "Gather".
//   in:  table [d0, ..., d_axis, ..., dn], indices [i...] (int32/int64)
//   out: table.shape[:axis] + indices.shape + table.shape[axis+1:], table's dtype
#include <cstring>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

class GatherOp : public FixedArityOp {
 public:
  explicit GatherOp(const Json& param) : FixedArityOp("GatherOperation", param, 2, 1) {
    Params p(type(), param);
    axis_ = p.Int("axis", 0);
    if (axis_ < 0) p.Bad("axis", "must be >= 0, found " + std::to_string(axis_));
    if (p.Int("batchDims", 0) != 0) p.Bad("batchDims", "only 0 is supported");
  }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, 2);
    const auto& t = in[0].shape;
    Check(axis_ < static_cast<int64_t>(t.size()), type(), "param axis {} is out of range for table shape {}", axis_,
          ShapeStr(t));
    Check(in[1].dtype == DType::kInt32 || in[1].dtype == DType::kInt64, type(),
          "indices (input 1) must be int32 or int64, found {}", ShortName(in[1].dtype));
    std::vector<int64_t> out(t.begin(), t.begin() + axis_);
    out.insert(out.end(), in[1].shape.begin(), in[1].shape.end());
    out.insert(out.end(), t.begin() + axis_ + 1, t.end());
    return {{in[0].dtype, out}};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    const Tensor& table = in[0];
    const Tensor& idx = in[1];
    int64_t outer = 1, inner = ItemSize(table.dtype);
    for (int64_t i = 0; i < axis_; ++i) outer *= table.shape[i];
    for (size_t i = axis_ + 1; i < table.shape.size(); ++i) inner *= table.shape[i];
    const int64_t rows = table.shape[axis_], n = idx.numel();
    for (int64_t j = 0; j < n; ++j) {  // validate before writing anything
      int64_t r = IntAt(idx, j);
      Check(r >= 0 && r < rows, type(), "index {} at position {} is out of range [0, {})", r, j, rows);
    }
    ctx.RunKernel("Gather", {&table, &idx}, {&out[0]}, [&] {
      ParallelFor(ctx, outer * n, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          const int64_t o = k / n, j = k % n;
          std::memcpy(out[0].mutable_data() + k * inner, table.data + (o * rows + IntAt(idx, j)) * inner, inner);
        }
      });
    });
  }

 private:
  int64_t axis_ = 0;
};

}  // namespace

std::unique_ptr<Operation> CreateGather(const Json& param) { return std::make_unique<GatherOp>(param); }

}  // namespace ait::engine::ops
