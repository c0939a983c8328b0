// Element reorderings between layouts (ait/tensor_layout.h).
#include "ait/tensor_layout.h"

#include <cstring>

#include <fmt/format.h>

#include "ait/error.h"

namespace ait {

std::string RopeInterleavedLayout(int64_t head_dim) { return fmt::format("{}:{}", kRopeInterleavedLayout, head_dim); }

Tensor ApplyLayout(const Tensor& t, std::string_view spec) {
  if (spec.empty()) return t;
  const size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  if (name != kRopeInterleavedLayout || colon == std::string_view::npos)
    throw Error(fmt::format("unknown tensor layout '{}' (known: {}:HEAD_DIM)", spec, kRopeInterleavedLayout));
  int64_t head_dim = 0;
  for (char c : spec.substr(colon + 1)) {
    if (c < '0' || c > '9' || head_dim > (int64_t{1} << 40)) throw Error(fmt::format("tensor layout '{}': bad head size", spec));
    head_dim = head_dim * 10 + (c - '0');
  }
  const int64_t last = t.shape.empty() ? 1 : t.shape.back();
  if (head_dim < 2 || head_dim % 2 != 0 || last % head_dim != 0)
    throw Error(fmt::format("tensor layout '{}' does not fit shape {}: the last axis must hold whole heads of an even size",
                            spec, t.ShapeString()));
  if (!t.has_data) return t;
  Tensor out = Tensor::Allocate(t.dtype, t.shape);
  const size_t item = ItemSize(t.dtype);
  const int64_t heads = t.numel() / head_dim, half = head_dim / 2;
  for (int64_t h = 0; h < heads; ++h) {
    const std::byte* src = t.data + h * head_dim * item;
    std::byte* dst = out.mutable_data() + h * head_dim * item;
    for (int64_t i = 0; i < half; ++i)
      for (int64_t k = 0; k < 2; ++k) std::memcpy(dst + (k * half + i) * item, src + (2 * i + k) * item, item);
  }
  return out;
}

}  // namespace ait
