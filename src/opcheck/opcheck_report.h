// opcheck's reports: opcheck_result_{stamp}.xlsx (the original's workbook, through
// libxlsxwriter) and the same rows as opcheck_result_{stamp}.csv, and the terminal summary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "ait/opcheck_run.h"
#include "opcheck/output_score.h"

namespace ait::opcheck {

// The columns (FORMATS §8.5, in the original's order; the optional metrics only when asked),
// then ours: token, worst_element, and rerun_vs_dump with -rerun.
std::vector<std::string> ReportColumns(const MetricSet& metrics, bool rerun);

// A report cell: text, or a number (written as a number in the workbook and with the original's
// "%.16f"-style digits in the CSV).
struct ReportCell {
  std::string text;
  bool number = false;
  double value = 0;
};
// The rows: one per output tensor of each case, one for a case without outputs; cases whose
// type has no reference ("addition failed") last.
std::vector<std::vector<ReportCell>> ReportRows(const std::vector<OpcheckCase>& cases, const MetricSet& metrics,
                                                bool rerun);

// Writes `dir`/opcheck_result_{YYYYmmdd_HHMMSS}[_N].xlsx and .csv (atomically: temporary name +
// rename); sets result.xlsx / result.csv. Throws ait::Error naming the file on failure.
void WriteOpcheckReports(const std::filesystem::path& dir, const MetricSet& metrics, bool rerun, OpcheckResult& result);

}  // namespace ait::opcheck
