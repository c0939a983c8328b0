// GroupByOperation: tensor files of a path pairing -> one OpPair per operation folder, named
// from the folder chain and, where the dump has one, the model topology JSON.
#include "compare/pairing/path_grouping.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ait/tensor_io.h"
#include "compare/pairing/dump_layout.h"

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

// The id path at the end of an ATB opName: `LinearOperation_1_2` -> "1_2" (stem
// "LinearOperation"); "" when the name does not end in `_<digits>` groups.
std::string IdsOfOpName(const std::string& name, std::string* stem) {
  size_t cut = name.size();
  while (cut > 0) {
    size_t us = name.rfind('_', cut - 1);
    if (us == std::string::npos || !IsDigits(std::string_view(name).substr(us + 1, cut - us - 1))) break;
    cut = us;
  }
  if (cut == name.size() || cut == 0) return "";
  *stem = name.substr(0, cut);
  return name.substr(cut + 1);
}

std::string StringField(const nlohmann::json& node, const char* key) {
  auto it = node.find(key);
  return it != node.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The ATB model topology of one dump, by id path.
struct AtbTopology {
  struct Node {
    std::string name, type, stem;  // stem: the opName without its ids
    bool leaf = true;
  };
  std::unordered_map<std::string, Node> by_id;

  const Node* Find(const std::string& id, const std::string& folder_type) const {
    auto it = by_id.find(id);
    if (it == by_id.end()) return nullptr;
    // Only trust a node whose type agrees with the folder: numbering can differ between the
    // JSON and the tensor tree (ATB's process-wide ids).
    return it->second.type == folder_type || it->second.stem == folder_type ? &it->second : nullptr;
  }

  void Walk(const nlohmann::json& node, const std::string& parent_id, int depth) {
    if (depth > kMaxDumpDepth) return;
    auto nodes = node.find("nodes");
    if (nodes == node.end() || !nodes->is_array()) return;
    for (size_t i = 0; i < nodes->size() && by_id.size() < kMaxTopologyNodes; ++i) {
      const nlohmann::json& child = (*nodes)[i];
      if (!child.is_object()) continue;
      Node n;
      n.name = StringField(child, "opName");
      n.type = StringField(child, "opType");
      std::string id = IdsOfOpName(n.name, &n.stem);
      if (id.empty()) id = parent_id.empty() ? std::to_string(i) : parent_id + "_" + std::to_string(i);
      auto sub = child.find("nodes");
      n.leaf = sub == child.end() || !sub->is_array() || sub->empty();
      by_id.emplace(id, n);
      Walk(child, id, depth + 1);
    }
  }
};

// The model JSON of the dump whose tensors are at `root` (FindAtbModelJson). Missing or
// malformed files give an empty topology.
AtbTopology LoadAtbTopology(const fs::path& root) {
  AtbTopology topo;
  const fs::path file = FindAtbModelJson(root);
  if (file.empty()) return topo;
  std::optional<nlohmann::json> j = TryReadJsonFile(file);
  if (j && j->is_object() && j->contains("nodes")) topo.Walk(*j, "", 0);
  return topo;
}

// Module name -> class name from a torch dump's model_tree.json.
std::unordered_map<std::string, std::string> LoadTorchTypes(const fs::path& root) {
  std::unordered_map<std::string, std::string> types;
  std::optional<nlohmann::json> tree = TryReadJsonFile(root / kTorchModelTreeFile);
  std::function<void(const nlohmann::json&, int)> walk = [&](const nlohmann::json& node, int depth) {
    if (!node.is_object() || depth > kMaxDumpDepth || types.size() >= kMaxTopologyNodes) return;
    std::string name = StringField(node, "name");
    if (!name.empty()) types.emplace(name, StringField(node, "type"));
    if (auto c = node.find("children"); c != node.end() && c->is_array())
      for (const auto& child : *c) walk(child, depth + 1);
  };
  if (tree) walk(*tree, 0);
  return types;
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
  std::vector<std::string> segs, ids, types;  // segs always; ids/types for ATB folders
  std::string my_name, golden_name, my_type, golden_type, op_id, layer;
  int depth = 0;
  bool kernel = false, graph = false;
};

// Names every operation folder of a pairing (token-independent: the same folder in every
// token is the same operation).
class PathNamer {
 public:
  explicit PathNamer(const PairingResult& pairing)
      : my_topo_(LoadAtbTopology(pairing.my_root)),
        golden_topo_(LoadAtbTopology(pairing.golden_root)),
        my_torch_(LoadTorchTypes(pairing.my_root)),
        golden_torch_(LoadTorchTypes(pairing.golden_root)) {
    for (const TensorPair& p : pairing.pairs) Add(Parse(p).folder);
    Resolve();
  }

  const FolderInfo& Info(const std::string& folder) const { return folders_.at(folder); }

 private:
  void Add(const std::string& folder) {
    if (folders_.count(folder)) return;
    FolderInfo f;
    f.segs = Split(folder, '/');
    bool atb = true;
    for (const auto& s : f.segs) {
      std::string id, type;
      if (!SplitIdFolder(s, &id, &type)) {
        atb = false;
        break;
      }
      f.ids.push_back(id);
      f.types.push_back(type);
    }
    if (atb) {
      f.kind = FolderKind::kAtb;
      f.depth = static_cast<int>(f.segs.size()) - 1;
      f.op_id = Join(f.ids, f.ids.size(), '_');
      f.my_type = f.golden_type = f.types.back();
    } else if (f.segs.size() == 1 && f.segs[0].starts_with("root")) {
      f.kind = FolderKind::kTorch;
      f.depth = static_cast<int>(std::count(folder.begin(), folder.end(), '.'));
    } else {
      f.depth = static_cast<int>(f.segs.size()) - 1;
    }
    folders_.emplace(folder, std::move(f));
    // Ancestors too (they may hold no tensors of their own): needed to name kernels and layers.
    if (atb && folders_.at(folder).segs.size() > 1) {
      auto segs = folders_.at(folder).segs;
      Add(Join(segs, segs.size() - 1, '/'));
    }
  }

  std::string AtbName(const std::string& folder, const AtbTopology& topo, bool mine) {
    FolderInfo& f = folders_.at(folder);
    if (const auto* node = topo.Find(f.op_id, f.types.back()); node && !node->name.empty()) return node->name;
    if (f.kernel) {
      const FolderInfo& parent = folders_.at(Join(f.segs, f.segs.size() - 1, '/'));
      return (mine ? parent.my_name : parent.golden_name) + ":" + f.types.back();
    }
    return f.types.back() + "_" + f.op_id;
  }

  void Resolve() {
    // Children of every ATB folder, to tell kernels and graphs apart.
    std::map<std::string, std::vector<std::string>> children;
    for (const auto& [folder, f] : folders_)
      if (f.kind == FolderKind::kAtb && f.segs.size() > 1) children[Join(f.segs, f.segs.size() - 1, '/')].push_back(folder);
    // Shallow folders first, so a parent is named before its kernels.
    std::vector<std::string> order;
    for (const auto& [folder, f] : folders_) order.push_back(folder);
    std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return folders_.at(a).segs.size() < folders_.at(b).segs.size() ||
             (folders_.at(a).segs.size() == folders_.at(b).segs.size() && a < b);
    });
    for (const std::string& folder : order) {
      FolderInfo& f = folders_.at(folder);
      if (f.kind != FolderKind::kAtb) {
        f.my_name = f.golden_name = folder;
        if (f.kind == FolderKind::kTorch) {
          if (auto it = my_torch_.find(folder); it != my_torch_.end()) f.my_type = it->second;
          if (auto it = golden_torch_.find(folder); it != golden_torch_.end()) f.golden_type = it->second;
        } else if (f.segs.size() == 1 && IsTensorFile(f.segs[0])) {
          f.my_name = f.golden_name = f.segs[0].substr(0, f.segs[0].rfind('.'));  // a loose file: its stem
        }
        continue;
      }
      if (f.segs.size() > 1) {
        const std::string parent_key = Join(f.segs, f.segs.size() - 1, '/');
        const FolderInfo& parent = folders_.at(parent_key);
        const std::string parent_id = parent.op_id;
        const auto* topo_parent = my_topo_.Find(parent_id, parent.types.back());
        const bool has_children = children.count(folder) > 0;
        f.kernel = topo_parent ? topo_parent->leaf
                               : !has_children && parent.types.back().ends_with("Operation") &&
                                     !my_topo_.Find(f.op_id, f.types.back());
      }
      f.my_name = AtbName(folder, my_topo_, true);
      f.golden_name = AtbName(folder, golden_topo_, false);
    }
    // Graphs: folders with a child operation (not a kernel).
    for (const auto& [parent, kids] : children)
      for (const auto& k : kids)
        if (!folders_.at(k).kernel) folders_.at(parent).graph = true;
    // Layer level: the shallowest depth with several graphs, or the deepest single one.
    std::map<int, int> graphs_at;
    for (const auto& [folder, f] : folders_)
      if (f.graph) ++graphs_at[f.depth];
    int layer_depth = -1;
    for (auto it = graphs_at.begin(); it != graphs_at.end(); ++it) {
      layer_depth = it->first;
      if (it->second >= 2 || !graphs_at.count(it->first + 1)) break;
    }
    for (auto& [folder, f] : folders_) {
      if (f.kind == FolderKind::kTorch) {
        auto parts = Split(folder, '.');
        for (size_t n = parts.size(); n > 0; --n)
          if (IsDigits(parts[n - 1])) {
            f.layer = Join(parts, n, '.');
            break;
          }
      } else if (f.kind == FolderKind::kAtb && layer_depth >= 0 && f.depth >= layer_depth) {
        const FolderInfo& anc = folders_.at(Join(f.segs, static_cast<size_t>(layer_depth) + 1, '/'));
        if (anc.graph) f.layer = anc.my_name;
      }
    }
  }

  AtbTopology my_topo_, golden_topo_;
  std::unordered_map<std::string, std::string> my_torch_, golden_torch_;
  std::unordered_map<std::string, FolderInfo> folders_;
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
