// The self-contained HTML report written beside the compare CSV with its timestamp,
// ait_cmp_report_{stamp}.html: the root causes with their evidence, per-token charts of cosine
// similarity, relative L2 and max relative error along execution order (operations named on the
// axis and on hover, layers marked, root causes highlighted), contributors, worst operations.
// docs/ROOT_CAUSE.md describes it. Internal to compare.
#pragma once

#include <filesystem>

#include "ait/csv_report.h"
#include "ait/divergence.h"
#include "ait/op_pairs.h"

namespace ait {

// Writes atomically; throws ait::Error naming the file on failure.
void WriteHtmlReport(const std::filesystem::path& path, const OpPairing& ops, const DivergenceReport& report,
                     const CompareSummary& summary, const ReportPaths& paths);

}  // namespace ait
