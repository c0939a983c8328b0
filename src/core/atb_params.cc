// AtbParams: ATB param objects read with errors that name the operation and the field.
#include "ait/atb_params.h"

#include <cctype>
#include <cmath>

#include "ait/error.h"
#include "ait/text.h"

namespace ait {

AtbParams::AtbParams(std::string op, const nlohmann::json& j, std::string prefix)
    : op_(std::move(op)), j_(j.is_null() ? nlohmann::json::object() : j), prefix_(std::move(prefix)) {
  if (!j_.is_object()) Fail(op_, "param{}: expected a JSON object, found {}", prefix_.empty() ? "" : " " + prefix_, j_.dump());
}

AtbParams AtbParams::Sub(std::string_view field) const {
  const nlohmann::json* f = Field(field);
  return AtbParams(op_, f ? *f : nlohmann::json::object(), prefix_ + std::string(field) + ".");
}

const nlohmann::json* AtbParams::Field(std::string_view field) const {
  auto it = j_.find(std::string(field));
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool AtbParams::Has(std::string_view field) const { return Field(field) != nullptr; }

void AtbParams::Bad(std::string_view field, std::string_view why) const {
  Fail(op_, "param {}{}: {}", prefix_, field, why);
}

int64_t AtbParams::Int(std::string_view field, int64_t def) const {
  const nlohmann::json* f = Field(field);
  if (!f) return def;
  if (f->is_number_integer()) return f->get<int64_t>();
  if (f->is_boolean()) return f->get<bool>() ? 1 : 0;
  if (f->is_number_float() && std::floor(f->get<double>()) == f->get<double>()) return static_cast<int64_t>(f->get<double>());
  Bad(field, "expected an integer, found " + f->dump());
}

double AtbParams::Float(std::string_view field, double def) const {
  const nlohmann::json* f = Field(field);
  if (!f) return def;
  if (f->is_number()) return f->get<double>();
  Bad(field, "expected a number, found " + f->dump());
}

bool AtbParams::Bool(std::string_view field, bool def) const {
  const nlohmann::json* f = Field(field);
  if (!f) return def;
  if (f->is_boolean()) return f->get<bool>();
  if (f->is_number_integer() && (f->get<int64_t>() == 0 || f->get<int64_t>() == 1)) return f->get<int64_t>() == 1;
  Bad(field, "expected true or false, found " + f->dump());
}

int AtbParams::Enum(std::string_view field, int def, std::initializer_list<std::pair<std::string_view, int>> names) const {
  const nlohmann::json* f = Field(field);
  if (!f) return def;
  std::string known;
  for (const auto& [name, value] : names) known += fmt::format("{}{}={}", known.empty() ? "" : ", ", name, value);
  if (f->is_number_integer()) {
    int64_t v = f->get<int64_t>();
    for (const auto& [name, value] : names)
      if (value == v) return value;
    Bad(field, fmt::format("unsupported value {} (supported: {})", v, known));
  }
  if (f->is_string()) {
    std::string s = AsciiLower(f->get<std::string>());
    for (const auto& [name, value] : names)
      if (AsciiLower(name) == s) return value;
    Bad(field, fmt::format("unsupported value {} (supported: {})", f->dump(), known));
  }
  Bad(field, "expected an integer or a name, found " + f->dump());
}

std::vector<int64_t> AtbParams::IntList(std::string_view field) const {
  const nlohmann::json* f = Field(field);
  if (!f) return {};
  if (!f->is_array()) Bad(field, "expected a list of integers, found " + f->dump());
  std::vector<int64_t> v;
  for (const nlohmann::json& e : *f) {
    if (!e.is_number_integer()) Bad(field, "expected a list of integers, found " + f->dump());
    v.push_back(e.get<int64_t>());
  }
  return v;
}

std::optional<DType> AtbParams::DataType(std::string_view field) const {
  const nlohmann::json* f = Field(field);
  if (!f) return std::nullopt;
  if (f->is_number_integer()) {
    int64_t code = f->get<int64_t>();
    if (code == -1) return std::nullopt;  // ACL_DT_UNDEFINED
    if (auto t = DTypeFromAtbCode(static_cast<int>(code))) return t;
    Bad(field, fmt::format("unknown aclDataType code {}", code));
  }
  if (f->is_string()) {
    std::string s = AsciiLower(f->get<std::string>());
    if (s == "acl_dt_undefined" || s == "undefined") return std::nullopt;
    if (s.rfind("acl_", 0) == 0) s = s.substr(4);
    if (s == "bf16") s = "bfloat16";
    if (auto t = ParseDTypeName(s)) return t;
    Bad(field, "unknown data type " + f->dump());
  }
  Bad(field, "expected an aclDataType code or a dtype name, found " + f->dump());
}

}  // namespace ait
