// One-pass comparison of two tensors: every metric of the original `ait llm compare`
// (FORMATS.md section 7.6), plus min/max/mean and NaN/inf counts of each side, from a
// single streaming, vectorized pass over the bytes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ait/dtype.h"

namespace ait {

// A read-only view of `numel` elements of `dtype`, contiguous, at any byte alignment.
struct ElementSpan {
  DType dtype = DType::kFloat32;
  const void* data = nullptr;
  int64_t numel = 0;
};

struct SideStats {
  double max = 0, min = 0, mean = 0;  // over finite and non-finite values alike, in float32 as torch
  int64_t nan_count = 0;
  int64_t inf_count = 0;
};

struct PairMetrics {
  SideStats golden, my;
  // The seven metrics of the original. Meaningful only when both sides are finite.
  double cosine_similarity = 0;
  double max_relative_error = 0;
  double mean_relative_error = 0;
  double max_absolute_error = 0;
  double mean_absolute_error = 0;
  double kl_divergence = 0;
  double relative_euclidean_distance = 0;
};

// REQUIRES: IsConvertible for both dtypes; golden.numel > 0 and my.numel > 0; the
// longer span's numel is a multiple of the shorter's — the shorter side is then read
// cyclically (element i of the longer pairs with element i % n of the shorter), which is
// the original's dim-0 tiling and every broadcast that amounts to repeating the whole
// tensor. Stats of each side are over its own elements.
// Definitions (eps = 2^-23, g golden, m my, both cast to float32):
//   cosine_similarity  = 1 if all g == 0 and all m == 0, else
//                        g.m / (max(|g|, 1e-8) max(|m|, 1e-8)) as torch >= 1.12 computes it,
//                        in float64, rounded to 10 decimals
//   relative error r_i = |m_i / g_i - 1| if |g_i| > eps else 0;  max, and mean over all i
//   absolute error a_i = |m_i - g_i|     if |g_i| > eps else 0;  max, and mean over all i
//   kl_divergence      = max(0, sum softmax(g) * (log_softmax(g) - log_softmax(m)))
//   relative_euclidean_distance = 0 if sqrt(sum g^2) <= eps else sum (m-g)^2 / sum g^2
//                        (no square root: the original's quirk, kept on purpose)
PairMetrics ComputePairMetrics(const ElementSpan& golden, const ElementSpan& my);

}  // namespace ait
