// `ait llm opcheck` as one library call: find the operations of a dump (each with its after/
// tensors and op_param.json), recompute every operation's outputs from its dumped inputs with
// a float64 reference (src/opcheck/references/), score the dumped outputs against them with the
// precision standard of their dtype, and write the xlsx and CSV reports. The CLI, the Python
// package (ait_llm.opcheck) and compare's --opcheck call it. docs/OPCHECK.md has every rule.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ait/dtype.h"

namespace ait {

// -metric: the optional columns, in the report's order whatever the order asked.
inline constexpr std::string_view kOpcheckMetrics[] = {"abs", "cos_sim", "kl"};

// The precision standard of an output dtype (FORMATS §8.4, keyed by canonical dtype): an
// element passes when its error is at most `error_level`, a tensor when at least
// `required_rate` % of its elements pass.
struct PrecisionStandard {
  double error_level = 0;
  double required_rate = 0;  // percent
  std::string Text() const;  // "99.9%(error<0.001)", the original's precision_standard cell
};
PrecisionStandard StandardFor(DType dtype);

struct OpcheckRequest {
  // -i: a folder of an ATB dump: an operation's folder or any folder below a token folder,
  // a token folder, a {dev}_{pid} folder (every token), tensors/ or ait_dump/ (or its parent).
  std::filesystem::path input;
  // -c: an operation_tensors_{n}.csv of `dump --type op`: the operations (name, id, param) come
  // from its rows, their tensors from `input`. Empty: every operation folder under `input`.
  std::filesystem::path op_csv;
  // Folder for opcheck_result_{stamp}.xlsx and .csv (created if missing); empty writes none.
  std::filesystem::path output;
  // -ids: operation ids ("24_1"): an operation matches its id and every id below it.
  std::vector<std::string> ids;
  // -opname: case-insensitive substrings of the operation type. With -ids, both must match.
  std::vector<std::string> names;
  // -metric: names from kOpcheckMetrics.
  std::vector<std::string> metrics;
  // -rerun: run each operation again through the reference engine's single-operation API
  // (libait_engine, $AIT_OPCHECK_LIB_PATH) and score that run; the dump is compared with it.
  bool rerun = false;
  int device_id = 0;  // -device: recorded (the reference engine runs on the CPU)
  int threads = 0;    // 0 = all cores
  // Called from worker threads as operations are checked (serialize inside); may be empty.
  std::function<void(size_t done, size_t total)> progress;
};

// One output tensor of one operation, scored against its reference.
struct OutputCheck {
  int index = 0;                 // out_tensor_id
  DType dtype = DType::kFloat32; // of the checked output
  PrecisionStandard standard;
  bool passed = false;
  bool scored = false;           // the rates below hold values
  double rel_rate = 0, max_rel = 0;  // percent of elements within the error level; the largest error
  std::optional<double> abs_rate, max_abs, cosine, kl;
  int64_t elements = 0;
  std::string worst;             // "[2, 17]: 0.512 (reference 0.5)", the element of max_rel
  std::string fail_reason;
};

enum class CaseStatus { kPassed, kFailed, kUnsupported };
// "PASS", "FAILED", "addition failed": the original's precision_result.
std::string_view CaseStatusText(CaseStatus s);

// One operation checked.
struct OpcheckCase {
  std::string token;             // token folder name ("0")
  std::string op_id;             // "1_3": the ids of its folders from the token folder down
  std::string op_type;           // "LinearOperation"
  std::string param_text;        // op_param.json as JSON text ("" when unreadable)
  std::filesystem::path tensor_path;  // its after/ folder
  CaseStatus status = CaseStatus::kFailed;
  std::vector<OutputCheck> outputs;
  std::string fail_reason;       // for the case as a whole (no reference, unreadable tensor, ...)
  // -rerun: how the rerun's outputs compare with the dumped ones ("identical", or the largest
  // difference); empty without -rerun.
  std::string rerun_vs_dump;
  bool rerun_differs = false;
};

struct OpcheckResult {
  std::filesystem::path base;    // the token folder (or the {dev}_{pid} folder) op ids start from
  std::vector<OpcheckCase> cases;  // in dump order: token, then execution order
  size_t passed = 0, failed = 0, unsupported = 0, graphs = 0;  // graphs: graph operations, not checked themselves
  size_t rerun_differs = 0;
  std::filesystem::path xlsx, csv;  // written reports (empty when none)
  // 0 every case passed (unsupported ones are reported, not failures), 1 some failed.
  int exit_status = 0;
};

// Throws ait::Error when the input is not a dump, holds no operation with what opcheck needs
// (the message names the `ait llm dump` flags that write it), -c cannot be read, a filter or
// metric is invalid, -rerun cannot load the engine, or a report cannot be written. A bad
// operation (unreadable param or tensor, no reference) is a case with a fail reason.
OpcheckResult RunOpcheck(const OpcheckRequest& request);

// compare --opcheck: checks each of the operation folders `dirs` in parallel (`threads`, 0 = all
// cores). An entry whose folder is not a leaf operation folder with after/ and op_param.json
// (a graph, a kernel, a torch module, an empty path) gets nullopt.
std::vector<std::optional<OpcheckCase>> CheckOperationFolders(const std::vector<std::filesystem::path>& dirs,
                                                              int threads);

// One line of evidence for a checked case: its first failing output's numbers (rate, standard,
// worst element), or the largest error when every output passed.
std::string CaseEvidence(const OpcheckCase& c);

// The end-of-run text: counts, then the FAILED cases first with their evidence, then where the
// reports went.
std::string FormatOpcheckResult(const OpcheckResult& result);

}  // namespace ait
