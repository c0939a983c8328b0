// Tensor construction and shape arithmetic with overflow checks.
#include "ait/tensor.h"

#include <cstring>
#include <limits>

#include "ait/error.h"

namespace ait {

int64_t CheckedNumel(const std::vector<int64_t>& shape, size_t itemsize, std::string_view where) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) Fail(where, "negative dimension {} in shape", d);
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      Fail(where, "shape is too large (element count overflows 64 bits)");
    n *= d;
  }
  if (itemsize > 0 && n > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(itemsize))
    Fail(where, "shape is too large (byte size overflows 64 bits)");
  return n;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string Tensor::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor Tensor::Allocate(DType dtype, std::vector<int64_t> shape) {
  int64_t n = CheckedNumel(shape, ItemSize(dtype), "tensor allocation");
  size_t bytes = static_cast<size_t>(n) * ItemSize(dtype);
  auto buffer = std::shared_ptr<std::byte[]>(new std::byte[bytes == 0 ? 1 : bytes]());
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = buffer.get();
  t.nbytes = bytes;
  t.owner = std::shared_ptr<const void>(buffer, buffer.get());
  return t;
}

}  // namespace ait
