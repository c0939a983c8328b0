// The torchair dump layouts: graph texts, token folders, GE operator files, FX node files.
#include "compare/pairing/torchair_layout.h"

#include <algorithm>
#include <charconv>
#include <tuple>

#include "ait/error.h"
#include "compare/pairing/dump_layout.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

bool IsTokenName(const std::string& name) {
  return name.size() <= kMaxTokenChars && IsDigits(name);
}

// Regular files below `dir` (symbolic links left out), at most kMaxDumpDepth folders down.
template <typename Visit>
void WalkFiles(const fs::path& dir, Visit visit) {
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) Fail(dir.string(), "cannot list folder ({})", ec.message());
  size_t seen = 0;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) Fail(dir.string(), "cannot list folder ({})", ec.message());
    if (it.depth() > kMaxDumpDepth) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    if (++seen > kMaxTensorFiles) Fail(dir.string(), "more than {} files", kMaxTensorFiles);
    visit(*it);
  }
}

void FindGraphs(const fs::path& dir, int depth, std::vector<fs::path>& out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (!e.is_symlink(ec) && e.is_regular_file(ec) && IsGeGraphFileName(e.path().filename().string()))
      out.push_back(e.path());
  if (depth < kMaxGeGraphDepth)
    for (const fs::path& sub : Subfolders(dir)) FindGraphs(sub, depth + 1, out);
}

// Pre-order, name order: the last folder whose subfolders all look like tokens.
void FindTokenParent(const fs::path& dir, int depth, fs::path& found) {
  const std::vector<fs::path> subs = Subfolders(dir);
  if (!subs.empty() && std::all_of(subs.begin(), subs.end(),
                                   [](const fs::path& s) { return IsTokenName(s.filename().string()); }))
    found = dir;
  if (depth < kMaxDumpDepth)
    for (const fs::path& sub : subs) FindTokenParent(sub, depth + 1, found);
}

// `2.1.20240125031118787351.npy` (after `.INPUT.`) -> {2, 1}: the indices, for ordering (the
// 20-digit timestamp and the extension dropped).
std::vector<uint64_t> Indices(std::string_view tail) {
  if (tail.ends_with(".npy")) tail.remove_suffix(4);
  const size_t last = tail.rfind('.');
  tail = last == std::string_view::npos ? std::string_view() : tail.substr(0, last);
  std::vector<uint64_t> out;
  while (!tail.empty()) {
    const size_t dot = tail.find('.');
    const std::string_view piece = tail.substr(0, dot);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(piece.data(), piece.data() + piece.size(), v);
    out.push_back(ec == std::errc() && p == piece.data() + piece.size() ? v : UINT64_MAX);
    if (dot == std::string_view::npos) break;
    tail.remove_prefix(dot + 1);
  }
  return out;
}

void SortByIndices(std::vector<std::pair<std::vector<uint64_t>, std::string>>& files, std::vector<std::string>& out) {
  std::sort(files.begin(), files.end());
  for (auto& f : files) out.push_back(std::move(f.second));
}

}  // namespace

std::vector<fs::path> FindGeGraphFiles(const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::is_directory(root, ec)) FindGraphs(root, 0, out);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<TokenFolder> TokenFolders(const fs::path& root, bool fx_shift) {
  fs::path parent;
  FindTokenParent(root, 0, parent);
  if (parent.empty()) return {{0, "0", root}};
  // The newer FX layout: .../gm_{ts}_dump/{step}/ with steps from 0.
  const std::string parent_name = parent.filename().string();
  const bool shift = fx_shift && !(parent_name.starts_with("gm_") && parent_name.ends_with("_dump"));
  std::vector<TokenFolder> out;
  for (const fs::path& sub : Subfolders(parent)) {
    const int64_t n = DigitsValue(sub.filename().string()) - (shift ? 1 : 0);
    out.push_back({n, std::to_string(n), sub});
  }
  std::sort(out.begin(), out.end(), [](const TokenFolder& a, const TokenFolder& b) { return a.number < b.number; });
  return out;
}

GeDumpTree ReadGeDumpTree(const fs::path& root) {
  GeDumpTree tree;
  tree.root = root;
  const std::vector<fs::path> graphs = FindGeGraphFiles(root);
  if (graphs.empty()) Fail(root.string(), "no GE graph text (dynamo_original_graph_*.txt) in the folder");
  for (const fs::path& g : graphs) ReadGeGraph(g, tree.graph);
  for (const TokenFolder& t : TokenFolders(root, /*fx_shift=*/false)) {
    GeToken token;
    token.token = t.token;
    WalkFiles(t.dir, [&](const fs::directory_entry& e) {
      const std::string filename = e.path().filename().string();
      // A GE dump file, or its pre-converted form `<GE dump file name>.npz`.
      std::optional<GeDumpName> name = ParseGeDumpName(
          filename.ends_with(".npz") ? std::string_view(filename).substr(0, filename.size() - 4) : filename);
      if (!name) {
        static constexpr std::string_view kOtherFiles[] = {".txt", ".npy", ".bin", ".json", ".csv"};
        if (std::none_of(std::begin(kOtherFiles), std::end(kOtherFiles),
                         [&](std::string_view ext) { return filename.ends_with(ext); }))
          ++tree.unnamed_files;
        return;
      }
      std::error_code ec;
      GeOpFile file{e.path().string(), std::move(*name), e.file_size(ec)};
      auto [it, added] = token.by_name.emplace(file.name.op_name, token.files.size());
      if (added) {
        token.files.push_back(std::move(file));
        return;
      }
      ++tree.duplicates;
      if (file.bytes > token.files[it->second].bytes) token.files[it->second] = std::move(file);
    });
    std::sort(token.files.begin(), token.files.end(), [](const GeOpFile& a, const GeOpFile& b) {
      return std::tie(a.name.timestamp, a.name.task_id, a.path) < std::tie(b.name.timestamp, b.name.task_id, b.path);
    });
    token.by_name.clear();
    for (size_t i = 0; i < token.files.size(); ++i) token.by_name.emplace(token.files[i].name.op_name, i);
    tree.tokens.push_back(std::move(token));
  }
  return tree;
}

FxDumpTree ReadFxDumpTree(const fs::path& root) {
  FxDumpTree tree;
  tree.root = root;
  for (const TokenFolder& t : TokenFolders(root, /*fx_shift=*/true)) {
    FxToken token;
    token.token = t.token;
    std::unordered_map<std::string, std::vector<std::pair<std::vector<uint64_t>, std::string>>> inputs, outputs;
    WalkFiles(t.dir, [&](const fs::directory_entry& e) {
      const std::string filename = e.path().filename().string();
      if (!filename.ends_with(".npy")) return;
      size_t at = filename.find(".INPUT.");
      const bool input = at != std::string::npos;
      if (!input) at = filename.find(".OUTPUT.");
      if (at == std::string::npos) return;
      const std::string key = filename.substr(0, at);
      const std::string_view tail = std::string_view(filename).substr(at + (input ? 7 : 8));
      (input ? inputs : outputs)[key].emplace_back(Indices(tail), e.path().string());
      token.nodes[key];
      ++tree.files;
    });
    for (auto& [key, node] : token.nodes) {
      if (auto it = inputs.find(key); it != inputs.end()) SortByIndices(it->second, node.inputs);
      if (auto it = outputs.find(key); it != outputs.end()) SortByIndices(it->second, node.outputs);
    }
    if (!token.nodes.empty()) tree.tokens.push_back(std::move(token));
  }
  return tree;
}

std::string FxNodeKey(const std::string& fx_tensor_name) {
  const size_t last = fx_tensor_name.rfind('.');
  if (last == std::string::npos || last == 0) return fx_tensor_name;
  const size_t second = fx_tensor_name.rfind('.', last - 1);
  if (second == std::string::npos) return fx_tensor_name;
  if (fx_tensor_name.compare(second + 1, last - second - 1, "OUTPUT") != 0) return fx_tensor_name;
  return fx_tensor_name.substr(0, second);
}

}  // namespace ait
