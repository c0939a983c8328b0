// The operation / module tree of one dump (ATB model JSON or tensor folders, torch
// model_tree.json) and the tensor files each node holds per token: what the topology
// strategies pair. Internal to pairing.
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
  std::string type;  // ATB opType / torch module class ("" when unknown)
  int parent = -1;
  std::vector<int> children;  // in graph / registration order
  int depth = 0;              // root = 0
  // ATB only.
  nlohmann::json param;                          // operation param, null when unknown
  std::vector<std::string> in_names, out_names;  // tensor names from the topology JSON
  std::string op_id;                             // "1_3"; "" for torch and for the model root
  std::string folder;  // relative to a token folder; "" when the node has no folder
};

// One tensor file of a node: its stem ("outtensor0", "intensor1", "output", "input_0") and path.
struct TensorFile {
  std::string stem;
  std::filesystem::path path;
};

class DumpTree {
 public:
  // Reads the topology of the dump at `where` (which must be kAtb or kTorch). Throws
  // ait::Error for a topology file that is present but unusable.
  static DumpTree Load(const DumpLocation& where);

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
  mutable std::unordered_map<std::string, int64_t> numel_cache_;

  void LoadAtb();
  void LoadTorch();
  std::filesystem::path FolderOf(int i, const std::string& token) const;
  std::vector<TensorFile> TorchFiles(int i, const std::string& token) const;
};

}  // namespace ait::topo
