// Relative-path pairing (strategy "path", the fallback): two dumps of the same graph, tensor
// files paired by relative path; and the execution order of dump paths. Internal to pairing.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "ait/compare_pair.h"

namespace ait {

struct PairingResult {
  std::vector<TensorPair> pairs;  // in execution order: token, then the dump's operation order
  std::filesystem::path golden_root, my_root;  // the folders actually walked
  std::vector<std::string> only_in_golden, only_in_my;  // relative paths without a partner
  std::string strategy;  // human-readable name of the strategy that ran
};

// Two dumps of the same graph (different dtype, batch size, library version): pairs files
// by relative path. Each root may be given at the dump's top (`ait_dump/`), its tensors
// folder, or a `{dev}_{pid}` folder; single `{dev}_{pid}` folders are descended into on
// each side independently, so differing pids still pair. Throws ait::Error when a root is
// not a readable folder.
PairingResult PairByRelativePath(const std::filesystem::path& golden, const std::filesystem::path& my);

// Execution-order comparison of two relative tensor paths of one dump: numbered folders
// (`3_LinearOperation`, token `12`) by number, `before/` before child operations before
// `after/`, inputs before outputs, torch module folders children-first (a module's output
// is complete after its children's). `module_order` ranks torch module names when a
// model_tree.json was found (post-order); may be empty.
bool ExecutionOrderLess(const std::string& a, const std::string& b,
                        const std::unordered_map<std::string, size_t>& module_order);

}  // namespace ait
