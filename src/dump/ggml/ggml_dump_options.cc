// Reading a ggml dump's configuration (ggml_dump_options.h).
#include "dump/ggml/ggml_dump_options.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "ait/error.h"
#include "ait/probe_env.h"

namespace ait::ggml_dump {
namespace {

using nlohmann::json;

std::vector<std::string> StringList(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end()) return out;
  if (!it->is_array()) throw Error(fmt::format("ggml dump configuration: '{}' must be a list of strings", key));
  for (const json& v : *it) {
    if (!v.is_string()) throw Error(fmt::format("ggml dump configuration: '{}' must be a list of strings", key));
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

DumperOptions ParseOptions(const std::string& json_text, const probe::EnvLookup& env, const std::string& cwd) {
  json j = json::object();
  if (!json_text.empty()) {
    j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) throw Error("ggml dump configuration: not a JSON object");
  }
  static const std::vector<std::string> kKeys = {"output_dir", "token_range", "tensor_part", "node_filter", "perturb",
                                                 "device"};
  for (const auto& item : j.items())
    if (std::find(kKeys.begin(), kKeys.end(), item.key()) == kKeys.end())
      throw Error(fmt::format("ggml dump configuration: unknown key '{}' (known: {})", item.key(),
                              fmt::join(kKeys, ", ")));
  // The keys given become the ATB_* variables they stand for; the others are read from `env`,
  // and the dump's defaults fill what neither sets.
  std::map<std::string, std::string> overlay;
  if (auto it = j.find("output_dir"); it != j.end()) {
    if (!it->is_string() || it->get<std::string>().empty())
      throw Error("ggml dump configuration: 'output_dir' must be a non-empty string");
    overlay[probe_env::kOutputDir] = it->get<std::string>() + "/";
  }
  if (auto it = j.find("token_range"); it != j.end()) {
    std::string ranges;
    const bool ok = it->is_array() && std::all_of(it->begin(), it->end(), [](const json& r) {
      return r.is_array() && r.size() == 2 && r[0].is_number_unsigned() && r[1].is_number_unsigned() &&
             r[0].get<uint64_t>() <= r[1].get<uint64_t>();
    });
    if (!ok) throw Error("ggml dump configuration: 'token_range' must be a list of [first, last] token pairs, first <= last");
    for (const json& r : *it) {
      if (!ranges.empty()) ranges += ',';
      ranges += fmt::format("{},{}", r[0].get<uint64_t>(), r[1].get<uint64_t>());
    }
    overlay[probe_env::kSaveTensorRange] = ranges.empty() ? "0,-1" : ranges;
  }
  if (auto it = j.find("tensor_part"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 2)
      throw Error("ggml dump configuration: 'tensor_part' must be 0 (sources), 1 (outputs) or 2 (both)");
    overlay[probe_env::kSaveTensorPart] = std::to_string(it->get<int64_t>());
  }
  const std::map<std::string, std::string> defaults = {{probe_env::kDumpType, "tensor"},
                                                       {probe_env::kSaveTensor, "1"},
                                                       {probe_env::kSaveTensorPart, "1"},
                                                       {probe_env::kSaveTensorRange, "0,0"}};
  auto lookup = [&](const char* name) -> const char* {
    if (auto o = overlay.find(name); o != overlay.end()) return o->second.c_str();
    if (const char* v = env(name)) return v;
    if (auto d = defaults.find(name); d != defaults.end()) return d->second.c_str();
    return nullptr;
  };
  DumperOptions options;
  options.config = probe::Config::FromEnv(lookup, cwd);
  options.node_filter = StringList(j, "node_filter");
  for (const std::string& glob : options.node_filter)
    if (glob.empty() || (glob.find('[') != std::string::npos && glob.find(']', glob.find('[')) == std::string::npos))
      throw Error(fmt::format("ggml dump configuration: node_filter '{}' is not a glob (empty, or '[' without ']')", glob));
  for (const std::string& spec : StringList(j, "perturb")) {
    try {
      options.perturb.push_back(engine::Perturbation::Parse(spec));
    } catch (const Error& e) {
      throw Error(fmt::format("ggml dump configuration: perturb {}", e.what()));
    }
  }
  if (auto it = j.find("device"); it != j.end()) {
    const bool ok = it->is_string() && !it->get<std::string>().empty() &&
                    std::all_of(it->get_ref<const std::string&>().begin(), it->get_ref<const std::string&>().end(),
                                [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
    if (!ok) throw Error("ggml dump configuration: 'device' must be letters and digits (\"0\", \"cpu\")");
    options.device = it->get<std::string>();
  }
  return options;
}

}  // namespace ait::ggml_dump
