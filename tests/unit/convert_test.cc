// ConvertToFloat32/64 against scalar references: every fp16 and bf16 bit pattern, every
// dtype at odd lengths and unaligned addresses, on every SIMD target compiled in.
#include <gtest/gtest.h>
#include <hwy/highway.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "ait/convert.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::ForEachTarget;

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Equal bit for bit, except that NaNs need only agree on being NaN and on the sign
// (F16C quiets signalling NaNs; the payload carries no meaning for a comparison).
void ExpectSameFloat(float expected, float actual, uint32_t input) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << std::hex << input;
    EXPECT_EQ(std::signbit(expected), std::signbit(actual)) << std::hex << input;
  } else {
    EXPECT_EQ(Bits(expected), Bits(actual)) << std::hex << "input 0x" << input << " expected " << expected
                                            << " got " << actual;
  }
}

// The scalar meaning of one element (reference for every dtype).
double ScalarValue(DType t, const uint8_t* p) {
  auto get = [p](auto v) {
    std::memcpy(&v, p, sizeof v);
    return v;
  };
  switch (t) {
    case DType::kFloat32: return get(float{});
    case DType::kFloat16: return HalfToFloat(get(uint16_t{}));
    case DType::kBFloat16: return BFloat16ToFloat(get(uint16_t{}));
    case DType::kFloat64: return get(double{});
    case DType::kInt8: return get(int8_t{});
    case DType::kInt16: return get(int16_t{});
    case DType::kInt32: return get(int32_t{});
    case DType::kInt64: return static_cast<double>(get(int64_t{}));
    case DType::kUInt8: return get(uint8_t{});
    case DType::kUInt16: return get(uint16_t{});
    case DType::kUInt32: return get(uint32_t{});
    case DType::kUInt64: return static_cast<double>(get(uint64_t{}));
    case DType::kBool: return *p != 0;
    case DType::kComplex64: break;
  }
  return 0;
}
float ScalarFloat(DType t, const uint8_t* p) {
  // Wide integers round once, straight to float, as static_cast<float> does.
  if (t == DType::kInt64) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return static_cast<float>(v);
  }
  if (t == DType::kUInt64) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return static_cast<float>(v);
  }
  return static_cast<float>(ScalarValue(t, p));
}

TEST(Convert, ScalarHalfHelpersKnowTheLandmarks) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(HalfToFloat(0x7C00), INFINITY);
  EXPECT_EQ(HalfToFloat(0xFC00), -INFINITY);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // rounds up to inf
  EXPECT_EQ(FloatToBFloat16(1.00390625f), 0x3F80);  // tie to even
}

TEST(Convert, Fp16EveryBitPatternMatchesTheScalarHelper) {
  // One extra leading byte makes the source misaligned for 2-byte loads.
  std::vector<uint8_t> src(1 + 2 * 65536);
  for (uint32_t h = 0; h < 65536; ++h) std::memcpy(&src[1 + 2 * h], &h, 2);
  ForEachTarget([&] {
    std::vector<float> f32(65536);
    std::vector<double> f64(65536);
    ConvertToFloat32(DType::kFloat16, src.data() + 1, 65536, f32.data());
    ConvertToFloat64(DType::kFloat16, src.data() + 1, 65536, f64.data());
    for (uint32_t h = 0; h < 65536; ++h) {
      ExpectSameFloat(HalfToFloat(static_cast<uint16_t>(h)), f32[h], h);
      ExpectSameFloat(HalfToFloat(static_cast<uint16_t>(h)), static_cast<float>(f64[h]), h);
    }
  });
}

TEST(Convert, Bf16EveryBitPatternMatchesTheScalarHelper) {
  std::vector<uint8_t> src(1 + 2 * 65536);
  for (uint32_t b = 0; b < 65536; ++b) std::memcpy(&src[1 + 2 * b], &b, 2);
  ForEachTarget([&] {
    std::vector<float> f32(65536);
    std::vector<double> f64(65536);
    ConvertToFloat32(DType::kBFloat16, src.data() + 1, 65536, f32.data());
    ConvertToFloat64(DType::kBFloat16, src.data() + 1, 65536, f64.data());
    for (uint32_t b = 0; b < 65536; ++b) {
      float expected = BFloat16ToFloat(static_cast<uint16_t>(b));
      if (std::isnan(expected)) {
        EXPECT_EQ(Bits(expected), Bits(f32[b])) << std::hex << b;  // a shift keeps even the payload
        EXPECT_TRUE(std::isnan(f64[b]));
      } else {
        ExpectSameFloat(expected, f32[b], b);
        EXPECT_EQ(f64[b], static_cast<double>(expected)) << std::hex << b;
      }
    }
  });
}

// Bytes that make sense for the dtype: random finite values for floats (with a few
// specials), random bit patterns for integers.
std::vector<uint8_t> RandomBytes(DType t, size_t n, std::mt19937& rng) {
  std::vector<uint8_t> bytes(n * ItemSize(t));
  std::normal_distribution<double> normal(0.0, 1000.0);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = bytes.data() + i * ItemSize(t);
    if (t == DType::kFloat32) {
      float v = i % 17 == 5 ? -0.0f : static_cast<float>(normal(rng));
      std::memcpy(p, &v, 4);
    } else if (t == DType::kFloat64) {
      double v = i % 13 == 3 ? 1e300 : i % 13 == 4 ? 1e-300 : normal(rng);
      std::memcpy(p, &v, 8);
    } else {
      for (size_t b = 0; b < ItemSize(t); ++b) p[b] = static_cast<uint8_t>(rng());
    }
  }
  return bytes;
}

TEST(Convert, EveryDtypeAtOddLengthsAndUnalignedAddressesMatchesStaticCast) {
  std::mt19937 rng(7);
  ForEachTarget([&] {
    for (int ti = 0; ti < kNumDTypes; ++ti) {
      const DType t = static_cast<DType>(ti);
      if (!IsConvertible(t)) continue;
      SCOPED_TRACE(ShortName(t));
      for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{15}, size_t{16}, size_t{17}, size_t{63}, size_t{1000},
                       size_t{3001}}) {
        for (size_t offset : {0, 1, 3}) {
          std::vector<uint8_t> bytes = RandomBytes(t, n, rng);
          std::vector<uint8_t> shifted(offset + bytes.size() + 1);
          if (!bytes.empty()) std::memcpy(shifted.data() + offset, bytes.data(), bytes.size());
          std::vector<float> f32(n + 1, 42.0f);  // the extra slot must stay untouched
          std::vector<double> f64(n + 1, 42.0);
          ConvertToFloat32(t, shifted.data() + offset, n, f32.data());
          ConvertToFloat64(t, shifted.data() + offset, n, f64.data());
          for (size_t i = 0; i < n; ++i) {
            const uint8_t* p = bytes.data() + i * ItemSize(t);
            ExpectSameFloat(ScalarFloat(t, p), f32[i], static_cast<uint32_t>(i));
            const double expected = ScalarValue(t, p);
            if (std::isnan(expected)) {
              EXPECT_TRUE(std::isnan(f64[i]));
            } else {
              EXPECT_EQ(f64[i], expected) << "n=" << n << " offset=" << offset << " i=" << i;
            }
          }
          EXPECT_EQ(f32[n], 42.0f);
          EXPECT_EQ(f64[n], 42.0);
        }
      }
    }
  });
}

TEST(Convert, BoolIsOneForAnyNonzeroByte) {
  std::vector<uint8_t> src(40);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 37);  // 0, 37, 74, ... 255-ish
  std::vector<float> out(src.size());
  ConvertToFloat32(DType::kBool, src.data(), src.size(), out.data());
  for (size_t i = 0; i < src.size(); ++i) EXPECT_EQ(out[i], src[i] ? 1.0f : 0.0f) << i;
}

}  // namespace
}  // namespace ait
