// Vectorized (Highway, runtime-dispatched) conversion of any convertible dtype to float.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ait/dtype.h"

namespace ait {

// dst[i] = float(src[i]) for i < n. REQUIRES: IsConvertible(t); src holds n elements.
// Integers convert as static_cast<float>; bool as 0/1; fp64 rounds to nearest.
void ConvertToFloat32(DType t, const void* src, size_t n, float* dst);
void ConvertToFloat64(DType t, const void* src, size_t n, double* dst);

// Round-to-nearest-even float -> fp16 / bf16 (for writers and tests).
void ConvertFloat32ToHalf(const float* src, size_t n, uint16_t* dst);
void ConvertFloat32ToBFloat16(const float* src, size_t n, uint16_t* dst);
// Scalar helpers.
float HalfToFloat(uint16_t h);
float BFloat16ToFloat(uint16_t b);
uint16_t FloatToHalf(float f);
uint16_t FloatToBFloat16(float f);

}  // namespace ait
