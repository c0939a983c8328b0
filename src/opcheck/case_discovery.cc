// Finding opcheck's operations in a dump folder or an operation CSV (FORMATS §8.1).
#include "opcheck/case_discovery.h"

#include <algorithm>
#include <cctype>
#include <regex>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "ait/text.h"
#include "compare/pairing/dump_layout.h"

namespace ait::opcheck {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kParamFile = "op_param.json";
constexpr std::string_view kAfterFolder = "after";
constexpr uintmax_t kMaxParamBytes = 16u << 20;  // an op_param.json; larger is refused
constexpr uintmax_t kMaxCsvBytes = 1ull << 30;

bool IsIdPath(std::string_view id) {
  static const std::regex re(R"([0-9]+(_[0-9]+)*)");
  return std::regex_match(id.begin(), id.end(), re);
}

// `{id}_{Op}` subfolders of `dir` in execution order (numeric id).
std::vector<std::pair<fs::path, std::pair<std::string, std::string>>> OperationFolders(const fs::path& dir) {
  std::vector<std::pair<fs::path, std::pair<std::string, std::string>>> out;
  for (const fs::path& sub : Subfolders(dir)) {
    std::string id, type;
    if (SplitIdFolder(sub.filename().string(), &id, &type)) out.push_back({sub, {id, type}});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return DigitsValue(a.second.first) < DigitsValue(b.second.first);
  });
  return out;
}

bool IsFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}
bool IsFolder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::string ReadSmallFile(const fs::path& file, uintmax_t limit) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(file, ec);
  if (ec) Fail(file.string(), "cannot read ({})", ec.message());
  if (size > limit) Fail(file.string(), "is {} bytes, more than the {} an opcheck input may have", size, limit);
  auto mapped = MappedFile::Open(file.string());
  return std::string(reinterpret_cast<const char*>(mapped->data()), mapped->size());
}

void LoadParam(CaseSpec& spec) {
  try {
    ReadParamText(spec, ReadSmallFile(spec.case_dir / kParamFile, kMaxParamBytes));
  } catch (const Error& e) {
    spec.param_error = e.what();
  }
}

// An operation folder whose children are operations (with params) is a graph: its nodes are
// checked, not the graph.
bool IsGraph(const fs::path& dir) {
  for (const auto& child : OperationFolders(dir))
    if (IsFile(child.first / kParamFile)) return true;
  return false;
}

CaseSpec MakeSpec(const fs::path& dir, const std::string& op_id, const std::string& type, const std::string& token) {
  CaseSpec spec;
  spec.token = token;
  spec.op_id = op_id;
  spec.op_type = type;
  spec.case_dir = dir;
  spec.tensor_dir = dir / kAfterFolder;
  LoadParam(spec);
  return spec;
}

// The walk below one token folder. `prefix` is the op id of `dir` ("" at the token folder).
void Walk(const fs::path& dir, const std::string& prefix, const std::string& token, int depth,
          const CaseFilter& filter, Discovery& out) {
  if (depth > kMaxDumpDepth) Fail(dir.string(), "is nested more than {} folders deep", kMaxDumpDepth);
  for (const auto& [sub, id_type] : OperationFolders(dir)) {
    const auto& [id, type] = id_type;
    const std::string op_id = prefix.empty() ? id : prefix + "_" + id;
    const bool has_param = IsFile(sub / kParamFile), has_after = IsFolder(sub / kAfterFolder);
    if (has_param && IsGraph(sub)) {
      ++out.graphs;
    } else if (has_param && has_after) {
      if (filter.Matches(op_id, type)) {
        if (out.cases.size() >= kMaxOperationFolders)
          Fail(dir.string(), "holds more than {} operations", kMaxOperationFolders);
        out.cases.push_back(MakeSpec(sub, op_id, type, token));
      }
      continue;  // kernels below an operation are not operations
    } else if (has_param) {
      ++out.without_after;
      continue;
    } else if (has_after) {  // an operation dumped without its param (kernels below cases are not walked)
      ++out.without_param;
      continue;
    }
    Walk(sub, op_id, token, depth + 1, filter, out);
  }
}

// The token folder at or above `p` (a digits folder whose parent is a {dev}_{pid} folder), and
// the op id of `p` below it; empty when there is none.
fs::path TokenFolderAbove(const fs::path& p, std::string* op_id) {
  std::vector<std::string> ids;
  for (fs::path at = p; !at.empty() && at != at.root_path(); at = at.parent_path()) {
    const std::string name = at.filename().string();
    if (IsDigits(name) && IsProcessFolder(at.parent_path().filename().string())) {
      std::reverse(ids.begin(), ids.end());
      op_id->clear();
      for (const auto& id : ids) {
        if (!op_id->empty()) *op_id += '_';
        *op_id += id;
      }
      return at;
    }
    std::string id, type;
    if (!SplitIdFolder(name, &id, &type)) return {};  // not inside a token folder's operations
    ids.push_back(id);
  }
  return {};
}

}  // namespace

bool CaseFilter::Matches(std::string_view op_id, std::string_view op_type) const {
  if (!ids.empty()) {
    bool any = false;
    for (const std::string& id : ids)
      if (op_id == id || (op_id.size() > id.size() && op_id.substr(0, id.size()) == id && op_id[id.size()] == '_')) {
        any = true;
        break;
      }
    if (!any) return false;
  }
  if (!names.empty()) {
    const std::string type = AsciiLower(op_type);
    bool any = false;
    for (const std::string& n : names)
      if (type.find(AsciiLower(n)) != std::string::npos) {
        any = true;
        break;
      }
    if (!any) return false;
  }
  return true;
}

std::vector<std::string> ParseIdList(const std::vector<std::string>& raw) {
  std::vector<std::string> out = SplitCommaList(raw);
  for (const std::string& id : out)
    if (!IsIdPath(id) || id.size() > 200)
      Fail("-ids", "'{}' is not an operation id (numbers joined by '_', e.g. 24_1)", id);
  return out;
}

void ReadParamText(CaseSpec& spec, std::string text) {
  spec.param_text = std::move(text);
  spec.param_error.clear();
  const std::string trimmed = Trim(spec.param_text);
  if (trimmed.empty()) {  // an operation without params dumps an empty object or nothing
    spec.param = nlohmann::json::object();
    return;
  }
  int depth = 0;
  bool too_deep = false;
  auto parsed = nlohmann::json::parse(
      trimmed,
      [&](int d, nlohmann::json::parse_event_t, nlohmann::json&) {
        depth = d;
        if (d > kMaxJsonNesting) too_deep = true;
        return !too_deep;
      },
      false);
  if (too_deep) {
    spec.param_error = fmt::format("op_param.json nests deeper than {} levels", kMaxJsonNesting);
  } else if (parsed.is_discarded()) {
    spec.param_error = "op_param.json is not valid JSON";
  } else if (!parsed.is_object()) {
    spec.param_error = "op_param.json is not a JSON object";
  } else {
    spec.param = std::move(parsed);
  }
}

Discovery DiscoverCases(const fs::path& input, const CaseFilter& filter) {
  std::error_code ec;
  if (!IsFolder(input)) Fail(input.string(), "not a folder");
  fs::path p = fs::weakly_canonical(fs::absolute(input, ec), ec);
  Discovery out;
  std::string op_id;
  if (fs::path token = TokenFolderAbove(p, &op_id); !token.empty()) {
    out.base = token;
    const std::string token_name = token.filename().string();
    if (op_id.empty()) {
      Walk(p, "", token_name, 0, filter, out);
      return out;
    }
    // An operation folder: itself when it is a leaf operation, else the operations below it.
    std::string id, type;
    SplitIdFolder(p.filename().string(), &id, &type);
    if (IsFile(p / kParamFile) && IsFolder(p / kAfterFolder) && !IsGraph(p)) {
      if (filter.Matches(op_id, type)) out.cases.push_back(MakeSpec(p, op_id, type, token_name));
      return out;
    }
    Walk(p, op_id, token_name, 0, filter, out);
    return out;
  }
  const DumpLocation loc = LocateDump(p);
  if (loc.kind == DumpKind::kTorch)
    Fail(input.string(), "is a torch dump (torch_tensors/): opcheck checks ATB operations, dumped by 'ait llm dump'");
  if (loc.tokens.empty() || !IsProcessFolder(loc.process_dir.filename().string()))
    Fail(input.string(), "is not a folder of an ATB tensor dump (ait_dump/tensors/{{dev}}_{{pid}}/{{token}}/...)");
  out.base = loc.process_dir;
  for (const std::string& token : loc.tokens) Walk(loc.process_dir / token, "", token, 0, filter, out);
  return out;
}

std::optional<CaseSpec> CaseAt(const fs::path& dir) {
  std::string id, type;
  if (!SplitIdFolder(dir.filename().string(), &id, &type)) return std::nullopt;
  if (!IsFile(dir / kParamFile) || !IsFolder(dir / kAfterFolder) || IsGraph(dir)) return std::nullopt;
  std::string op_id;
  const fs::path token = TokenFolderAbove(dir, &op_id);
  return MakeSpec(dir, token.empty() ? id : op_id, type, token.empty() ? "" : token.filename().string());
}

std::vector<CsvOperation> ParseOperationCsv(std::string_view text, std::string_view where) {
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
    start = nl + 1;
  }
  if (lines.empty()) Fail(where, "is empty: an operation CSV starts with its header row (CaseNum|CaseName|OpName|...)");
  auto split = [](std::string_view line) {
    std::vector<std::string_view> cells;
    for (size_t start = 0;;) {
      size_t bar = line.find('|', start);
      cells.push_back(line.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start));
      if (bar == std::string_view::npos) break;
      start = bar + 1;
    }
    return cells;
  };
  const auto header = split(lines[0]);
  size_t name_col = header.size(), param_col = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "OpName") name_col = i;
    if (header[i] == "OpParam") param_col = i;
  }
  if (name_col == header.size() || param_col == header.size() || name_col > param_col)
    Fail(where, "line 1: the header has no OpName and OpParam columns (not an operation CSV of 'dump --type op')");
  std::vector<CsvOperation> out;
  for (size_t li = 1; li < lines.size(); ++li) {
    const auto cells = split(lines[li]);
    // A param holding '|' spans several cells: the columns after it count from the end.
    if (cells.size() < header.size())
      Fail(where, "line {}: {} cells where the header has {}", li + 1, cells.size(), header.size());
    const size_t extra = cells.size() - header.size();
    std::string param;
    for (size_t i = param_col; i <= param_col + extra; ++i) {
      if (i > param_col) param += '|';
      param += cells[i];
    }
    out.push_back({std::string(cells[name_col]), std::move(param)});
  }
  return out;
}

Discovery CasesFromOperationCsv(const fs::path& csv, const fs::path& input, const CaseFilter& filter) {
  if (!IsFile(csv)) Fail(csv.string(), "not a file (-c takes an operation_tensors_{{n}}.csv of 'ait llm dump --type op')");
  const std::vector<CsvOperation> ops = ParseOperationCsv(ReadSmallFile(csv, kMaxCsvBytes), csv.string());
  if (!IsFolder(input)) Fail(input.string(), "not a folder");
  // The token folder: `input` itself or one at or above it, else token n of the file name.
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(input, ec), ec);
  std::string ignored;
  fs::path token = TokenFolderAbove(p, &ignored);
  if (token.empty()) {
    static const std::regex name_re(R"(operation_tensors_([0-9]+)\.csv)");
    std::smatch m;
    const std::string file = csv.filename().string();
    const DumpLocation loc = LocateDump(p);
    if (!std::regex_match(file, m, name_re))
      Fail(csv.string(), "the file name does not say which token it describes (operation_tensors_{{n}}.csv): "
                         "give -i the token folder");
    token = loc.process_dir / m[1].str();
    if (!IsFolder(token))
      Fail(input.string(), "has no token folder {} for {}", m[1].str(), csv.filename().string());
  }
  Discovery out;
  out.base = token;
  for (const CsvOperation& op : ops) {
    const size_t us = op.name.find('_');
    if (us == std::string::npos || !IsIdPath(op.name.substr(us + 1)))
      Fail(csv.string(), "OpName '{}' is not <Type>_<id> (e.g. LinearOperation_1_3)", op.name);
    CaseSpec spec;
    spec.token = token.filename().string();
    spec.op_type = op.name.substr(0, us);
    spec.op_id = op.name.substr(us + 1);
    if (!filter.Matches(spec.op_id, spec.op_type)) continue;
    // The operation's folder: one `{id}_{Type}` level per id.
    fs::path dir = token;
    size_t start = 0;
    bool found = true;
    while (found && start <= spec.op_id.size()) {
      size_t end = spec.op_id.find('_', start);
      if (end == std::string::npos) end = spec.op_id.size();
      const std::string id = spec.op_id.substr(start, end - start);
      found = false;
      for (const auto& [sub, id_type] : OperationFolders(dir))
        if (id_type.first == id) {
          dir = sub;
          found = true;
          break;
        }
      start = end + 1;
    }
    spec.case_dir = found ? dir : token / ("(no folder for operation " + spec.op_id + ")");
    spec.tensor_dir = spec.case_dir / kAfterFolder;
    ReadParamText(spec, op.param);
    out.cases.push_back(std::move(spec));
  }
  return out;
}

}  // namespace ait::opcheck
