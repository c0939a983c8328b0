// Reading a dump's operation / module tree, and listing each node's tensor files.
#include "compare/pairing/dump_tree.h"

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_set>

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

// The `_<digits>` groups that end an ATB opName: "LinearOperation_1_3" -> "1_3", base
// "LinearOperation"; "" (base = the whole name) when there are none.
std::string OpNameIds(const std::string& op_name, std::string* base) {
  std::string_view s = op_name;
  while (true) {
    size_t us = s.rfind('_');
    if (us == std::string_view::npos || !IsDigits(s.substr(us + 1))) break;
    s = s.substr(0, us);
  }
  *base = std::string(s);
  return s.size() == op_name.size() ? std::string() : op_name.substr(s.size() + 1);
}

// The value of the last id of an id path: "1_3" -> 3.
int64_t LastId(std::string_view op_id) { return DigitsValue(op_id.substr(op_id.rfind('_') + 1)); }

std::string JoinIds(const std::string& parent_id, const std::string& id) {
  return parent_id.empty() ? id : parent_id + "_" + id;
}

// Every `{id}_{Name}` folder under the token folders of `where` (the union over tokens),
// each once, a folder before the folders inside it.
std::vector<std::string> ListAtbFolders(const DumpLocation& where) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  std::function<void(const fs::path&, const std::string&, int)> walk = [&](const fs::path& dir, const std::string& rel,
                                                                             int depth) {
    if (depth > kMaxDumpDepth) return;
    for (const fs::path& sub : Subfolders(dir)) {
      std::string name = sub.filename().string(), id, type;
      if (!SplitIdFolder(name, &id, &type)) continue;  // before/, after/, strays
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      if (seen.insert(child_rel).second) {
        if (out.size() >= kMaxOperationFolders)
          Fail(where.process_dir.string(), "more than {} operation folders", kMaxOperationFolders);
        out.push_back(child_rel);
      }
      walk(sub, child_rel, depth + 1);
    }
  };
  for (const auto& token : where.tokens) walk(where.process_dir / token, "", 0);
  return out;
}

// Whether the `{id}_` folders inside folder node `f` are operations (of a graph) rather than
// kernels of a leaf operation: some child is named like an operation or a layer, or has
// folders of its own.
bool HoldsOperations(const DumpTree& folders, int f) {
  if (f == 0) return true;
  for (int c : folders.node(f).children) {
    const std::string& type = folders.node(c).type;
    if (type.ends_with("Operation") || type.ends_with("Layer") || !folders.IsLeaf(c)) return true;
  }
  return false;
}

}  // namespace

bool DumpTree::IsInside(int i, int ancestor) const {
  for (int n = i; n >= 0; n = node(n).parent)
    if (n == ancestor) return true;
  return false;
}

int DumpTree::Add(Node n) {
  const int self = static_cast<int>(nodes_.size());
  n.depth = n.parent < 0 ? 0 : node(n.parent).depth + 1;
  if (n.parent >= 0) nodes_[static_cast<size_t>(n.parent)].children.push_back(self);
  nodes_.push_back(std::move(n));
  return self;
}

void DumpTree::Index() {
  by_name_.clear();
  by_folder_.clear();
  by_op_id_.clear();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    by_name_.emplace(n.name, static_cast<int>(i));
    if (!n.folder.empty()) by_folder_.emplace(n.folder, static_cast<int>(i));
    if (!n.op_id.empty()) by_op_id_.emplace(n.op_id, static_cast<int>(i));
  }
}

int DumpTree::Find(const std::unordered_map<std::string, int>& index, const std::string& key) {
  auto it = index.find(key);
  return it == index.end() ? -1 : it->second;
}

int DumpTree::FindOperation(const std::string& op_id, const std::string& type) const {
  const int i = Find(by_op_id_, op_id);
  std::string base;
  if (i >= 0) OpNameIds(node(i).name, &base);
  return i >= 0 && (node(i).type == type || (!base.empty() && base == type)) ? i : -1;
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
  t.Index();
  return t;
}

DumpTree DumpTree::FromAtbFolders(const std::vector<std::string>& folders) {
  DumpTree t;
  t.where_.kind = DumpKind::kAtb;
  t.source_ = "ATB tensor folders";
  Node root;
  root.name = root.type = "model";
  t.Add(std::move(root));
  std::function<int(const std::string&)> ensure = [&](const std::string& rel) -> int {
    if (auto it = t.by_folder_.find(rel); it != t.by_folder_.end()) return it->second;
    const size_t slash = rel.rfind('/');
    std::string id, type;
    if (!SplitIdFolder(std::string_view(rel).substr(slash == std::string::npos ? 0 : slash + 1), &id, &type)) return -1;
    const int parent = slash == std::string::npos ? 0 : ensure(rel.substr(0, slash));
    if (parent < 0) return -1;
    Node n;
    n.op_id = JoinIds(t.node(parent).op_id, id);
    n.name = type + "_" + n.op_id;
    n.type = std::move(type);
    n.folder = rel;
    n.parent = parent;
    const int self = t.Add(std::move(n));
    t.by_folder_.emplace(rel, self);
    return self;
  };
  for (const std::string& rel : folders) ensure(rel);
  for (Node& n : t.nodes_)
    std::sort(n.children.begin(), n.children.end(),
              [&t](int a, int b) { return LastId(t.node(a).op_id) < LastId(t.node(b).op_id); });
  t.Index();
  return t;
}

DumpTree DumpTree::ReadAtbModel(const fs::path& model_json) {
  DumpTree t;
  t.where_.kind = DumpKind::kAtb;
  t.where_.topology = model_json;
  t.source_ = "ATB model JSON";
  t.ParseAtbModel(ReadJsonFile(model_json, "model topology JSON"), model_json);
  t.Index();
  return t;
}

DumpTree DumpTree::ReadTorchModelTree(const fs::path& model_tree) {
  DumpLocation where;  // no token folders: the tree alone
  where.kind = DumpKind::kTorch;
  where.topology = model_tree;
  return Load(where);
}

void DumpTree::ParseAtbModel(const json& model, const fs::path& file) {
  if (!model.is_object()) Fail(file.string(), "the model topology JSON is not an object");
  Node root;
  root.name = JsonString(model, "modelName");
  if (root.name.empty()) root.name = JsonString(model, "opName");
  root.type = root.name;
  root.in_names = JsonStrings(model, "inTensors");
  root.out_names = JsonStrings(model, "outTensors");
  Add(std::move(root));
  std::function<void(const json&, int)> add_children = [&](const json& j, int parent) {
    auto it = j.find("nodes");
    if (it == j.end() || !it->is_array()) return;
    if (node(parent).depth >= kMaxDumpDepth) Fail(file.string(), "operations nested more than {} deep", kMaxDumpDepth);
    int64_t position = 0;
    for (const json& c : *it) {
      if (!c.is_object()) continue;
      if (nodes_.size() >= kMaxTopologyNodes) Fail(file.string(), "more than {} operations", kMaxTopologyNodes);
      Node n;
      n.name = JsonString(c, "opName");
      std::string base;
      std::string ids = OpNameIds(n.name, &base);
      if (const std::string folder_id = JsonString(c, "folderId"); IsDigits(folder_id)) {
        ids = folder_id;
        n.exact_folder = true;
      }
      n.type = JsonString(c, "opType");
      if (n.type.empty()) n.type = base;
      if (auto p = c.find("param"); p != c.end()) n.param = *p;
      n.in_names = JsonStrings(c, "inTensors");
      n.out_names = JsonStrings(c, "outTensors");
      n.op_id = ids.empty() ? JoinIds(node(parent).op_id, std::to_string(position)) : ids;
      n.parent = parent;
      ++position;
      add_children(c, Add(std::move(n)));
    }
  };
  add_children(model, 0);
  if (nodes_.size() == 1) Fail(file.string(), "the model topology JSON lists no operations (\"nodes\")");
}

void DumpTree::LoadAtb() {
  const DumpTree folders = FromAtbFolders(ListAtbFolders(where_));
  if (where_.topology.empty()) {
    // No model JSON: the operation folders themselves (names as ATB makes them), kernels left out.
    source_ = "ATB tensor folders";
    Add(folders.node(0));
    nodes_[0].children.clear();
    std::function<void(int, int)> copy = [&](int f, int parent) {
      if (!HoldsOperations(folders, f)) return;
      for (int c : folders.node(f).children) {
        if (nodes_.size() >= kMaxTopologyNodes) Fail(where_.process_dir.string(), "more than {} operations", kMaxTopologyNodes);
        Node n = folders.node(c);
        n.children.clear();
        n.parent = parent;
        copy(c, Add(std::move(n)));
      }
    };
    copy(0, 0);
    return;
  }
  source_ = "ATB model JSON";
  ParseAtbModel(ReadJsonFile(where_.topology, "model topology JSON"), where_.topology);
  // Every operation's folder among its parent's, top-down (a parent precedes its children):
  // by the id in the opName (7.4), by position among siblings (7.3), or as the rank-th folder
  // of its type (ids that disagree with the folders). A folder serves one node.
  std::vector<int> folder_of(nodes_.size(), -1);
  folder_of[0] = 0;
  size_t unresolved = 0;
  static const std::vector<int> kNone;
  for (size_t p = 0; p < nodes_.size(); ++p) {
    const std::vector<int>& entries = folder_of[p] >= 0 ? folders.node(folder_of[p]).children : kNone;
    std::map<std::string, int> rank_of_type;
    std::set<int> taken;
    int64_t position = 0;
    for (int c : nodes_[p].children) {
      Node& n = nodes_[static_cast<size_t>(c)];
      std::string base;
      const std::string ids = n.exact_folder ? n.op_id : OpNameIds(n.name, &base);
      const int rank = rank_of_type[n.type]++;
      auto same_type = [&](int e) {
        return folders.node(e).type == n.type || (!base.empty() && folders.node(e).type == base);
      };
      auto type_ok = [&](int e) { return !taken.count(e) && same_type(e); };
      int chosen = -1;
      for (int e : entries)
        if (!ids.empty() && LastId(folders.node(e).op_id) == LastId(ids) && type_ok(e)) chosen = e;
      if (chosen < 0 && !n.exact_folder)
        for (int e : entries)
          if (LastId(folders.node(e).op_id) == position && type_ok(e)) chosen = e;
      if (chosen < 0 && !n.exact_folder) {
        int k = 0;
        for (int e : entries)
          if (same_type(e) && k++ == rank && !taken.count(e)) chosen = e;
      }
      if (chosen >= 0) {
        taken.insert(chosen);
        folder_of[static_cast<size_t>(c)] = chosen;
        n.folder = folders.node(chosen).folder;
        n.op_id = folders.node(chosen).op_id;
      } else {
        ++unresolved;
        n.op_id = JoinIds(nodes_[p].op_id, std::to_string(ids.empty() ? position : LastId(ids)));
      }
      ++position;
    }
  }
  if (unresolved)
    notes_.push_back(fmt::format("{}: {} operation(s) of the model topology have no tensor folder in {} (not dumped)",
                                 where_.topology.string(), unresolved, where_.process_dir.string()));
}

void DumpTree::LoadTorch() {
  const std::string dump = where_.process_dir.empty() ? where_.topology.string() : where_.process_dir.string();
  auto add = [&](Node n) {
    if (nodes_.size() >= kMaxTopologyNodes) Fail(dump, "more than {} modules", kMaxTopologyNodes);
    by_name_.emplace(n.name, static_cast<int>(nodes_.size()));
    return Add(std::move(n));
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
      if (n.name.empty() || by_name_.count(n.name)) {  // unnamed or repeated: cannot address its folder
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
      if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
      size_t dot = name.rfind('.');
      Node n;
      n.name = name;
      n.parent = dot == std::string::npos ? -1 : ensure(name.substr(0, dot));
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
  if (skipped) notes_.push_back(fmt::format("{}: {} module(s) without a usable name skipped", dump, skipped));
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
      auto it = by_name_.find(name);
      if (it != by_name_.end() && listed.insert(it->second).second) seq.push_back(it->second);
    }
    if (!seq.empty()) module_order_[token] = std::move(seq);
  }
}

std::vector<int> DumpTree::PostOrder() const {
  std::vector<int> post;
  if (nodes_.empty()) return post;
  post.reserve(nodes_.size());
  std::function<void(int)> walk = [&](int n) {
    for (int c : node(n).children) walk(c);
    post.push_back(n);
  };
  walk(0);
  return post;
}

std::vector<int> DumpTree::ExecutionOrder(const std::string& token) const {
  std::vector<int> post = PostOrder();
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
