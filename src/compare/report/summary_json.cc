// The summary document of a folder compare: root causes, per-operation verdicts, thresholds,
// report paths (schema in docs/ROOT_CAUSE.md).
#include "compare/report/summary_json.h"

#include <cmath>

#include "ait/mapped_file.h"

namespace ait {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
namespace {


// The operation an OpPair belongs to: a kernel `Op_1_2:MatMul` belongs to `Op_1_2`.
std::string OperationOf(const OpPair& op) { return op.my_name.substr(0, op.my_name.find(':')); }

// The evidence numbers of one operation, shared by its row and its root-cause entry.
json Numbers(const OpDivergence& d) {
  return json{{"input_cosine", JsonNumber(d.inputs.cosine)},
              {"output_cosine", JsonNumber(d.outputs.cosine)},
              {"input_max_relative_error", JsonNumber(d.inputs.max_relative_error)},
              {"output_max_relative_error", JsonNumber(d.outputs.max_relative_error)},
              {"input_relative_l2", JsonNumber(d.inputs.relative_l2)},
              {"output_relative_l2", JsonNumber(d.outputs.relative_l2)},
              {"output_nan", d.outputs.nan},
              {"output_inf", d.outputs.inf}};
}

json GapTensorJson(const OpPairing& ops, const GapTensor& t) {
  const TensorPair& pair = GapTensorPair(ops, t);
  const OpPair& op = ops.ops[t.op];
  return json{{"operation_index", t.op},
              {"my_name", op.my_name},
              {"golden_name", op.golden_name},
              {"side", t.output ? "output" : "input"},
              {"index", t.index},
              {"label", pair.label},
              {"my_path", pair.my_path},
              {"golden_path", pair.golden_path},
              {"distance", JsonNumber(t.distance)}};
}

json GapJson(const OpPairing& ops, const std::optional<ErrorGap>& gap) {
  if (!gap) return nullptr;
  json between = json::array();
  for (size_t u : gap->between)
    between.push_back(json{{"my_name", ops.my_unpaired[u].name}, {"my_type", ops.my_unpaired[u].type}});
  return json{{"last_clean", GapTensorJson(ops, gap->last_clean)},
              {"first_off", GapTensorJson(ops, gap->first_off)},
              {"threshold", gap->threshold},
              {"between", between},
              {"text", DescribeGap(ops, *gap)}};
}

// compare --opcheck: the operation's own check; null where it was not checked. `kind` says what
// it makes of the operation: a wrong kernel, or (passing) correct on its inputs, which for a root
// cause means precision-limited.
json OpcheckJson(const OpDivergence& d, bool root_cause) {
  if (!d.local_check) return nullptr;
  const char* kind = d.local_check->failed ? "wrong kernel" : root_cause ? "precision-limited" : "correct on its inputs";
  return json{{"result", d.local_check->failed ? "FAILED" : "PASS"},
              {"evidence", d.local_check->evidence},
              {"kind", kind}};
}

// A root cause's: its own check or its operation's (a kernel's), naming which operation.
json RootCauseOpcheckJson(const OpPairing& ops, const DivergenceReport& r, const RootCause& rc) {
  if (!rc.checked_by) return nullptr;
  json j = OpcheckJson(r.ops[*rc.checked_by], true);
  j["operation"] = ops.ops[*rc.checked_by].my_name;
  return j;
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
  row["local_error"] = JsonNumber(d.local_error);
  row["expected_local_error"] = JsonNumber(d.expected_local_error);
  row["expected_from"] = d.expected_from;
  row["opcheck"] = OpcheckJson(d, false);
  return row;
}

}  // namespace

json JsonNumber(const std::optional<double>& v) { return v && std::isfinite(*v) ? json(*v) : json(nullptr); }

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
        {"op_type", op.my_type},  // the first schema's name for my_type, kept for its readers
        {"my_type", op.my_type},
        {"golden_type", op.golden_type},
        {"op_id", op.op_id},
        {"operation", OperationOf(op)},
        {"layer", op.layer},
        {"depth", op.depth},
        {"operation_index", rc.op},
        {"cause", d.cause},
        {"why", d.why},
        {"evidence", Numbers(d)},
        {"opcheck", RootCauseOpcheckJson(ops, r, rc)},
        {"gap", GapJson(ops, rc.gap)}});
    causes.back()["evidence"].update(json{{"inputs_scored", d.inputs.scored},
                                          {"outputs_scored", d.outputs.scored},
                                          {"worst_input", d.inputs.worst},
                                          {"worst_output", d.outputs.worst},
                                          {"cosine_threshold", r.cosine_threshold},
                                          {"relative_l2_threshold", r.distance_threshold}});
  }
  json contributors = json::array();
  for (size_t k = 0; k < r.contributors.size(); ++k) {
    const size_t i = r.contributors[k];
    const OpPair& op = ops.ops[i];
    contributors.push_back(json{{"rank", k + 1},
                                {"token_id", op.token_id},
                                {"my_name", op.my_name},
                                {"golden_name", op.golden_name},
                                {"my_type", op.my_type},
                                {"golden_type", op.golden_type},
                                {"layer", op.layer},
                                {"operation_index", i},
                                {"local_error", JsonNumber(r.ops[i].local_error)},
                                {"input_distance", JsonNumber(r.ops[i].inputs.distance)},
                                {"output_distance", JsonNumber(r.ops[i].outputs.distance)}});
  }
  json by_token = json::array();
  for (const auto& t : r.by_token)
    by_token.push_back(json{{"token_id", t.token_id},
                            {"clean", t.clean},
                            {"propagating", t.propagating},
                            {"introducing", t.introducing},
                            {"unscored", t.unscored}});
  json op_rows = json::array();
  for (size_t i = 0; i < ops.ops.size(); ++i) op_rows.push_back(OpJson(i, ops.ops[i], r.ops[i]));
  json reasons = json::array();
  for (const auto& [reason, count] : summary.fail_reasons) reasons.push_back(json{{"reason", reason}, {"count", count}});
  json summary_json = json{
      {"schema", "ait-llm/compare-summary/1"},
      {"strategy", ops.strategy},
      {"golden_root", ops.golden_root.string()},
      {"my_root", ops.my_root.string()},
      {"reports", json{{"csv", paths.csv.string()}, {"json", paths.json.string()}, {"html", paths.html.string()}}},
      {"thresholds", json{{"cosine_similarity", r.cosine_threshold},
                          {"relative_l2", r.distance_threshold},
                          {"amplification", r.amplification},
                          {"noise_floor", r.floor}}},
      {"pairs", json{{"total", summary.pairs},
                     {"scored", summary.compared},
                     {"failed", summary.failed},
                     {"dropped_int8", summary.dropped_int8},
                     {"fail_reasons", reasons}}},
      {"verdicts", json{{"clean", r.clean},
                        {"propagating", r.propagating},
                        {"introducing", r.introducing},
                        {"unscored", r.unscored},
                        {"by_token", by_token},
                        {"introducing_as", json{{"root_cause_occurrences", r.introducing_listed},
                                                {"holding_a_root_cause", r.introducing_holding},
                                                {"left_out", r.introducing_left_out}}}}},
      {"root_causes", causes},
      {"root_causes_left_out", r.root_causes_left_out},
      {"contributors", contributors},
      {"operations", op_rows},
      {"notes", ops.notes}};
  // Only when found, so summaries of runs fed the same inputs keep their shape.
  if (r.input_mismatch)
    summary_json["input_mismatch"] = json{{"token_id", r.input_mismatch->token_id},
                                          {"my_name", ops.ops[r.input_mismatch->op].my_name},
                                          {"golden_name", ops.ops[r.input_mismatch->op].golden_name},
                                          {"tensor", r.input_mismatch->label},
                                          {"my_path", r.input_mismatch->my_path},
                                          {"golden_path", r.input_mismatch->golden_path},
                                          {"message", DescribeInputMismatch(*r.input_mismatch)}};
  return summary_json;
}

std::string SummaryJsonText(const json& summary) {
  return summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

void WriteSummaryJson(const fs::path& path, const json& summary) {
  const std::string text = SummaryJsonText(summary);
  WriteFileAtomically(path.string(), [&](std::FILE* f) { std::fwrite(text.data(), 1, text.size(), f); });
}

}  // namespace ait
