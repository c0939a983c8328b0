// opcheck's workbook, CSV and terminal summary.
#include "opcheck/opcheck_report.h"

#include <xlsxwriter.h>

#include <cmath>

#include <fmt/format.h>

#include "ait/csv_report.h"
#include "ait/error.h"
#include "ait/mapped_file.h"

namespace ait::opcheck {
namespace fs = std::filesystem;
namespace {

ReportCell Text(std::string s) { return ReportCell{PrintableText(s), false, 0}; }
ReportCell Number(double v, int digits) {
  if (std::isnan(v)) return ReportCell{"NaN", false, 0};
  if (std::isinf(v)) return ReportCell{v > 0 ? "inf" : "-inf", false, 0};
  return ReportCell{fmt::format("{:.{}f}", v, digits), true, v};
}
ReportCell Optional(const std::optional<double>& v, int digits) { return v ? Number(*v, digits) : Text("NaN"); }

void AppendCase(const OpcheckCase& c, const MetricSet& metrics, bool rerun, std::vector<std::vector<ReportCell>>& rows) {
  auto base = [&] {
    return std::vector<ReportCell>{Text(c.op_id), Text(c.op_type), Text(c.param_text), Text(c.tensor_path.string())};
  };
  auto tail = [&](std::vector<ReportCell>& row, const std::string& reason, const std::string& worst) {
    row.push_back(Text(reason));
    row.push_back(Text(c.token));
    row.push_back(Text(worst));
    if (rerun) row.push_back(Text(c.rerun_vs_dump));
  };
  const std::string status(CaseStatusText(c.status));
  if (c.outputs.empty()) {
    auto row = base();
    for (const char* cell : {"NaN", "NaN"}) row.push_back(Text(cell));
    row.push_back(Text(status));
    row.push_back(Text("NaN"));
    row.push_back(Text("NaN"));
    if (metrics.abs) row.insert(row.end(), 2, Text("NaN"));
    if (metrics.cosine) row.push_back(Text("NaN"));
    if (metrics.kl) row.push_back(Text("NaN"));
    tail(row, c.fail_reason, "");
    rows.push_back(std::move(row));
    return;
  }
  for (const OutputCheck& o : c.outputs) {
    auto row = base();
    row.push_back(Number(o.index, 0));
    row.push_back(Text(o.standard.Text()));
    row.push_back(Text(o.passed && c.fail_reason.empty() ? "PASS" : "FAILED"));
    row.push_back(o.scored ? Number(o.rel_rate, 16) : Text("NaN"));
    row.push_back(o.scored ? Number(o.max_rel, 16) : Text("NaN"));
    if (metrics.abs) {
      row.push_back(Optional(o.abs_rate, 16));
      row.push_back(Optional(o.max_abs, 16));
    }
    if (metrics.cosine) row.push_back(Optional(o.cosine, 10));
    if (metrics.kl) row.push_back(Optional(o.kl, 16));
    std::string reason = o.fail_reason;
    if (!c.fail_reason.empty()) {
      if (!reason.empty()) reason += ", ";
      reason += c.fail_reason;
    }
    tail(row, reason, o.worst);
    rows.push_back(std::move(row));
  }
}

std::string CsvText(const std::vector<std::string>& columns, const std::vector<std::vector<ReportCell>>& rows) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i) out += ',';
    out += CsvQuote(columns[i]);
  }
  out += '\n';
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      if (i) out += ',';
      out += CsvQuote(row[i].text);
    }
    out += '\n';
  }
  return out;
}

void WriteXlsx(const fs::path& path, const std::vector<std::string>& columns,
               const std::vector<std::vector<ReportCell>>& rows) {
  // libxlsxwriter writes the file at workbook_close; give it a temporary name, then rename.
  const fs::path tmp = path.string() + ".tmp.xlsx";
  lxw_workbook* wb = workbook_new(tmp.c_str());
  if (!wb) Fail(path.string(), "cannot create the workbook");
  lxw_worksheet* ws = workbook_add_worksheet(wb, nullptr);
  lxw_error err = LXW_NO_ERROR;
  for (size_t i = 0; i < columns.size() && err == LXW_NO_ERROR; ++i)
    err = worksheet_write_string(ws, 0, static_cast<lxw_col_t>(i), columns[i].c_str(), nullptr);
  constexpr size_t kMaxCell = 32767;  // Excel's limit on a cell's text
  for (size_t r = 0; r < rows.size() && err == LXW_NO_ERROR; ++r) {
    if (r + 1 >= LXW_ROW_MAX) Fail(path.string(), "{} rows exceed a worksheet's {}", rows.size(), LXW_ROW_MAX);
    for (size_t i = 0; i < rows[r].size() && err == LXW_NO_ERROR; ++i) {
      const ReportCell& cell = rows[r][i];
      const auto row = static_cast<lxw_row_t>(r + 1);
      const auto col = static_cast<lxw_col_t>(i);
      if (cell.number) {
        err = worksheet_write_number(ws, row, col, cell.value, nullptr);
      } else {
        std::string text = cell.text.size() > kMaxCell ? cell.text.substr(0, kMaxCell - 3) + "..." : cell.text;
        while (text.size() > kMaxCell) text.pop_back();
        err = worksheet_write_string(ws, row, col, text.c_str(), nullptr);
      }
    }
  }
  const lxw_error closed = workbook_close(wb);
  if (err == LXW_NO_ERROR) err = closed;
  std::error_code ec;
  if (err != LXW_NO_ERROR) {
    fs::remove(tmp, ec);
    Fail(path.string(), "cannot write the workbook ({})", lxw_strerror(err));
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    Fail(path.string(), "cannot move the workbook into place ({})", ec.message());
  }
}

}  // namespace

std::vector<std::string> ReportColumns(const MetricSet& metrics, bool rerun) {
  std::vector<std::string> c = {"op_id",          "op_name",           "op_param",
                                "tensor_path",    "out_tensor_id",     "precision_standard",
                                "precision_result", "rel_precision_rate(%)", "max_rel_error"};
  if (metrics.abs) c.insert(c.end(), {"abs_precision_rate(%)", "max_abs_error"});
  if (metrics.cosine) c.push_back("cosine_similarity");
  if (metrics.kl) c.push_back("kl_divergence");
  c.insert(c.end(), {"fail_reason", "token", "worst_element"});
  if (rerun) c.push_back("rerun_vs_dump");
  return c;
}

std::vector<std::vector<ReportCell>> ReportRows(const std::vector<OpcheckCase>& cases, const MetricSet& metrics,
                                                bool rerun) {
  std::vector<std::vector<ReportCell>> rows;
  for (const OpcheckCase& c : cases)
    if (c.status != CaseStatus::kUnsupported) AppendCase(c, metrics, rerun, rows);
  for (const OpcheckCase& c : cases)
    if (c.status == CaseStatus::kUnsupported) AppendCase(c, metrics, rerun, rows);
  return rows;
}

void WriteOpcheckReports(const fs::path& dir, const MetricSet& metrics, bool rerun, OpcheckResult& result) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) Fail(dir.string(), "cannot create the output folder ({})", ec.message());
  const std::string stem = "opcheck_result_" + LocalTimestamp("%Y%m%d_%H%M%S");
  fs::path xlsx = dir / (stem + ".xlsx"), csv = dir / (stem + ".csv");
  for (int i = 1; fs::exists(xlsx, ec) || fs::exists(csv, ec); ++i) {
    xlsx = dir / fmt::format("{}_{}.xlsx", stem, i);
    csv = dir / fmt::format("{}_{}.csv", stem, i);
  }
  const auto columns = ReportColumns(metrics, rerun);
  const auto rows = ReportRows(result.cases, metrics, rerun);
  WriteXlsx(xlsx, columns, rows);
  const std::string text = CsvText(columns, rows);
  WriteFileAtomically(csv.string(), [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
  result.xlsx = xlsx;
  result.csv = csv;
}

}  // namespace ait::opcheck
