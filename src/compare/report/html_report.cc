// The self-contained HTML report: per-token charts along execution order, root causes, worst
// operations. Its CSS and JS live in html_report.css / html_report.js, embedded at build time.
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

}  // namespace

void WriteHtmlReport(const fs::path& path, const OpPairing& ops, const DivergenceReport& r,
                     const CompareSummary& summary, const ReportPaths& paths) {
  // Chart data, token by token in order of first appearance.
  json tokens = json::array();
  std::vector<std::string> order;
  std::unordered_map<std::string, size_t> slot;
  for (size_t i = 0; i < ops.ops.size(); ++i) {
    const OpPair& op = ops.ops[i];
    const OpDivergence& d = r.ops[i];
    auto [it, added] = slot.try_emplace(op.token_id, tokens.size());
    if (added) tokens.push_back(json{{"token", op.token_id}, {"ops", json::array()}});
    tokens[it->second]["ops"].push_back(json{{"i", i},
                                              {"n", op.my_name},
                                              {"t", op.my_type},
                                              {"l", op.layer},
                                              {"lf", op.leaf},
                                              {"v", std::string(VerdictName(d.verdict))},
                                              {"c", JsonNumber(d.outputs.cosine)},
                                              {"r", JsonNumber(d.outputs.max_relative_error)},
                                              {"ic", JsonNumber(d.inputs.cosine)},
                                              {"nf", d.outputs.nonfinite > 0},
                                              {"rc", d.root_cause}});
  }
  json data{{"threshold", r.cosine_threshold}, {"distance_threshold", r.distance_threshold}, {"tokens", tokens}};

  std::string h;
  h.reserve(4096 + ops.ops.size() * 200);
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
  h += "<h2>Root causes</h2>\n";
  if (r.root_causes.empty()) {
    const std::string reason = NoRootCauseReason(r);
    const bool ok = AllWithinThreshold(r);
    h += fmt::format("<p class=\"{}\" id=\"verdict\">{}</p>\n", ok ? "ok" : "bad", HtmlEscape(reason));
  } else {
    h += "<ol class=\"causes\" id=\"verdict\">\n";
    for (const RootCause& rc : r.root_causes) {
      const OpPair& op = ops.ops[rc.op];
      const OpDivergence& d = r.ops[rc.op];
      std::string tokens;
      for (const auto& t : rc.tokens) tokens += (tokens.empty() ? "" : ", ") + t;
      h += fmt::format(
          "<li><b>{}</b>{} &mdash; token {}{}{}<br><span class=\"ev\">{}: {}. Output: cosine {}, rel. L2 {}, max rel. "
          "err {}{}; inputs: cosine {}, rel. L2 {}. Tokens: {}.</span>{}</li>\n",
          HtmlEscape(op.my_name), op.my_type.empty() ? "" : " [" + HtmlEscape(op.my_type) + "]", HtmlEscape(op.token_id),
          op.op_id.empty() ? "" : ", op " + HtmlEscape(op.op_id),
          op.layer.empty() || op.layer == op.my_name ? "" : ", layer " + HtmlEscape(op.layer), HtmlEscape(d.cause),
          HtmlEscape(d.why), Cell(d.outputs.cosine, "{:.8f}"), Cell(d.outputs.relative_l2, "{:.4g}"),
          Cell(d.outputs.max_relative_error, "{:.4g}"),
          d.outputs.nonfinite ? fmt::format(", {} NaN, {} inf", d.outputs.nan, d.outputs.inf) : "",
          Cell(d.inputs.cosine, "{:.8f}"), Cell(d.inputs.relative_l2, "{:.4g}"), HtmlEscape(tokens),
          rc.gap ? "<br><span class=\"gap\">" + HtmlEscape(DescribeGap(ops, *rc.gap)) + "</span>" : "");
    }
    h += "</ol>\n";
    if (r.root_causes_left_out)
      h += fmt::format("<p class=\"meta\">{} more candidates are listed in the JSON summary.</p>\n", r.root_causes_left_out);
  }
  h += "<h2>Along execution order</h2>\n<p class=\"legend\"><span><i style=\"background:#2271b1\"></i>clean</span>"
       "<span><i style=\"background:#dba617\"></i>propagating</span><span><i style=\"background:#d63638\"></i>"
       "introducing</span><span><i style=\"background:#a7aaad\"></i>unscored</span><span>faint = layer or "
       "operation holding others; shaded bands = layers; &#9650; = NaN/inf output</span></p>\n"
       "<div id=\"charts-body\"></div>\n<noscript><p>The charts need JavaScript; the tables do not.</p></noscript>\n";
  // Where the error comes from: the leaves adding the most of it.
  if (!r.contributors.empty()) {
    h += "<h2>Largest error contributors</h2>\n<p class=\"meta\">Local error: an operation's output distance beyond "
         "its inputs' (distance = max(sqrt(2 (1 - cosine)), relative L2)); normal: the most the noise floor calls "
         "normal for it. Root causes are listed above, not here."
         "</p>\n<table id=\"contributors\">\n<thead><tr><th>#</th><th>token</th><th>operation</th><th>type</th>"
         "<th>layer</th><th>local error</th><th>normal</th><th>input distance</th><th>output distance</th></tr>"
         "</thead>\n<tbody>\n";
    for (size_t k = 0; k < r.contributors.size(); ++k) {
      const size_t i = r.contributors[k];
      const OpPair& op = ops.ops[i];
      const OpDivergence& d = r.ops[i];
      h += fmt::format(
          "<tr><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>"
          "<td class=\"num\">{}</td><td class=\"num\" title=\"{}\">{}</td><td class=\"num\">{}</td>"
          "<td class=\"num\">{}</td></tr>\n",
          k + 1, HtmlEscape(op.token_id), HtmlEscape(op.my_name), HtmlEscape(op.my_type), HtmlEscape(op.layer),
          Cell(d.local_error, "{:.4g}"), HtmlEscape(d.expected_from), Cell(d.expected_local_error, "{:.4g}"),
          Cell(d.inputs.distance, "{:.4g}"), Cell(d.outputs.distance, "{:.4g}"));
    }
    h += "</tbody>\n</table>\n";
  }
  // Worst operations.
  std::vector<size_t> worst;
  for (size_t i = 0; i < r.ops.size(); ++i)
    if (r.ops[i].outputs.scored || r.ops[i].outputs.nonfinite) worst.push_back(i);
  std::stable_sort(worst.begin(), worst.end(), [&](size_t a, size_t b) { return Severity(r.ops[a]) > Severity(r.ops[b]); });
  if (worst.size() > 30) worst.resize(30);
  h += "<h2>Worst operations</h2>\n<table id=\"worst\">\n<thead><tr><th>#</th><th>token</th><th>operation</th>"
       "<th>type</th><th>layer</th><th>verdict</th><th>input cosine</th><th>output cosine</th><th>output rel. L2</th>"
       "<th>output max rel. err</th></tr></thead>\n<tbody>\n";
  for (size_t i : worst) {
    const OpPair& op = ops.ops[i];
    const OpDivergence& d = r.ops[i];
    std::string verdict = std::string(VerdictName(d.verdict));
    if (d.root_cause) verdict += " (root cause)";
    h += fmt::format(
        "<tr{}><td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        d.root_cause ? " class=\"rc\"" : "", i, HtmlEscape(op.token_id), HtmlEscape(op.my_name), HtmlEscape(op.my_type),
        HtmlEscape(op.layer), HtmlEscape(verdict), Cell(d.inputs.cosine, "{:.8f}"),
        d.outputs.nonfinite ? fmt::format("NaN/inf ({} NaN, {} inf)", d.outputs.nan, d.outputs.inf)
                            : Cell(d.outputs.cosine, "{:.8f}"),
        Cell(d.outputs.relative_l2, "{:.4g}"), Cell(d.outputs.max_relative_error, "{:.4g}"));
  }
  h += "</tbody>\n</table>\n";
  h += fmt::format("<p class=\"meta\">Reports: CSV <code>{}</code>, JSON <code>{}</code>.</p>\n",
                   HtmlEscape(paths.csv.string()), HtmlEscape(paths.json.string()));
  h += "<div id=\"tip\"></div>\n<script type=\"application/json\" id=\"ait-data\">";
  h += ScriptSafe(data.dump(-1, ' ', false, json::error_handler_t::replace));
  h += "</script>\n<script>";
  h += kHtmlReportJs;
  h += "</script>\n</body>\n</html>\n";
  WriteFileAtomically(path.string(), [&](std::FILE* f) { std::fwrite(h.data(), 1, h.size(), f); });
}

}  // namespace ait
