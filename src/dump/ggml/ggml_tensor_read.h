// A ggml tensor's values on the host, read through ggml's own API (ggml.h, ggml-backend.h):
// the bytes come from the tensor's backend buffer (ggml_backend_tensor_get, or the host
// pointer of a host buffer), element types and strides from the tensor itself, and
// quantized blocks are decoded by the type's own to_float (ggml_get_type_traits). Nothing
// here copies a struct layout of ggml's by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ait/dtype.h"

struct ggml_tensor;

namespace ait::ggml_dump {

struct HostTensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> dims;    // row-major, slowest first: ggml's ne reversed over ggml_n_dims
  std::vector<std::byte> data;  // dense, dims' element count * ItemSize(dtype), unless `host` is set
  // The tensor's own memory, when it is in a host buffer, contiguous, and of a type kept as is:
  // then nothing is copied (`data` stays empty) and a writer sees the same buffer every time
  // (the probe's writer links a weight written again to its first file).
  const std::byte* host = nullptr;
  size_t nbytes = 0;
  // How the values were converted: "" when written as ggml holds them, else e.g.
  // "dequantized from q4_0" or "made contiguous".
  std::string converted;
};

// The ggml type name ("f32", "q4_0") as the topology records it.
std::string TypeName(const ggml_tensor* t);

// Reads `t` into `out` (or points `out->host` at it). false (and `error` says why) for a tensor
// without data, in a buffer that cannot be read back, or of a type that has no float conversion.
bool ReadHostTensor(const ggml_tensor* t, HostTensor* out, std::string* error);

// The float32 values of `t`, a contiguous F32, F16 or BF16 tensor; false otherwise.
bool ReadFloats(const ggml_tensor* t, std::vector<float>* out, std::string* error);
// Stores `values` back into `t` (the same element count), rounding to its type.
bool WriteFloats(ggml_tensor* t, const std::vector<float>& values, std::string* error);

}  // namespace ait::ggml_dump
