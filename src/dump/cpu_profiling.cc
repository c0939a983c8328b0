// CPU profiling post-processing: the original's merge and a Chrome trace.
#include "ait/cpu_profiling.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "ait/probe_env.h"

namespace ait {
namespace fs = std::filesystem;

namespace {

// Whether `s` contains `key:` followed by at least one digit.
bool HasNumericField(const std::string& s, std::string_view key) {
  for (size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + 1)) {
    const size_t v = at + key.size();
    if (v < s.size() && s[v] == ':' && v + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[v + 1])))
      return true;
  }
  return false;
}

bool IsExecute(const std::string& st) { return HasNumericField(st, "kernelExecuteTime"); }
bool IsSetup(const std::string& st) { return !IsExecute(st) && HasNumericField(st, "runnerSetupTime"); }

// "a:1, b:2" -> {"a": 1, "b": 2} (numbers where the value is one, else the text).
nlohmann::ordered_json Fields(const std::string& st) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  std::istringstream in(st);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t b = item.find_first_not_of(' ');
    if (b == std::string::npos) continue;
    item = item.substr(b);
    const size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0) continue;
    const std::string key = item.substr(0, colon), value = item.substr(colon + 1);
    if (!value.empty() && value.find_first_not_of("0123456789") == std::string::npos && value.size() < 19)
      j[key] = std::stoll(value);
    else
      j[key] = value;
  }
  return j;
}

int64_t Field(const nlohmann::ordered_json& fields, const char* key) {
  auto it = fields.find(key);
  return it != fields.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path.string(), "cannot read the statistics file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The execute count n of `operation_statistic_<n>.txt`, or -1.
int64_t CountOf(const fs::path& p) {
  static const std::string kPrefix = probe_env::kStatisticFilePrefix;
  const std::string name = p.filename().string();
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string rest = name.substr(kPrefix.size());
  const size_t digits = rest.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string::npos || rest.substr(digits) != probe_env::kStatisticFileExtension ||
      digits > 18)
    return -1;
  return std::stoll(rest.substr(0, digits));
}

}  // namespace

std::vector<StatisticLine> ParseStatisticLines(const std::string& text) {
  std::vector<StatisticLine> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() < 3 || line[0] != '[') continue;
    const size_t close = line.find(']');
    if (close == std::string::npos || close + 1 >= line.size() || line[close + 1] != ':') continue;
    const std::string name = line.substr(1, close - 1);
    if (!std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
      continue;
    lines.push_back({name, line.substr(close + 2)});
  }
  return lines;
}

std::string MergeStatistics(const std::vector<StatisticLine>& lines) {
  std::vector<std::string> order;
  std::map<std::string, std::pair<std::string, std::string>> latest;  // op -> (execute, setup)
  for (const auto& l : lines) {
    auto [it, fresh] = latest.try_emplace(l.op_name);
    if (fresh) order.push_back(l.op_name);
    if (IsExecute(l.statistics)) it->second.first = l.statistics;
    else if (IsSetup(l.statistics)) it->second.second = l.statistics;
  }
  std::string out;
  for (const auto& name : order) {
    const auto& [execute, setup] = latest[name];
    out += name + ":\n[execute] " + execute + "\n[setup] " + setup + "\n\n";
  }
  return out;
}

std::vector<fs::path> FindStatisticFiles(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const int64_t n = CountOf(it->path());
    if (n >= 0) found.emplace_back(n, it->path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> files;
  for (auto& [n, p] : found) files.push_back(std::move(p));
  return files;
}

size_t WriteChromeTrace(const std::vector<fs::path>& files, const fs::path& out, int64_t pid) {
  struct Open {
    std::string name;
    int64_t start, child_cursor;
    nlohmann::ordered_json setup;
  };
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  int64_t cursor = 0;
  for (const fs::path& file : files) {
    const int64_t count = CountOf(file);
    std::vector<Open> stack;
    auto emit = [&](const std::string& name, int64_t start, int64_t dur, const nlohmann::ordered_json& setup,
                    const nlohmann::ordered_json& execute) {
      nlohmann::ordered_json args = {{"executeCount", count}};
      if (!execute.empty()) args["execute"] = execute;
      if (!setup.empty()) args["setup"] = setup;
      events.push_back({{"name", name}, {"cat", "operation"}, {"ph", "X"}, {"ts", start}, {"dur", dur},
                        {"pid", pid}, {"tid", 0}, {"args", args}});
    };
    for (const auto& line : ParseStatisticLines(ReadText(file))) {
      if (IsSetup(line.statistics)) {
        const int64_t start = stack.empty() ? cursor : stack.back().child_cursor;
        stack.push_back({line.op_name, start, start, Fields(line.statistics)});
      } else if (IsExecute(line.statistics)) {
        const auto fields = Fields(line.statistics);
        const int64_t total = Field(fields, "totalTime");
        auto it = std::find_if(stack.rbegin(), stack.rend(), [&](const Open& o) { return o.name == line.op_name; });
        if (it == stack.rend()) {  // an execute line with no setup line: place it at the cursor
          const int64_t start = stack.empty() ? cursor : stack.back().child_cursor;
          emit(line.op_name, start, total, {}, fields);
          (stack.empty() ? cursor : stack.back().child_cursor) = start + total;
          continue;
        }
        // Close it (and anything opened inside it that never closed).
        const Open open = *it;
        stack.erase(std::prev(it.base()), stack.end());
        const int64_t end = open.start + std::max(total, open.child_cursor - open.start);
        emit(open.name, open.start, end - open.start, open.setup, fields);
        (stack.empty() ? cursor : stack.back().child_cursor) = end;
      }
    }
    for (const Open& o : stack) cursor = std::max(cursor, o.child_cursor);  // unclosed: keep time moving
  }
  const nlohmann::ordered_json trace = {
      {"traceEvents", events},
      {"displayTimeUnit", "ms"},
      {"otherData",
       {{"source", "ait llm dump --type cpu_profiling"},
        {"note", "timeline rebuilt from per-operation durations (totalTime, µs): the probe records no timestamps"}}}};
  const std::string text = trace.dump();
  WriteFileAtomically(out.string(), [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
  return events.size();
}

void MergeStatisticFiles(const std::vector<fs::path>& files) {
  for (const fs::path& file : files) {
    const std::string merged = MergeStatistics(ParseStatisticLines(ReadText(file)));
    WriteFileAtomically(file.string(), [&](std::FILE* f) { std::fwrite(merged.data(), 1, merged.size(), f); });
  }
}

}  // namespace ait
