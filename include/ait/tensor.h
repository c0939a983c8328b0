// A dense, row-major, native-byte-order tensor that owns or maps its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ait/dtype.h"

namespace ait {

struct Tensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // empty = 0-d scalar
  // Keeps `data` alive: a heap buffer, a memory mapping, a zip entry buffer, ...
  std::shared_ptr<const void> owner;
  const std::byte* data = nullptr;
  size_t nbytes = 0;  // == numel() * ItemSize(dtype) whenever has_data
  // False for description-only ATB dumps (shape and dtype but no payload).
  bool has_data = true;
  // ATB format code (FORMATS.md 1.5) when the file carried one; 2 (ND) otherwise.
  int atb_format = 2;

  // Product of dims; 1 for a 0-d tensor.
  int64_t numel() const;
  // "[1, 2, 3]" as torch prints a shape's list.
  std::string ShapeString() const;

  // A tensor owning a fresh zero-filled buffer.
  static Tensor Allocate(DType dtype, std::vector<int64_t> shape);
  // Writable view of a tensor made by Allocate (never of a mapped one).
  std::byte* mutable_data() const { return const_cast<std::byte*>(data); }
};

// Number of elements for `shape`, or throws ait::Error naming `where` when a dim is
// negative or the product (times `itemsize`) overflows 64 bits.
int64_t CheckedNumel(const std::vector<int64_t>& shape, size_t itemsize, std::string_view where);

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace ait
