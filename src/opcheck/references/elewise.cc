// Float64 reference of ElewiseOperation (engine/src/ops/elewise.cc; ATB ElewiseParam
// {elewiseType (required), mulsParam {varAttr=0}, quantParam {inputScale=1, inputOffset=0},
// outTensorType (aclDataType; float64 refused)}). One rounding to the output dtype; the quant
// types take the quotient x / scale in float32 as the contract's float32 kernel does (a tie
// decided in double would flip integers), except for float64 inputs.
//   unary, x -> x's shape:
//     CAST 1 -> outTensorType (required): float -> float/int rounds (RNE), float -> int
//       truncates then saturates (NaN -> 0), int -> int wraps as a C cast;
//     MULS 2 x * varAttr (ATB float); COS 3; SIN 4; NEG 5 (x's dtype);
//     QUANT 6 -> int8 saturate(round_half_even(x / inputScale) + inputOffset) (scale finite,
//       non-zero; ATB float).
//   binary with numpy broadcasting, x, y float -> x's dtype: ADD 8, MUL 9, REALDIV 10, SUB 15.
//   per channel over x's last dim C, in x, scale [C] float, offset [C] or empty:
//     QUANT_PER_CHANNEL 17 float x -> int8 saturate(round_half_even(x / scale) + offset);
//     DEQUANT_PER_CHANNEL 18 int8 x -> (x - offset) * scale in outTensorType (default fp16).
#include <algorithm>
#include <cmath>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

enum Type { kCast = 1, kMuls = 2, kCos = 3, kSin = 4, kNeg = 5, kQuant = 6, kAdd = 8, kMul = 9, kRealDiv = 10,
            kSub = 15, kQuantPerChannel = 17, kDequantPerChannel = 18 };

bool IsBinary(int t) { return t == kAdd || t == kMul || t == kRealDiv || t == kSub; }
bool IsPerChannel(int t) { return t == kQuantPerChannel || t == kDequantPerChannel; }
bool IsInteger(DType t) { return IsConvertible(t) && !IsFloating(t) && t != DType::kBool; }

// v converted to the integer type `t` as a C cast does (two's complement wrap-around).
double WrapInteger(DType t, int64_t v) {
  switch (t) {
    case DType::kInt8: return static_cast<int8_t>(v);
    case DType::kInt16: return static_cast<int16_t>(v);
    case DType::kInt32: return static_cast<int32_t>(v);
    case DType::kUInt8: return static_cast<uint8_t>(v);
    case DType::kUInt16: return static_cast<uint16_t>(v);
    case DType::kUInt32: return static_cast<uint32_t>(v);
    case DType::kUInt64: return static_cast<double>(static_cast<uint64_t>(v));
    default: return static_cast<double>(v);
  }
}

// numpy broadcasting of a and b, or "<op>: shapes ... do not broadcast".
std::vector<int64_t> BroadcastShape(const std::string& op, const std::vector<int64_t>& a,
                                    const std::vector<int64_t>& b) {
  std::vector<int64_t> out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    Require(da == db || da == 1 || db == 1, op,
            fmt::format("shapes {} and {} do not broadcast", ShapeText(a), ShapeText(b)));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Element strides of `s` right-aligned to `out`'s rank, 0 along broadcast dims.
std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& s, const std::vector<int64_t>& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i + out.size() - s.size()] = s[i] == 1 ? 0 : stride;
    stride *= s[i];
  }
  return st;
}

RefTensor Binary(const RefCall& call, int type) {
  const RefTensor& a = call.inputs[0];
  const RefTensor& b = call.inputs[1];
  RefTensor y = RefTensor::Zeros(a.dtype, BroadcastShape(call.type, a.shape, b.shape), call.type);
  const auto sa = BroadcastStrides(a.shape, y.shape), sb = BroadcastStrides(b.shape, y.shape);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t rem = i, ia = 0, ib = 0;
    for (size_t d = y.shape.size(); d-- > 0;) {
      const int64_t idx = rem % y.shape[d];
      rem /= y.shape[d];
      ia += idx * sa[d];
      ib += idx * sb[d];
    }
    const double u = a.data[ia], v = b.data[ib];
    y.data[i] = type == kAdd ? u + v : type == kMul ? u * v : type == kSub ? u - v : u / v;
  }
  return y;
}

std::vector<RefTensor> Elewise(RefCall& call) {
  const AtbParams p = call.params();
  const int type = p.Enum("elewiseType", 0,
                          {{"ELEWISE_CAST", kCast}, {"ELEWISE_MULS", kMuls}, {"ELEWISE_COS", kCos},
                           {"ELEWISE_SIN", kSin}, {"ELEWISE_NEG", kNeg}, {"ELEWISE_QUANT", kQuant},
                           {"ELEWISE_ADD", kAdd}, {"ELEWISE_MUL", kMul}, {"ELEWISE_REALDIV", kRealDiv},
                           {"ELEWISE_SUB", kSub}, {"ELEWISE_QUANT_PER_CHANNEL", kQuantPerChannel},
                           {"ELEWISE_DEQUANT_PER_CHANNEL", kDequantPerChannel}});
  if (type == 0) p.Bad("elewiseType", "is required (e.g. 8 = ELEWISE_ADD)");
  // ATB's varAttr and inputScale are floats, inputOffset an integer.
  const double muls = RoundTo(DType::kFloat32, p.Sub("mulsParam").Float("varAttr", 0.0));
  const AtbParams qp = p.Sub("quantParam");
  const double scale = RoundTo(DType::kFloat32, qp.Float("inputScale", 1.0));
  const auto offset = static_cast<double>(qp.Int("inputOffset", 0));
  if (type == kQuant && !(scale != 0 && std::isfinite(scale))) qp.Bad("inputScale", "must be finite and non-zero");
  std::optional<DType> out_type = p.DataType("outTensorType");
  if (type == kCast && !out_type) p.Bad("outTensorType", "ELEWISE_CAST needs the target data type");
  if (type == kDequantPerChannel && !out_type) out_type = DType::kFloat16;
  if (out_type && (!IsConvertible(*out_type) || *out_type == DType::kFloat64))
    p.Bad("outTensorType", fmt::format("unsupported output type {}", ShortName(*out_type)));
  RequireInputs(call, IsBinary(type) ? 2 : IsPerChannel(type) ? 3 : 1);
  const RefTensor& x = call.inputs[0];

  if (type == kCast) {
    RefTensor y = x;
    y.dtype = *out_type;
    if (IsInteger(x.dtype) && IsInteger(y.dtype)) {
      for (double& v : y.data)  // uint64 values past int64 wrap to their two's complement first
        v = WrapInteger(y.dtype, static_cast<int64_t>(v >= 0x1p63 ? v - 0x1p64 : v));
    } else {
      for (double& v : y.data) v = RoundTo(y.dtype, IsFloating(y.dtype) ? v : std::trunc(v));
    }
    return {std::move(y)};
  }
  if (type == kDequantPerChannel) {
    Require(x.dtype == DType::kInt8, call.type,
            fmt::format("x (input 0) must be int8 for ELEWISE_DEQUANT_PER_CHANNEL, found {}", ShortName(x.dtype)));
  } else {
    RequireFloat(call, 0, "x");
  }

  if (IsPerChannel(type)) {
    const int64_t c = x.shape.empty() ? 1 : x.shape.back();
    const RefTensor& s = call.inputs[1];
    const RefTensor& off = call.inputs[2];
    RequireFloat(call, 1, "scale");
    Require(s.numel() == c, call.type,
            fmt::format("scale (input 1) must hold {} elements (x's last dim), found {}", c, ShapeText(s.shape)));
    Require(off.numel() == 0 || off.numel() == c, call.type,
            fmt::format("offset (input 2) must be empty or hold {} elements, found {}", c, ShapeText(off.shape)));
    RefTensor y = x;
    y.dtype = type == kQuantPerChannel ? DType::kInt8 : *out_type;
    for (int64_t i = 0; i < y.numel(); ++i) {
      const double o = off.numel() == 0 ? 0.0 : off.data[i % c];
      double& v = y.data[i];
      v = type == kQuantPerChannel ? std::nearbyint(Float32Math(x.dtype, v / s.data[i % c])) + o
                                   : (v - o) * s.data[i % c];
    }
    RoundAll(y.dtype, y.data);
    return {std::move(y)};
  }

  if (IsBinary(type)) {
    RequireFloat(call, 1, "y");
    RefTensor y = Binary(call, type);
    RoundAll(y.dtype, y.data);
    return {std::move(y)};
  }

  RefTensor y = x;
  if (type == kQuant) y.dtype = DType::kInt8;
  for (double& v : y.data) {
    switch (type) {
      case kMuls: v *= muls; break;
      case kCos: v = std::cos(v); break;
      case kSin: v = std::sin(v); break;
      case kNeg: v = -v; break;
      default: v = std::nearbyint(Float32Math(x.dtype, v / scale)) + offset; break;  // kQuant; RoundAll saturates
    }
  }
  RoundAll(y.dtype, y.data);
  return {std::move(y)};
}

}  // namespace

std::vector<Reference> ElewiseReferences() { return {{"ElewiseOperation", Elewise}}; }

}  // namespace ait::opcheck
