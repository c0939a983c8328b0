// Topology-aware pairing (FORMATS.md 7.3, 7.4 and beyond): pairs the operations of an ATB
// (or reference-engine) dump with the modules of a torch dump, a float ATB dump with a
// quantized one whose topology differs, or two torch dumps, token by token, and lists each
// pair's input and output tensors. docs/COMPARE_PAIRING.md states every rule.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ait/op_mapping.h"
#include "ait/op_pairs.h"

namespace ait {

enum class DumpKind {
  kUnknown,  // no topology and no recognisable operation / module folders
  kAtb,      // ait_dump/tensors/{dev}_{pid}/{token}/{id}_{Op}/..., optional ait_dump/model/{pid}/*.json
  kTorch,    // ait_dump/torch_tensors/{device}_{pid}/{token}/{module name}/..., model_tree.json
};

// Where a dump's tensors and topology are, whatever level of it the user named.
struct DumpLocation {
  DumpKind kind = DumpKind::kUnknown;
  std::filesystem::path process_dir;  // {dev}_{pid}: the folder whose children are token folders
  std::vector<std::string> tokens;    // token folder names to use, in numeric order
  bool token_given = false;           // the user named one token folder
  std::filesystem::path topology;     // ATB model JSON / torch model_tree.json; empty when none
};

// Finds the dump under `path`: the `-o` folder of a dump, its `ait_dump/`, `tensors/` or
// `torch_tensors/` folder, a `{dev}_{pid}` folder, or one token folder of it. Throws
// ait::Error when `path` is not a folder or holds several `{dev}_{pid}` folders.
DumpLocation LocateDump(const std::filesystem::path& path);

// Pairs the operations of `my` with those of `golden`, deciding the scenario from what the
// two folders hold:
//   torch (model_tree.json) vs ATB, either way round -> layers, op-type tables, alignment;
//   ATB vs ATB whose model topologies differ (float vs quantized) -> the original's
//     float-vs-quant rules, then alignment;
//   torch vs torch -> modules of the same name.
// Returns nullopt when relative-path pairing is the better tool: two ATB dumps of one
// topology, an ATB dump without a model topology on either side, or folders that are no
// recognisable dump. Throws ait::Error (naming the folder) when a side is not a folder, is
// ambiguous, or cannot be paired (a torch dump without model_tree.json against ATB, no token
// folder present on both sides). Unpaired layers and operations are reported in `notes`.
std::optional<OpPairing> PairByTopology(const std::filesystem::path& golden, const std::filesystem::path& my,
                                        const OpMapping& mapping);

}  // namespace ait
