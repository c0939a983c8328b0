// `ait llm compare`: parse, validate, pick the mode, call the library, report.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>

#include "ait/compare.h"
#include "ait/divergence.h"
#include "ait/divergence_report.h"
#include "ait/error.h"
#include "ait/log.h"
#include "ait/op_grouping.h"
#include "ait/op_mapping.h"
#include "ait/pairing.h"
#include "ait/report.h"
#include "ait/topology_pairing.h"
#include "args.h"
#include "commands.h"

namespace ait::cli {
namespace fs = std::filesystem;
namespace {

const std::vector<OptionAlias> kAliases = {
    {"-gp", "--golden-path"}, {"-mp", "--my-path"},          {"-o", "--output"},
    {"-l", "--log-level"},    {"-mf", "--op-mapping-file"}, {"-ct", "--cosine-threshold"},
    {"-t", "--threads"},
};

// Progress on a terminal: one line, redrawn at most every 100 ms; nothing when piped.
class Progress {
 public:
  explicit Progress(const char* what) : what_(what), enabled_(::isatty(STDERR_FILENO) && LogEnabled(LogLevel::kInfo)) {}
  void Update(size_t done, size_t total) {
    if (!enabled_) return;
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::fprintf(stderr, "\r%s %zu/%zu (%zu%%)", what_, done, total, total ? done * 100 / total : 100);
    if (done == total) std::fputs("\r\033[K", stderr);
  }

 private:
  const char* what_;
  bool enabled_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "ait llm compare: error: %s\n(see 'ait llm compare --help')\n", message.c_str());
  return kExitUsage;
}

int CompareFiles(const std::string& golden, const std::string& my, const fs::path& output) {
  CompareRow row = ComparePair({"0", "0", golden, my, fs::path(my).filename().string()}, CompareOptions{});
  if (!row.golden || !row.my) {  // a file could not be read at all: nothing to compare
    Log(LogLevel::kError, "{}", row.fail_reason);
    return kExitFailure;
  }
  std::printf("golden: %s\nmy:     %s\n%s", golden.c_str(), my.c_str(), FormatPairTable(row).c_str());
  std::vector<CompareRow> rows{row};
  size_t dropped = DropMixedInt8Rows(rows);
  if (dropped) Log(LogLevel::kWarning, "int8 tensors compare only with int8: the pair is left out of the CSV");
  fs::path report = WriteCsvReport(output, rows);
  std::printf("Report: %s\n", report.c_str());
  return kExitOk;
}

// Folder compare: pair operations, score every tensor pair once, analyse where the error is
// born, write CSV + JSON + HTML, print the summary and the root causes.
int CompareFolders(const std::string& golden, const std::string& my, const fs::path& output, double threshold,
                   int threads, const OpMapping& mapping) {
  std::vector<TensorPair> report_pairs;  // the CSV's rows

  // Topology first (ATB vs torch, float vs quantized ATB, torch vs torch); two dumps of one
  // graph, or dumps without topology, are paired by relative path.
  // When the topology cannot be read (an unreadable model JSON, several {dev}_{pid} folders),
  // relative-path pairing is tried before giving up, with the reason kept for the error.
  std::optional<OpPairing> ops;
  std::string topology_error;
  try {
    ops = PairByTopology(golden, my, mapping);
  } catch (const Error& e) {
    topology_error = e.what();
    Log(LogLevel::kWarning, "topology pairing not possible ({}); pairing files by relative path", topology_error);
  }
  if (ops) {
    Log(LogLevel::kInfo, "pairing: {}; golden {}, my {}", ops->strategy, ops->golden_root.string(),
        ops->my_root.string());
    for (const std::string& note : ops->notes) Log(LogLevel::kWarning, "{}", note);
    if (ops->ops.empty()) {
      Log(LogLevel::kError, "{}: no operation of the my dump could be paired with the golden dump", ops->strategy);
      return kExitFailure;
    }
    report_pairs = OutputPairs(*ops);
  }

  if (!ops) {
    PairingResult pairing = PairByRelativePath(golden, my);
    Log(LogLevel::kInfo, "pairing: {}; golden {}, my {}", pairing.strategy, pairing.golden_root.string(),
        pairing.my_root.string());
    auto warn_unpaired = [](const std::vector<std::string>& only, const char* side) {
      if (only.empty()) return;
      Log(LogLevel::kWarning, "{} tensor files only in the {} dump (not compared), e.g. {}", only.size(), side,
          only.front());
    };
    warn_unpaired(pairing.only_in_golden, "golden");
    warn_unpaired(pairing.only_in_my, "my");
    if (pairing.pairs.empty()) {
      if (!topology_error.empty()) {
        Log(LogLevel::kError, "{}", topology_error);
        return kExitFailure;
      }
      Log(LogLevel::kError,
          "no tensor file has the same relative path in both folders ({} in golden, {} in my). Both must be dumps "
          "of the same graph: the same `ait_dump`, `tensors/` or `{{dev}}_{{pid}}` level on each side.",
          pairing.only_in_golden.size(), pairing.only_in_my.size());
      return kExitFailure;
    }
    NameTensorPairsByPath(pairing);
    ops = GroupByOperation(pairing);
    report_pairs = std::move(pairing.pairs);  // path pairing reports every file, as the original does
  }

  Progress progress("Comparing pairs");
  CompareOptions options;
  options.broadcast = ops->broadcast;
  options.threads = threads;
  std::vector<CompareRow> rows =
      ScoreForAnalysis(report_pairs, *ops, options, [&](size_t done, size_t total) { progress.Update(done, total); });
  DivergenceOptions analysis_options;
  analysis_options.cosine_threshold = threshold;
  DivergenceReport analysis = AnalyzeDivergence(*ops, rows, analysis_options);

  std::vector<CompareRow> csv_rows(std::make_move_iterator(rows.begin()),
                                   std::make_move_iterator(rows.begin() + static_cast<ptrdiff_t>(report_pairs.size())));
  size_t dropped = DropMixedInt8Rows(csv_rows);
  CompareSummary summary = Summarize(csv_rows, threshold, 5);
  summary.dropped_int8 = dropped;
  ReportPaths paths = ReportPathsFor(WriteCsvReport(output, csv_rows));
  WriteSummaryJson(paths.json, BuildSummaryJson(*ops, analysis, summary, paths));
  WriteHtmlReport(paths.html, *ops, analysis, summary, paths);

  if (LogEnabled(LogLevel::kDebug))
    for (const CompareRow& r : csv_rows) Log(LogLevel::kDebug, "{}:\n{}", r.pair.label, FormatPairTable(r));
  std::fputs(FormatSummary(summary, csv_rows).c_str(), stdout);
  std::fputs(FormatRootCauses(*ops, analysis).c_str(), stdout);
  std::printf("Report: %s\nSummary (JSON): %s\nReport (HTML): %s\n", paths.csv.c_str(), paths.json.c_str(),
              paths.html.c_str());
  return kExitOk;
}

}  // namespace

int RunCompare(const std::vector<std::string>& raw_args) {
  CLI::App app(
      "Compare a golden dump with 'my' dump (or two tensor files) and score every pair.\n\n"
      "Modes, chosen by what the paths are:\n"
      "  two files    compare the two tensors (.bin, .npy, .pth/.pt, .safetensors; any dtypes)\n"
      "  two folders  paired by what they hold: an ATB/engine dump with its model topology vs a\n"
      "               torch dump (model_tree.json): layers in order, operations to modules by\n"
      "               op-type tables (-mf) and a type + size alignment; ATB float vs quantized\n"
      "               topologies: the original's float-vs-quant rules; torch vs torch: modules\n"
      "               of the same name; two dumps of one graph (or without topology): files by\n"
      "               relative path, batch sizes broadcast or tiled along dim 0 as the original\n"
      "               does. docs/COMPARE_PAIRING.md has every rule.\n\n"
      "Folder compares then find where the error is born, per paired operation (its intensor*/\n"
      "input* files are its inputs, its outtensor*/output* files its outputs; kernels inside\n"
      "operations inside layers). A tensor is 'off' when\n"
      "its cosine similarity falls below --cosine-threshold, when its relative L2 error exceeds\n"
      "sqrt(2 (1 - threshold)) (a wrong scale), or when it holds NaN/inf the golden lacks. An\n"
      "operation whose inputs are within threshold and whose output is off by a jump of more\n"
      "than 4x their distance INTRODUCES the error (so does one whose output turns NaN/inf from\n"
      "finite inputs, or one that amplifies an incoming error more than 4x); one whose inputs are already off PROPAGATES it. The earliest\n"
      "introducing operations, deepest first (a kernel over its operation over its layer), each\n"
      "named once with the tokens it shows in, are printed as root causes with their evidence.\n"
      "Rounding differences (fp16/bf16 vs fp32) stay far inside the default threshold.\n\n"
      "Writes into OUTPUT, with one timestamp:\n"
      "  ait_cmp_report_{YYYYmmddHHMMSS}.csv   the original's 22 columns + operation name/type columns\n"
      "  ait_cmp_summary_{YYYYmmddHHMMSS}.json root causes, per-operation verdicts (folders only)\n"
      "  ait_cmp_report_{YYYYmmddHHMMSS}.html  charts along execution order, worst operations (folders only)\n"
      "Exit status: 0 when the comparison ran (failed pairs and root causes are results), 1 when\n"
      "the inputs could not be compared or a report not written, 2 for bad arguments.",
      "ait llm compare");
  app.formatter(std::make_shared<AliasFormatter>(kAliases));
  app.get_formatter()->column_width(34);
  std::string golden, my, output = "./", log_level = "info", mapping_file;
  double threshold = 0.99;
  int threads = 0;
  app.add_option("--golden-path", golden, "golden dump folder or tensor file")->required();
  app.add_option("--my-path", my, "my dump folder or tensor file")->required();
  app.add_option("--output", output, "folder for the CSV, JSON and HTML reports (created if missing)")->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical")->capture_default_str();
  app.add_option("--op-mapping-file", mapping_file,
                 "op_mapping_file.json (or a folder holding it) mapping ATB op types to torch module types; "
                 "validated here, used when pairing by topology");
  app.add_option("--cosine-threshold", threshold, "a pair below this cosine similarity (or above the relative L2 error it stands for) is off")
      ->capture_default_str()
      ->check(CLI::Range(-1.0, 1.0));
  app.add_option("--threads", threads, "worker threads (0 = all cores)")->capture_default_str()->check(CLI::NonNegativeNumber);
  if (int rc = ParseArgs(app, raw_args, kAliases); rc >= 0) return rc;
  auto level = ParseLogLevel(log_level);
  if (!level) return UsageError("--log-level: '" + log_level + "' is not one of debug, info, warning, error, fatal, critical");
  SetLogLevel(*level);
  std::error_code ec;
  for (const auto& [flag, path] : {std::pair{"--golden-path", golden}, std::pair{"--my-path", my}})
    if (!fs::exists(path, ec)) return UsageError(std::string(flag) + ": '" + path + "' does not exist");
  if (fs::exists(output, ec) && !fs::is_directory(output, ec))
    return UsageError("--output: '" + output + "' exists and is not a folder");
  OpMapping mapping = BuiltinOpMapping();
  if (!mapping_file.empty()) {
    auto loaded = Capture([&] { return LoadOpMapping(mapping_file); });
    if (!loaded.ok()) return UsageError("--op-mapping-file: " + loaded.error());
    mapping = std::move(loaded).value();
  }
  const bool golden_dir = fs::is_directory(golden, ec), my_dir = fs::is_directory(my, ec);
  if (golden_dir != my_dir)
    return UsageError("--golden-path and --my-path must both be folders or both be files ('" + golden + "' is a " +
                      (golden_dir ? "folder" : "file") + ", '" + my + "' is a " + (my_dir ? "folder" : "file") + ")");
  try {
    return golden_dir ? CompareFolders(golden, my, output, threshold, threads, mapping)
                      : CompareFiles(golden, my, output);
  } catch (const Error& e) {
    Log(LogLevel::kError, "{}", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {  // a bug or a system failure: still a message, not an abort
    Log(LogLevel::kError, "compare failed: {}", e.what());
    return kExitFailure;
  }
}

}  // namespace ait::cli
