// The one tree type of a dump: its operations (ATB model JSON or `{id}_{Type}` folders) or
// modules (torch model_tree.json or module folders), and the tensor files each node holds
// per token. The topology strategies pair two of them; path grouping names the folders of a
// path pairing with them. Internal to pairing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "compare/pairing/dump_layout.h"

namespace ait::topo {

// The layout rules live in dump_layout.h; the tree code names them as its own.
using ::ait::TorchModuleFolder;

struct Node {
  std::string name;  // ATB opName ("LinearOperation_1_3") / torch module name ("root.model.norm")
  std::string type;  // ATB opType, else the opName without its ids / torch module class ("" when unknown)
  int parent = -1;
  std::vector<int> children;  // in graph / registration order; folders by id
  int depth = 0;              // root = 0
  // ATB only.
  nlohmann::json param;                          // operation param, null when unknown
  std::vector<std::string> in_names, out_names;  // tensor names from the topology JSON
  std::string op_id;  // "1_3": the folder ids (the opName's ids before folders are resolved); "" for the root
  std::string folder;  // relative to a token folder ("1_Layer/3_LinearOperation"); "" when the node has none
  // The model JSON gave the node's folder id ("folderId", ait's extension: the ggml dumper's
  // node index): its folder is that one or none, never one found by position or type rank.
  bool exact_folder = false;
};

// One tensor file of a node: its stem ("outtensor0", "intensor1", "output", "input_0") and path.
struct TensorFile {
  std::string stem;
  std::filesystem::path path;
};

// Node 0 is the root: the ATB model, or the torch root module. Children follow their parents
// in node order.
class DumpTree {
 public:
  // Reads the dump at `where` (which must be kAtb or kTorch): the ATB model JSON with every
  // operation located among the `{id}_{Type}` folders of the token folders (without a JSON,
  // the operation folders themselves, kernels left out); the torch model_tree.json (without
  // it, the module folders). Throws ait::Error for a topology file that is present but
  // unusable, and beyond the limits of dump_layout.h.
  static DumpTree Load(const DumpLocation& where);
  // Every `{id}_{Type}` folder chain among `folders` (relative to a token folder, '/'
  // between folders) and the folders above it, kernels included, named as ATB names
  // operations (`{Type}_{op_id}`); paths that are no chain are left out. No files are read.
  static DumpTree FromAtbFolders(const std::vector<std::string>& folders);
  // The operations of an ATB model JSON alone, op_id being the ids that end each opName
  // (else the parent's op_id and the node's position). Throws ait::Error as Load does.
  static DumpTree ReadAtbModel(const std::filesystem::path& model_json);
  // The modules of a torch model_tree.json alone (Load without token folders).
  static DumpTree ReadTorchModelTree(const std::filesystem::path& model_tree);

  DumpKind kind() const { return where_.kind; }
  const DumpLocation& where() const { return where_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int i) const { return nodes_[static_cast<size_t>(i)]; }
  bool IsLeaf(int i) const { return node(i).children.empty(); }
  bool IsInside(int i, int ancestor) const;  // i == ancestor or below it
  // What was noticed while loading (unresolved folders, skipped names).
  const std::vector<std::string>& notes() const { return notes_; }
  // "ATB model JSON", "ATB tensor folders", "model_tree.json", "module folders".
  const std::string& source() const { return source_; }

  // The node of that name (the first one), that folder, or -1.
  int FindByName(const std::string& name) const { return Find(by_name_, name); }
  int FindFolder(const std::string& folder) const { return Find(by_folder_, folder); }
  // The ATB operation of id path `op_id` whose type, or opName without its ids, is `type`
  // (ids can disagree between a JSON and the folders: ATB numbers with a process-wide
  // counter); -1 when none.
  int FindOperation(const std::string& op_id, const std::string& type) const;

  // Every node, children before their parent, in child order.
  std::vector<int> PostOrder() const;
  // Every node but the root, in the order their outputs become complete (children before
  // parents): ATB graph order; torch module_order.json of `token` when present, else the
  // model tree's post-order.
  std::vector<int> ExecutionOrder(const std::string& token) const;

  // Tensor files of node `i` in token folder `token`, sorted by index. ATB inputs prefer
  // before/ over after/. Torch inputs are positional (input_N) unless `all_torch_files`,
  // which lists every tensor file of the module folder as inputs (input*) or outputs.
  std::vector<TensorFile> Inputs(int i, const std::string& token, bool all_torch_files = false) const;
  std::vector<TensorFile> Outputs(int i, const std::string& token, bool all_torch_files = false) const;
  std::vector<TensorFile> NamedFile(int i, const std::string& token, const std::string& stem) const;

  // Element count of a tensor file; -1 when it cannot be read. Cached.
  int64_t Numel(const std::filesystem::path& file) const;
  // Element count of node i's first output in `token`; -1 when unknown.
  int64_t OutputNumel(int i, const std::string& token) const;

 private:
  DumpLocation where_;
  std::vector<Node> nodes_;
  std::vector<std::string> notes_;
  std::string source_;
  std::map<std::string, std::vector<int>> module_order_;  // token -> node order (torch)
  std::unordered_map<std::string, int> by_name_, by_folder_, by_op_id_;
  mutable std::unordered_map<std::string, int64_t> numel_cache_;

  static int Find(const std::unordered_map<std::string, int>& index, const std::string& key);
  int Add(Node n);  // appends n below n.parent; returns its index
  void Index();     // fills by_name_, by_folder_, by_op_id_
  void ParseAtbModel(const nlohmann::json& model, const std::filesystem::path& file);
  void LoadAtb();
  void LoadTorch();
  std::filesystem::path FolderOf(int i, const std::string& token) const;
  std::vector<TensorFile> TorchFiles(int i, const std::string& token) const;
};

}  // namespace ait::topo
