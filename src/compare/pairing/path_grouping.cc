// GroupByOperation: tensor files of a path pairing -> one OpPair per operation folder, named
// from the folder chain and, where the dump has one, the model topology JSON.
#include "compare/pairing/path_grouping.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "ait/tensor_io.h"
#include "ait/error.h"
#include "compare/pairing/dump_layout.h"
#include "compare/pairing/dump_tree.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    out.emplace_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

std::string Join(const std::vector<std::string>& parts, size_t count, char sep) {
  std::string out;
  for (size_t i = 0; i < count && i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// A side's topology, for names and types; empty when it has none or it cannot be read (names
// then come from the folders alone).
template <typename Read>
topo::DumpTree ReadOrEmpty(const fs::path& file, Read read) {
  if (file.empty()) return {};
  auto tree = Capture([&] { return read(file); });
  return tree.ok() ? std::move(tree).value() : topo::DumpTree();
}

enum class Role { kInput, kOutput, kSkip };

// One tensor file's place in the dump: token, operation folder, before/after, input/output.
struct ParsedPath {
  std::string token, folder, phase, file;
  Role role = Role::kOutput;
};

ParsedPath Parse(const TensorPair& pair) {
  ParsedPath p;
  std::vector<std::string> segs = Split(pair.label, '/');
  p.token = pair.token_id.empty() ? "0" : pair.token_id;
  if (segs.size() > 1 && IsDigits(segs[0]) && segs[0] == p.token) segs.erase(segs.begin());
  p.file = segs.back();
  segs.pop_back();
  if (!segs.empty() && (segs.back() == "before" || segs.back() == "after")) {
    p.phase = segs.back();
    segs.pop_back();
  }
  p.folder = Join(segs, segs.size(), '/');
  std::string lower = p.file;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  p.role = lower.starts_with("intensor") || lower.starts_with("input") ? Role::kInput : Role::kOutput;
  if (p.phase == "before" && p.role == Role::kOutput) p.role = Role::kSkip;  // not yet computed
  if (p.folder.empty()) p.folder = p.file;  // a loose file is its own operation
  return p;
}

enum class FolderKind { kAtb, kTorch, kOther };

struct FolderInfo {
  FolderKind kind = FolderKind::kOther;
  std::string my_name, golden_name, my_type, golden_type, op_id, layer;
  int depth = 0;
  bool kernel = false, graph = false;
};

// Names every operation folder of a pairing (token-independent: the same folder in every
// token is the same operation). ATB folders are the nodes of one folder tree; their names come
// from each side's model JSON (same id path and type), else as ATB makes them.
class PathNamer {
 public:
  explicit PathNamer(const PairingResult& pairing)
      : my_model_(ReadOrEmpty(FindAtbModelJson(pairing.my_root), topo::DumpTree::ReadAtbModel)),
        golden_model_(ReadOrEmpty(FindAtbModelJson(pairing.golden_root), topo::DumpTree::ReadAtbModel)),
        my_modules_(ReadOrEmpty(pairing.my_root / kTorchModelTreeFile, topo::DumpTree::ReadTorchModelTree)),
        golden_modules_(ReadOrEmpty(pairing.golden_root / kTorchModelTreeFile, topo::DumpTree::ReadTorchModelTree)) {
    std::vector<std::string> folders;
    for (const TensorPair& p : pairing.pairs) {
      std::string folder = Parse(p).folder;
      if (seen_.insert(folder).second) folders.push_back(std::move(folder));
    }
    atb_ = topo::DumpTree::FromAtbFolders(folders);
    NameAtbFolders();
    for (const std::string& folder : folders)
      if (atb_.FindFolder(folder) < 0) others_.emplace(folder, NameOtherFolder(folder));
  }

  const FolderInfo& Info(const std::string& folder) const {
    const int n = atb_.FindFolder(folder);
    return n >= 0 ? atb_info_[static_cast<size_t>(n)] : others_.at(folder);
  }

 private:
  FolderInfo NameOtherFolder(const std::string& folder) const {
    FolderInfo f;
    const std::vector<std::string> segs = Split(folder, '/');
    f.my_name = f.golden_name = folder;
    if (segs.size() == 1 && segs[0].starts_with("root")) {
      f.kind = FolderKind::kTorch;
      f.depth = static_cast<int>(std::count(folder.begin(), folder.end(), '.'));
      if (int m = my_modules_.FindByName(folder); m >= 0) f.my_type = my_modules_.node(m).type;
      if (int g = golden_modules_.FindByName(folder); g >= 0) f.golden_type = golden_modules_.node(g).type;
      auto parts = Split(folder, '.');
      for (size_t n = parts.size(); n > 0; --n)
        if (IsDigits(parts[n - 1])) {
          f.layer = Join(parts, n, '.');
          break;
        }
    } else {
      f.depth = static_cast<int>(segs.size()) - 1;
      if (segs.size() == 1 && IsTensorFile(segs[0]))
        f.my_name = f.golden_name = segs[0].substr(0, segs[0].rfind('.'));  // a loose file: its stem
    }
    return f;
  }

  std::string AtbName(int n, const topo::DumpTree& model, bool mine) const {
    const topo::Node& node = atb_.node(n);
    if (int m = model.FindOperation(node.op_id, node.type); m >= 0 && !model.node(m).name.empty())
      return model.node(m).name;
    if (atb_info_[static_cast<size_t>(n)].kernel) {
      const FolderInfo& parent = atb_info_[static_cast<size_t>(node.parent)];
      return (mine ? parent.my_name : parent.golden_name) + ":" + node.type;
    }
    return node.name;  // `{Type}_{op_id}`
  }

  void NameAtbFolders() {
    const auto& nodes = atb_.nodes();
    atb_info_.assign(nodes.size(), {});
    // Node order puts a parent before its kernels: it is named first.
    for (size_t i = 1; i < nodes.size(); ++i) {
      const topo::Node& node = nodes[i];
      FolderInfo& f = atb_info_[i];
      f.kind = FolderKind::kAtb;
      f.depth = node.depth - 1;
      f.op_id = node.op_id;
      f.my_type = f.golden_type = node.type;
      if (node.parent > 0) {
        const topo::Node& parent = atb_.node(node.parent);
        const int topo_parent = my_model_.FindOperation(parent.op_id, parent.type);
        f.kernel = topo_parent >= 0 ? my_model_.IsLeaf(topo_parent)
                                    : node.children.empty() && parent.type.ends_with("Operation") &&
                                          my_model_.FindOperation(node.op_id, node.type) < 0;
      }
      f.my_name = AtbName(static_cast<int>(i), my_model_, true);
      f.golden_name = AtbName(static_cast<int>(i), golden_model_, false);
    }
    // Graphs: folders with a child operation (not a kernel).
    for (size_t i = 1; i < nodes.size(); ++i)
      if (nodes[i].parent > 0 && !atb_info_[i].kernel) atb_info_[static_cast<size_t>(nodes[i].parent)].graph = true;
    // Layer level: the shallowest depth with several graphs, or the deepest single one.
    std::map<int, int> graphs_at;
    for (const FolderInfo& f : atb_info_)
      if (f.graph) ++graphs_at[f.depth];
    int layer_depth = -1;
    for (auto it = graphs_at.begin(); it != graphs_at.end(); ++it) {
      layer_depth = it->first;
      if (it->second >= 2 || !graphs_at.count(it->first + 1)) break;
    }
    if (layer_depth < 0) return;
    for (size_t i = 1; i < nodes.size(); ++i) {
      if (atb_info_[i].depth < layer_depth) continue;
      int anc = static_cast<int>(i);
      while (atb_.node(anc).depth > layer_depth + 1) anc = atb_.node(anc).parent;
      if (atb_info_[static_cast<size_t>(anc)].graph) atb_info_[i].layer = atb_info_[static_cast<size_t>(anc)].my_name;
    }
  }

  topo::DumpTree my_model_, golden_model_, my_modules_, golden_modules_;
  topo::DumpTree atb_;                 // the `{id}_{Type}` folders of the pairing, and those above them
  std::vector<FolderInfo> atb_info_;   // by node of atb_
  std::unordered_set<std::string> seen_;
  std::unordered_map<std::string, FolderInfo> others_;  // torch module folders, loose files, other folders
};

void Annotate(TensorPair& p, const FolderInfo& f) {
  p.my_name = f.my_name;
  p.golden_name = f.golden_name;
  p.my_type = f.my_type;
  p.golden_type = f.golden_type;
  p.match = "path";
}

// The nearest grouped ancestor of `folder`, or "" when none.
std::string GroupedParent(const std::string& folder, FolderKind kind, const std::unordered_set<std::string>& grouped) {
  std::string cur = folder;
  const char sep = kind == FolderKind::kTorch ? '.' : '/';
  while (true) {
    size_t at = cur.rfind(sep);
    if (at == std::string::npos) return "";
    cur.resize(at);
    if (grouped.count(cur)) return cur;
  }
}

}  // namespace

void NameTensorPairsByPath(PairingResult& pairing) {
  PathNamer namer(pairing);
  for (TensorPair& p : pairing.pairs) Annotate(p, namer.Info(Parse(p).folder));
}

OpPairing GroupByOperation(const PairingResult& pairing) {
  PathNamer namer(pairing);
  struct Builder {
    std::string token, folder;
    size_t first_output = std::string::npos;
    std::vector<TensorPair> before_in, after_in, outputs;
  };
  std::vector<Builder> builders;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (size_t i = 0; i < pairing.pairs.size(); ++i) {
    ParsedPath path = Parse(pairing.pairs[i]);
    if (path.role == Role::kSkip) continue;
    auto [it, added] = index.try_emplace({path.token, path.folder}, builders.size());
    if (added) builders.push_back({path.token, path.folder});
    Builder& b = builders[it->second];
    TensorPair pair = pairing.pairs[i];
    Annotate(pair, namer.Info(path.folder));
    if (path.role == Role::kOutput) {
      if (b.first_output == std::string::npos) b.first_output = i;
      b.outputs.push_back(std::move(pair));
    } else {
      (path.phase == "before" ? b.before_in : b.after_in).push_back(std::move(pair));
    }
  }
  std::erase_if(builders, [](const Builder& b) { return b.outputs.empty(); });
  std::sort(builders.begin(), builders.end(),
            [](const Builder& a, const Builder& b) { return a.first_output < b.first_output; });

  // Which grouped folders hold another grouped folder (per token).
  std::map<std::string, std::unordered_set<std::string>> grouped;
  for (const Builder& b : builders) grouped[b.token].insert(b.folder);
  std::set<std::pair<std::string, std::string>> non_leaf;
  for (const Builder& b : builders) {
    std::string parent = GroupedParent(b.folder, namer.Info(b.folder).kind, grouped[b.token]);
    if (!parent.empty()) non_leaf.insert({b.token, parent});
  }

  OpPairing out;
  out.strategy = pairing.strategy + ", grouped by operation folder";
  out.broadcast = true;
  out.golden_root = pairing.golden_root;
  out.my_root = pairing.my_root;
  for (const auto& [only, side] : {std::pair{&pairing.only_in_golden, "golden"}, std::pair{&pairing.only_in_my, "my"}})
    if (!only->empty())
      out.notes.push_back(fmt::format("{} tensor files only in the {} dump (not compared), e.g. {}", only->size(), side,
                                      only->front()));
  out.ops.reserve(builders.size());
  for (Builder& b : builders) {
    const FolderInfo& f = namer.Info(b.folder);
    OpPair op;
    op.token_id = b.token;
    op.my_name = f.my_name;
    op.golden_name = f.golden_name;
    op.my_type = f.my_type;
    op.golden_type = f.golden_type;
    op.op_id = f.op_id;
    op.match = "path";
    op.layer = f.layer;
    op.depth = f.depth;
    op.leaf = !non_leaf.count({b.token, b.folder});
    op.inputs = std::move(b.before_in.empty() ? b.after_in : b.before_in);
    op.outputs = std::move(b.outputs);
    out.ops.push_back(std::move(op));
  }
  return out;
}

}  // namespace ait
