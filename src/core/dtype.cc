// DType properties and name tables.
#include "ait/dtype.h"

#include "ait/text.h"

#include <array>
#include <string>

namespace ait {
namespace {

struct DTypeInfo {
  DType type;
  size_t itemsize;
  std::string_view torch_name;
  std::string_view short_name;
  int atb_code;               // -1 where ATB has no code
  std::string_view atb_name;  // the probe's dtype string (FORMATS.md 1.4)
};

constexpr std::array<DTypeInfo, kNumDTypes> kInfo = {{
    {DType::kFloat32, 4, "torch.float32", "float32", 0, "float"},
    {DType::kFloat16, 2, "torch.float16", "float16", 1, "float16"},
    {DType::kBFloat16, 2, "torch.bfloat16", "bfloat16", 27, "bf16"},
    {DType::kFloat64, 8, "torch.float64", "float64", 11, "double"},
    {DType::kInt8, 1, "torch.int8", "int8", 2, "int8"},
    {DType::kInt16, 2, "torch.int16", "int16", 6, "int16"},
    {DType::kInt32, 4, "torch.int32", "int32", 3, "int32"},
    {DType::kInt64, 8, "torch.int64", "int64", 9, "int64"},
    {DType::kUInt8, 1, "torch.uint8", "uint8", 4, "uint8"},
    {DType::kUInt16, 2, "torch.uint16", "uint16", 7, "uint16"},
    {DType::kUInt32, 4, "torch.uint32", "uint32", 8, "uint32"},
    {DType::kUInt64, 8, "torch.uint64", "uint64", 10, "uint64"},
    {DType::kBool, 1, "torch.bool", "bool", 12, "bool"},
    {DType::kComplex64, 8, "torch.complex64", "complex64", 16, "complex64"},
}};

const DTypeInfo& Info(DType t) { return kInfo[static_cast<size_t>(t)]; }

}  // namespace

size_t ItemSize(DType t) { return Info(t).itemsize; }
bool IsConvertible(DType t) { return t != DType::kComplex64; }
bool IsFloating(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}
std::string_view TorchName(DType t) { return Info(t).torch_name; }
std::string_view ShortName(DType t) { return Info(t).short_name; }
int AtbCode(DType t) { return Info(t).atb_code; }
std::string_view AtbDtypeName(DType t) { return Info(t).atb_name; }

std::optional<DType> DTypeFromAtbCode(int code) {
  for (const auto& info : kInfo)
    if (info.atb_code == code) return info.type;
  return std::nullopt;
}

std::optional<DType> ParseDTypeName(std::string_view name) {
  std::string n = AsciiLower(name);
  if (n.rfind("torch.", 0) == 0) n = n.substr(6);
  if (n == "fp32" || n == "float" || n == "f32") return DType::kFloat32;
  if (n == "fp16" || n == "half" || n == "f16") return DType::kFloat16;
  if (n == "bf16") return DType::kBFloat16;
  if (n == "fp64" || n == "double" || n == "f64") return DType::kFloat64;
  if (n == "long") return DType::kInt64;
  if (n == "int") return DType::kInt32;
  for (const auto& info : kInfo)
    if (n == info.short_name) return info.type;
  return std::nullopt;
}

}  // namespace ait
