// Scoring an operation pairing: every tensor pair once, the CSV's rows first. Internal to compare.
#pragma once

#include <functional>
#include <vector>

#include "ait/compare_pair.h"
#include "ait/op_pairs.h"

namespace ait {

// Scores `report_pairs` and every further tensor pair of `ops` once (CompareAll). The first
// report_pairs.size() rows are those of report_pairs, in order; the rest follow. Custom
// metrics (options.custom_metrics) run on report_pairs only.
std::vector<CompareRow> ScoreForAnalysis(const std::vector<TensorPair>& report_pairs, const OpPairing& ops,
                                         const CompareOptions& options,
                                         const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace ait
