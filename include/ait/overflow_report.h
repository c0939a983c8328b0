// The overflow report line (`ait llm errcheck`), spelled once for the probe that writes it
// and the CLI that reads it back (docs/PROBE.md "What it writes", FORMATS.md 2.8):
//
//   Overflow detected! Operator name: <kernel path>[, execute count N][, kind K (a NaN, b inf of t output values)]
//
// The original probe writes the prefix and the kernel path only; everything after the path
// is ours, appended so that a reader matching the original prefix still matches. K is
// `NaN`, `inf` or `NaN+inf`; it and the counts are known only when the engine announced
// them through the ait extension ait_probe_overflow_values (ait/ait_probe_ext.h) — real ATB
// does not, and its lines end after the execute count.
//
// Header only and free of dependencies: libait_probe includes it (both string ABIs) and
// links nothing of ait_core.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ait::overflow_report {

inline constexpr std::string_view kPrefix = "Overflow detected! Operator name: ";
inline constexpr std::string_view kExecuteCount = ", execute count ";
inline constexpr std::string_view kKind = ", kind ";

// What a kernel's float outputs held when it was reported: NaN and ±inf element counts out
// of `values` float elements.
struct Values {
  uint64_t nan = 0;
  uint64_t inf = 0;
  uint64_t values = 0;
  bool operator==(const Values&) const = default;
};

// `NaN`, `inf`, `NaN+inf`; empty when neither count is set (nothing to name).
inline std::string KindName(const Values& v) {
  if (v.nan > 0 && v.inf > 0) return "NaN+inf";
  if (v.nan > 0) return "NaN";
  if (v.inf > 0) return "inf";
  return "";
}

// The line without its '\n'. `execute_count` < 0: no execute count; `values` absent or of
// no kind: no kind.
inline std::string FormatLine(std::string_view kernel_path, int64_t execute_count,
                              const std::optional<Values>& values = std::nullopt) {
  std::string line(kPrefix);
  line += kernel_path;
  if (execute_count >= 0) {
    line += kExecuteCount;
    line += std::to_string(execute_count);
  }
  if (values && !KindName(*values).empty()) {
    line += kKind;
    line += KindName(*values) + " (" + std::to_string(values->nan) + " NaN, " + std::to_string(values->inf) +
            " inf of " + std::to_string(values->values) + " output values)";
  }
  return line;
}

struct Line {
  std::string kernel;          // the kernel path
  int64_t execute_count = -1;  // -1: not in the line
  std::string kind;            // empty: not in the line (the original's lines, real ATB's)
  Values values;               // meaningful when kind is set
};

namespace detail {

// A non-negative decimal that fills all of `s`.
inline std::optional<uint64_t> Number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// `K (a NaN, b inf of t output values)` (the text after ", kind ").
inline std::optional<std::pair<std::string, Values>> Kind(std::string_view s) {
  const size_t open = s.find(" (");
  if (open == std::string_view::npos || s.empty() || s.back() != ')') return std::nullopt;
  const std::string kind(s.substr(0, open));
  std::string_view rest = s.substr(open + 2, s.size() - open - 3);
  auto take = [&rest](std::string_view until) -> std::optional<uint64_t> {
    const size_t at = rest.find(until);
    if (at == std::string_view::npos) return std::nullopt;
    auto n = Number(rest.substr(0, at));
    rest.remove_prefix(at + until.size());
    return n;
  };
  const auto nan = take(" NaN, "), inf = take(" inf of ");
  if (!nan || !inf || !rest.ends_with(" output values")) return std::nullopt;
  const auto values = Number(rest.substr(0, rest.size() - std::string_view(" output values").size()));
  if (!values) return std::nullopt;
  const Values v{*nan, *inf, *values};
  if (KindName(v) != kind) return std::nullopt;
  return std::make_pair(kind, v);
}

}  // namespace detail

// Reads a line written by FormatLine, or by the original (prefix and path only). Returns
// nullopt when the line does not start with the prefix. Suffixes that do not parse stay
// part of the kernel path.
inline std::optional<Line> ParseLine(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (!text.starts_with(kPrefix)) return std::nullopt;
  text.remove_prefix(kPrefix.size());
  Line line;
  if (const size_t at = text.rfind(kKind); at != std::string_view::npos) {
    if (auto kind = detail::Kind(text.substr(at + kKind.size()))) {
      line.kind = kind->first;
      line.values = kind->second;
      text = text.substr(0, at);
    }
  }
  if (const size_t at = text.rfind(kExecuteCount); at != std::string_view::npos) {
    const auto n = detail::Number(text.substr(at + kExecuteCount.size()));
    if (n && *n <= static_cast<uint64_t>(INT64_MAX)) {
      line.execute_count = static_cast<int64_t>(*n);
      text = text.substr(0, at);
    }
  }
  line.kernel = std::string(text);
  return line;
}

// `errcheck`'s one-line account of a report's lines:
//   `3 overflows detected (2 NaN, 1 inf); first: <kernel>, execute count N (NaN)`
// Kinds in the order NaN, inf, NaN+inf, then lines that name none (`1 kind not reported`);
// no parenthesis when no line names a kind. The first line is the first that parses (its
// raw text when none does).
inline std::string Summary(const std::vector<std::string>& lines) {
  const char* kinds[] = {"NaN", "inf", "NaN+inf"};
  size_t counts[4] = {0, 0, 0, 0};  // the kinds, then no kind
  std::optional<Line> first;
  for (const auto& text : lines) {
    const auto line = ParseLine(text);
    if (line && !first) first = line;
    size_t k = 0;
    while (k < 3 && (!line || line->kind != kinds[k])) ++k;
    ++counts[k];
  }
  std::string s = std::to_string(lines.size()) + (lines.size() == 1 ? " overflow" : " overflows") + " detected";
  if (counts[3] < lines.size()) {
    std::string parts;
    for (size_t k = 0; k < 4; ++k)
      if (counts[k] > 0)
        parts += (parts.empty() ? "" : ", ") + std::to_string(counts[k]) + " " +
                 (k < 3 ? kinds[k] : "kind not reported");
    s += " (" + parts + ")";
  }
  if (first) {
    s += "; first: " + first->kernel;
    if (first->execute_count >= 0) s += std::string(kExecuteCount) + std::to_string(first->execute_count);
    if (!first->kind.empty()) s += " (" + first->kind + ")";
  } else if (!lines.empty()) {
    s += "; first: " + lines.front();
  }
  return s;
}

}  // namespace ait::overflow_report
