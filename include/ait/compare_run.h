// `ait llm compare` as one library call: locate both dumps, pick the pairing strategy, pair,
// score every tensor pair once, find where the error is born, write the CSV, JSON and HTML
// reports. The CLI and the Python package (ait_llm.compare_folders) both call RunCompare.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ait/compare_level.h"
#include "ait/compare_pair.h"
#include "ait/csv_report.h"
#include "ait/divergence.h"
#include "ait/op_mapping.h"
#include "ait/op_pairs.h"

namespace ait {

// --fail-on: what makes a compare fail a pipeline. Each condition has its own exit status;
// when several hold, the first of this list that was asked for gives the status.
struct FailCondition {
  std::string_view name;     // as --fail-on spells it
  int exit_status;
  std::string_view meaning;  // for --help and the docs
};
inline constexpr FailCondition kFailConditions[] = {
    {"root-cause", 4, "a root cause was named"},
    {"off", 5, "a tensor pair is off: below the cosine threshold, above its relative L2 error, or NaN/inf"},
    {"failed", 6, "a tensor pair could not be compared (unreadable, shapes differ)"},
    {"inputs-differ", 7, "the runs were fed different inputs (other token ids): the JSON's input_mismatch"},
};

struct CompareRequest {
  // Two dump folders (any level of a dump: its -o folder, ait_dump/, tensors/, {dev}_{pid}/,
  // a token folder) or two tensor files.
  std::filesystem::path golden, my;
  // --peer-path: a third dump, the golden model run at my dtype (HF in fp16 against HF in fp32),
  // paired to the golden with the same strategies. Each operation's local error in `my` is then
  // judged against the same operation's in the peer (DivergenceOptions::peer_ratio), instead of
  // against its type. Folders only; empty for none.
  std::filesystem::path peer;
  // Folder for the reports (created if missing); empty writes none.
  std::filesystem::path output;
  // -ct: a tensor pair below this cosine similarity (or above the relative L2 error it stands
  // for) is off.
  double cosine_threshold = 0.99;
  int threads = 0;  // worker threads, 0 = all cores
  // Op-type tables for ATB vs torch pairing: the built-ins, or LoadOpMapping of the user's file.
  OpMapping mapping = BuiltinOpMapping();
  // -cl: which pairs of two folders are compared (include/ait/compare_level.h); applied after
  // pairing, whatever the strategy. Two files are one pair at any level.
  CompareLevel level = CompareLevel::kLayer;
  // -alg: the user's metrics, two more CSV columns each (CustomMetric, CsvColumns), called on
  // the pairs the CSV reports. Their names must give distinct columns.
  std::vector<CustomMetric> custom_metrics;
  // Called from worker threads as pairs are scored (serialize inside); may be empty.
  std::function<void(size_t done, size_t total)> progress;
  // --fail-on: names of kFailConditions; CompareResult::exit_status follows them.
  std::vector<std::string> fail_on;
  // --opcheck: check each operation of my dump that holds its inputs and params (after/ and
  // op_param.json) on its own inputs against opcheck's float64 reference; a failing one is a
  // root cause whatever it inherits, a passing root cause is precision-limited.
  bool opcheck = false;
};

// A pairing strategy asked before the chosen one, and why it did not pair the dumps.
struct StrategyRefusal {
  std::string strategy;  // PairingStrategy::name()
  std::string reason;
  bool blocked = false;  // its scenario, but the dumps cannot be paired that way
};

struct CompareResult {
  bool folders = false;               // two folders (else two files)
  std::string strategy;               // the chosen strategy's name ("" for two files)
  std::vector<StrategyRefusal> refusals;
  OpPairing pairing;                  // folders: the operations paired (pairing.strategy describes how)
  std::vector<CompareRow> rows;       // the CSV's rows, in order (mixed int8 pairs dropped)
  // Two files: their row, even when the CSV drops it (two files of several tensors, as two GE
  // dump files: a row per tensor both hold, by name, and this is the first).
  std::optional<CompareRow> file_pair;
  DivergenceReport analysis;          // folders: per operation of `pairing`, and the root causes
  // With a peer: where its dump was found, the strategy that paired it to the golden, and how
  // many operations of `pairing` found their counterpart in it.
  std::filesystem::path peer_root;
  std::string peer_strategy;
  size_t peer_matched = 0;
  size_t opchecked = 0, opcheck_failed = 0;  // --opcheck: operations checked, and failing
  CompareSummary summary;             // of `rows`
  ReportPaths reports;                // what was written; empty paths when nothing was (json/html: folders)
  // The kFailConditions that hold (whether asked for or not), in their order, and the exit
  // status request.fail_on gives them: 0 when none asked for holds. The summary JSON's "verdict".
  std::vector<std::string> conditions;
  std::vector<std::string> fail_on;  // request.fail_on
  int exit_status = 0;
};

// "root-cause, off, failed": the names of kFailConditions.
std::string FailConditionNames();

// The names of request.fail_on that are not conditions (empty when all are).
std::vector<std::string> UnknownFailConditions(const std::vector<std::string>& fail_on);

// Runs the comparison `request` describes. Throws ait::Error when the inputs cannot be
// compared (a path missing, a folder against a file, nothing pairs (my dump or the peer), the
// level does not exist in the dumps, a file of a two-file compare unreadable), custom metric
// names repeat a column, or a report cannot be written. Bad tensor files in folders do not
// throw: they become rows with a cmp_fail_reason.
CompareResult RunCompare(const CompareRequest& request);

// The summary document of a folder compare (docs/ROOT_CAUSE.md; what the JSON report holds),
// as JSON text; "null" for two files.
std::string CompareSummaryJson(const CompareResult& result);

// The pairing strategies in the order RunCompare asks them: (name, one-line summary).
std::vector<std::pair<std::string, std::string>> ListPairingStrategies();

// The names of request.custom_metrics, in order: the CSV's columns after the others.
std::vector<std::string> CustomMetricNames(const CompareRequest& request);

// The end-of-run text of `ait llm compare`: for two files the pair table, for folders the
// summary and the root causes; then where the reports went.
std::string FormatCompareResult(const CompareRequest& request, const CompareResult& result);

}  // namespace ait
