// Scoring one dumped output tensor against its float64 reference with the precision standard of
// its dtype (FORMATS §8.4, our policy: keyed by canonical dtype, pass when rate >= required).
#pragma once

#include "ait/opcheck_run.h"
#include "ait/tensor.h"
#include "opcheck/reference.h"

namespace ait::opcheck {

// Which optional metrics (-metric) to compute.
struct MetricSet {
  bool abs = false, cosine = false, kl = false;
};

// Relative errors are taken against at least this fraction of the reference tensor's RMS: an
// element that a sum cancelled to near zero (a dot product of terms much larger than its result)
// carries the rounding error of the terms, which a relative error of the element itself would
// magnify without bound; a correct float32 GEMM fails 1e-4 on such elements (docs/OPCHECK.md).
inline constexpr double kFloorOfRms = 1.0 / 128;

// Element error, per element i (g the reference, o the dumped output, both as doubles):
//   floats:   |o - g| / max(|g|, kFloorOfRms * rms(reference)) where that is > 2^-23 (float32's
//             epsilon), else |o - g|
//   integers and bool: |o - g|
//   both NaN, or the same infinity: 0; NaN or an infinity on one side only: +inf.
// An element is within the standard when its error is at most standard.error_level, or (floats)
// when |o - g| is at most one unit in the last place of the output's dtype at g: a correct
// kernel may round an element near a rounding boundary either way, and a bfloat16 step (2^-8 to
// 2^-7 relative) exceeds bfloat16's level. The output passes when at least
// standard.required_rate % of its elements are within. Shapes must hold the same number of elements.
OutputCheck ScoreOutput(const Tensor& dumped, const RefTensor& reference, int index, const MetricSet& metrics);

// Same on a reference-shaped candidate held as doubles (the rerun against the dump).
OutputCheck ScoreValues(const RefTensor& candidate, const RefTensor& reference, int index, const MetricSet& metrics);

}  // namespace ait::opcheck
