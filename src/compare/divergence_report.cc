// The root-cause JSON summary and the self-contained HTML report (divergence_report.h).
#include "ait/divergence_report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/mapped_file.h"

namespace ait {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
namespace {

json Opt(const std::optional<double>& v) { return v && std::isfinite(*v) ? json(*v) : json(nullptr); }

// The operation an OpPair belongs to: a kernel `Op_1_2:MatMul` belongs to `Op_1_2`.
std::string OperationOf(const OpPair& op) { return op.my_name.substr(0, op.my_name.find(':')); }

// The evidence numbers of one operation, shared by its row and its root-cause entry.
json Numbers(const OpDivergence& d) {
  return json{{"input_cosine", Opt(d.inputs.cosine)},
              {"output_cosine", Opt(d.outputs.cosine)},
              {"input_max_relative_error", Opt(d.inputs.max_relative_error)},
              {"output_max_relative_error", Opt(d.outputs.max_relative_error)},
              {"input_relative_l2", Opt(d.inputs.relative_l2)},
              {"output_relative_l2", Opt(d.outputs.relative_l2)},
              {"output_nan", d.outputs.nan},
              {"output_inf", d.outputs.inf}};
}

json OpJson(size_t index, const OpPair& op, const OpDivergence& d) {
  json row{{"index", index},
           {"token_id", op.token_id},
           {"my_name", op.my_name},
           {"golden_name", op.golden_name},
           {"my_type", op.my_type},
           {"golden_type", op.golden_type},
           {"op_id", op.op_id},
           {"layer", op.layer},
           {"depth", op.depth},
           {"leaf", op.leaf},
           {"verdict", std::string(VerdictName(d.verdict))},
           {"cause", d.cause},
           {"why", d.why},
           {"root_cause", d.root_cause}};
  row.update(Numbers(d));
  return row;
}

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

constexpr const char* kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2327;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dcdcde;padding-bottom:4px}
.meta{color:#50575e;margin:2px 0}.meta code,td code{font-size:12px}
.ok{color:#00741b;font-weight:600}.bad{color:#b32d2e;font-weight:600}
ol.causes li{margin:6px 0}.ev{color:#50575e;font-size:13px}
figure.token{margin:12px 0 20px;overflow-x:auto}figcaption{font-weight:600;margin-bottom:4px}
svg.chart{background:#fcfcfc;border:1px solid #e0e0e0}
svg .band{fill:#eef3fb}svg .band.odd{fill:#f6f8fc}svg .band-label{font-size:10px;fill:#4f6b94}
svg .axis{stroke:#8c8f94;stroke-width:1}svg .grid{stroke:#e6e6e6;stroke-width:1}
svg .tick{font-size:10px;fill:#50575e}svg .title{font-size:11px;fill:#1d2327;font-weight:600}
svg .thr{stroke:#d63638;stroke-dasharray:4 3;stroke-width:1}
svg .rc-line{stroke:#d63638;stroke-width:1.5;stroke-dasharray:2 2}svg .rc-label{font-size:11px;fill:#b32d2e;font-weight:600}
svg .pt{stroke:none}svg .v-clean{fill:#2271b1}svg .v-propagating{fill:#dba617}svg .v-introducing{fill:#d63638}
svg .v-unscored{fill:#a7aaad}svg .container{fill-opacity:.35}svg .pt.rc{stroke:#8a2424;stroke-width:2}
svg .nf{fill:#8a2424}svg .nf.rc{fill:#d63638;stroke:#8a2424;stroke-width:1.5}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #dcdcde;padding:3px 7px;text-align:left}
th{background:#f6f7f7}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.rc td{background:#fcf0f1}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;border-radius:5px;margin-right:4px;vertical-align:-1px}
#tip{position:absolute;display:none;background:#1d2327;color:#fff;padding:6px 8px;border-radius:4px;font-size:12px;white-space:pre;pointer-events:none;z-index:10}
)CSS";

constexpr const char* kScript = R"JS(
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ait-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var tip = document.getElementById("tip");
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function text(parent, x, y, s, cls, anchor) {
    var t = el("text", {x: x, y: y, "class": cls, "text-anchor": anchor || "start"}, parent);
    t.textContent = s;
    return t;
  }
  function fmt(v, digits) { return v === null ? "-" : Number(v).toPrecision(digits); }
  function hover(node, tok, o) {
    node.addEventListener("mouseenter", function (ev) {
      tip.textContent = o.n + (o.t ? " [" + o.t + "]" : "") + "\ntoken " + tok + (o.l ? ", layer " + o.l : "") +
        "\nverdict: " + o.v + (o.rc ? " (ROOT CAUSE)" : "") +
        "\noutput cosine " + fmt(o.c, 8) + ", max rel err " + fmt(o.r, 4) +
        (o.nf ? "\noutput holds NaN/inf" : "") + "\ninput cosine " + fmt(o.ic, 8);
      tip.style.display = "block";
      tip.style.left = (ev.pageX + 12) + "px";
      tip.style.top = (ev.pageY + 12) + "px";
    });
    node.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  }
  var body = document.getElementById("charts-body");
  data.tokens.forEach(function (tok) {
    var ops = tok.ops, n = ops.length;
    var fig = document.createElement("figure");
    fig.className = "token";
    fig.setAttribute("data-token", tok.token);
    var cap = document.createElement("figcaption");
    cap.textContent = "token " + tok.token + " \u2014 " + n + " operations in execution order";
    fig.appendChild(cap);
    var M = {l: 86, r: 16, t: 24, b: 26}, PH = 170, GAP = 34;
    var W = Math.max(760, Math.min(4000, n * 7 + M.l + M.r)), H = M.t + PH + GAP + PH + M.b;
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart",
                         "data-token": tok.token, "data-operations": n}, fig);
    var span = W - M.l - M.r, step = n > 1 ? span / (n - 1) : span;
    function x(i) { return n > 1 ? M.l + i * step : M.l + span / 2; }
    var top1 = M.t, top2 = M.t + PH + GAP;
    // Cosine panel: linear, from below the lowest point (or the threshold) to 1.
    var cmin = data.threshold;
    ops.forEach(function (o) { if (o.c !== null && o.c < cmin) cmin = o.c; });
    cmin = Math.max(-1, cmin - Math.max(1e-4, (1 - cmin) * 0.1));
    var cmax = 1 + (1 - cmin) * 0.03;
    function yc(c) { return top1 + (cmax - c) / (cmax - cmin) * PH; }
    // Max relative error panel: log10, whole decades.
    var rmin = Infinity, rmax = -Infinity;
    ops.forEach(function (o) { if (o.r !== null && o.r > 0) { rmin = Math.min(rmin, o.r); rmax = Math.max(rmax, o.r); } });
    if (!isFinite(rmin)) { rmin = 1e-6; rmax = 1; }
    var lo = Math.max(-12, Math.floor(Math.log10(rmin))), hi = Math.min(40, Math.ceil(Math.log10(rmax)));
    if (hi <= lo) hi = lo + 1;
    function yr(r) {
      var v = r > 0 ? Math.log10(r) : lo;
      v = Math.min(hi, Math.max(lo, v));
      return top2 + (hi - v) / (hi - lo) * PH;
    }
    // Layer bands across both panels.
    var band = 0;
    for (var s = 0, i = 1; i <= n; i++) {
      if (i === n || ops[i].l !== ops[s].l) {
        if (ops[s].l) {
          var x0 = Math.max(M.l - 4, x(s) - step / 2), x1 = Math.min(W - M.r + 4, x(i - 1) + step / 2);
          el("rect", {x: x0, y: top1, width: Math.max(1, x1 - x0), height: top2 + PH - top1,
                      "class": "band" + (band % 2 ? " odd" : ""), "data-layer": ops[s].l}, svg);
          if (x1 - x0 > 40) text(svg, (x0 + x1) / 2, top1 - 6, ops[s].l, "band-label", "middle");
          band++;
        }
        s = i;
      }
    }
    // Axes, grid, threshold.
    [[top1, "output cosine similarity"], [top2, "output max rel. error (log)"]].forEach(function (p) {
      el("line", {x1: M.l, y1: p[0], x2: M.l, y2: p[0] + PH, "class": "axis"}, svg);
      el("line", {x1: M.l, y1: p[0] + PH, x2: W - M.r, y2: p[0] + PH, "class": "axis"}, svg);
      var t = text(svg, 0, 0, p[1], "title", "middle");
      t.setAttribute("transform", "translate(14," + (p[0] + PH / 2) + ") rotate(-90)");
    });
    for (var k = 0; k <= 4; k++) {
      var c = cmin + (cmax - cmin) * k / 4, y = yc(c);
      el("line", {x1: M.l, y1: y, x2: W - M.r, y2: y, "class": "grid"}, svg);
      text(svg, M.l - 4, y + 3, c.toFixed(cmax - cmin < 0.01 ? 5 : 3), "tick", "end");
    }
    var ty = yc(data.threshold);
    el("line", {x1: M.l, y1: ty, x2: W - M.r, y2: ty, "class": "thr"}, svg);
    text(svg, W - M.r - 2, ty - 3, "threshold " + data.threshold, "tick", "end");
    var every = Math.max(1, Math.ceil((hi - lo) / 6));
    for (var d = lo; d <= hi; d += every) {
      var yy = yr(Math.pow(10, d));
      el("line", {x1: M.l, y1: yy, x2: W - M.r, y2: yy, "class": "grid"}, svg);
      text(svg, M.l - 4, yy + 3, "1e" + d, "tick", "end");
    }
    // Root causes: a line through both panels and the name.
    ops.forEach(function (o, i) {
      if (!o.rc) return;
      el("line", {x1: x(i), y1: top1, x2: x(i), y2: top2 + PH, "class": "rc-line", "data-op": o.i}, svg);
      text(svg, Math.min(x(i) + 4, W - M.r - 4), top2 - 8, "root cause: " + o.n, "rc-label",
           x(i) > W - 260 ? "end" : "start");
    });
    // Points: one per operation with a scored output, in each panel; NaN/inf outputs as triangles.
    ops.forEach(function (o, i) {
      var cls = "pt v-" + o.v + (o.lf ? "" : " container") + (o.rc ? " rc" : "");
      var rad = o.rc ? 5 : (o.lf ? 2.6 : 3.6);
      if (o.c !== null) hover(el("circle", {cx: x(i), cy: yc(o.c), r: rad, "class": cls + " pt-cos", "data-op": o.i}, svg), tok.token, o);
      if (o.r !== null) hover(el("circle", {cx: x(i), cy: yr(o.r), r: rad, "class": cls + " pt-rel", "data-op": o.i}, svg), tok.token, o);
      if (o.nf) {
        var bx = x(i), by = top1 + PH - 2, h = o.rc ? 8 : 5;
        hover(el("path", {d: "M" + (bx - h) + "," + by + "L" + (bx + h) + "," + by + "L" + bx + "," + (by - 1.8 * h) + "Z",
                          "class": "nf" + (o.rc ? " rc" : ""), "data-op": o.i}, svg), tok.token, o);
      }
    });
    body.appendChild(fig);
  });
  document.body.setAttribute("data-rendered", "1");
})();
)JS";

}  // namespace

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

json BuildSummaryJson(const OpPairing& ops, const DivergenceReport& r, const CompareSummary& summary,
                      const ReportPaths& paths) {
  json causes = json::array();
  for (size_t k = 0; k < r.root_causes.size(); ++k) {
    const RootCause& rc = r.root_causes[k];
    const OpPair& op = ops.ops[rc.op];
    const OpDivergence& d = r.ops[rc.op];
    causes.push_back(json{
        {"rank", k + 1},
        {"token_id", op.token_id},
        {"tokens", rc.tokens},
        {"my_name", op.my_name},
        {"golden_name", op.golden_name},
        {"op_type", op.my_type},
        {"golden_type", op.golden_type},
        {"op_id", op.op_id},
        {"operation", OperationOf(op)},
        {"layer", op.layer},
        {"depth", op.depth},
        {"operation_index", rc.op},
        {"cause", d.cause},
        {"why", d.why},
        {"evidence", Numbers(d)}});
    causes.back()["evidence"].update(json{{"inputs_scored", d.inputs.scored},
                                          {"outputs_scored", d.outputs.scored},
                                          {"worst_input", d.inputs.worst},
                                          {"worst_output", d.outputs.worst},
                                          {"cosine_threshold", r.cosine_threshold},
                                          {"relative_l2_threshold", r.distance_threshold}});
  }
  json op_rows = json::array();
  for (size_t i = 0; i < ops.ops.size(); ++i) op_rows.push_back(OpJson(i, ops.ops[i], r.ops[i]));
  json reasons = json::array();
  for (const auto& [reason, count] : summary.fail_reasons) reasons.push_back(json{{"reason", reason}, {"count", count}});
  return json{
      {"schema", "ait-llm/compare-summary/1"},
      {"strategy", ops.strategy},
      {"golden_root", ops.golden_root.string()},
      {"my_root", ops.my_root.string()},
      {"reports", json{{"csv", paths.csv.string()}, {"json", paths.json.string()}, {"html", paths.html.string()}}},
      {"thresholds", json{{"cosine_similarity", r.cosine_threshold},
                          {"relative_l2", r.distance_threshold},
                          {"amplification", r.amplification}}},
      {"pairs", json{{"total", summary.pairs},
                     {"scored", summary.compared},
                     {"failed", summary.failed},
                     {"dropped_int8", summary.dropped_int8},
                     {"fail_reasons", reasons}}},
      {"verdicts", json{{"clean", r.clean},
                        {"propagating", r.propagating},
                        {"introducing", r.introducing},
                        {"unscored", r.unscored}}},
      {"root_causes", causes},
      {"root_causes_left_out", r.root_causes_left_out},
      {"operations", op_rows},
      {"notes", ops.notes}};
}

void WriteSummaryJson(const fs::path& path, const json& summary) {
  std::string text = summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  WriteFileAtomically(path.string(), [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}

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
                                              {"c", Opt(d.outputs.cosine)},
                                              {"r", Opt(d.outputs.max_relative_error)},
                                              {"ic", Opt(d.inputs.cosine)},
                                              {"nf", d.outputs.nonfinite > 0},
                                              {"rc", d.root_cause}});
  }
  json data{{"threshold", r.cosine_threshold}, {"distance_threshold", r.distance_threshold}, {"tokens", tokens}};

  std::string h;
  h.reserve(4096 + ops.ops.size() * 200);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
       "<title>ait llm compare: root cause report</title>\n<style>";
  h += kStyle;
  h += "</style>\n</head>\n<body>\n<h1>ait llm compare &mdash; root cause report</h1>\n";
  h += fmt::format("<p class=\"meta\">golden: <code>{}</code><br>my: <code>{}</code><br>pairing: {}</p>\n",
                   HtmlEscape(ops.golden_root.string()), HtmlEscape(ops.my_root.string()), HtmlEscape(ops.strategy));
  h += fmt::format(
      "<p class=\"meta\">{} tensor pairs ({} scored, {} failed); {} operations: {} clean, {} propagating, {} "
      "introducing, {} unscored. A tensor is off when cosine similarity &lt; {} or relative L2 error &gt; {:.4g}, or "
      "it holds NaN/inf.</p>\n",
      summary.pairs, summary.compared, summary.failed, r.ops.size(), r.clean, r.propagating, r.introducing,
      r.unscored, r.cosine_threshold, r.distance_threshold);
  h += "<h2>Root causes</h2>\n";
  if (r.root_causes.empty()) {
    const bool ok = r.propagating == 0 && r.introducing == 0 && r.clean > 0;
    h += fmt::format("<p class=\"{}\" id=\"verdict\">{}</p>\n", ok ? "ok" : "bad", HtmlEscape(NoRootCauseReason(r)));
  } else {
    h += "<ol class=\"causes\" id=\"verdict\">\n";
    for (const RootCause& rc : r.root_causes) {
      const OpPair& op = ops.ops[rc.op];
      const OpDivergence& d = r.ops[rc.op];
      std::string tokens;
      for (const auto& t : rc.tokens) tokens += (tokens.empty() ? "" : ", ") + t;
      h += fmt::format(
          "<li><b>{}</b>{} &mdash; token {}{}{}<br><span class=\"ev\">{}: {}. Output: cosine {}, rel. L2 {}, max rel. "
          "err {}{}; inputs: cosine {}, rel. L2 {}. Tokens: {}.</span></li>\n",
          HtmlEscape(op.my_name), op.my_type.empty() ? "" : " [" + HtmlEscape(op.my_type) + "]", HtmlEscape(op.token_id),
          op.op_id.empty() ? "" : ", op " + HtmlEscape(op.op_id),
          op.layer.empty() || op.layer == op.my_name ? "" : ", layer " + HtmlEscape(op.layer), HtmlEscape(d.cause),
          HtmlEscape(d.why), Cell(d.outputs.cosine, "{:.8f}"), Cell(d.outputs.relative_l2, "{:.4g}"),
          Cell(d.outputs.max_relative_error, "{:.4g}"),
          d.outputs.nonfinite ? fmt::format(", {} NaN, {} inf", d.outputs.nan, d.outputs.inf) : "",
          Cell(d.inputs.cosine, "{:.8f}"), Cell(d.inputs.relative_l2, "{:.4g}"), HtmlEscape(tokens));
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
  h += kScript;
  h += "</script>\n</body>\n</html>\n";
  WriteFileAtomically(path.string(), [&](std::FILE* f) { std::fwrite(h.data(), 1, h.size(), f); });
}

}  // namespace ait
