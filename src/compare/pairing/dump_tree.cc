// Reading a dump's operation / module tree, and listing each node's tensor files.
#include "compare/pairing/dump_tree.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <set>

#include "ait/error.h"
#include "ait/tensor_io.h"

namespace ait {
namespace fs = std::filesystem;
using nlohmann::json;

namespace topo {
namespace {

// Natural order of file stems: "x2" before "x10".
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (isdigit(static_cast<unsigned char>(a[i])) && isdigit(static_cast<unsigned char>(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string_view na = std::string_view(a).substr(i, ie - i), nb = std::string_view(b).substr(j, je - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string JsonString(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<std::string> JsonStrings(const json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// Trailing `_<digits>` groups of an ATB opName: "LinearOperation_1_3" -> {1, 3}, base "LinearOperation".
std::vector<int64_t> OpNameIds(const std::string& op_name, std::string* base) {
  std::vector<int64_t> ids;
  std::string_view s = op_name;
  while (true) {
    size_t us = s.rfind('_');
    if (us == std::string_view::npos || !IsDigits(s.substr(us + 1))) break;
    ids.insert(ids.begin(), DigitsValue(s.substr(us + 1)));
    s = s.substr(0, us);
  }
  if (base) *base = std::string(s);
  return ids;
}

// The `{id}_{Name}` folders under every token folder, by parent folder (relative, "" = token folder).
struct FolderEntry {
  int64_t id;
  std::string type, rel;
};
using FolderIndex = std::map<std::string, std::vector<FolderEntry>>;

FolderIndex IndexAtbFolders(const DumpLocation& where) {
  FolderIndex index;
  std::set<std::string> seen;
  size_t count = 0;
  std::function<void(const fs::path&, const std::string&, int)> walk = [&](const fs::path& dir, const std::string& rel,
                                                                             int depth) {
    if (depth > kMaxDumpDepth) return;
    for (const fs::path& sub : Subfolders(dir)) {
      std::string name = sub.filename().string();
      std::string id_text, type;
      if (!SplitIdFolder(name, &id_text, &type)) continue;  // before/, after/, strays
      const int64_t id = DigitsValue(id_text);
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      if (seen.insert(child_rel).second) {
        if (++count > kMaxOperationFolders) Fail(where.process_dir.string(), "more than {} operation folders", kMaxOperationFolders);
        index[rel].push_back({id, type, child_rel});
      }
      walk(sub, child_rel, depth + 1);
    }
  };
  for (const auto& token : where.tokens) walk(where.process_dir / token, "", 0);
  for (auto& [rel, entries] : index)
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return index;
}

// Whether the `{id}_` folders under `rel` are operations (of a graph) rather than kernels of a
// leaf operation: some child is named like an operation or a layer, or has folders of its own.
bool HoldsOperations(const FolderIndex& index, const std::string& rel) {
  if (rel.empty()) return true;
  auto it = index.find(rel);
  if (it == index.end()) return false;
  for (const auto& e : it->second) {
    if (e.type.ends_with("Operation") || e.type.ends_with("Layer") || index.count(e.rel)) return true;
  }
  return false;
}

}  // namespace

bool DumpTree::IsInside(int i, int ancestor) const {
  for (int n = i; n >= 0; n = node(n).parent)
    if (n == ancestor) return true;
  return false;
}

DumpTree DumpTree::Load(const DumpLocation& where) {
  DumpTree t;
  t.where_ = where;
  if (where.kind == DumpKind::kAtb) {
    t.LoadAtb();
  } else if (where.kind == DumpKind::kTorch) {
    t.LoadTorch();
  } else {
    Fail(where.process_dir.string(), "not an ATB or torch dump");
  }
  return t;
}

void DumpTree::LoadAtb() {
  const FolderIndex index = IndexAtbFolders(where_);
  nodes_.push_back({});
  size_t unresolved = 0;
  if (!where_.topology.empty()) {
    source_ = "ATB model JSON";
    const json model = ReadJsonFile(where_.topology, "model topology JSON");
    if (!model.is_object()) Fail(where_.topology.string(), "the model topology JSON is not an object");
    nodes_[0].name = JsonString(model, "modelName");
    if (nodes_[0].name.empty()) nodes_[0].name = JsonString(model, "opName");
    nodes_[0].type = nodes_[0].name;
    nodes_[0].in_names = JsonStrings(model, "inTensors");
    nodes_[0].out_names = JsonStrings(model, "outTensors");
    // Children of a JSON node, resolved to their folders top-down.
    std::function<void(const json&, int)> add_children = [&](const json& j, int parent) {
      auto it = j.find("nodes");
      if (it == j.end() || !it->is_array()) return;
      if (node(parent).depth >= kMaxDumpDepth)
        Fail(where_.topology.string(), "operations nested more than {} deep", kMaxDumpDepth);
      const std::string parent_folder = node(parent).folder;
      const bool parent_resolved = parent == 0 || !parent_folder.empty();
      const auto entries_it = index.find(parent_folder);
      static const std::vector<FolderEntry> kNone;
      const auto& entries = parent_resolved && entries_it != index.end() ? entries_it->second : kNone;
      std::map<std::string, int> rank_of_type;
      std::set<const FolderEntry*> taken;  // a folder belongs to one node
      int64_t position = 0;
      for (const json& c : *it) {
        if (!c.is_object()) continue;
        if (nodes_.size() >= kMaxTopologyNodes) Fail(where_.topology.string(), "more than {} operations", kMaxTopologyNodes);
        Node n;
        n.name = JsonString(c, "opName");
        std::string base;
        std::vector<int64_t> ids = OpNameIds(n.name, &base);
        n.type = JsonString(c, "opType");
        if (n.type.empty()) n.type = base;
        if (auto p = c.find("param"); p != c.end()) n.param = *p;
        n.in_names = JsonStrings(c, "inTensors");
        n.out_names = JsonStrings(c, "outTensors");
        n.parent = parent;
        n.depth = node(parent).depth + 1;
        const int rank = rank_of_type[n.type]++;
        auto same_type = [&](const FolderEntry& e) { return e.type == n.type || (!base.empty() && e.type == base); };
        auto type_ok = [&](const FolderEntry& e) { return !taken.count(&e) && same_type(e); };
        // The folder: by the id in the opName (7.4), by position among siblings (7.3), or as the
        // rank-th folder of this type (ids that disagree with the folders).
        const FolderEntry* chosen = nullptr;
        for (const auto& e : entries)
          if (!ids.empty() && e.id == ids.back() && type_ok(e)) chosen = &e;
        if (!chosen)
          for (const auto& e : entries)
            if (e.id == position && type_ok(e)) chosen = &e;
        if (!chosen) {
          int k = 0;
          for (const auto& e : entries)
            if (same_type(e) && k++ == rank && !taken.count(&e)) chosen = &e;
        }
        const std::string& parent_id = node(parent).op_id;
        auto join = [&](int64_t id) { return parent_id.empty() ? std::to_string(id) : parent_id + "_" + std::to_string(id); };
        if (chosen) {
          taken.insert(chosen);
          n.folder = chosen->rel;
          n.op_id = join(chosen->id);
        } else {
          ++unresolved;
          n.op_id = join(ids.empty() ? position : ids.back());
        }
        ++position;
        const int self = static_cast<int>(nodes_.size());
        nodes_.push_back(std::move(n));
        nodes_[static_cast<size_t>(parent)].children.push_back(self);
        add_children(c, self);
      }
    };
    add_children(model, 0);
    if (nodes_.size() == 1) Fail(where_.topology.string(), "the model topology JSON lists no operations (\"nodes\")");
  } else {
    source_ = "ATB tensor folders";
    nodes_[0].name = nodes_[0].type = "model";
    std::function<void(const std::string&, int)> add_children = [&](const std::string& rel, int parent) {
      auto it = index.find(rel);
      if (it == index.end() || !HoldsOperations(index, rel)) return;
      for (const auto& e : it->second) {
        if (nodes_.size() >= kMaxTopologyNodes) Fail(where_.process_dir.string(), "more than {} operations", kMaxTopologyNodes);
        Node n;
        const std::string& parent_id = node(parent).op_id;
        n.op_id = parent_id.empty() ? std::to_string(e.id) : parent_id + "_" + std::to_string(e.id);
        n.name = e.type + "_" + n.op_id;
        n.type = e.type;
        n.folder = e.rel;
        n.parent = parent;
        n.depth = node(parent).depth + 1;
        const int self = static_cast<int>(nodes_.size());
        nodes_.push_back(std::move(n));
        nodes_[static_cast<size_t>(parent)].children.push_back(self);
        add_children(e.rel, self);
      }
    };
    add_children("", 0);
  }
  if (unresolved)
    notes_.push_back(fmt::format("{}: {} operation(s) of the model topology have no tensor folder in {} (not dumped)",
                                 where_.topology.string(), unresolved, where_.process_dir.string()));
}

void DumpTree::LoadTorch() {
  std::unordered_map<std::string, int> by_name;
  auto add = [&](Node n) {
    if (nodes_.size() >= kMaxTopologyNodes) Fail(where_.process_dir.string(), "more than {} modules", kMaxTopologyNodes);
    const int self = static_cast<int>(nodes_.size());
    by_name.emplace(n.name, self);
    if (n.parent >= 0) nodes_[static_cast<size_t>(n.parent)].children.push_back(self);
    nodes_.push_back(std::move(n));
    return self;
  };
  size_t skipped = 0;
  if (!where_.topology.empty()) {
    source_ = "model_tree.json";
    const json tree = ReadJsonFile(where_.topology, "model_tree.json");
    if (!tree.is_object()) Fail(where_.topology.string(), "model_tree.json is not an object");
    std::function<void(const json&, int, int)> walk = [&](const json& j, int parent, int depth) {
      if (depth > kMaxDumpDepth) Fail(where_.topology.string(), "modules nested more than {} deep", kMaxDumpDepth);
      Node n;
      n.name = JsonString(j, "name");
      n.type = JsonString(j, "type");
      n.parent = parent;
      n.depth = depth;
      if (n.name.empty() || by_name.count(n.name)) {  // unnamed or repeated: cannot address its folder
        ++skipped;
        return;
      }
      const int self = add(std::move(n));
      if (auto c = j.find("children"); c != j.end() && c->is_array())
        for (const json& child : *c)
          if (child.is_object()) walk(child, self, depth + 1);
    };
    walk(tree, -1, 0);
    if (nodes_.empty()) Fail(where_.topology.string(), "model_tree.json has no named root module");
  } else {
    // No tree: rebuild the hierarchy from the dotted folder names (types unknown).
    source_ = "module folders";
    std::set<std::string, decltype(&NaturalLess)> names(&NaturalLess);
    for (const auto& token : where_.tokens)
      for (const fs::path& sub : Subfolders(where_.process_dir / token)) {
        std::string name = sub.filename().string();
        if (name == "root" || name.starts_with("root.")) names.insert(name);
      }
    std::function<int(const std::string&)> ensure = [&](const std::string& name) -> int {
      if (auto it = by_name.find(name); it != by_name.end()) return it->second;
      size_t dot = name.rfind('.');
      int parent = dot == std::string::npos ? -1 : ensure(name.substr(0, dot));
      Node n;
      n.name = name;
      n.parent = parent;
      n.depth = parent < 0 ? 0 : node(parent).depth + 1;
      return add(std::move(n));
    };
    for (const auto& name : names) {
      if (std::count(name.begin(), name.end(), '.') > kMaxDumpDepth) {
        ++skipped;
        continue;
      }
      ensure(name);
    }
    if (nodes_.empty()) Fail(where_.process_dir.string(), "no module folders (root...) in the torch dump");
  }
  if (skipped) notes_.push_back(fmt::format("{}: {} module(s) without a usable name skipped", where_.process_dir.string(), skipped));
  // Per-token execution order written by the torch dump (module_order.json: [{"name", "type"}, ...]).
  for (const auto& token : where_.tokens) {
    fs::path file = where_.process_dir / token / kTorchModuleOrderFile;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) continue;
    json order;
    try {
      order = ReadJsonFile(file, "module order");
    } catch (const Error& e) {
      notes_.push_back(std::string(e.what()) + " (model tree order used)");
      continue;
    }
    if (!order.is_array()) continue;
    std::vector<int> seq;
    std::set<int> listed;
    for (const json& item : order) {
      std::string name = item.is_string() ? item.get<std::string>() : item.is_object() ? JsonString(item, "name") : "";
      auto it = by_name.find(name);
      if (it != by_name.end() && listed.insert(it->second).second) seq.push_back(it->second);
    }
    if (!seq.empty()) module_order_[token] = std::move(seq);
  }
}

std::vector<int> DumpTree::ExecutionOrder(const std::string& token) const {
  std::vector<int> post;
  post.reserve(nodes_.size());
  std::function<void(int)> walk = [&](int n) {
    for (int c : node(n).children) walk(c);
    post.push_back(n);
  };
  walk(0);
  if (kind() == DumpKind::kAtb) {
    post.pop_back();  // the model root holds no tensors
    return post;
  }
  auto it = module_order_.find(token);
  if (it == module_order_.end()) return post;
  std::vector<int> order = it->second;
  std::vector<char> listed(nodes_.size(), 0);
  for (int n : order) listed[static_cast<size_t>(n)] = 1;
  for (int n : post)
    if (!listed[static_cast<size_t>(n)]) order.push_back(n);
  return order;
}

fs::path DumpTree::FolderOf(int i, const std::string& token) const {
  const Node& n = node(i);
  if (kind() == DumpKind::kAtb) return n.folder.empty() ? fs::path() : where_.process_dir / token / n.folder;
  return where_.process_dir / token / TorchModuleFolder(n.name);
}

namespace {

// Files `{prefix}{N}.bin` in `dir`, sorted by N.
std::vector<TensorFile> IndexedBins(const fs::path& dir, std::string_view prefix) {
  std::vector<std::pair<int64_t, TensorFile>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!name.starts_with(prefix) || !name.ends_with(".bin")) continue;
    std::string_view digits = std::string_view(name).substr(prefix.size(), name.size() - prefix.size() - 4);
    if (!IsDigits(digits) || e.is_symlink(ec) || !e.is_regular_file(ec)) continue;
    found.push_back({DigitsValue(digits), {name.substr(0, name.size() - 4), e.path()}});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<TensorFile> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

}  // namespace

std::vector<TensorFile> DumpTree::TorchFiles(int i, const std::string& token) const {
  std::vector<TensorFile> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(FolderOf(i, token), ec)) {
    std::string name = e.path().filename().string();
    std::string ext = e.path().extension().string();
    if (name.starts_with(".") || (ext != ".pth" && ext != ".pt") || e.is_symlink(ec) || !e.is_regular_file(ec)) continue;
    out.push_back({e.path().stem().string(), e.path()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return NaturalLess(a.stem, b.stem); });
  return out;
}

std::vector<TensorFile> DumpTree::Inputs(int i, const std::string& token, bool all_torch_files) const {
  if (kind() == DumpKind::kAtb) {
    fs::path dir = FolderOf(i, token);
    if (dir.empty()) return {};
    auto before = IndexedBins(dir / "before", "intensor");
    return before.empty() ? IndexedBins(dir / "after", "intensor") : before;
  }
  std::vector<TensorFile> out;
  for (auto& f : TorchFiles(i, token)) {
    bool positional = f.stem.starts_with("input_") && IsDigits(std::string_view(f.stem).substr(6));
    if (all_torch_files ? !f.stem.starts_with("output") : positional) out.push_back(std::move(f));
  }
  return out;
}

std::vector<TensorFile> DumpTree::Outputs(int i, const std::string& token, bool all_torch_files) const {
  if (kind() == DumpKind::kAtb) {
    fs::path dir = FolderOf(i, token);
    return dir.empty() ? std::vector<TensorFile>{} : IndexedBins(dir / "after", "outtensor");
  }
  std::vector<TensorFile> out;
  for (auto& f : TorchFiles(i, token)) {
    bool top = f.stem == "output" || (f.stem.starts_with("output_") && IsDigits(std::string_view(f.stem).substr(7)));
    if (all_torch_files ? f.stem.starts_with("output") : top) out.push_back(std::move(f));
  }
  return out;
}

std::vector<TensorFile> DumpTree::NamedFile(int i, const std::string& token, const std::string& stem) const {
  fs::path dir = FolderOf(i, token);
  if (dir.empty()) return {};
  fs::path file = kind() == DumpKind::kAtb ? dir / "after" / (stem + ".bin") : dir / (stem + ".pth");
  std::error_code ec;
  if (fs::is_symlink(file, ec) || !fs::is_regular_file(file, ec)) return {};
  return {{stem, file}};
}

int64_t DumpTree::Numel(const fs::path& file) const {
  auto [it, fresh] = numel_cache_.try_emplace(file.string(), -1);
  if (fresh) {
    try {
      it->second = ReadTensor(file.string()).numel();
    } catch (const Error&) {
      it->second = -1;
    }
  }
  return it->second;
}

int64_t DumpTree::OutputNumel(int i, const std::string& token) const {
  auto outs = Outputs(i, token);
  return outs.empty() ? -1 : Numel(outs.front().path);
}

}  // namespace topo

}  // namespace ait
