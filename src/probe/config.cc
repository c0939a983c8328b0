#include "probe/config.h"

#include <cctype>
#include <cstring>
#include <limits>

#include "ait/probe_env.h"

namespace ait::probe {

std::optional<int64_t> ParseInt(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  // Accumulate as a negative number so INT64_MIN fits.
  int64_t value = 0;
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    const int digit = text[i] - '0';
    if (value < (kMin + digit) / 10) return std::nullopt;
    value = value * 10 - digit;
  }
  if (negative) return value;
  if (value == kMin) return std::nullopt;
  return -value;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    if (end == std::string::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::string Trim(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::string AbsoluteDir(const std::string& dir, const std::string& cwd) {
  const std::string full = !dir.empty() && dir[0] == '/' ? dir : cwd + "/" + dir;
  std::vector<std::string> parts;
  for (const std::string& part : Split(full, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out = "/";
  for (const std::string& part : parts) out += part + "/";
  return out;
}

namespace {

// The non-empty, trimmed elements of a comma list; nullopt when the variable is unset or
// holds nothing but separators and spaces (as if the CLI had removed it, which it does for
// an empty -ids). The original keeps empty elements, and an empty ATB_SAVE_TENSOR_RUNNER
// element is a prefix of every name: "self," would select everything.
std::optional<std::vector<std::string>> CommaList(const char* value) {
  if (value == nullptr) return std::nullopt;
  std::vector<std::string> items;
  for (const std::string& part : Split(value, ',')) {
    std::string item = Trim(part);
    if (!item.empty()) items.push_back(std::move(item));
  }
  if (items.empty()) return std::nullopt;
  return items;
}

int64_t IntOr(const char* value, int64_t fallback) {
  if (value == nullptr) return fallback;
  return ParseInt(value).value_or(fallback);
}

std::string Lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Config Config::FromEnv(const EnvLookup& env, const std::string& cwd) {
  Config c;
  const char* out = env(probe_env::kOutputDir);
  std::string raw = out != nullptr && *out != '\0' ? out : "./";
  c.out = AbsoluteDir(raw, cwd);
  c.root = c.out + probe_env::kDumpDir + "/";
  if (out != nullptr && *out != '\0') c.overflow_dir = c.out;
  if (const char* v = env(probe_env::kSubProcInfoSavePath); v != nullptr && *v != '\0')
    c.sub_proc_info_dir = AbsoluteDir(v, cwd);

  if (const char* v = env(probe_env::kDumpType))
    for (const std::string& part : Split(v, '|')) c.dump_types.push_back(Trim(part));
  c.ids = CommaList(env(probe_env::kSaveTensorIds));
  c.runners = CommaList(env(probe_env::kSaveTensorRunner));
  if (const char* v = env(probe_env::kSaveTensorRange)) {
    // Pairs (e0,e1), (e2,e3), ...; a trailing odd element is ignored, as in the original; a
    // pair with an element that is not a number is skipped (the original aborts).
    const std::vector<std::string> parts = Split(v, ',');
    c.ranges.emplace();
    for (size_t i = 0; i + 1 < parts.size(); i += 2) {
      const auto left = ParseInt(parts[i]), right = ParseInt(parts[i + 1]);
      if (left && right) c.ranges->emplace_back(*left, *right);
    }
  }
  c.save_child = IntOr(env(probe_env::kSaveChild), 0) != 0;
  c.save_tensor = IntOr(env(probe_env::kSaveTensor), 0);
  c.save_time = IntOr(env(probe_env::kSaveTensorTime), 1);
  c.save_part = IntOr(env(probe_env::kSaveTensorPart), -1);
  c.save_tiling = IntOr(env(probe_env::kSaveTiling), 0) != 0;
  if (const char* v = env(probe_env::kDeviceId)) c.device_id = ParseInt(v);
  c.log_level = IntOr(env(probe_env::kLogLevel), 1);
  if (const char* v = env(probe_env::kCheckType)) c.overflow_check = std::strchr(v, '1') != nullptr;
  if (const char* v = env(probe_env::kExit)) c.overflow_stop = std::strcmp(v, "1") == 0;
  c.link_duplicates = IntOr(env(probe_env::kLinkDuplicates), 1) != 0;
  if (const char* v = env(probe_env::kLostOutputsFile); v != nullptr && *v != '\0') {
    std::string file = AbsoluteDir(v, cwd);  // normalized, with a '/' appended
    file.pop_back();
    if (!file.empty()) c.lost_outputs_file = file;
  }
  if (const int64_t bytes = IntOr(env(probe_env::kTestMinFreeBytes), -1); bytes >= 0)
    c.min_free_bytes = static_cast<uint64_t>(bytes);
  const int64_t delay = IntOr(env(probe_env::kTestWriteDelayMs), 0);
  c.test_write_delay_ms = delay < 0 ? 0 : delay > 10000 ? 10000 : delay;
  return c;
}

bool Config::DumpTypeEnabled(const std::string& type) const {
  for (const std::string& t : dump_types)
    if (t == type) return true;
  return false;
}

bool Config::IsTensorNeedSave(const std::vector<int64_t>& op_ids, const std::string& optype) const {
  if (!DumpTypeEnabled("tensor")) return false;
  if (!ids && !runners) return true;
  if (ids) {
    std::string query;
    for (size_t i = 0; i < op_ids.size(); ++i) {
      if (i) query += '_';
      query += std::to_string(op_ids[i]);
    }
    for (const std::string& e : *ids) {
      if (query == e) return true;
      // With children: `e` is an ancestor when it is a prefix ending at an id boundary
      // ("2" selects "2_0" and "2_3_5", never "21").
      if (save_child && query.size() > e.size() && query.compare(0, e.size(), e) == 0 && query[e.size()] == '_')
        return true;
    }
  }
  if (runners) {
    // Only the operation name is lower-cased; the CLI lower-cases the list.
    const std::string name = Lower(optype);
    for (const std::string& e : *runners)
      if (name.compare(0, e.size(), e) == 0) return true;
  }
  return false;
}

bool Config::IsExecuteCountInRange(uint64_t execute_count) const {
  if (!ranges) return false;
  for (const auto& [left, right] : *ranges) {
    if (right < 0) continue;
    if ((left <= 0 || static_cast<uint64_t>(left) <= execute_count) && execute_count <= static_cast<uint64_t>(right))
      return true;
  }
  return false;
}

bool Config::DeviceSelected(const std::string& file_path) const {
  if (!device_id) return true;
  const size_t sep = file_path.find('_');
  if (sep == std::string::npos) return false;
  const std::string dev = file_path.substr(0, sep);
  const auto parsed = ParseInt(dev);
  return parsed && *parsed == *device_id && dev.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace ait::probe
