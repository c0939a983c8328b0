// `ait llm compare`: parse, validate, pick the mode, call the library, report.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>

#include "ait/compare.h"
#include "ait/error.h"
#include "ait/log.h"
#include "ait/op_mapping.h"
#include "ait/pairing.h"
#include "ait/report.h"
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

int CompareFolders(const std::string& golden, const std::string& my, const fs::path& output, double threshold,
                   int threads) {
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
    Log(LogLevel::kError,
        "no tensor file has the same relative path in both folders ({} in golden, {} in my). Both must be dumps "
        "of the same graph: the same `ait_dump`, `tensors/` or `{{dev}}_{{pid}}` level on each side.",
        pairing.only_in_golden.size(), pairing.only_in_my.size());
    return kExitFailure;
  }
  Progress progress("Comparing pairs");
  CompareOptions options;
  options.broadcast = true;
  options.threads = threads;
  std::vector<CompareRow> rows =
      CompareAll(pairing.pairs, options, [&](size_t done, size_t total) { progress.Update(done, total); });
  size_t dropped = DropMixedInt8Rows(rows);
  fs::path report = WriteCsvReport(output, rows);
  CompareSummary summary = Summarize(rows, threshold, 5);
  summary.dropped_int8 = dropped;
  if (LogEnabled(LogLevel::kDebug))
    for (const CompareRow& r : rows) Log(LogLevel::kDebug, "{}:\n{}", r.pair.label, FormatPairTable(r));
  std::fputs(FormatSummary(summary, rows).c_str(), stdout);
  std::printf("Report: %s\n", report.c_str());
  return kExitOk;
}

}  // namespace

int RunCompare(const std::vector<std::string>& raw_args) {
  CLI::App app(
      "Compare a golden dump with 'my' dump (or two tensor files) and score every pair.\n\n"
      "Modes, chosen by what the paths are:\n"
      "  two files    compare the two tensors (.bin, .npy, .pth/.pt, .safetensors; any dtypes)\n"
      "  two folders  two dumps of the same graph: files paired by relative path, batch sizes\n"
      "               broadcast or tiled along dim 0 as the original does\n\n"
      "Writes OUTPUT/ait_cmp_report_{YYYYmmddHHMMSS}.csv (the original's 22 columns) and prints a\n"
      "summary naming the first pair, in execution order, whose cosine similarity falls below\n"
      "the threshold. Exit status: 0 when the comparison ran (failed pairs are results), 1 when\n"
      "the inputs could not be compared or the report not written, 2 for bad arguments.",
      "ait llm compare");
  app.formatter(std::make_shared<AliasFormatter>(kAliases));
  app.get_formatter()->column_width(34);
  std::string golden, my, output = "./", log_level = "info", mapping_file;
  double threshold = 0.99;
  int threads = 0;
  app.add_option("--golden-path", golden, "golden dump folder or tensor file")->required();
  app.add_option("--my-path", my, "my dump folder or tensor file")->required();
  app.add_option("--output", output, "folder for the CSV report (created if missing)")->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical")->capture_default_str();
  app.add_option("--op-mapping-file", mapping_file,
                 "op_mapping_file.json (or a folder holding it) mapping ATB op types to torch module types; "
                 "validated here, used when pairing by topology");
  app.add_option("--cosine-threshold", threshold, "a pair below this cosine similarity counts as diverged")
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
  if (!mapping_file.empty()) {
    auto mapping = Capture([&] { return LoadOpMapping(mapping_file); });
    if (!mapping.ok()) return UsageError("--op-mapping-file: " + mapping.error());
  }
  const bool golden_dir = fs::is_directory(golden, ec), my_dir = fs::is_directory(my, ec);
  if (golden_dir != my_dir)
    return UsageError("--golden-path and --my-path must both be folders or both be files ('" + golden + "' is a " +
                      (golden_dir ? "folder" : "file") + ", '" + my + "' is a " + (my_dir ? "folder" : "file") + ")");
  try {
    return golden_dir ? CompareFolders(golden, my, output, threshold, threads) : CompareFiles(golden, my, output);
  } catch (const Error& e) {
    Log(LogLevel::kError, "{}", e.what());
    return kExitFailure;
  }
}

}  // namespace ait::cli
