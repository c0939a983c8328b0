// Compare reports: the original's 22-column CSV (plus operation columns), the paths of the
// reports written beside it, and the end-of-run summary of its rows.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ait/compare_pair.h"

namespace ait {

// The CSV columns: the original's 22, in order (FORMATS.md 7.7), then kExtraCsvColumns more
// naming each pair's operation or module: my_op_name, my_op_type, golden_op_name,
// golden_op_type, match (TensorPair's my_name, my_type, golden_name, golden_type, match).
inline constexpr size_t kOriginalCsvColumns = 22;
inline constexpr size_t kExtraCsvColumns = 9;
const std::vector<std::string>& CsvColumns();
// The columns of a report with custom metrics (CompareOptions::custom_metrics): CsvColumns(),
// then per metric `{name}` (its value) and `{name}_message`. Throws ait::Error when a name is
// empty or a column name would repeat (two metrics of one name, a metric named like a column).
std::vector<std::string> CsvColumns(const std::vector<std::string>& custom_metric_names);

// A double as Python's repr() prints it ("1.0", "0.1", "1e-05", "nan", "inf").
std::string PythonFloatRepr(double v);
// A CSV cell quoted as Python's csv module does (only when it holds , " or a line break).
std::string CsvQuote(const std::string& cell);
// The local time now in strftime `format` (reports' file-name stamps).
std::string LocalTimestamp(const char* format = "%Y%m%d%H%M%S");

// Removes rows where exactly one side is torch.int8 (int8 compares only with int8), as
// the original intends (its filter skips a row after each removal; ours does not).
// Returns how many rows were removed.
size_t DropMixedInt8Rows(std::vector<CompareRow>& rows);

// Cells of one row, in CsvColumns() order, then value and message of its first
// `custom_metrics` custom metrics (empty cells where the row has none: a failed pair).
std::vector<std::string> CsvCells(const CompareRow& row, size_t custom_metrics = 0);

// Writes `dir`/ait_cmp_report_{YYYYmmddHHMMSS}.csv (a `_N` suffix if that name exists),
// creating `dir` if needed, atomically. Returns the path written. Throws ait::Error.
// `custom_metric_names`: the columns CsvColumns(custom_metric_names) adds.
std::filesystem::path WriteCsvReport(const std::filesystem::path& dir, const std::vector<CompareRow>& rows,
                                     const std::vector<std::string>& custom_metric_names = {});

// The reports of one compare, named with the CSV's timestamp.
struct ReportPaths {
  std::filesystem::path csv, json, html;
};

// The JSON and HTML paths that go with a CSV written by WriteCsvReport:
// `.../ait_cmp_report_{stamp}[_N].csv` -> `ait_cmp_summary_{stamp}[_N].json`, `ait_cmp_report_{stamp}[_N].html`.
ReportPaths ReportPathsFor(const std::filesystem::path& csv);

struct CompareSummary {
  size_t pairs = 0, compared = 0, failed = 0, dropped_int8 = 0;
  std::vector<std::pair<std::string, size_t>> fail_reasons;  // reason -> count, most frequent first
  std::vector<size_t> worst;             // row indices, lowest cosine similarity first
  std::optional<size_t> first_divergent;  // first row in execution order with cosine < threshold
  double threshold = 0.99;
};

CompareSummary Summarize(const std::vector<CompareRow>& rows, double cosine_threshold, size_t worst_count);
// The summary as text for a terminal.
std::string FormatSummary(const CompareSummary& summary, const std::vector<CompareRow>& rows);
// One pair's metrics as an aligned two-column table (with its custom metrics' columns).
std::string FormatPairTable(const CompareRow& row, const std::vector<std::string>& custom_metric_names = {});

}  // namespace ait
