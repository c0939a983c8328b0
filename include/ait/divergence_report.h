// Root-cause reports written beside the compare CSV, with its timestamp:
// ait_cmp_summary_{stamp}.json (root causes, per-operation verdicts, thresholds, report paths)
// and ait_cmp_report_{stamp}.html (self-contained: per-token charts of cosine similarity and max
// relative error along execution order, layers marked, root causes highlighted, worst operations).
// docs/ROOT_CAUSE.md describes both.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "ait/divergence.h"
#include "ait/report.h"

namespace ait {

struct ReportPaths {
  std::filesystem::path csv, json, html;
};

// The JSON and HTML paths that go with a CSV written by WriteCsvReport:
// `.../ait_cmp_report_{stamp}[_N].csv` -> `ait_cmp_summary_{stamp}[_N].json`, `ait_cmp_report_{stamp}[_N].html`.
ReportPaths ReportPathsFor(const std::filesystem::path& csv);

// The summary document (schema in docs/ROOT_CAUSE.md; "schema": "ait-llm/compare-summary/1"),
// keys in the documented order.
nlohmann::ordered_json BuildSummaryJson(const OpPairing& ops, const DivergenceReport& report, const CompareSummary& summary,
                                const ReportPaths& paths);

// Write atomically; throw ait::Error naming the file on failure.
void WriteSummaryJson(const std::filesystem::path& path, const nlohmann::ordered_json& summary);
void WriteHtmlReport(const std::filesystem::path& path, const OpPairing& ops, const DivergenceReport& report,
                     const CompareSummary& summary, const ReportPaths& paths);

}  // namespace ait
