// RunCompare: the compare pipeline, stage by stage (docs/ARCHITECTURE.md):
//   pairing/   locate both dumps, ask the strategies in order, pair operations and tensors
//   scoring/   score every tensor pair once (one pass over the bytes, many pairs in flight)
//   analysis/  per operation: clean, propagating, introducing; the root causes
//   report/    CSV, summary JSON, HTML
#include "ait/compare_run.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/log.h"
#include "ait/opcheck_run.h"
#include "ait/tensor_io.h"
#include "compare/pairing/compare_level.h"
#include "compare/pairing/pairing_strategy.h"
#include "compare/report/html_report.h"
#include "compare/report/summary_json.h"
#include "compare/scoring/score_pairing.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

// The summary document of a folder compare, with which strategy paired the dumps and why the
// ones asked before it did not.
nlohmann::ordered_json SummaryDocument(const CompareResult& result) {
  nlohmann::ordered_json doc = BuildSummaryJson(result.pairing, result.analysis, result.summary, result.reports);
  nlohmann::ordered_json declined = nlohmann::ordered_json::array();
  for (const StrategyRefusal& r : result.refusals)
    declined.push_back({{"strategy", r.strategy}, {"reason", r.reason}, {"blocked", r.blocked}});
  doc["pairing"] = {{"strategy", result.strategy}, {"declined", declined}};
  doc["verdict"] = {{"fail_on", result.fail_on}, {"conditions", result.conditions}, {"exit_status", result.exit_status}};
  if (!result.peer_strategy.empty())
    doc["peer"] = {{"path", result.peer_root.string()}, {"strategy", result.peer_strategy},
                   {"operations_matched", result.peer_matched}};
  return doc;
}

// Each output pair's row gets the analysis of the innermost operation it is an output of (the
// first in completion order: a kernel before the operation that holds it).
void NoteOperations(const OpPairing& ops, const DivergenceReport& analysis, std::vector<CompareRow>& rows) {
  std::unordered_map<std::string, size_t> row_of;
  for (size_t r = 0; r < rows.size(); ++r) row_of.emplace(PathKey(rows[r].pair), r);
  for (size_t i = 0; i < ops.ops.size() && i < analysis.ops.size(); ++i) {
    const OpDivergence& d = analysis.ops[i];
    for (const TensorPair& out : ops.ops[i].outputs) {
      auto it = row_of.find(PathKey(out));
      if (it == row_of.end() || rows[it->second].operation) continue;
      rows[it->second].operation =
          CompareRow::Operation{std::string(VerdictName(d.verdict)), d.local_error, d.expected_local_error, d.root_cause};
    }
  }
}

// Which kFailConditions hold, and the exit status request.fail_on makes of them.
void SetVerdict(const CompareRequest& request, CompareResult& result) {
  const double distance_threshold = DistanceThreshold(request.cosine_threshold);
  const bool off = std::any_of(result.rows.begin(), result.rows.end(), [&](const CompareRow& row) {
    const TensorScore t = ScoreTensor(row);
    return t.state == TensorScore::State::kNonFinite ||
           (t.state == TensorScore::State::kScored && t.distance > distance_threshold);
  });
  result.fail_on = request.fail_on;
  for (const FailCondition& c : kFailConditions) {
    const bool holds = c.name == "root-cause"    ? !result.analysis.root_causes.empty()
                       : c.name == "off"           ? off
                       : c.name == "inputs-differ" ? result.analysis.input_mismatch.has_value()
                                                   : result.summary.failed > 0;
    if (!holds) continue;
    result.conditions.emplace_back(c.name);
    if (result.exit_status == 0 &&
        std::find(request.fail_on.begin(), request.fail_on.end(), c.name) != request.fail_on.end())
      result.exit_status = c.exit_status;
  }
}

// The members of a file that holds several tensors (a GE dump file's inputs,K and outputs,K);
// empty for a single-tensor file, an address, or a file that cannot be listed (its row says why).
std::vector<std::string> SeveralMembers(const std::string& path) {
  if (!SplitTensorAddress(path).member.empty()) return {};
  auto names = Capture([&] { return TensorMemberNames(path); });
  if (!names.ok() || names.value().size() < 2) return {};
  return std::move(names).value();
}

CompareResult CompareFiles(const CompareRequest& request) {
  CompareResult result;
  const std::string golden = request.golden.string(), my = request.my.string();
  CompareOptions options;
  options.custom_metrics = request.custom_metrics;
  // Two files of several tensors each (two GE dump files): a row per tensor both hold, by name.
  const std::vector<std::string> golden_members = SeveralMembers(golden), my_members = SeveralMembers(my);
  if (!golden_members.empty() && !my_members.empty()) {
    for (const std::string& name : my_members)
      if (std::find(golden_members.begin(), golden_members.end(), name) != golden_members.end())
        result.rows.push_back(ComparePair({"0", std::to_string(result.rows.size()), MemberAddress(golden, name),
                                           MemberAddress(my, name), name},
                                          options));
    if (result.rows.empty())
      Fail(my, "no tensor name is in both files (my holds {}, the golden {}, ...)", my_members.front(),
           golden_members.front());
    if (result.rows.size() != my_members.size() || result.rows.size() != golden_members.size())
      Log(LogLevel::kWarning, "{} tensors of my file and {} of the golden file; the {} both hold are compared",
          my_members.size(), golden_members.size(), result.rows.size());
  } else {
    CompareRow row = ComparePair({"0", "0", golden, my, request.my.filename().string()}, options);
    if (!row.golden || !row.my) throw Error(row.fail_reason);  // a file could not be read at all
    result.rows.push_back(std::move(row));
  }
  result.file_pair = result.rows.front();
  const size_t dropped = DropMixedInt8Rows(result.rows);
  result.summary = Summarize(result.rows, request.cosine_threshold, 5);
  result.summary.dropped_int8 = dropped;
  SetVerdict(request, result);
  if (!request.output.empty())
    result.reports.csv = WriteCsvReport(request.output, result.rows, CustomMetricNames(request));
  return result;
}

// Pairs `golden` with `other` by the first strategy that recognises them, logs which one and
// why those before it declined, applies the compare level. `what` names `other` in messages.
struct Paired {
  std::string strategy;
  std::vector<StrategyRefusal> refusals;
  OpPairing ops;
};

Paired PairWithGolden(const CompareRequest& request, const fs::path& other, const char* what) {
  Paired out;
  DumpPair dumps(request.golden, other, request.mapping);
  const StrategyChoice choice = ChooseStrategy(dumps);
  // Blocked strategies are warned about once per reason (a dump that cannot be located blocks
  // every strategy that needs its location); declines go into the pairing line.
  std::vector<std::pair<std::string, std::string>> blocked;  // reason -> strategy names
  std::string declined;
  for (const StrategyChoice::Refusal& refusal : choice.refusals) {
    const PairingStrategy* strategy = refusal.strategy;
    const Recognition& recognition = refusal.recognition;
    const bool is_block = recognition.kind == Recognition::Kind::kBlocked;
    out.refusals.push_back({std::string(strategy->name()), recognition.reason, is_block});
    if (!is_block) {
      declined += fmt::format("{}{} ({})", declined.empty() ? "" : ", ", strategy->name(), recognition.reason);
      continue;
    }
    auto it = std::find_if(blocked.begin(), blocked.end(), [&](const auto& b) { return b.first == recognition.reason; });
    if (it == blocked.end()) blocked.emplace_back(recognition.reason, std::string(strategy->name()));
    else it->second += ", " + std::string(strategy->name());
  }
  for (const auto& [reason, names] : blocked)
    Log(LogLevel::kWarning, "{}pairing: {} not possible ({}); asking the next strategy", what, names, reason);
  if (!choice.chosen) Fail(other.string(), "no pairing strategy recognises the golden dump and this one");
  out.strategy = std::string(choice.chosen->name());
  out.ops = choice.chosen->Pair(dumps);
  OpPairing& ops = out.ops;
  Log(LogLevel::kInfo, "{}pairing: {} [{}{}{}]; golden {}, {} {}", what, ops.strategy, out.strategy,
      declined.empty() ? "" : "; declined: ", declined, ops.golden_root.string(), *what ? "peer" : "my",
      ops.my_root.string());
  for (const std::string& note : ops.notes) Log(LogLevel::kWarning, "{}{}", what, note);
  if (ops.rows.empty()) {
    const std::string first_block = choice.FirstBlock();
    throw Error(first_block.empty() ? ops.nothing_paired : first_block);
  }
  const size_t paired = ops.rows.size();
  ApplyCompareLevel(request.level, dumps, ops);
  if (ops.rows.size() != paired)
    Log(LogLevel::kInfo, "{}compare level {}: {} of {} tensor pairs kept", what, CompareLevelName(request.level),
        ops.rows.size(), paired);
  return out;
}

// --opcheck: each operation of my dump checked on its own dumped inputs, where its folder holds
// them (an ATB dump's after/ and op_param.json).
LocalChecks CheckMyOperations(const OpPairing& ops, int threads) {
  std::vector<fs::path> dirs(ops.ops.size());
  for (size_t i = 0; i < ops.ops.size(); ++i) {
    const OpPair& op = ops.ops[i];
    if (op.outputs.empty()) continue;
    const fs::path tensor_dir = fs::path(op.outputs.front().my_path).parent_path();
    if (tensor_dir.filename() == "after" || tensor_dir.filename() == "before") dirs[i] = tensor_dir.parent_path();
  }
  const std::vector<std::optional<OpcheckCase>> checked = CheckOperationFolders(dirs, threads);
  LocalChecks out(checked.size());
  for (size_t i = 0; i < checked.size(); ++i)
    if (checked[i] && checked[i]->status != CaseStatus::kUnsupported)
      out[i] = LocalCheck{checked[i]->status == CaseStatus::kFailed, CaseEvidence(*checked[i])};
  return out;
}

CompareResult CompareFolders(const CompareRequest& request) {
  CompareResult result;
  result.folders = true;
  Paired mine = PairWithGolden(request, request.my, "");
  result.strategy = std::move(mine.strategy);
  result.refusals = std::move(mine.refusals);
  result.pairing = std::move(mine.ops);
  OpPairing& ops = result.pairing;

  CompareOptions options;
  options.broadcast = ops.broadcast;
  options.threads = request.threads;
  options.custom_metrics = request.custom_metrics;
  std::vector<CompareRow> rows = ScoreForAnalysis(ops.rows, ops, options, request.progress);
  DivergenceOptions analysis_options;
  analysis_options.cosine_threshold = request.cosine_threshold;
  std::optional<PeerFloor> peer;
  if (!request.peer.empty()) {
    // The peer's own local errors, measured against the same golden the same way.
    Paired theirs = PairWithGolden(request, request.peer, "peer: ");
    CompareOptions peer_options = options;
    peer_options.custom_metrics.clear();
    peer_options.broadcast = theirs.ops.broadcast;
    const std::vector<CompareRow> peer_rows = ScoreForAnalysis(theirs.ops.rows, theirs.ops, peer_options, {});
    peer = PeerFloorFor(ops, theirs.ops, AnalyzeDivergence(theirs.ops, peer_rows, analysis_options));
    result.peer_root = theirs.ops.my_root;
    result.peer_strategy = std::move(theirs.strategy);
    result.peer_matched = static_cast<size_t>(std::count_if(peer->local_error.begin(), peer->local_error.end(),
                                                            [](const auto& v) { return v.has_value(); }));
    Log(LogLevel::kInfo, "peer: {} of {} operations found in the peer", result.peer_matched, ops.ops.size());
  }
  std::optional<LocalChecks> local;
  if (request.opcheck) {
    local = CheckMyOperations(ops, request.threads);
    for (const auto& c : *local)
      if (c) {
        ++result.opchecked;
        result.opcheck_failed += c->failed;
      }
    Log(LogLevel::kInfo, "--opcheck: {} operations of my dump checked on their own inputs, {} failed", result.opchecked,
        result.opcheck_failed);
  }
  result.analysis = AnalyzeDivergence(ops, rows, analysis_options, peer ? &*peer : nullptr, local ? &*local : nullptr);

  rows.resize(ops.rows.size());  // the CSV's rows come first
  NoteOperations(ops, result.analysis, rows);
  result.rows = std::move(rows);
  const size_t dropped = DropMixedInt8Rows(result.rows);
  result.summary = Summarize(result.rows, request.cosine_threshold, 5);
  result.summary.dropped_int8 = dropped;
  SetVerdict(request, result);
  if (!request.output.empty()) {
    result.reports = ReportPathsFor(WriteCsvReport(request.output, result.rows, CustomMetricNames(request)));
    WriteSummaryJson(result.reports.json, SummaryDocument(result));
    WriteHtmlReport(result.reports.html, ops, result.analysis, result.summary, result.reports);
  }
  return result;
}

}  // namespace

std::string FailConditionNames() {
  std::string out;
  for (const FailCondition& c : kFailConditions) out += fmt::format("{}{}", out.empty() ? "" : ", ", c.name);
  return out;
}

std::vector<std::string> UnknownFailConditions(const std::vector<std::string>& fail_on) {
  std::vector<std::string> unknown;
  for (const std::string& name : fail_on)
    if (std::none_of(std::begin(kFailConditions), std::end(kFailConditions),
                     [&](const FailCondition& c) { return c.name == name; }))
      unknown.push_back(name);
  return unknown;
}

CompareResult RunCompare(const CompareRequest& request) {
  CsvColumns(CustomMetricNames(request));  // throws for names that would repeat a column
  if (const auto unknown = UnknownFailConditions(request.fail_on); !unknown.empty())
    throw Error(fmt::format("fail_on: '{}' is not a condition (have: {})", unknown[0], FailConditionNames()));
  std::error_code ec;
  // A path may also address one tensor of a container file: `FILE,inputs,0` (a GE dump file).
  for (const auto& [what, path] : {std::pair{"golden path", &request.golden}, std::pair{"my path", &request.my}})
    if (!PathOrAddressExists(path->string()))
      Fail(path->string(), "the {} does not exist", what);
  const bool golden_dir = fs::is_directory(request.golden, ec), my_dir = fs::is_directory(request.my, ec);
  if (golden_dir != my_dir)
    Fail(request.my.string(), "the golden and my paths must both be folders or both be files ('{}' is a {}, '{}' a {})",
         request.golden.string(), golden_dir ? "folder" : "file", request.my.string(), my_dir ? "folder" : "file");
  if (!request.peer.empty()) {
    if (!fs::exists(request.peer, ec)) Fail(request.peer.string(), "the peer path does not exist");
    if (!golden_dir || !fs::is_directory(request.peer, ec))
      Fail(request.peer.string(), "a peer compares folders: the golden, my and peer paths must all be dump folders");
  }
  return golden_dir ? CompareFolders(request) : CompareFiles(request);
}

std::string CompareSummaryJson(const CompareResult& result) {
  if (!result.folders) return "null";
  return SummaryJsonText(SummaryDocument(result));
}

std::vector<std::pair<std::string, std::string>> ListPairingStrategies() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const PairingStrategy* s : PairingStrategies()) out.emplace_back(s->name(), s->summary());
  return out;
}

std::vector<std::string> CustomMetricNames(const CompareRequest& request) {
  std::vector<std::string> names;
  for (const CustomMetric& m : request.custom_metrics) names.push_back(m.name);
  return names;
}

std::string FormatCompareResult(const CompareRequest& request, const CompareResult& result) {
  std::string out;
  if (!result.folders && result.rows.size() > 1) {  // two files of several tensors
    out = fmt::format("golden: {}\nmy:     {}\n", request.golden.string(), request.my.string());
    for (const CompareRow& row : result.rows)
      out += fmt::format("{}\n{}", row.pair.label, FormatPairTable(row, CustomMetricNames(request)));
    if (!result.reports.csv.empty()) out += fmt::format("Report: {}\n", result.reports.csv.string());
    return out;
  }
  if (!result.folders) {
    out = fmt::format("golden: {}\nmy:     {}\n{}", request.golden.string(), request.my.string(),
                      FormatPairTable(result.file_pair.value_or(CompareRow{}), CustomMetricNames(request)));
    if (!result.reports.csv.empty()) out += fmt::format("Report: {}\n", result.reports.csv.string());
    return out;
  }
  out = FormatSummary(result.summary, result.rows) + FormatRootCauses(result.pairing, result.analysis);
  if (!result.reports.csv.empty())
    out += fmt::format("Report: {}\nSummary (JSON): {}\nReport (HTML): {}\n", result.reports.csv.string(),
                       result.reports.json.string(), result.reports.html.string());
  return out;
}

}  // namespace ait
