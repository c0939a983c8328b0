// The -cl/--cmp-level rule: which pairs of an OpPairing a folder compare keeps.
#include "compare/pairing/compare_level.h"

#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "ait/error.h"
#include "compare/pairing/dump_layout.h"
#include "compare/pairing/dump_tree.h"

namespace ait {
namespace fs = std::filesystem;

std::optional<CompareLevel> ParseCompareLevel(std::string_view name) {
  for (CompareLevel level :
       {CompareLevel::kLayer, CompareLevel::kToken, CompareLevel::kModule, CompareLevel::kApi, CompareLevel::kLogits})
    if (name == CompareLevelName(level)) return level;
  return std::nullopt;
}

std::string_view CompareLevelName(CompareLevel level) {
  switch (level) {
    case CompareLevel::kLayer: return "layer";
    case CompareLevel::kToken: return "token";
    case CompareLevel::kModule: return "module";
    case CompareLevel::kApi: return "api";
    case CompareLevel::kLogits: return "logits";
  }
  return "layer";
}

namespace {

// The folder holding a pair's file on one side: `.../{token}/{folder}/output.pth` -> folder.
std::string FolderOf(const std::string& path) { return fs::path(path).parent_path().filename().string(); }

// Level rule for module / api: which pairs lie in the wanted kind of folder of the torch side.
class FolderFilter {
 public:
  FolderFilter(CompareLevel level, const LevelSide& golden, const LevelSide& my)
      : want_(level == CompareLevel::kApi ? TorchFolderKind::kApi : TorchFolderKind::kModule),
        torch_(golden.torch ? &golden : &my),
        on_golden_(golden.torch) {}

  bool Keep(const TensorPair& p) const {
    const std::string folder = FolderOf(on_golden_ ? p.golden_path : p.my_path);
    auto [it, added] = cache_.try_emplace(folder, TorchFolderKind::kOther);
    if (added) it->second = ClassifyTorchFolder(*torch_, folder);
    return it->second == want_;
  }
  const LevelSide& torch() const { return *torch_; }
  // The torch side's name of an operation (module names nest with '.').
  const std::string& TorchName(const OpPair& op) const { return on_golden_ ? op.golden_name : op.my_name; }

 private:
  TorchFolderKind want_;
  const LevelSide* torch_;
  bool on_golden_;
  mutable std::unordered_map<std::string, TorchFolderKind> cache_;
};

// Keeps the rows whose PathKey is in `kept`, renumbers data_id 0.. in rows and ops alike.
void KeepRows(OpPairing& ops, const std::unordered_map<std::string, bool>& kept) {
  std::vector<TensorPair> rows;
  for (TensorPair& p : ops.rows)
    if (auto it = kept.find(PathKey(p)); it != kept.end() && it->second) rows.push_back(std::move(p));
  std::unordered_map<std::string, std::string> ids;
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].data_id = std::to_string(i);
    ids.emplace(PathKey(rows[i]), rows[i].data_id);
  }
  for (OpPair& op : ops.ops)
    for (auto* side : {&op.inputs, &op.outputs})
      for (TensorPair& p : *side)
        if (auto it = ids.find(PathKey(p)); it != ids.end()) p.data_id = it->second;
  ops.rows = std::move(rows);
}

void ApplyFolderLevel(CompareLevel level, const LevelSide& golden, const LevelSide& my, OpPairing& ops) {
  const std::string_view name = CompareLevelName(level);
  const char* what = level == CompareLevel::kApi ? "API-mode folders ({module}.{function}[.N], dumped with "
                                                   "DumpConfig(mode=\"api\"))"
                                                 : "module folders";
  if (!golden.torch && !my.torch)
    throw Error(fmt::format("-cl {}: compares the {} of a torch dump (ait_llm.register_hook), and neither dump is one "
                            "(golden: {} at {}, my: {} at {})",
                            name, what, golden.kind, golden.dump.string(), my.kind, my.dump.string()));
  FolderFilter filter(level, golden, my);
  if (!filter.torch().has_tree)
    throw Error(fmt::format("-cl {}: the torch dump {} has no readable {}, which tells module folders from API-mode "
                            "folders",
                            name, filter.torch().dump.string(), kTorchModelTreeFile));
  std::unordered_map<std::string, bool> kept;
  for (const TensorPair& p : ops.rows) kept.emplace(PathKey(p), filter.Keep(p));
  const size_t before_ops = ops.ops.size();
  std::erase_if(ops.ops, [&](const OpPair& op) { return op.outputs.empty() || !filter.Keep(op.outputs.front()); });
  for (OpPair& op : ops.ops)
    for (auto* side : {&op.inputs, &op.outputs})
      std::erase_if(*side, [&](const TensorPair& p) { return !filter.Keep(p); });
  std::erase_if(ops.ops, [](const OpPair& op) { return op.outputs.empty(); });
  if (level == CompareLevel::kApi) {
    for (OpPair& op : ops.ops) op.leaf = true;  // API calls hold no other (calls inside one are not dumped)
  } else if (ops.ops.size() != before_ops) {
    // A module whose paired children were all left out is a leaf now (module names nest with '.').
    std::map<std::string, std::vector<const std::string*>> names;  // token -> torch names
    for (const OpPair& op : ops.ops) names[op.token_id].push_back(&filter.TorchName(op));
    for (OpPair& op : ops.ops) {
      if (op.leaf) continue;
      const std::string prefix = filter.TorchName(op) + ".";
      bool child = false;
      for (const std::string* n : names[op.token_id]) child |= n->starts_with(prefix);
      op.leaf = !child;
    }
  }
  const size_t total = ops.rows.size();
  KeepRows(ops, kept);
  if (ops.rows.empty())
    throw Error(fmt::format("-cl {}: none of the {} tensor pairs ({}) lies in one of the {} of the torch dump {}", name,
                            total, ops.strategy, what, filter.torch().dump.string()));
}

void ApplyLogitsLevel(OpPairing& ops) {
  // Per token, the operation that finished last: ops are token by token, each in execution order.
  std::vector<OpPair> last;
  std::map<std::string, size_t> at;  // token -> index in `last`
  for (OpPair& op : ops.ops) {
    if (op.outputs.empty()) continue;
    auto [it, added] = at.try_emplace(op.token_id, last.size());
    if (added) last.push_back(std::move(op));
    else last[it->second] = std::move(op);
  }
  if (last.empty())
    throw Error(fmt::format("-cl logits: the pairing ({}) found no operation or module with outputs, so no model "
                            "output to compare",
                            ops.strategy));
  std::unordered_map<std::string, bool> kept;
  std::vector<TensorPair> wanted;
  for (OpPair& op : last) {
    op.outputs.resize(1);
    op.leaf = true;
    if (kept.emplace(PathKey(op.outputs.front()), true).second) wanted.push_back(op.outputs.front());
  }
  ops.ops = std::move(last);
  // A final output the strategy did not report as a row (none does so today) is reported anyway.
  std::unordered_map<std::string, bool> in_rows;
  for (const TensorPair& p : ops.rows) in_rows.emplace(PathKey(p), true);
  for (const TensorPair& p : wanted)
    if (!in_rows.count(PathKey(p))) ops.rows.push_back(p);
  KeepRows(ops, kept);
}

}  // namespace

TorchFolderKind ClassifyTorchFolder(const LevelSide& side, const std::string& folder) {
  if (side.module_folders.count(folder)) return TorchFolderKind::kModule;
  // `{module}.{function}` or `{module}.{function}.{N}`: a function name is no number.
  std::string_view rest = folder;
  size_t dot = rest.rfind('.');
  if (dot != std::string_view::npos && IsDigits(rest.substr(dot + 1))) rest = rest.substr(0, dot);
  dot = rest.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == rest.size() || IsDigits(rest.substr(dot + 1)))
    return TorchFolderKind::kOther;
  // `root.model.layers.7` of a tree without it is no call `layers` #7: `root.model.layers` is a module.
  if (side.module_folders.count(std::string(rest))) return TorchFolderKind::kOther;
  return side.module_folders.count(std::string(rest.substr(0, dot))) ? TorchFolderKind::kApi : TorchFolderKind::kOther;
}

LevelSide DescribeLevelSide(DumpPair& dumps, DumpPair::Side side, bool read_tree) {
  LevelSide out;
  out.dump = dumps.path(side);
  const DumpLocation* where = dumps.location(side);
  if (!where) return out;
  out.dump = where->process_dir;
  out.kind = where->kind == DumpKind::kTorch ? "torch dump" : where->kind == DumpKind::kAtb ? "ATB dump" : "unknown";
  out.torch = where->kind == DumpKind::kTorch;
  if (!out.torch || !read_tree || where->topology.empty()) return out;
  const topo::DumpTree tree = topo::DumpTree::ReadTorchModelTree(where->topology);
  for (const topo::Node& node : tree.nodes()) out.module_folders.insert(TorchModuleFolder(node.name));
  out.has_tree = true;
  return out;
}

void ApplyCompareLevel(CompareLevel level, const LevelSide& golden, const LevelSide& my, OpPairing& ops) {
  switch (level) {
    case CompareLevel::kLayer:
    case CompareLevel::kToken: return;
    case CompareLevel::kModule:
    case CompareLevel::kApi: ApplyFolderLevel(level, golden, my, ops); return;
    case CompareLevel::kLogits: ApplyLogitsLevel(ops); return;
  }
}

void ApplyCompareLevel(CompareLevel level, DumpPair& dumps, OpPairing& ops) {
  if (level == CompareLevel::kLayer || level == CompareLevel::kToken) return;
  const bool read_tree = level == CompareLevel::kModule || level == CompareLevel::kApi;
  const LevelSide golden = DescribeLevelSide(dumps, DumpPair::kGolden, read_tree);
  // Both torch: the golden side's folders decide; my side's tree is not needed.
  const LevelSide my = DescribeLevelSide(dumps, DumpPair::kMy, read_tree && !golden.torch);
  ApplyCompareLevel(level, golden, my, ops);
}

}  // namespace ait
