#include "ait/op_mapping.h"

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "ait/error.h"

namespace ait {

OpMapping BuiltinOpMapping() {
  OpMapping m;
  m.exact = {{"LayerNormOperation", "LayerNorm"}, {"LinearOperation", "Linear"}};
  m.custom = {{"CommonLayer_outtensor0", {"GLMBlock_output_0", "BloomBlock_output_0"}},
              {"MlpGateLayerV2", {"BloomMLP", "MLP"}},
              {"RmsNormOperation", {"RMSNorm"}},
              {"SelfAttentionOperation", {"CoreAttention"}}};
  return m;
}

OpMapping LoadOpMapping(const std::string& path) {
  namespace fs = std::filesystem;
  std::string file = fs::is_directory(path) ? (fs::path(path) / "op_mapping_file.json").string() : path;
  std::ifstream in(file);
  if (!in) Fail(file, "cannot open the op mapping file");
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) Fail(file, "not valid JSON");
  if (!j.is_object()) Fail(file, "expected a JSON object of ATB type -> torch type(s)");
  // [A-Za-z0-9_]*, checked by hand: std::regex recurses once per character and overflows the
  // stack on a long key.
  auto is_name = [](const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
  };
  OpMapping m = BuiltinOpMapping();
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    if (!is_name(key)) Fail(file, "key '{}' may contain only letters, digits and '_'", key);
    std::vector<std::string> values;
    auto add = [&](const nlohmann::json& v) {
      if (!v.is_string()) Fail(file, "value of '{}' must be a string or a list of strings", key);
      std::string s = v.get<std::string>();
      if (!is_name(s)) Fail(file, "value '{}' of '{}' may contain only letters, digits and '_'", s, key);
      values.push_back(std::move(s));
    };
    if (value.is_array()) {
      for (const auto& v : value) add(v);
    } else {
      add(value);
    }
    std::erase_if(m.custom, [&](const auto& e) { return e.first == key; });
    m.custom.emplace_back(key, std::move(values));
  }
  return m;
}

}  // namespace ait
