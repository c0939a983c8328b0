// Shared pieces of the reference operations: float32 load/store with rounding to the
// storage dtype, parallel loops, the OpenBLAS sgemm core, and ATB-style param reading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ait/atb_params.h"
#include "ait/error.h"
#include "ait/tensor.h"
#include "ait_engine/operation.h"

namespace ait::engine::ops {

// Storage dtypes a float operation may hold its activations in.
bool IsFloatStorage(DType t);  // fp32, fp16, bf16

// The whole tensor as float32 (a copy; integers convert exactly up to 2^24).
std::vector<float> LoadF32(const Tensor& t);
// Elements [offset, offset + n) of t as float32 into dst.
void LoadRow(const Tensor& t, int64_t offset, int64_t n, float* dst);
// Pointer to the tensor's floats: its own bytes when it is fp32, else `scratch` filled.
const float* F32View(const Tensor& t, std::vector<float>& scratch);
// Writes src[0, n) into dst at element `offset`, rounding to dst's dtype: RNE for fp16/bf16,
// round-half-even and saturate for integers (the accelerator's cast behaviour).
void StoreF32(const float* src, size_t n, const Tensor& dst, size_t offset = 0);
// x rounded to what `t` can store, as float (the value a reader of the stored tensor sees).
float RoundTo(DType t, float x);
// Integer tensor element i as int64 (int8/16/32/64, uint8). REQUIRES: integer dtype.
int64_t IntAt(const Tensor& t, int64_t i);

template <typename T>
T* Mutable(const Tensor& t) { return reinterpret_cast<T*>(t.mutable_data()); }
template <typename T>
const T* Data(const Tensor& t) { return reinterpret_cast<const T*>(t.data); }

// fn(begin, end) over [0, n) on the context's threads; `grain` = items worth one task.
void ParallelFor(const ExecContext& ctx, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C via cblas_sgemm (OpenBLAS
// threads the product itself). lda/ldb are the row strides of A/B as stored.
void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
           int64_t ldb, float* c, int64_t ldc, float alpha = 1.0f, float beta = 0.0f);

// ATB param reading (ait/atb_params.h), shared with opcheck's references.
using Params = ait::AtbParams;

// An operation with fixed in/out counts, fixed once its param is read.
class FixedArityOp : public Operation {
 public:
  FixedArityOp(std::string type, Json param, size_t in, size_t out)
      : Operation(std::move(type), std::move(param)), in_(in), out_(out) {}
  size_t in_count() const override { return in_; }
  size_t out_count() const override { return out_; }

 private:
  size_t in_, out_;
};

// Shape checks: throw "<op>: <message>" when `ok` is false.
template <typename... Args>
void Check(bool ok, const std::string& op, fmt::format_string<Args...> what, Args&&... args) {
  if (!ok) Fail(op, what, std::forward<Args>(args)...);
}
void CheckCount(const std::string& op, const std::vector<TensorDesc>& in, size_t n);
std::string ShapeStr(const std::vector<int64_t>& shape);
int64_t Numel(const std::vector<int64_t>& shape);
// A dim index in [-rank, rank) made non-negative, or an error naming `field`.
int64_t NormalizeDim(const std::string& op, std::string_view field, int64_t dim, size_t rank);

}  // namespace ait::engine::ops
