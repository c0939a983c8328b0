// Folder names, locations and JSON files of a dump: the layout rules every pairing strategy reads.
#include "compare/pairing/dump_layout.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <regex>

#include "ait/error.h"
#include "ait/tensor_io.h"

namespace ait {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string FirstJsonIn(const fs::path& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (!e.is_symlink(ec) && e.is_regular_file(ec) && e.path().extension() == ".json") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files.empty() ? std::string() : files.front();
}

bool LooksLikeTorchTokenFolder(const fs::path& token_dir) {
  for (const fs::path& sub : Subfolders(token_dir))
    if (sub.filename().string().starts_with("root")) return true;
  return false;
}

bool LooksLikeAtbTokenFolder(const fs::path& token_dir) {
  std::string id, type;
  for (const fs::path& sub : Subfolders(token_dir))
    if (SplitIdFolder(sub.filename().string(), &id, &type)) return true;
  return false;
}

bool HasTensorFiles(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && IsTensorFile(e.path().string())) return true;
  return false;
}

// Parses `file`; on failure returns nullopt and sets `error` to the reason.
std::optional<json> ParseJsonFile(const fs::path& file, std::string_view what, std::string* error) {
  std::error_code ec;
  uintmax_t size = fs::file_size(file, ec);
  if (ec) {
    *error = fmt::format("{}: cannot read the {} ({})", file.string(), what, ec.message());
    return std::nullopt;
  }
  if (size > kMaxJsonBytes) {
    *error = fmt::format("{}: the {} is larger than {} bytes", file.string(), what, kMaxJsonBytes);
    return std::nullopt;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *error = fmt::format("{}: cannot open the {}", file.string(), what);
    return std::nullopt;
  }
  // Copying or comparing a json recurses once per level: refuse deep nesting while parsing.
  bool too_deep = false;
  const json::parser_callback_t limit_depth = [&](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonNesting)
      too_deep = true;
    return !too_deep;
  };
  json j = json::parse(in, limit_depth, /*allow_exceptions=*/false);
  if (too_deep) {
    *error = fmt::format("{}: the {} is nested more than {} levels deep", file.string(), what, kMaxJsonNesting);
    return std::nullopt;
  }
  if (j.is_discarded()) {
    *error = fmt::format("{}: the {} is not valid JSON", file.string(), what);
    return std::nullopt;
  }
  return j;
}

}  // namespace

bool IsDigits(std::string_view s) {
  return !s.empty() && s.size() <= kMaxDigits &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int64_t DigitsValue(std::string_view s) {
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool IsProcessFolder(std::string_view name) {
  static const std::regex re(R"([A-Za-z]*[0-9]*_[0-9]+)");
  return std::regex_match(name.begin(), name.end(), re);
}

bool SplitIdFolder(std::string_view name, std::string* id, std::string* type) {
  size_t us = name.find('_');
  if (us == std::string_view::npos || us + 1 >= name.size() || !IsDigits(name.substr(0, us))) return false;
  *id = std::string(name.substr(0, us));
  *type = std::string(name.substr(us + 1));
  return true;
}

std::vector<fs::path> Subfolders(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (!e.is_symlink(ec) && e.is_directory(ec)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

bool TokenLess(const std::string& a, const std::string& b) { return a.size() != b.size() ? a.size() < b.size() : a < b; }

json ReadJsonFile(const fs::path& file, std::string_view what) {
  std::string error;
  std::optional<json> j = ParseJsonFile(file, what, &error);
  if (!j) throw Error(error);
  return std::move(*j);
}

std::optional<json> TryReadJsonFile(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  std::string error;
  return ParseJsonFile(file, "JSON file", &error);
}

DumpLocation LocateDump(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) Fail(path.string(), "not a folder");
  fs::path p = fs::absolute(path, ec).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  for (const char* top : {"ait_dump", "msit_dump"})
    if (fs::is_directory(p / top, ec)) {
      p /= top;
      break;
    }
  const bool atb = fs::is_directory(p / "tensors", ec), torch = fs::is_directory(p / "torch_tensors", ec);
  if (atb && torch) Fail(p.string(), "holds both an ATB dump (tensors/) and a torch dump (torch_tensors/): name one of them");
  if (atb || torch) p /= atb ? "tensors" : "torch_tensors";
  auto digit_children = [](const fs::path& dir) {
    std::vector<std::string> out;
    for (const fs::path& sub : Subfolders(dir)) {
      std::string name = sub.filename().string();
      if (IsDigits(name)) out.push_back(name);
    }
    std::sort(out.begin(), out.end(), TokenLess);
    return out;
  };
  std::vector<std::string> tokens = digit_children(p);
  if (tokens.empty()) {
    std::vector<fs::path> procs;
    for (const fs::path& sub : Subfolders(p))
      if (IsProcessFolder(sub.filename().string())) procs.push_back(sub);
    if (procs.size() > 1) {
      std::string names;
      for (const auto& s : procs) names += (names.empty() ? "" : ", ") + s.filename().string();
      Fail(p.string(), "holds {} process folders ({}): name one of them", procs.size(), names);
    }
    if (procs.size() == 1) {
      p = procs[0];
      tokens = digit_children(p);
    }
  }
  DumpLocation loc;
  if (tokens.empty() && IsDigits(p.filename().string()) && IsProcessFolder(p.parent_path().filename().string())) {
    loc.process_dir = p.parent_path();
    loc.tokens = {p.filename().string()};
    loc.token_given = true;
  } else {
    loc.process_dir = p;
    loc.tokens = std::move(tokens);
  }
  const std::string parent = loc.process_dir.parent_path().filename().string();
  const fs::path first_token = loc.tokens.empty() ? fs::path() : loc.process_dir / loc.tokens.front();
  if (fs::is_regular_file(loc.process_dir / kTorchModelTreeFile, ec)) {
    loc.kind = DumpKind::kTorch;
    loc.topology = loc.process_dir / kTorchModelTreeFile;
  } else if (parent == "torch_tensors" || (!first_token.empty() && LooksLikeTorchTokenFolder(first_token))) {
    loc.kind = DumpKind::kTorch;
  } else if (parent == "tensors" || (!first_token.empty() && LooksLikeAtbTokenFolder(first_token))) {
    loc.kind = DumpKind::kAtb;
    if (IsProcessFolder(loc.process_dir.filename().string())) loc.topology = FindAtbModelJson(loc.process_dir);
  }
  return loc;
}

fs::path TensorRoot(fs::path root) {
  if (fs::is_directory(root / "ait_dump")) root /= "ait_dump";
  for (const char* step : {"tensors", "torch_tensors"}) {
    if (fs::is_directory(root / step)) {
      root /= step;
      break;
    }
  }
  auto subs = Subfolders(root);
  if (subs.size() == 1 && IsProcessFolder(subs[0].filename().string()) && !HasTensorFiles(root)) root = subs[0];
  return root;
}

fs::path FindAtbModelJson(const fs::path& tensors_root) {
  std::string pid;
  for (const auto& part : tensors_root)
    if (IsProcessFolder(part.string())) pid = part.string().substr(part.string().rfind('_') + 1);
  std::error_code ec;
  fs::path p = tensors_root;
  // `model/` sits beside `tensors/`: at most three levels above a token folder. Looking
  // further would pick up unrelated folders.
  for (int up = 0; up < 4; ++up, p = p.parent_path()) {
    const fs::path model = p / "model";
    if (fs::is_directory(model, ec)) {
      if (!pid.empty() && fs::is_directory(model / pid, ec)) {
        std::string f = FirstJsonIn(model / pid);
        if (!f.empty()) return f;
      }
      const std::vector<fs::path> subs = Subfolders(model);
      return subs.size() == 1 ? fs::path(FirstJsonIn(subs[0])) : fs::path(FirstJsonIn(model));
    }
    if (p == p.parent_path()) break;
  }
  return {};
}

std::string TorchModuleFolder(const std::string& name) {
  // As the torch dump writes it: '/' and NUL become '_', and "", ".", ".." become "_".
  std::string s = name;
  std::replace(s.begin(), s.end(), '/', '_');
  std::replace(s.begin(), s.end(), '\0', '_');
  if (s.empty() || s == "." || s == "..") return "_";
  return s;
}

}  // namespace ait
