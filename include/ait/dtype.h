// Element types the toolkit reads and writes, with their names in every format it meets.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ait {

enum class DType : uint8_t {
  kFloat32,
  kFloat16,
  kBFloat16,
  kFloat64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUInt8,
  kUInt16,
  kUInt32,
  kUInt64,
  kBool,
  kComplex64,  // readable and writable, not comparable (no float conversion)
};

inline constexpr int kNumDTypes = 14;

// Bytes per element.
size_t ItemSize(DType t);
// Whether ConvertToFloat32/64 accepts this type (everything but complex).
bool IsConvertible(DType t);
bool IsFloating(DType t);
// The name torch prints for the dtype ("torch.float16"); used in CSV reports.
std::string_view TorchName(DType t);
// Short name for messages and tables ("float16", "bfloat16", "int8", ...).
std::string_view ShortName(DType t);
// Parses a short name or a torch name ("fp16", "float16", "torch.float16", "bf16", ...).
std::optional<DType> ParseDTypeName(std::string_view name);

// ATB / aclDataType codes (FORMATS.md section 1.4).
std::optional<DType> DTypeFromAtbCode(int code);
int AtbCode(DType t);
// The dtype string ATB's probe writes in IO CSVs ("float", "float16", "bf16", "int64", ...).
std::string_view AtbDtypeName(DType t);

// Host byte order is little endian on every platform the toolkit supports.
static_assert(std::endian::native == std::endian::little, "ait-llm assumes a little-endian host");

}  // namespace ait
