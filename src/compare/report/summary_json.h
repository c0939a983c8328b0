// The summary document written beside the compare CSV with its timestamp,
// ait_cmp_summary_{stamp}.json: root causes, per-operation verdicts, thresholds, report paths.
// docs/ROOT_CAUSE.md has the schema. Internal to compare.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ait/csv_report.h"
#include "ait/divergence.h"
#include "ait/op_pairs.h"

namespace ait {

// A finite number, else null.
nlohmann::ordered_json JsonNumber(const std::optional<double>& v);

// The summary document ("schema": "ait-llm/compare-summary/1"), keys in the documented order.
nlohmann::ordered_json BuildSummaryJson(const OpPairing& ops, const DivergenceReport& report,
                                        const CompareSummary& summary, const ReportPaths& paths);

// The document as the JSON report holds it (indented by 2, invalid UTF-8 replaced).
std::string SummaryJsonText(const nlohmann::ordered_json& summary);

// Writes SummaryJsonText atomically; throws ait::Error naming the file on failure.
void WriteSummaryJson(const std::filesystem::path& path, const nlohmann::ordered_json& summary);

}  // namespace ait
