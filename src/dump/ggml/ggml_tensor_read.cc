// Reading and writing ggml tensors through ggml's API (ggml_tensor_read.h).
#include "dump/ggml/ggml_tensor_read.h"

#include <cstring>

#include <ggml-backend.h>
#include <ggml.h>

namespace ait::ggml_dump {
namespace {

// The toolkit's type for a ggml type it keeps as is; false for the others (quantized).
bool NativeType(ggml_type type, DType* out) {
  switch (type) {
    case GGML_TYPE_F32: *out = DType::kFloat32; return true;
    case GGML_TYPE_F16: *out = DType::kFloat16; return true;
    case GGML_TYPE_BF16: *out = DType::kBFloat16; return true;
    case GGML_TYPE_F64: *out = DType::kFloat64; return true;
    case GGML_TYPE_I8: *out = DType::kInt8; return true;
    case GGML_TYPE_I16: *out = DType::kInt16; return true;
    case GGML_TYPE_I32: *out = DType::kInt32; return true;
    case GGML_TYPE_I64: *out = DType::kInt64; return true;
    default: return false;
  }
}

bool OnHost(const ggml_tensor* t) { return t->buffer != nullptr && ggml_backend_buffer_is_host(t->buffer); }

// A CPU buffer that is not host memory is one of the CPU backend's extra buffer types, which
// keep tensors in their own layout (CPU_REPACK interleaves quantized blocks for its kernels)
// and cannot be read back: ggml_backend_tensor_get has nothing to call there.
bool Unreadable(const ggml_tensor* t) {
  if (OnHost(t)) return false;
  ggml_backend_dev_t dev = ggml_backend_buft_get_device(ggml_backend_buffer_get_type(t->buffer));
  return dev == nullptr || ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU;
}

// The bytes ggml_nbytes(t) spans from t->data: the host memory itself, or a copy in `copy`.
const char* Bytes(const ggml_tensor* t, std::vector<char>* copy, std::string* error) {
  if (t->data == nullptr || t->buffer == nullptr) {
    *error = "the tensor has no data (not allocated in a backend buffer)";
    return nullptr;
  }
  if (Unreadable(t)) {
    *error = std::string("it is stored in buffer ") + ggml_backend_buffer_name(t->buffer) +
             ", whose layout cannot be read back (load the model without llama.cpp's extra buffer types: "
             "use_extra_bufts = false)";
    return nullptr;
  }
  if (OnHost(t)) return static_cast<const char*>(t->data);
  copy->resize(ggml_nbytes(t));
  ggml_backend_tensor_get(t, copy->data(), 0, copy->size());
  return copy->data();
}

}  // namespace

std::string TypeName(const ggml_tensor* t) { return ggml_type_name(t->type); }

bool ReadHostTensor(const ggml_tensor* t, HostTensor* out, std::string* error) {
  const int n_dims = ggml_n_dims(t);
  out->dims.clear();
  for (int d = n_dims - 1; d >= 0; --d) out->dims.push_back(t->ne[d]);
  out->converted.clear();
  DType native;
  const bool keep = NativeType(t->type, &native);
  const ggml_type_traits* traits = ggml_get_type_traits(t->type);
  if (!keep && (traits == nullptr || traits->to_float == nullptr)) {
    *error = std::string("type ") + ggml_type_name(t->type) + " has no conversion to float";
    return false;
  }
  std::vector<char> copy;
  const char* base = Bytes(t, &copy, error);
  if (base == nullptr) return false;
  out->dtype = keep ? native : DType::kFloat32;
  const size_t item = ItemSize(out->dtype);
  const int64_t n = ggml_nelements(t);
  out->nbytes = static_cast<size_t>(n) * item;
  out->host = nullptr;
  out->data.clear();
  if (keep && ggml_is_contiguous(t) && OnHost(t)) {
    out->host = reinterpret_cast<const std::byte*>(base);
    return true;
  }
  out->data.resize(out->nbytes);
  if (keep && ggml_is_contiguous(t)) {
    std::memcpy(out->data.data(), base, out->data.size());
    return true;
  }
  out->converted = keep ? "made contiguous" : std::string("dequantized from ") + ggml_type_name(t->type);
  const int64_t ne0 = t->ne[0];
  std::byte* dst = out->data.data();
  for (int64_t i3 = 0; i3 < t->ne[3]; ++i3)
    for (int64_t i2 = 0; i2 < t->ne[2]; ++i2)
      for (int64_t i1 = 0; i1 < t->ne[1]; ++i1) {
        const char* row = base + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
        if (!keep) {  // quantized blocks run along dimension 0, one row at a time
          traits->to_float(row, reinterpret_cast<float*>(dst), ne0);
        } else if (t->nb[0] == item) {
          std::memcpy(dst, row, static_cast<size_t>(ne0) * item);
        } else {
          for (int64_t i0 = 0; i0 < ne0; ++i0) std::memcpy(dst + i0 * item, row + i0 * t->nb[0], item);
        }
        dst += static_cast<size_t>(ne0) * item;
      }
  return true;
}

bool ReadFloats(const ggml_tensor* t, std::vector<float>* out, std::string* error) {
  if (!ggml_is_contiguous(t) || (t->type != GGML_TYPE_F32 && t->type != GGML_TYPE_F16 && t->type != GGML_TYPE_BF16)) {
    *error = std::string("only contiguous f32, f16 and bf16 outputs can be changed, not ") +
             (ggml_is_contiguous(t) ? ggml_type_name(t->type) : "a non-contiguous view");
    return false;
  }
  std::vector<char> copy;
  const char* base = Bytes(t, &copy, error);
  if (base == nullptr) return false;
  out->resize(static_cast<size_t>(ggml_nelements(t)));
  if (t->type == GGML_TYPE_F32) std::memcpy(out->data(), base, out->size() * sizeof(float));
  else ggml_get_type_traits(t->type)->to_float(base, out->data(), ggml_nelements(t));
  return true;
}

bool WriteFloats(ggml_tensor* t, const std::vector<float>& values, std::string* error) {
  if (static_cast<int64_t>(values.size()) != ggml_nelements(t)) {
    *error = "element count differs";
    return false;
  }
  std::vector<char> bytes(ggml_nbytes(t));
  const int64_t n = ggml_nelements(t);
  switch (t->type) {
    case GGML_TYPE_F32: std::memcpy(bytes.data(), values.data(), bytes.size()); break;
    case GGML_TYPE_F16: ggml_fp32_to_fp16_row(values.data(), reinterpret_cast<ggml_fp16_t*>(bytes.data()), n); break;
    case GGML_TYPE_BF16: ggml_fp32_to_bf16_row(values.data(), reinterpret_cast<ggml_bf16_t*>(bytes.data()), n); break;
    default: *error = std::string("cannot store float values into ") + ggml_type_name(t->type); return false;
  }
  if (OnHost(t)) std::memcpy(t->data, bytes.data(), bytes.size());
  else ggml_backend_tensor_set(t, bytes.data(), 0, bytes.size());
  return true;
}

}  // namespace ait::ggml_dump
