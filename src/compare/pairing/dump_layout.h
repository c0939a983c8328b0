// The one reader of the dump layout (FORMATS.md 5, 6): what `{dev}_{pid}`, token and
// `{id}_{Op}` folders look like, where a dump's tensors, its ATB model JSON and its torch
// model_tree.json are, whatever level of it the user named, and the limits every reader of
// a dump shares. Internal to compare.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ait {

// Limits shared by every reader of a dump's folders and JSON files.
inline constexpr int kMaxDumpDepth = 64;               // folder nesting, topology nesting
inline constexpr size_t kMaxTopologyNodes = 1'000'000;  // operations / modules of one topology
inline constexpr size_t kMaxOperationFolders = 4'000'000;
inline constexpr size_t kMaxTensorFiles = 10'000'000;
inline constexpr uintmax_t kMaxJsonBytes = 1ull << 30;  // any topology / order JSON
inline constexpr int kMaxJsonNesting = 128;             // deeper JSON is refused while parsing
inline constexpr size_t kMaxDigits = 18;                // a number in a folder name fits int64
inline constexpr size_t kMaxManualPairs = 1'000'000;    // rows of one dump_data metadata.json; the rest are left out

// File names of the dump layout.
inline constexpr std::string_view kTorchModelTreeFile = "model_tree.json";
inline constexpr std::string_view kTorchModuleOrderFile = "module_order.json";
inline constexpr std::string_view kGoldenTensorFolder = "golden_tensor";  // dump_data: {pid}_{device}/golden_tensor/
inline constexpr std::string_view kMetadataFile = "metadata.json";        // ... and its metadata.json

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

// A non-empty run of at most kMaxDigits decimal digits.
bool IsDigits(std::string_view s);
// The value of IsDigits text.
int64_t DigitsValue(std::string_view s);

// `{dev}_{pid}` as ATB writes it (`0_1234`) or as the torch hook does (`cpu_1234`, `npu0_1234`).
bool IsProcessFolder(std::string_view name);

// `{id}_{Name}`: an ATB operation or kernel folder. `3_LinearOperation` -> ("3", "LinearOperation").
bool SplitIdFolder(std::string_view name, std::string* id, std::string* type);

// The subfolders of `dir` (symbolic links left out), sorted by name; empty when unreadable.
std::vector<std::filesystem::path> Subfolders(const std::filesystem::path& dir);

// Token folder names in numeric order ("2" before "10").
bool TokenLess(const std::string& a, const std::string& b);

// Parses a JSON file of at most kMaxJsonBytes nested at most kMaxJsonNesting deep. Throws
// ait::Error naming the file and `what` (e.g. "model topology JSON").
nlohmann::json ReadJsonFile(const std::filesystem::path& file, std::string_view what);
// The same without the error: nullopt for a missing, oversized, deep or malformed file.
std::optional<nlohmann::json> TryReadJsonFile(const std::filesystem::path& file);

// Finds the dump under `path`: the `-o` folder of a dump, its `ait_dump/`, `tensors/` or
// `torch_tensors/` folder, a `{dev}_{pid}` folder, or one token folder of it. Throws
// ait::Error when `path` is not a folder or holds several `{dev}_{pid}` folders.
DumpLocation LocateDump(const std::filesystem::path& path);

// The folder that relative-path pairing walks: from what the user named down through
// `ait_dump/`, `tensors/` or `torch_tensors/`, and a single `{dev}_{pid}` folder.
std::filesystem::path TensorRoot(std::filesystem::path root);

// The ATB model topology JSON of the dump whose tensors are at `tensors_root` (a `{dev}_{pid}`
// folder, a token folder below it, or the `tensors/` folder): the first `*.json` of
// `ait_dump/model/{pid}/`, else of the only folder under `model/`, else of `model/` itself
// (the first in name order). Empty when there is none.
std::filesystem::path FindAtbModelJson(const std::filesystem::path& tensors_root);

// The folder name the torch dump gives module `name` (one path component).
std::string TorchModuleFolder(const std::string& name);

}  // namespace ait
