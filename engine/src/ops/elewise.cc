// ElewiseOperation (ATB ElewiseParam {elewiseType, mulsParam {varAttr}, quantParam {inputScale,
// inputOffset}, outTensorType}). Float math in float32, one rounding to the output dtype.
//   unary (in x; out x's shape): CAST 1 (to outTensorType; float->int truncates as torch does),
//     MULS 2 (x * varAttr), COS 3, SIN 4, NEG 5,
//     QUANT 6 (int8 = saturate(round(x / inputScale) + inputOffset), the torch
//     quantize_per_tensor convention)
//   binary with numpy broadcasting (in x, y; out x's dtype): ADD 8, MUL 9, REALDIV 10, SUB 15
//   per channel over the last dim (in x, scale [C], offset [C] or empty):
//     QUANT_PER_CHANNEL 17 (int8 = saturate(round(x / scale) + offset)),
//     DEQUANT_PER_CHANNEL 18 (x int8 -> (x - offset) * scale in outTensorType, default fp16)
// One kernel, named after the type: "Cast", "Muls", "Cos", "Sin", "Neg", "Quant", "Add", "Mul",
// "RealDiv", "Sub", "QuantPerChannel", "DequantPerChannel".
#include <cmath>
#include <cstring>

#include "ops/kernels.h"
#include "ops/ops.h"

namespace ait::engine::ops {
namespace {

enum Type { kCast = 1, kMuls = 2, kCos = 3, kSin = 4, kNeg = 5, kQuant = 6, kAdd = 8, kMul = 9, kRealDiv = 10, kSub = 15,
            kQuantPerChannel = 17, kDequantPerChannel = 18 };

const char* KernelName(int t) {
  switch (t) {
    case kCast: return "Cast";
    case kMuls: return "Muls";
    case kCos: return "Cos";
    case kSin: return "Sin";
    case kNeg: return "Neg";
    case kQuant: return "Quant";
    case kAdd: return "Add";
    case kMul: return "Mul";
    case kRealDiv: return "RealDiv";
    case kSub: return "Sub";
    case kQuantPerChannel: return "QuantPerChannel";
    default: return "DequantPerChannel";
  }
}

bool IsBinary(int t) { return t == kAdd || t == kMul || t == kRealDiv || t == kSub; }
bool IsPerChannel(int t) { return t == kQuantPerChannel || t == kDequantPerChannel; }
bool IsInteger(DType t) { return IsConvertible(t) && !IsFloating(t) && t != DType::kBool; }

class ElewiseOp : public Operation {
 public:
  explicit ElewiseOp(const Json& param) : Operation("ElewiseOperation", param) {
    Params p(type(), param);
    type_ = p.Enum("elewiseType", 0,
                   {{"ELEWISE_CAST", kCast}, {"ELEWISE_MULS", kMuls}, {"ELEWISE_COS", kCos}, {"ELEWISE_SIN", kSin},
                    {"ELEWISE_NEG", kNeg}, {"ELEWISE_QUANT", kQuant}, {"ELEWISE_ADD", kAdd}, {"ELEWISE_MUL", kMul},
                    {"ELEWISE_REALDIV", kRealDiv}, {"ELEWISE_SUB", kSub},
                    {"ELEWISE_QUANT_PER_CHANNEL", kQuantPerChannel},
                    {"ELEWISE_DEQUANT_PER_CHANNEL", kDequantPerChannel}});
    if (type_ == 0) p.Bad("elewiseType", "is required (e.g. 8 = ELEWISE_ADD)");
    muls_ = static_cast<float>(p.Sub("mulsParam").Float("varAttr", 0.0));
    Params qp = p.Sub("quantParam");
    scale_ = static_cast<float>(qp.Float("inputScale", 1.0));
    offset_ = static_cast<float>(qp.Int("inputOffset", 0));
    if (type_ == kQuant && !(scale_ != 0 && std::isfinite(scale_))) qp.Bad("inputScale", "must be finite and non-zero");
    out_type_ = p.DataType("outTensorType");
    if (type_ == kCast && !out_type_) p.Bad("outTensorType", "ELEWISE_CAST needs the target data type");
    if (type_ == kDequantPerChannel && !out_type_) out_type_ = DType::kFloat16;
    if (out_type_ && (!IsConvertible(*out_type_) || *out_type_ == DType::kFloat64))
      p.Bad("outTensorType", fmt::format("unsupported output type {}", ShortName(*out_type_)));
  }
  size_t in_count() const override { return IsBinary(type_) ? 2 : IsPerChannel(type_) ? 3 : 1; }
  size_t out_count() const override { return 1; }

  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override {
    CheckCount(type(), in, in_count());
    const TensorDesc& x = in[0];
    if (type_ == kCast) {
      Check(IsConvertible(x.dtype), type(), "cannot cast from {}", ShortName(x.dtype));
      return {{*out_type_, x.shape}};
    }
    if (type_ == kDequantPerChannel) {
      Check(x.dtype == DType::kInt8, type(), "x (input 0) must be int8 for ELEWISE_DEQUANT_PER_CHANNEL, found {}",
            ShortName(x.dtype));
    } else {
      Check(IsFloatStorage(x.dtype), type(), "x (input 0) must be a float tensor for {}, found {}", KernelName(type_),
            ShortName(x.dtype));
    }
    if (IsPerChannel(type_)) {
      const int64_t c = x.shape.empty() ? 1 : x.shape.back();
      Check(IsFloatStorage(in[1].dtype) && Numel(in[1].shape) == c, type(),
            "scale (input 1) must be a float tensor of {} elements (x's last dim), found {} {}", c,
            ShortName(in[1].dtype), ShapeStr(in[1].shape));
      Check(Numel(in[2].shape) == 0 || (IsConvertible(in[2].dtype) && Numel(in[2].shape) == c), type(),
            "offset (input 2) must be empty or hold {} elements, found {}", c, ShapeStr(in[2].shape));
      return {{type_ == kQuantPerChannel ? DType::kInt8 : *out_type_, x.shape}};
    }
    if (type_ == kQuant) return {{DType::kInt8, x.shape}};
    if (!IsBinary(type_)) return {x};
    Check(IsFloatStorage(in[1].dtype), type(), "y (input 1) must be a float tensor, found {}", ShortName(in[1].dtype));
    return {{x.dtype, Broadcast(x.shape, in[1].shape)}};
  }

  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override {
    std::vector<const Tensor*> ins;
    for (const Tensor& t : in) ins.push_back(&t);
    ctx.RunKernel(KernelName(type_), ins, {&out[0]}, [&] {
      if (type_ == kCast && IsInteger(in[0].dtype) && IsInteger(out[0].dtype)) return CastIntegers(in[0], out[0]);
      const int64_t n = out[0].numel();
      std::vector<float> y(static_cast<size_t>(n));
      if (IsBinary(type_)) {
        Binary(in[0], in[1], out[0].shape, y.data());
      } else if (IsPerChannel(type_)) {
        std::vector<float> x = LoadF32(in[0]), s = LoadF32(in[1]), o = LoadF32(in[2]);
        const int64_t c = s.size();
        for (int64_t i = 0; i < n; ++i) {
          const float off = o.empty() ? 0.0f : o[i % c];
          y[i] = type_ == kQuantPerChannel ? std::nearbyint(x[i] / s[i % c]) + off : (x[i] - off) * s[i % c];
        }
      } else {
        std::vector<float> x = LoadF32(in[0]);
        for (int64_t i = 0; i < n; ++i) y[i] = Unary(x[i]);
      }
      StoreF32(y.data(), y.size(), out[0]);
    });
  }

 private:
  float Unary(float x) const {
    switch (type_) {
      case kCast: return IsFloating(*out_type_) ? x : std::trunc(x);
      case kMuls: return x * muls_;
      case kCos: return std::cos(x);
      case kSin: return std::sin(x);
      case kNeg: return -x;
      default: return std::nearbyint(x / scale_) + offset_;  // kQuant; StoreF32 saturates
    }
  }

  std::vector<int64_t> Broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) const {
    std::vector<int64_t> out(std::max(a.size(), b.size()), 1);
    for (size_t i = 0; i < out.size(); ++i) {
      const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
      const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
      Check(da == db || da == 1 || db == 1, type(), "shapes {} and {} do not broadcast", ShapeStr(a), ShapeStr(b));
      out[i] = da == 1 ? db : da;
    }
    return out;
  }

  // Strides of `s` (right-aligned to `out`'s rank) with 0 on broadcast dims.
  static std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& s, const std::vector<int64_t>& out) {
    std::vector<int64_t> st(out.size(), 0);
    int64_t stride = 1;
    for (size_t i = s.size(); i-- > 0;) {
      st[i + out.size() - s.size()] = s[i] == 1 ? 0 : stride;
      stride *= s[i];
    }
    return st;
  }

  void Binary(const Tensor& a, const Tensor& b, const std::vector<int64_t>& shape, float* y) const {
    std::vector<float> av = LoadF32(a), bv = LoadF32(b);
    const int64_t n = Numel(shape);
    auto op = [this](float u, float v) {
      switch (type_) {
        case kAdd: return u + v;
        case kMul: return u * v;
        case kSub: return u - v;
        default: return u / v;
      }
    };
    if (a.shape == shape && b.shape == shape) {
      for (int64_t i = 0; i < n; ++i) y[i] = op(av[i], bv[i]);
      return;
    }
    const auto sa = BroadcastStrides(a.shape, shape), sb = BroadcastStrides(b.shape, shape);
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, ia = 0, ib = 0;
      for (size_t d = shape.size(); d-- > 0;) {
        const int64_t idx = rem % shape[d];
        rem /= shape[d];
        ia += idx * sa[d];
        ib += idx * sb[d];
      }
      y[i] = op(av[ia], bv[ib]);
    }
  }

  static void CastIntegers(const Tensor& x, const Tensor& y) {
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t v = IntAt(x, i);
      switch (y.dtype) {
        case DType::kInt8: Mutable<int8_t>(y)[i] = static_cast<int8_t>(v); break;
        case DType::kUInt8: Mutable<uint8_t>(y)[i] = static_cast<uint8_t>(v); break;
        case DType::kInt16: Mutable<int16_t>(y)[i] = static_cast<int16_t>(v); break;
        case DType::kInt32: Mutable<int32_t>(y)[i] = static_cast<int32_t>(v); break;
        case DType::kInt64: Mutable<int64_t>(y)[i] = v; break;
        default: Fail("ElewiseOperation", "cannot cast integers to {}", ShortName(y.dtype));
      }
    }
  }

  int type_ = 0;
  float muls_ = 0, scale_ = 1, offset_ = 0;
  std::optional<DType> out_type_;
};

}  // namespace

std::unique_ptr<Operation> CreateElewise(const Json& param) { return std::make_unique<ElewiseOp>(param); }

}  // namespace ait::engine::ops
