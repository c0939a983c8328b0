// ATB operation params (JSON objects with ATB's field names), read with errors that name the
// operation and the field: "<Type>: param normParam.epsilon: expected a number, found \"x\"".
// Used by the reference engine's operations and by opcheck's float64 references, so both
// accept the same spellings (ATB enums as integers or names, aclDataType codes or names).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ait/dtype.h"

namespace ait {

// Reads an ATB param object with errors that name the op and the field. Absent and null
// fields take the default; ATB enums accept the integer value or a name string.
class AtbParams {
 public:
  AtbParams(std::string op, const nlohmann::json& j, std::string prefix = "");
  AtbParams Sub(std::string_view field) const;  // nested object, e.g. "normParam"
  bool Has(std::string_view field) const;
  int64_t Int(std::string_view field, int64_t def) const;
  double Float(std::string_view field, double def) const;
  bool Bool(std::string_view field, bool def) const;
  // Enum by integer or by case-insensitive name ("ACTIVATION_SWISH" or "swish").
  int Enum(std::string_view field, int def, std::initializer_list<std::pair<std::string_view, int>> names) const;
  std::vector<int64_t> IntList(std::string_view field) const;
  // An aclDataType code or dtype name; nullopt for ACL_DT_UNDEFINED (-1) or absent.
  std::optional<DType> DataType(std::string_view field) const;
  [[noreturn]] void Bad(std::string_view field, std::string_view why) const;
  const std::string& op() const { return op_; }

 private:
  const nlohmann::json* Field(std::string_view field) const;
  std::string op_;
  nlohmann::json j_;
  std::string prefix_;
};

}  // namespace ait
