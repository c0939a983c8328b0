// The rule of -cl/--cmp-level (include/ait/compare_level.h): which pairs of an OpPairing a
// folder compare keeps, whatever strategy made it. RunCompare applies it after pairing and
// before scoring, so nothing a level leaves out is read. Internal to compare.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_set>

#include "ait/compare_level.h"
#include "ait/op_pairs.h"
#include "compare/pairing/pairing_strategy.h"

namespace ait {

// What the level rule knows of one side of the compare.
struct LevelSide {
  bool torch = false;             // a torch dump (ait_llm.register_hook)
  std::string kind = "unknown";   // "torch dump", "ATB dump", "unknown" (for messages)
  std::filesystem::path dump;     // its {dev}_{pid} folder (or the path given), for messages
  bool has_tree = false;          // its model_tree.json was read
  // The folder names (TorchModuleFolder) of every module of model_tree.json.
  std::unordered_set<std::string> module_folders;
};

// A pair's folder in a torch dump, as the level rule sees it.
enum class TorchFolderKind {
  kModule,  // a module of model_tree.json: `root.model.layers.0.mlp`
  kApi,     // API mode: `{module folder}.{function}` or `{module folder}.{function}.{N}`
  kOther,   // neither (a folder model_tree.json does not explain)
};

// What `folder` (one path component) is in the torch dump `side`. REQUIRES: side.has_tree.
TorchFolderKind ClassifyTorchFolder(const LevelSide& side, const std::string& folder);

// The golden or my side of `dumps` as the level rule needs it: its kind and, for a torch dump
// with `read_tree`, its model_tree.json. Throws ait::Error for an unreadable model_tree.json.
LevelSide DescribeLevelSide(DumpPair& dumps, DumpPair::Side side, bool read_tree);

// Keeps what `level` compares of `ops`: its operations and its CSV rows (`ops.rows`, data_id
// renumbered from 0). layer and token keep everything.
// - module / api: the pairs whose file lies in a module folder / an API-mode folder of the
//   torch side (the golden side when both are torch dumps); operations likewise, by their
//   first output.
// - logits: per token, the first output of the operation or module that finished last (the
//   model's final output: torch `root`'s output_0 or output, `root.lm_head` in a
//   dump_last_logits dump, the last top-level ATB operation's outtensor0), its inputs kept
//   for the analysis.
// Throws ait::Error, naming the level, when the level does not exist in these dumps (module
// or api without a torch side or its model_tree.json; no pair left).
void ApplyCompareLevel(CompareLevel level, const LevelSide& golden, const LevelSide& my, OpPairing& ops);

// DescribeLevelSide of both sides (reading model_tree.json only for module and api), then
// ApplyCompareLevel. layer and token return at once.
void ApplyCompareLevel(CompareLevel level, DumpPair& dumps, OpPairing& ops);

}  // namespace ait
