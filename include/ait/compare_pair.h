// Comparing tensor pairs: load both files, apply the original's batch broadcast / tile
// rule when asked, pre-check (counts, NaN/inf), and score with ComputePairMetrics.
// Scoring never knows which pairing strategy produced the pairs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ait/metrics.h"
#include "ait/tensor.h"

namespace ait {

// One (golden, my) pair to score, as a pairing strategy produced it.
struct TensorPair {
  std::string token_id;  // the token (execute count) folder; "0" when there is none
  std::string data_id;   // running index of the pair within the report
  std::string golden_path;
  std::string my_path;
  std::string label;     // what the pair is (relative path, operation name); for summaries
  // Which operation / module the pair belongs to, for the report's extra columns (empty when
  // the pairing strategy does not know): names as they appear in the dumps, their types, and
  // how the pair was made ("path", "exact", "mapped", "aligned").
  std::string my_name, my_type, golden_name, golden_type, match;
  // The element order of a side when it differs from the other's only by layout
  // (ait/tensor_layout.h); "" when they share it. Scoring reorders that tensor first.
  std::string golden_layout, my_layout;
};

// What the report says of one side: filled whenever the file could be read.
struct TensorInfo {
  std::string dtype;  // torch spelling, e.g. "torch.float16"
  std::string shape;  // "[1, 2, 3]"
  bool has_stats = false;  // false when a dim is 0 or the file held a description only
  SideStats stats;
};

// What a custom metric gives for one pair: the cells of its two CSV columns.
struct CustomMetricValue {
  std::string value;    // the metric's value as text ("0.25", "3", "ok")
  std::string message;  // its message; the error when the metric failed on this pair
};

// A metric of the user's (`-alg FILE.py:FUNC`, compare_folders(custom_algorithms=...)): the
// report gets two more columns, `name` and `name_message`, after the others. `fn` is called
// with the two tensors as read (their dtypes and shapes, before any batch broadcast) for every
// pair that passes the pre-check, possibly from several threads at once (it serializes inside
// if it must). An exception it throws becomes that row's message (what()), never a failed report.
struct CustomMetric {
  std::string name;
  std::function<CustomMetricValue(const Tensor& golden, const Tensor& my)> fn;
};

struct CompareRow {
  TensorPair pair;
  std::optional<TensorInfo> golden, my;
  std::optional<PairMetrics> metrics;  // present exactly when cmp_fail_reason is empty
  std::string fail_reason;             // the original's cmp_fail_reason
  // One per CompareOptions::custom_metrics, in order, when `metrics` is present; else empty.
  std::vector<CustomMetricValue> custom;
  // Folder compares: the root-cause analysis of the operation whose output this pair is (the
  // innermost one), for the CSV's last extra columns; empty for inputs and for two files.
  struct Operation {
    std::string verdict;                                  // clean, propagating, introducing, unscored
    std::optional<double> local_error, expected_local_error;
    bool root_cause = false;
  };
  std::optional<Operation> operation;
};

struct CompareOptions {
  // Apply the ATB-vs-ATB batch rule: numpy-style broadcast, else tile the tensor with the
  // smaller dim 0 when the larger dim 0 is a multiple of it.
  bool broadcast = false;
  // Worker threads for CompareAll (0 = all cores).
  int threads = 0;
  // The user's metrics, called on every pair whose metrics are computed.
  std::vector<CustomMetric> custom_metrics;
};

// Scores one pair. Never throws for bad files: they become fail_reason.
CompareRow ComparePair(const TensorPair& pair, const CompareOptions& options);

// Scores two tensors already in memory exactly as ComparePair scores them once both files
// are read (the row's `pair` is left default). Nothing the tensors hold makes it throw: an
// uncomparable tensor (a description only, complex values, a 0 dimension) becomes
// fail_reason. The tensors' bytes must stay valid and unchanged during the call.
CompareRow CompareTensors(const Tensor& golden, const Tensor& my, const CompareOptions& options);

// Scores many pairs in parallel; rows come back in the order of `pairs`.
// `progress(done, total)` is called from worker threads (serialize inside if needed).
std::vector<CompareRow> CompareAll(const std::vector<TensorPair>& pairs, const CompareOptions& options,
                                   const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace ait
