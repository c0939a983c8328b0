// Layouts that differ only in the order of elements, and the reordering that brings a tensor
// to the order of its counterpart before the two are compared. A pairing strategy names the
// layout of a tensor pair's my side (TensorPair::my_layout); scoring applies it.
//
// "rope-interleaved:D": the last axis holds heads of D elements whose rotary pairs are
// adjacent, (x0, x1), (x2, x3), ..., as llama.cpp's GGUF files store the Q and K projections
// of a Llama (convert_hf_to_gguf.py permutes those weights for ggml's interleaved rope). The
// reordering puts each head in Hugging Face's rotate_half order, the pair members D/2 apart:
// out[h*D + k*D/2 + i] = in[h*D + 2*i + k].
#pragma once

#include <string>
#include <string_view>

#include "ait/tensor.h"

namespace ait {

inline constexpr std::string_view kRopeInterleavedLayout = "rope-interleaved";

// The layout spec of rope-interleaved heads of `head_dim` elements.
std::string RopeInterleavedLayout(int64_t head_dim);

// `t` reordered from layout `spec` ("" returns `t` itself). Throws ait::Error for an unknown
// spec, or one that does not fit the tensor (the last axis is no whole number of heads).
Tensor ApplyLayout(const Tensor& t, std::string_view spec);

}  // namespace ait
