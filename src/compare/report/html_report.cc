// The self-contained HTML report: root causes and their evidence, per-token charts along
// execution order, contributors, worst operations. Its CSS and JS live in html_report.css /
// html_report.js, embedded at build time.
#include "compare/report/html_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/mapped_file.h"
#include "compare/report/html_report.css.h"
#include "compare/report/html_report.js.h"
#include "compare/report/summary_json.h"

namespace ait {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
namespace {

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON inside <script>: no "</" may appear, nor the HTML comment openers.
std::string ScriptSafe(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') {
      out += "\\u003c";
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Cell(const std::optional<double>& v, const char* spec) {
  return v && std::isfinite(*v) ? fmt::format(fmt::runtime(spec), *v) : std::string("&ndash;");
}

// How bad an operation's output is, for the "worst operations" table: non-finite first.
double Severity(const OpDivergence& d) {
  if (d.outputs.nonfinite) return std::numeric_limits<double>::infinity();
  return d.outputs.distance.value_or(-1);
}

// "LinearOperation ~ Linear": my type and the golden's, once when they agree.
std::string TypePair(const OpPair& op) {
  if (op.golden_type.empty() || op.golden_type == op.my_type) return op.my_type;
  if (op.my_type.empty()) return op.golden_type;
  return op.my_type + " ~ " + op.golden_type;
}

// An output cosine cell: the NaN/inf counts where my side holds them.
std::string OutputCosineCell(const OpDivergence& d) {
  return d.outputs.nonfinite ? fmt::format("NaN/inf ({} NaN, {} inf)", d.outputs.nan, d.outputs.inf)
                             : Cell(d.outputs.cosine, "{:.8f}");
}

// The table cells naming an operation: my name, the golden name, the types.
std::string NameCells(const OpPair& op) {
  return fmt::format("<td class=\"name\"><code>{}</code></td><td class=\"name\"><code>{}</code></td><td>{}</td>",
                     HtmlEscape(op.my_name), HtmlEscape(op.golden_name), HtmlEscape(TypePair(op)));
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// Chart data, token by token in order of first appearance; html_report.js draws it.
json ChartData(const OpPairing& ops, const DivergenceReport& r) {
  std::vector<size_t> rank(ops.ops.size(), 0);  // root cause rank of each occurrence, 0 = none
  for (size_t k = 0; k < r.root_causes.size(); ++k)
    for (size_t i : r.root_causes[k].occurrences) rank[i] = k + 1;
  json tokens = json::array();
  std::unordered_map<std::string, size_t> slot;
  for (size_t i = 0; i < ops.ops.size(); ++i) {
    const OpPair& op = ops.ops[i];
    const OpDivergence& d = r.ops[i];
    auto [it, added] = slot.try_emplace(op.token_id, tokens.size());
    if (added) tokens.push_back(json{{"token", op.token_id}, {"ops", json::array()}});
    tokens[it->second]["ops"].push_back(json{{"i", i},
                                              {"n", op.my_name},
                                              {"g", op.golden_name},
                                              {"t", op.my_type},
                                              {"gt", op.golden_type},
                                              {"l", op.layer},
                                              {"lf", op.leaf},
                                              {"v", std::string(VerdictName(d.verdict))},
                                              {"ca", d.cause},
                                              {"c", JsonNumber(d.outputs.cosine)},
                                              {"l2", JsonNumber(d.outputs.relative_l2)},
                                              {"r", JsonNumber(d.outputs.max_relative_error)},
                                              {"ic", JsonNumber(d.inputs.cosine)},
                                              {"il2", JsonNumber(d.inputs.relative_l2)},
                                              {"nf", d.outputs.nonfinite > 0},
                                              {"rc", d.root_cause ? std::max<size_t>(rank[i], 1) : 0}});
  }
  return json{{"threshold", r.cosine_threshold}, {"distance_threshold", r.distance_threshold}, {"tokens", tokens}};
}

// compare --opcheck: what the root cause's own check says.
std::string OpcheckNote(const OpPairing& ops, const DivergenceReport& r, const RootCause& rc) {
  if (!rc.checked_by) return "";
  const LocalCheck& check = *r.ops[*rc.checked_by].local_check;
  const std::string of = *rc.checked_by == rc.op ? "" : " (its operation " + ops.ops[*rc.checked_by].my_name + ")";
  return fmt::format("<div class=\"opcheck {}\"><b>opcheck {}</b> on its own inputs{} &mdash; {}: {}</div>",
                     check.failed ? "bad" : "ok", check.failed ? "FAILED" : "PASS", HtmlEscape(of),
                     check.failed ? "a wrong kernel" : "precision-limited, not a wrong kernel",
                     HtmlEscape(check.evidence));
}

// The root causes: one line each, then their evidence as a table (or why there is none).
std::string RootCauseSection(const OpPairing& ops, const DivergenceReport& r) {
  std::string h = "<h2>Root causes</h2>\n";
  if (r.input_mismatch && !r.root_causes.empty())
    h += fmt::format("<p class=\"bad\" id=\"input-mismatch\">Warning: {}</p>\n",
                     HtmlEscape(DescribeInputMismatch(*r.input_mismatch)));
  if (r.root_causes.empty()) {
    const bool ok = AllWithinThreshold(r);
    return h + fmt::format("<p class=\"{}\" id=\"verdict\">{}</p>\n", ok ? "ok" : "bad",
                           HtmlEscape(NoRootCauseReason(r)));
  }
  h += "<ol class=\"causes\" id=\"verdict\">\n";
  for (const RootCause& rc : r.root_causes) {
    const OpPair& op = ops.ops[rc.op];
    const std::string type = TypePair(op);
    h += fmt::format("<li><b>{}</b> ~ golden <b>{}</b>{} &mdash; token {}{}{}: {}</li>\n", HtmlEscape(op.my_name),
                     HtmlEscape(op.golden_name), type.empty() ? "" : " [" + HtmlEscape(type) + "]",
                     HtmlEscape(Join(rc.tokens)), op.op_id.empty() ? "" : ", op " + HtmlEscape(op.op_id),
                     op.layer.empty() || op.layer == op.my_name ? "" : ", layer " + HtmlEscape(op.layer),
                     HtmlEscape(r.ops[rc.op].cause));
  }
  h += "</ol>\n";
  if (r.root_causes_left_out)
    h += fmt::format("<p class=\"meta\">{} more candidates are listed in the JSON summary.</p>\n", r.root_causes_left_out);
  // The evidence of each: its worst output and input tensor, why, and for a root cause holding
  // operations without a golden counterpart, where inside it the error appears (the gap).
  h += "<table id=\"root-causes\" class=\"wide\">\n<thead><tr><th>#</th><th>operation (my)</th><th>golden operation</th>"
       "<th>type</th><th>token(s)</th><th>cause</th><th>output (worst tensor)</th><th>inputs (worst tensor)</th>"
       "<th>why</th></tr></thead>\n<tbody>\n";
  for (size_t k = 0; k < r.root_causes.size(); ++k) {
    const RootCause& rc = r.root_causes[k];
    const OpPair& op = ops.ops[rc.op];
    const OpDivergence& d = r.ops[rc.op];
    h += fmt::format(
        "<tr class=\"rc\"><td class=\"num\">{}</td>{}<td>{}</td><td>{}</td>"
        "<td class=\"metrics\"><i>cosine</i> {}<br><i>rel. L2</i> {}<br><i>max rel. err</i> {}</td>"
        "<td class=\"metrics\"><i>cosine</i> {}<br><i>rel. L2</i> {}</td><td class=\"text\">{}{}</td></tr>\n",
        k + 1, NameCells(op), HtmlEscape(Join(rc.tokens)), HtmlEscape(d.cause), OutputCosineCell(d),
        Cell(d.outputs.relative_l2, "{:.4g}"), Cell(d.outputs.max_relative_error, "{:.4g}"),
        Cell(d.inputs.cosine, "{:.8f}"), Cell(d.inputs.relative_l2, "{:.4g}"), HtmlEscape(d.why),
        (rc.gap ? "<div class=\"gap\">" + HtmlEscape(DescribeGap(ops, *rc.gap)) + "</div>" : std::string()) +
            OpcheckNote(ops, r, rc));
  }
  return h + "</tbody>\n</table>\n";
}

// Where the error comes from: the leaves adding the most of it.
std::string ContributorsTable(const OpPairing& ops, const DivergenceReport& r) {
  if (r.contributors.empty()) return "";
  std::string h =
      "<h2>Largest error contributors</h2>\n<p class=\"meta\">Local error: an operation's output distance beyond "
      "its inputs' (distance = max(sqrt(2 (1 - cosine)), relative L2)); normal: the most the noise floor calls "
      "normal for it. Root causes are listed above, not here."
      "</p>\n<table id=\"contributors\" class=\"wide\">\n<thead><tr><th>#</th><th>token</th><th>operation (my)</th>"
      "<th>golden operation</th><th>type</th><th>layer</th><th>local error</th><th>normal</th><th>input distance</th>"
      "<th>output distance</th></tr></thead>\n<tbody>\n";
  for (size_t k = 0; k < r.contributors.size(); ++k) {
    const size_t i = r.contributors[k];
    const OpPair& op = ops.ops[i];
    const OpDivergence& d = r.ops[i];
    h += fmt::format(
        "<tr><td class=\"num\">{}</td><td>{}</td>{}<td>{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\" title=\"{}\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        k + 1, HtmlEscape(op.token_id), NameCells(op), HtmlEscape(op.layer), Cell(d.local_error, "{:.4g}"),
        HtmlEscape(d.expected_from), Cell(d.expected_local_error, "{:.4g}"), Cell(d.inputs.distance, "{:.4g}"),
        Cell(d.outputs.distance, "{:.4g}"));
  }
  return h + "</tbody>\n</table>\n";
}

// The 30 worst operations: NaN/inf first, then by output distance; root causes highlighted.
std::string WorstTable(const OpPairing& ops, const DivergenceReport& r) {
  std::vector<size_t> worst;
  for (size_t i = 0; i < r.ops.size(); ++i)
    if (r.ops[i].outputs.scored || r.ops[i].outputs.nonfinite) worst.push_back(i);
  std::stable_sort(worst.begin(), worst.end(), [&](size_t a, size_t b) { return Severity(r.ops[a]) > Severity(r.ops[b]); });
  if (worst.size() > 30) worst.resize(30);
  std::string h =
      "<h2>Worst operations</h2>\n<table id=\"worst\" class=\"wide\">\n<thead><tr><th>#</th><th>token</th>"
      "<th>operation (my)</th><th>golden operation</th><th>type</th><th>layer</th><th>verdict</th><th>input cosine</th>"
      "<th>output cosine</th><th>output rel. L2</th><th>output max rel. err</th></tr></thead>\n<tbody>\n";
  for (size_t i : worst) {
    const OpPair& op = ops.ops[i];
    const OpDivergence& d = r.ops[i];
    std::string verdict = std::string(VerdictName(d.verdict));
    if (d.root_cause) verdict += " (root cause)";
    h += fmt::format(
        "<tr{}><td class=\"num\">{}</td><td>{}</td>{}<td>{}</td><td>{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        d.root_cause ? " class=\"rc\"" : "", i, HtmlEscape(op.token_id), NameCells(op), HtmlEscape(op.layer),
        HtmlEscape(verdict), Cell(d.inputs.cosine, "{:.8f}"), OutputCosineCell(d), Cell(d.outputs.relative_l2, "{:.4g}"),
        Cell(d.outputs.max_relative_error, "{:.4g}"));
  }
  return h + "</tbody>\n</table>\n";
}

}  // namespace

void WriteHtmlReport(const fs::path& path, const OpPairing& ops, const DivergenceReport& r,
                     const CompareSummary& summary, const ReportPaths& paths) {
  std::string h;
  h.reserve(8192 + ops.ops.size() * 400);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       "<title>ait llm compare: root cause report</title>\n<style>";
  h += kHtmlReportCss;
  h += "</style>\n</head>\n<body>\n<h1>ait llm compare &mdash; root cause report</h1>\n";
  h += fmt::format("<p class=\"meta\">golden: <code>{}</code><br>my: <code>{}</code><br>pairing: {}</p>\n",
                   HtmlEscape(ops.golden_root.string()), HtmlEscape(ops.my_root.string()), HtmlEscape(ops.strategy));
  h += fmt::format(
      "<p class=\"meta\">{} tensor pairs ({} scored, {} failed); {} operations: {} clean, {} propagating, {} "
      "introducing, {} unscored. A tensor is off when cosine similarity &lt; {} or relative L2 error &gt; {:.4g}, or "
      "it holds NaN/inf. Noise floor: {}.</p>\n",
      summary.pairs, summary.compared, summary.failed, r.ops.size(), r.clean, r.propagating, r.introducing,
      r.unscored, r.cosine_threshold, r.distance_threshold, HtmlEscape(r.floor));
  h += RootCauseSection(ops, r);
  h += fmt::format(
      "<h2>Along execution order</h2>\n<p class=\"meta\">Per token, one column per operation: output cosine "
      "similarity (linear, threshold {}), output relative L2 error (log, threshold {:.4g}: the metric that sees a "
      "wrong scale) and output max relative error (log). Hover a point for the operation and its numbers.</p>\n",
      r.cosine_threshold, r.distance_threshold);
  h += "<p class=\"legend\"><span><i class=\"v-clean\"></i>clean</span><span><i class=\"v-propagating\"></i>"
       "propagating</span><span><i class=\"v-introducing\"></i>introducing</span><span><i class=\"v-unscored\">"
       "</i>unscored</span><span>faint = layer or operation holding others; shaded bands = layers; &#9650; = NaN/inf "
       "output; red line and ring = root cause</span></p>\n"
       "<div id=\"charts-body\"></div>\n<noscript><p>The charts need JavaScript; the tables do not.</p></noscript>\n";
  h += ContributorsTable(ops, r);
  h += WorstTable(ops, r);
  h += fmt::format("<p class=\"meta\">Reports: CSV <code>{}</code>, JSON <code>{}</code>.</p>\n",
                   HtmlEscape(paths.csv.string()), HtmlEscape(paths.json.string()));
  h += "<script type=\"application/json\" id=\"ait-data\">";
  h += ScriptSafe(ChartData(ops, r).dump(-1, ' ', false, json::error_handler_t::replace));
  h += "</script>\n<script>";
  h += kHtmlReportJs;
  h += "</script>\n</body>\n</html>\n";
  WriteFileAtomically(path.string(), [&](std::FILE* f) { std::fwrite(h.data(), 1, h.size(), f); });
}

}  // namespace ait
