// dtype -> float conversion. (Scalar for now; vectorized with Highway in a later step.)
#include "ait/convert.h"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace ait {

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3FFu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float BFloat16ToFloat(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  uint32_t abs = bits & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) return sign | (abs > 0x7F800000u ? 0x7E00 : 0x7C00);
  if (abs >= 0x477FF000u) return sign | 0x7C00;  // rounds to >= 65520 -> inf
  if (abs < 0x38800000u) {                        // below fp16 normal range
    if (abs < 0x33000000u) return sign;           // rounds to zero
    uint32_t e = abs >> 23;
    uint32_t m = (abs & 0x7FFFFFu) | 0x800000u;
    uint32_t shift = 126 - e;  // 14 + (113 - e)
    uint32_t half = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  uint32_t e = (abs >> 23) - 127 + 15;
  uint32_t m = abs & 0x7FFFFFu;
  uint32_t out = e << 10 | m >> 13;
  uint32_t rem = m & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (out & 1u))) ++out;
  return sign | static_cast<uint16_t>(out);
}

void ConvertFloat32ToHalf(const float* src, size_t n, uint16_t* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = FloatToHalf(src[i]);
}
void ConvertFloat32ToBFloat16(const float* src, size_t n, uint16_t* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = FloatToBFloat16(src[i]);
}

namespace {
template <typename Out>
void Convert(DType t, const void* src, size_t n, Out* dst) {
  // Payloads may start at any byte offset (e.g. after a .bin header): load with memcpy.
  auto load = [&](auto* typed) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(typed)>>;
    auto* bytes = reinterpret_cast<const std::byte*>(typed);
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, bytes + i * sizeof(T), sizeof(T));
      dst[i] = static_cast<Out>(v);
    }
  };
  switch (t) {
    case DType::kFloat32: load(static_cast<const float*>(src)); break;
    case DType::kFloat64: load(static_cast<const double*>(src)); break;
    case DType::kFloat16: {
      auto* s = static_cast<const std::byte*>(src);
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, s + 2 * i, 2);
        dst[i] = static_cast<Out>(HalfToFloat(h));
      }
      break;
    }
    case DType::kBFloat16: {
      auto* s = static_cast<const std::byte*>(src);
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, s + 2 * i, 2);
        dst[i] = static_cast<Out>(BFloat16ToFloat(b));
      }
      break;
    }
    case DType::kInt8: load(static_cast<const int8_t*>(src)); break;
    case DType::kInt16: load(static_cast<const int16_t*>(src)); break;
    case DType::kInt32: load(static_cast<const int32_t*>(src)); break;
    case DType::kInt64: load(static_cast<const int64_t*>(src)); break;
    case DType::kUInt8: load(static_cast<const uint8_t*>(src)); break;
    case DType::kUInt16: load(static_cast<const uint16_t*>(src)); break;
    case DType::kUInt32: load(static_cast<const uint32_t*>(src)); break;
    case DType::kUInt64: load(static_cast<const uint64_t*>(src)); break;
    case DType::kBool: {
      auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = s[i] ? Out(1) : Out(0);
      break;
    }
    case DType::kComplex64: break;  // REQUIRES excludes it
  }
}
}  // namespace

void ConvertToFloat32(DType t, const void* src, size_t n, float* dst) { Convert(t, src, n, dst); }
void ConvertToFloat64(DType t, const void* src, size_t n, double* dst) { Convert(t, src, n, dst); }

}  // namespace ait
