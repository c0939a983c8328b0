// dtype -> float conversion: scalar reference helpers plus Highway kernels compiled for
// every x86 target and chosen at runtime for the CPU at hand (HWY_DYNAMIC_DISPATCH).
// This file is re-included once per target by foreach_target.h; code outside HWY_ONCE
// exists once per target, code inside it once.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/convert.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "ait/convert.h"

HWY_BEFORE_NAMESPACE();
namespace ait::HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Each loader reads Lanes(DF) source elements at `p` (any byte alignment: LoadU only)
// and returns them as float32, exactly as static_cast<float> would.
struct LoadF32 {
  static constexpr size_t kSize = 4;
  static VF Load(DF d, const uint8_t* p) { return hn::LoadU(d, reinterpret_cast<const float*>(p)); }
};

struct LoadF16 {
  static constexpr size_t kSize = 2;
  static VF Load(DF d, const uint8_t* p) {
    const hn::Rebind<uint16_t, DF> d16;
    const auto bits = hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p));
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
    // F16C (vcvtph2ps) is exact for every pattern, subnormals, inf and NaN included.
    return hn::PromoteTo(d, hn::BitCast(hn::Rebind<hwy::float16_t, DF>(), bits));
#else
    // Highway 1.0.3's emulated PromoteTo turns inf/NaN into 65536-ish finite values, so
    // do it here: move exponent and mantissa into float32 position, then one multiply by
    // 2^112 rebiases the exponent (127 - 15) and normalizes subnormals, both exactly.
    const hn::RebindToUnsigned<DF> du;
    const hn::RebindToSigned<DF> di;
    const auto w = hn::PromoteTo(du, bits);
    const auto sign = hn::ShiftLeft<16>(hn::And(w, hn::Set(du, 0x8000u)));
    const auto mag = hn::ShiftLeft<13>(hn::And(w, hn::Set(du, 0x7FFFu)));
    const VF scaled = hn::Mul(hn::BitCast(d, mag), hn::Set(d, 0x1p112f));
    // Exponent all ones (inf/NaN) keeps its mantissa bits, like HalfToFloat.
    const auto inf_nan = hn::Gt(hn::BitCast(di, mag), hn::Set(di, (0x7C00 << 13) - 1));
    const VF special = hn::BitCast(d, hn::Or(mag, hn::Set(du, 0x7F800000u)));
    return hn::BitCast(d, hn::Or(sign, hn::BitCast(du, hn::IfThenElse(hn::RebindMask(d, inf_nan), special, scaled))));
#endif
  }
};

struct LoadBF16 {
  static constexpr size_t kSize = 2;
  static VF Load(DF d, const uint8_t* p) {
    const hn::Rebind<uint16_t, DF> d16;
    const hn::RebindToUnsigned<DF> du;
    const auto w = hn::PromoteTo(du, hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p)));
    return hn::BitCast(d, hn::ShiftLeft<16>(w));
  }
};

// Integers narrower than 32 bits widen to int32 (exact), then convert (exact: < 2^24).
template <typename T>
struct LoadSmallInt {
  static constexpr size_t kSize = sizeof(T);
  static VF Load(DF d, const uint8_t* p) {
    const hn::Rebind<T, DF> dt;
    const hn::RebindToSigned<DF> di;
    const auto v = hn::LoadU(dt, reinterpret_cast<const T*>(p));
    if constexpr (std::is_signed_v<T>) {
      return hn::ConvertTo(d, hn::PromoteTo(di, v));
    } else {
      return hn::ConvertTo(d, hn::BitCast(di, hn::PromoteTo(hn::RebindToUnsigned<DF>(), v)));
    }
  }
};

struct LoadI32 {
  static constexpr size_t kSize = 4;
  static VF Load(DF d, const uint8_t* p) {
    return hn::ConvertTo(d, hn::LoadU(hn::RebindToSigned<DF>(), reinterpret_cast<const int32_t*>(p)));
  }
};

// Any nonzero byte is true.
struct LoadBool {
  static constexpr size_t kSize = 1;
  static VF Load(DF d, const uint8_t* p) { return hn::Min(LoadSmallInt<uint8_t>::Load(d, p), hn::Set(d, 1.0f)); }
};

// Runs a loader over n elements; the tail goes through a zero-padded copy so every
// element takes the same (vector) path.
template <class Loader, class Store>
void Loop(const uint8_t* src, size_t n, Store store) {
  const DF d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) store(i, N, Loader::Load(d, src + i * Loader::kSize));
  if (i < n) {
    HWY_ALIGN uint8_t tmp[HWY_MAX_BYTES] = {};  // N * kSize <= N * 4 == HWY_MAX_BYTES
    std::memcpy(tmp, src + i * Loader::kSize, (n - i) * Loader::kSize);
    store(i, n - i, Loader::Load(d, tmp));
  }
}

template <class Loader>
void ToF32(const uint8_t* src, size_t n, float* HWY_RESTRICT dst) {
  const DF d;
  Loop<Loader>(src, n, [&](size_t i, size_t count, VF v) {
    if (count == hn::Lanes(d)) {
      hn::StoreU(v, d, dst + i);
    } else {
      HWY_ALIGN float out[HWY_MAX_BYTES / 4];
      hn::Store(v, d, out);
      std::memcpy(dst + i, out, count * 4);
    }
  });
}

// Widening to float64 goes through float32 in L1-sized blocks (exact for every loader
// here), which keeps one loader per dtype and works on every target, 1-lane SCALAR too.
template <class Loader>
void ToF64(const uint8_t* src, size_t n, double* HWY_RESTRICT dst) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const size_t N = hn::Lanes(dd);
  constexpr size_t kBlock = 1024;
  HWY_ALIGN float buf[kBlock];
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t len = std::min(kBlock, n - b);
    ToF32<Loader>(src + b * Loader::kSize, len, buf);
    size_t i = 0;
    for (; i + N <= len; i += N) hn::StoreU(hn::PromoteTo(dd, hn::Load(df, buf + i)), dd, dst + b + i);
    for (; i < len; ++i) dst[b + i] = buf[i];
  }
}

// Scalar path for the wide integer types (rare in dumps, not worth vector code).
template <typename T, typename Out>
void Scalar(const uint8_t* src, size_t n, Out* dst) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<Out>(v);
  }
}

void F64ToF32(const uint8_t* src, size_t n, float* HWY_RESTRICT dst) {
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  Scalar<double>(src, n, dst);  // their DemoteTo saturates at FLT_MAX instead of giving inf
#else
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const size_t N = hn::Lanes(dd);
  size_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::DemoteTo(df, hn::LoadU(dd, reinterpret_cast<const double*>(src + i * 8))), df, dst + i);
  Scalar<double>(src + i * 8, n - i, dst + i);
#endif
}

void I32ToF64(const uint8_t* src, size_t n, double* HWY_RESTRICT dst) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<int32_t, decltype(dd)> di;
  const size_t N = hn::Lanes(dd);
  size_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::PromoteTo(dd, hn::LoadU(di, reinterpret_cast<const int32_t*>(src + i * 4))), dd, dst + i);
  Scalar<int32_t>(src + i * 4, n - i, dst + i);
}

}  // namespace

void ConvertToFloat32Impl(DType t, const void* src_void, size_t n, float* HWY_RESTRICT dst) {
  auto* src = static_cast<const uint8_t*>(src_void);
  switch (t) {
    case DType::kFloat32: std::memcpy(dst, src, n * 4); break;
    case DType::kFloat16: ToF32<LoadF16>(src, n, dst); break;
    case DType::kBFloat16: ToF32<LoadBF16>(src, n, dst); break;
    case DType::kFloat64: F64ToF32(src, n, dst); break;
    case DType::kInt8: ToF32<LoadSmallInt<int8_t>>(src, n, dst); break;
    case DType::kUInt8: ToF32<LoadSmallInt<uint8_t>>(src, n, dst); break;
    case DType::kInt16: ToF32<LoadSmallInt<int16_t>>(src, n, dst); break;
    case DType::kUInt16: ToF32<LoadSmallInt<uint16_t>>(src, n, dst); break;
    case DType::kInt32: ToF32<LoadI32>(src, n, dst); break;
    case DType::kBool: ToF32<LoadBool>(src, n, dst); break;
    case DType::kInt64: Scalar<int64_t>(src, n, dst); break;
    case DType::kUInt32: Scalar<uint32_t>(src, n, dst); break;
    case DType::kUInt64: Scalar<uint64_t>(src, n, dst); break;
    case DType::kComplex64: break;  // REQUIRES excludes it
  }
}

void ConvertToFloat64Impl(DType t, const void* src_void, size_t n, double* HWY_RESTRICT dst) {
  auto* src = static_cast<const uint8_t*>(src_void);
  switch (t) {
    case DType::kFloat32: ToF64<LoadF32>(src, n, dst); break;
    case DType::kFloat16: ToF64<LoadF16>(src, n, dst); break;
    case DType::kBFloat16: ToF64<LoadBF16>(src, n, dst); break;
    case DType::kFloat64: std::memcpy(dst, src, n * 8); break;
    case DType::kInt8: ToF64<LoadSmallInt<int8_t>>(src, n, dst); break;
    case DType::kUInt8: ToF64<LoadSmallInt<uint8_t>>(src, n, dst); break;
    case DType::kInt16: ToF64<LoadSmallInt<int16_t>>(src, n, dst); break;
    case DType::kUInt16: ToF64<LoadSmallInt<uint16_t>>(src, n, dst); break;
    case DType::kInt32: I32ToF64(src, n, dst); break;
    case DType::kBool: ToF64<LoadBool>(src, n, dst); break;
    case DType::kInt64: Scalar<int64_t>(src, n, dst); break;
    case DType::kUInt32: Scalar<uint32_t>(src, n, dst); break;
    case DType::kUInt64: Scalar<uint64_t>(src, n, dst); break;
    case DType::kComplex64: break;
  }
}

}  // namespace ait::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ait {

HWY_EXPORT(ConvertToFloat32Impl);
HWY_EXPORT(ConvertToFloat64Impl);

void ConvertToFloat32(DType t, const void* src, size_t n, float* dst) {
  if (n) HWY_DYNAMIC_DISPATCH(ConvertToFloat32Impl)(t, src, n, dst);
}
void ConvertToFloat64(DType t, const void* src, size_t n, double* dst) {
  if (n) HWY_DYNAMIC_DISPATCH(ConvertToFloat64Impl)(t, src, n, dst);
}

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

// Writers only: scalar is fast enough next to the file write.
void ConvertFloat32ToHalf(const float* src, size_t n, uint16_t* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = FloatToHalf(src[i]);
}
void ConvertFloat32ToBFloat16(const float* src, size_t n, uint16_t* dst) {
  for (size_t i = 0; i < n; ++i) dst[i] = FloatToBFloat16(src[i]);
}

}  // namespace ait
#endif  // HWY_ONCE
