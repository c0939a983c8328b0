// The torchair dump layouts (FORMATS.md 9.2-9.5): where a GE dump's graph text and operator
// files are, which folders are tokens, and how an FX dump's `.npy` files group into aten
// nodes. The one reader of those layouts; the GE pairing strategies (pair_ge_fx.cc,
// pair_ge_fused.cc) build on it. Internal to pairing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "formats/ge_dump.h"
#include "formats/ge_graph.h"

namespace ait {

// How deep below the folder the user named a GE graph text is looked for (the original
// walks the whole tree; its dump puts it at the top of `dump_{ts}/`).
inline constexpr int kMaxGeGraphDepth = 5;
// A token folder's name: decimal, shorter than this (the 14-digit GE time folder is not one).
inline constexpr size_t kMaxTokenChars = 11;
// The fused operators GE's buffer fusion makes; their names concatenate their members'.
inline constexpr std::string_view kFusedOpType = "AutomaticBufferFusionOp";

// Every `dynamo_original_graph_*.txt` under `root` (at most kMaxGeGraphDepth folders down),
// sorted by path.
std::vector<std::filesystem::path> FindGeGraphFiles(const std::filesystem::path& root);

// A token folder and the token it stands for.
struct TokenFolder {
  int64_t number = 0;
  std::string token;  // the number as text, as the reports show it
  std::filesystem::path dir;
};
// FORMATS.md 9.5: walking `root` top-down in name order, the last folder whose subfolders
// are all token-like names gives the token folders, in numeric order; none -> `root` is
// token 0. `fx_shift`: an FX dump of the older torchair counts its steps from 1 while GE
// counts from 0, so its tokens are lowered by one; the newer layout (token folders inside
// `gm_{ts}_dump/`) already counts from 0 and is left as it is (the original lowers both).
std::vector<TokenFolder> TokenFolders(const std::filesystem::path& root, bool fx_shift);

// One operator file of a GE dump.
struct GeOpFile {
  std::string path;
  GeDumpName name;
  uintmax_t bytes = 0;
};

// One token of a GE dump: its operator files in the order they ran (timestamp, then task id).
struct GeToken {
  std::string token;
  std::vector<GeOpFile> files;
  std::unordered_map<std::string, size_t> by_name;  // op name -> files[]
  const GeOpFile* Find(const std::string& op_name) const {
    auto it = by_name.find(op_name);
    return it == by_name.end() ? nullptr : &files[it->second];
  }
};

struct GeDumpTree {
  std::filesystem::path root;
  GeGraph graph;                 // every graph text found, merged (the first name wins)
  std::vector<GeToken> tokens;   // numeric order
  size_t unnamed_files = 0;      // files that are no GE dump file (and no .txt/.npy/.bin/.json/.csv)
  size_t duplicates = 0;         // an op name met twice in one token: the larger file kept
};

// Reads the GE dump under `root`: its graph texts and every token's operator files (names
// only; tensors are read when scored). Throws ait::Error when `root` holds no graph text or
// a graph text is malformed.
GeDumpTree ReadGeDumpTree(const std::filesystem::path& root);

// One aten node of an FX dump: its INPUT and OUTPUT `.npy` files in index order.
struct FxNode {
  std::vector<std::string> inputs, outputs;
};
struct FxToken {
  std::string token;
  std::unordered_map<std::string, FxNode> nodes;  // `<node name>-<aten target>` -> files
};
struct FxDumpTree {
  std::filesystem::path root;
  std::vector<FxToken> tokens;  // numeric order, FORMATS.md 9.5 shift applied
  size_t files = 0;             // `.npy` files grouped
};

// Groups the FX dump's `.npy` files under `root` by node and token (FORMATS.md 9.4): the
// node key is the file name before `.INPUT.` / `.OUTPUT.`; each list is ordered by the
// indices after it (`INPUT.2` before `INPUT.10`; `INPUT.1.0`, `INPUT.1.1` for a list argument).
FxDumpTree ReadFxDumpTree(const std::filesystem::path& root);

// The FX node key of an output's `_fx_tensor_name`: `add_1-aten.add.Tensor.OUTPUT.0` ->
// `add_1-aten.add.Tensor` (the name itself when it has no `.OUTPUT.<i>` tail).
std::string FxNodeKey(const std::string& fx_tensor_name);

// FORMATS.md 9.8: the member operators of a fused operator's name (`Add_2Cast_9ConcatV2` ->
// Add_2, Cast_9, ConcatV2), each the longest prefix that is an operator of `graph`. A
// prefix that is not in the graph but is an operator name of a dump (`is_dump_op`) stops the
// search. Empty when the name does not split entirely; one member for a plain operator.
template <typename IsDumpOp>
std::vector<std::string> SplitFusedName(std::string name, const GeGraph& graph, IsDumpOp is_dump_op) {
  std::vector<std::string> members;
  while (!name.empty()) {
    std::string found;
    for (size_t len = name.size(); len > 0; --len) {
      std::string prefix = name.substr(0, len);
      if (graph.Find(prefix)) {
        found = std::move(prefix);
        break;
      }
      if (len < name.size() && is_dump_op(prefix)) break;
    }
    if (found.empty()) return {};
    name.erase(0, found.size());
    members.push_back(std::move(found));
  }
  return members;
}

}  // namespace ait
