// CSV report (the original's columns and number formatting) and the run summary.
#include "ait/csv_report.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include "ait/divergence.h"
#include "ait/error.h"
#include "ait/mapped_file.h"

namespace ait {
namespace fs = std::filesystem;
std::string CsvQuote(const std::string& cell) {
  if (cell.find_first_of(",\"\n\r") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string LocalTimestamp(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[64];
  if (std::strftime(buf, sizeof buf, format, &tm) == 0) return "";
  return buf;
}

namespace {

// Metrics other than cosine are float32 results in the original; print that value.
std::string F32(double v) { return PythonFloatRepr(static_cast<double>(static_cast<float>(v))); }

}  // namespace

const std::vector<std::string>& CsvColumns() {
  static const std::vector<std::string> columns = {
      "token_id",          "data_id",           "golden_data_path",    "golden_dtype",
      "golden_shape",      "golden_max_value",  "golden_min_value",    "golden_mean_value",
      "my_data_path",      "my_dtype",          "my_shape",            "my_max_value",
      "my_min_value",      "my_mean_value",     "cosine_similarity",   "max_relative_error",
      "mean_relative_error", "max_absolute_error", "mean_absolute_error", "kl_divergence",
      "relative_euclidean_distance", "cmp_fail_reason",
      // Extra columns (not in the original): which operation / module each pair belongs to, and
      // for an operation's output what the root-cause analysis says of that operation.
      "my_op_name", "my_op_type", "golden_op_name", "golden_op_type", "match",
      "op_verdict", "local_error", "expected_local_error", "root_cause"};
  return columns;
}

std::vector<std::string> CsvColumns(const std::vector<std::string>& custom_metric_names) {
  std::vector<std::string> columns = CsvColumns();
  for (const std::string& name : custom_metric_names) {
    if (name.empty()) throw Error("a custom metric has an empty name");
    for (std::string column : {name, name + "_message"}) {
      if (std::find(columns.begin(), columns.end(), column) != columns.end())
        throw Error(fmt::format("custom metric '{}': the report already has a column '{}'{}", name, column,
                                column == name ? "" : " (each custom metric adds '<name>' and '<name>_message')"));
      columns.push_back(std::move(column));
    }
  }
  return columns;
}

std::string PythonFloatRepr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // fmt's shortest round-trip form switches to exponents where repr does (< 1e-4, >= 1e16)
  // and prints the same digits; repr always shows a fraction or an exponent.
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

size_t DropMixedInt8Rows(std::vector<CompareRow>& rows) {
  auto is_int8 = [](const std::optional<TensorInfo>& i) { return i && i->dtype == "torch.int8"; };
  size_t before = rows.size();
  std::erase_if(rows, [&](const CompareRow& r) { return is_int8(r.golden) != is_int8(r.my); });
  return before - rows.size();
}

std::vector<std::string> CsvCells(const CompareRow& r, size_t custom_metrics) {
  std::vector<std::string> c;
  c.reserve(kOriginalCsvColumns + kExtraCsvColumns + 2 * custom_metrics);
  c.push_back(r.pair.token_id);
  c.push_back(r.pair.data_id);
  auto side = [&](const std::string& path, const std::optional<TensorInfo>& info) {
    c.push_back(path);
    c.push_back(info ? info->dtype : "");
    c.push_back(info ? info->shape : "");
    bool stats = info && info->has_stats;
    c.push_back(stats ? F32(info->stats.max) : "");
    c.push_back(stats ? F32(info->stats.min) : "");
    c.push_back(stats ? F32(info->stats.mean) : "");
  };
  side(r.pair.golden_path, r.golden);
  side(r.pair.my_path, r.my);
  if (r.metrics) {
    const PairMetrics& m = *r.metrics;
    c.push_back(PythonFloatRepr(m.cosine_similarity));
    for (double v : {m.max_relative_error, m.mean_relative_error, m.max_absolute_error, m.mean_absolute_error,
                     m.kl_divergence, m.relative_euclidean_distance})
      c.push_back(F32(v));
  } else {
    c.insert(c.end(), 7, "");
  }
  c.push_back(r.fail_reason);
  for (const std::string* extra : {&r.pair.my_name, &r.pair.my_type, &r.pair.golden_name, &r.pair.golden_type,
                                   &r.pair.match})
    c.push_back(*extra);
  const std::optional<CompareRow::Operation>& op = r.operation;
  auto number = [](const std::optional<double>& v) { return v && std::isfinite(*v) ? PythonFloatRepr(*v) : ""; };
  c.push_back(op ? op->verdict : "");
  c.push_back(op ? number(op->local_error) : "");
  c.push_back(op ? number(op->expected_local_error) : "");
  c.push_back(op ? (op->root_cause ? "yes" : "no") : "");
  for (size_t i = 0; i < custom_metrics; ++i) {
    c.push_back(i < r.custom.size() ? r.custom[i].value : "");
    c.push_back(i < r.custom.size() ? r.custom[i].message : "");
  }
  return c;
}

fs::path WriteCsvReport(const fs::path& dir, const std::vector<CompareRow>& rows,
                        const std::vector<std::string>& custom_metric_names) {
  const std::vector<std::string> cols = CsvColumns(custom_metric_names);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) Fail(dir.string(), "cannot create the output folder ({})", ec.message());
  std::string stem = "ait_cmp_report_" + LocalTimestamp();
  fs::path path = dir / (stem + ".csv");
  for (int i = 1; fs::exists(path); ++i) path = dir / fmt::format("{}_{}.csv", stem, i);
  WriteFileAtomically(path.string(), [&](std::FILE* f) {
    std::string out;
    out.reserve(256 * (rows.size() + 1));
    for (size_t i = 0; i < cols.size(); ++i) {
      if (i) out += ',';
      out += CsvQuote(cols[i]);
    }
    out += '\n';
    for (const CompareRow& r : rows) {
      auto cells = CsvCells(r, custom_metric_names.size());
      for (size_t i = 0; i < cells.size(); ++i) {
        if (i) out += ',';
        out += CsvQuote(cells[i]);
      }
      out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), f);
  });
  return path;
}

ReportPaths ReportPathsFor(const fs::path& csv) {
  ReportPaths p;
  p.csv = csv;
  std::string stem = csv.stem().string();  // ait_cmp_report_{stamp}[_N]
  const std::string prefix = "ait_cmp_report_";
  std::string stamp = stem.starts_with(prefix) ? stem.substr(prefix.size()) : stem;
  p.json = csv.parent_path() / ("ait_cmp_summary_" + stamp + ".json");
  p.html = csv.parent_path() / (stem + ".html");
  return p;
}

CompareSummary Summarize(const std::vector<CompareRow>& rows, double threshold, size_t worst_count) {
  CompareSummary s;
  s.pairs = rows.size();
  s.threshold = threshold;
  const double distance_threshold = DistanceThreshold(threshold);
  std::map<std::string, size_t> reasons;
  std::vector<size_t> scored;
  for (size_t i = 0; i < rows.size(); ++i) {
    const CompareRow& r = rows[i];
    if (!r.metrics) {
      ++s.failed;
      ++reasons[r.fail_reason];
      continue;
    }
    ++s.compared;
    scored.push_back(i);
    if (!s.first_divergent && PairDistance(*r.metrics) > distance_threshold) s.first_divergent = i;
  }
  s.fail_reasons.assign(reasons.begin(), reasons.end());
  std::stable_sort(s.fail_reasons.begin(), s.fail_reasons.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::stable_sort(scored.begin(), scored.end(), [&](size_t a, size_t b) {
    return PairDistance(*rows[a].metrics) > PairDistance(*rows[b].metrics);
  });
  scored.resize(std::min(scored.size(), worst_count));
  s.worst = std::move(scored);
  return s;
}

std::string FormatSummary(const CompareSummary& s, const std::vector<CompareRow>& rows) {
  std::string out = fmt::format("Compared {} pairs: {} scored, {} failed", s.pairs, s.compared, s.failed);
  if (s.dropped_int8) out += fmt::format(", {} int8-vs-non-int8 pairs dropped", s.dropped_int8);
  out += ".\n";
  const size_t shown_reasons = 5;
  for (size_t i = 0; i < s.fail_reasons.size() && i < shown_reasons; ++i) {
    std::string reason = s.fail_reasons[i].first;
    if (reason.size() > 160) reason = reason.substr(0, 157) + "...";
    out += fmt::format("  {:>6} x {}\n", s.fail_reasons[i].second, reason);
  }
  if (s.fail_reasons.size() > shown_reasons)
    out += fmt::format("  ... and {} other reasons (see cmp_fail_reason in the CSV)\n", s.fail_reasons.size() - shown_reasons);
  const std::string off = fmt::format("cosine similarity < {} or relative L2 error > {:.4g}", s.threshold,
                                      DistanceThreshold(s.threshold));
  if (!s.worst.empty()) {
    out += "Farthest pairs (distance = max(sqrt(2 (1 - cosine)), relative L2 error)):\n";
    out += fmt::format("  {:>5}  {:>14}  {:>10}  {:>12}  {}\n", "token", "cosine_sim", "rel_l2", "max_rel_err", "pair");
    for (size_t i : s.worst) {
      const CompareRow& r = rows[i];
      out += fmt::format("  {:>5}  {:>14.10f}  {:>10.4g}  {:>12.4e}  {}\n", r.pair.token_id,
                         r.metrics->cosine_similarity, RelativeL2(*r.metrics), r.metrics->max_relative_error,
                         r.pair.label);
    }
  }
  if (s.first_divergent) {
    const CompareRow& r = rows[*s.first_divergent];
    out += fmt::format("First divergence ({}) in execution order: token {}, {}\n", off, r.pair.token_id, r.pair.label);
    out += fmt::format("  cosine_similarity {:.10f}, relative_l2 {:.4g}, max_relative_error {:.4e}, max_absolute_error "
                       "{:.4e}\n",
                       r.metrics->cosine_similarity, RelativeL2(*r.metrics), r.metrics->max_relative_error,
                       r.metrics->max_absolute_error);
  } else if (s.compared) {
    out += fmt::format("No pair is off ({}).\n", off);
  }
  return out;
}

std::string FormatPairTable(const CompareRow& row, const std::vector<std::string>& custom_metric_names) {
  const std::vector<std::string> cols = CsvColumns(custom_metric_names);
  auto cells = CsvCells(row, custom_metric_names.size());
  std::string out;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (cells[i].empty()) continue;
    out += fmt::format("  {:<28} {}\n", cols[i], cells[i]);
  }
  return out;
}

}  // namespace ait
