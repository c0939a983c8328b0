// `ait llm compare`: parse and validate the arguments, call RunCompare (src/compare/compare_run.cc),
// print its result.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "ait/compare_run.h"
#include "ait/error.h"
#include "ait/log.h"
#include "ait/tensor_io.h"
#include "args.h"
#include "commands.h"
#include "progress.h"
#include "python_metrics.h"

namespace ait::cli {
namespace fs = std::filesystem;
namespace {

const std::vector<OptionAlias> kAliases = {
    {"-gp", "--golden-path"}, {"-mp", "--my-path"},          {"-o", "--output"},
    {"-l", "--log-level"},    {"-mf", "--op-mapping-file"}, {"-ct", "--cosine-threshold"},
    {"-t", "--threads"},      {"-cl", "--cmp-level"},       {"-alg", "--custom-algorithms"},
    {"-pp", "--peer-path"},
};

// `line` wrapped to kHelpWidth, its continuation lines indented by `indent` columns.
std::string Indented(const std::string& line, size_t indent) {
  const std::string lead = line.substr(0, indent);
  std::string out = WrapText(line.substr(indent), kHelpWidth - indent);
  for (size_t at = out.find('\n'); at != std::string::npos; at = out.find('\n', at + 1))
    out.insert(at + 1, std::string(indent, ' '));
  return lead + out;
}

// The --fail-on conditions with their exit statuses, one line each.
std::string FailOnHelp() {
  std::string out;
  for (const FailCondition& c : kFailConditions)
    out += Indented(fmt::format("  {}  {:<13}  {}", c.exit_status, c.name, c.meaning), 20) + "\n";
  out += "  (several: the status of the first in this list; the JSON's \"verdict\" says which held)";
  return out;
}

}  // namespace

int RunCompare(const std::vector<std::string>& raw_args) {
  std::string strategies;
  for (const auto& [name, summary] : ListPairingStrategies())
    strategies += Indented(fmt::format("    {:<15} {}", name, summary), 20) + "\n";
  CLI::App app(
      "Compare a golden dump with 'my' dump (or two tensor files) and score every pair.\n\n"
      "Modes, chosen by what the paths are:\n"
      "  two files    compare the two tensors (.bin, .npy, .pth/.pt, .safetensors; any dtypes)\n"
      "  two folders  paired by the first of these strategies that recognises them (the log\n"
      "               names the one chosen and why those before it declined):\n" +
      strategies +
      "               Batch sizes are broadcast or tiled along dim 0 where the original does.\n"
      "               docs/COMPARE_PAIRING.md has every rule.\n\n"
      "Folder compares then find where the error is born, per paired operation (its\n"
      "intensor*/input* files are its inputs, its outtensor*/output* files its outputs; kernels\n"
      "inside operations inside layers). A tensor is 'off' when its cosine similarity falls below\n"
      "--cosine-threshold, when its relative L2 error exceeds sqrt(2 (1 - threshold)) (a wrong\n"
      "scale), or when it holds NaN/inf the golden lacks. An operation whose inputs are within\n"
      "threshold and whose output is off by a jump of more than 4x their distance INTRODUCES the\n"
      "error (so does one whose output turns NaN/inf from finite inputs, or one that amplifies an\n"
      "incoming error more than 4x); one whose inputs are already off PROPAGATES it. Smaller\n"
      "errors are judged against a noise floor measured from the run: where it is zero\n"
      "(operations of one type turn identical inputs into identical outputs: two runs of one\n"
      "deterministic engine in one dtype), an operation whose identical inputs give a different\n"
      "output introduces the error however small; elsewhere (across dtypes) an operation\n"
      "introduces it when its local error (output distance beyond its inputs') is an outlier\n"
      "against the same type in other layers and tokens (median + 10 MAD) and a jump; with\n"
      "--peer-path (the golden model run at my dtype, paired to the golden like my dump), against\n"
      "the same operation in the peer. The earliest introducing operations, deepest first (a\n"
      "kernel over its operation over its layer), each named once with the tokens it shows in,\n"
      "are printed as root causes with their evidence, then the operations adding the most error\n"
      "(expected error: rounding, quantization). docs/ROOT_CAUSE.md has the rule and its\n"
      "calibration.\n\n"
      "--cmp-level: layer and token (the original's) compare everything paired, as the pairing\n"
      "finds any level of a dump itself; module keeps the torch dump's module folders, api its\n"
      "API-mode folders ({module}.{function}[.N]), logits per token the model's final output.\n\n"
      "--custom-algorithms FILE.py:FUNC ...: FUNC(golden, my) -> (value, message) is called with the\n"
      "two tensors as numpy arrays (as read; bfloat16 as float32) on every pair of the CSV whose\n"
      "metrics are computed; the CSV gets columns FUNC and FUNC_message. An exception it raises\n"
      "becomes the row's FUNC_message. Python is Debian's python3 (plus $VIRTUAL_ENV's\n"
      "site-packages), loaded only with this option.\n\n"
      "Writes into OUTPUT, with one timestamp:\n"
      "  ait_cmp_report_{YYYYmmddHHMMSS}.csv   the original's 22 columns + operation name/type and\n"
      "                                        verdict/local error columns\n"
      "                                        (+ FUNC, FUNC_message per custom algorithm)\n"
      "  ait_cmp_summary_{YYYYmmddHHMMSS}.json root causes, per-operation verdicts (folders only)\n"
      "  ait_cmp_report_{YYYYmmddHHMMSS}.html  root causes, charts along execution order (folders)\n"
      "Exit status: 0 when the comparison ran (failed pairs and root causes are results unless\n"
      "--fail-on names them), 1 when the inputs could not be compared or a report not written,\n"
      "2 for bad arguments; with --fail-on:\n" + FailOnHelp(),
      "ait llm compare");
  app.formatter(std::make_shared<AliasFormatter>(kAliases));
  app.get_formatter()->column_width(34);
  std::string golden, my, peer, output = "./", log_level = "info", mapping_file, cmp_level = "layer";
  std::vector<std::string> algorithms;
  double threshold = 0.99;
  int threads = 0;
  app.add_option("--golden-path", golden, "golden dump folder or tensor file")->required();
  app.add_option("--my-path", my, "my dump folder or tensor file")->required();
  app.add_option("--peer-path", peer,
                 "a third dump folder: the golden model run at my dtype, paired to the golden like my dump; "
                 "each operation's local error is judged against the peer's same operation")
      ->capture_default_str();
  app.add_option("--output", output, "folder for the CSV, JSON and HTML reports (created if missing)")->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical")->capture_default_str();
  app.add_option("--op-mapping-file", mapping_file,
                 "op_mapping_file.json (or a folder holding it) mapping ATB op types to torch module types; "
                 "validated here, used when pairing by topology");
  Bounded(app.add_option("--cosine-threshold", threshold,
                         "a pair below this cosine similarity (or above the relative L2 error it stands for) is off")
              ->capture_default_str(),
          "FLOAT", -1, 1);
  Bounded(app.add_option("--threads", threads, "worker threads (0 = all cores)")->capture_default_str(), "INT", 0,
          HUGE_VAL);
  app.add_option("--cmp-level", cmp_level,
                 "layer, token (compare everything paired), module, api (the torch dump's module / API-mode "
                 "folders only) or logits (the model's final output only)")
      ->capture_default_str();
  bool opcheck = false;
  app.add_flag("--opcheck", opcheck,
               "check each operation of my dump on its own dumped inputs against opcheck's float64 reference "
               "(needs after/ and op_param.json: 'dump --type tensor -time 2'); one that fails is a root cause "
               "whatever it inherits");
  std::vector<std::string> fail_on;
  app.add_option("--fail-on", fail_on,
                 "COND[,COND...]: exit non-zero when a condition holds, for CI (" + FailConditionNames() +
                     "; exit statuses above)")
      ->delimiter(',')
      ->expected(1, -1);
  app.add_option("--custom-algorithms", algorithms,
                 "FILE.py:FUNC ...: more metrics, FUNC(golden, my) -> (value, message) on numpy arrays; "
                 "columns FUNC and FUNC_message")
      ->expected(1, -1);
  if (int rc = ParseArgs(app, raw_args, kAliases); rc >= 0) return rc;
  auto level = ParseLogLevel(log_level);
  if (!level) return UsageError("compare", "--log-level: '" + log_level + "' is not one of debug, info, warning, error, fatal, critical");
  SetLogLevel(*level);
  const std::optional<CompareLevel> compare_level = ParseCompareLevel(cmp_level);
  if (!compare_level)
    return UsageError("compare", "--cmp-level: '" + cmp_level + "' is not one of " + std::string(kCompareLevelNames));
  std::error_code ec;
  for (const auto& [flag, path] : {std::pair{"--golden-path", golden}, std::pair{"--my-path", my}})
    if (!PathOrAddressExists(path)) return UsageError("compare", std::string(flag) + ": '" + path + "' does not exist");
  if (!peer.empty() && !fs::is_directory(peer, ec))
    return UsageError("compare", "--peer-path: '" + peer + "' is not a folder (a peer is a dump folder)");
  if (const auto unknown = UnknownFailConditions(fail_on); !unknown.empty())
    return UsageError("compare", "--fail-on: '" + unknown[0] + "' is not one of " + FailConditionNames());
  if (fs::exists(output, ec) && !fs::is_directory(output, ec))
    return UsageError("compare", "--output: '" + output + "' exists and is not a folder");
  CompareRequest request;
  if (!mapping_file.empty()) {
    auto loaded = Capture([&] { return LoadOpMapping(mapping_file); });
    if (!loaded.ok()) return UsageError("compare", "--op-mapping-file: " + loaded.error());
    request.mapping = std::move(loaded).value();
  }
  const bool golden_dir = fs::is_directory(golden, ec), my_dir = fs::is_directory(my, ec);
  if (golden_dir != my_dir)
    return UsageError("compare", "--golden-path and --my-path must both be folders or both be files ('" + golden + "' is a " +
                      (golden_dir ? "folder" : "file") + ", '" + my + "' is a " + (my_dir ? "folder" : "file") + ")");
  request.golden = golden;
  request.my = my;
  request.peer = peer;
  request.output = output;
  request.cosine_threshold = threshold;
  request.threads = threads;
  request.level = *compare_level;
  request.fail_on = fail_on;
  request.opcheck = opcheck;
  if (!algorithms.empty()) {  // only now is Python loaded
    PythonMetrics loaded = LoadPythonMetrics(algorithms);
    if (loaded.status == kExitUsage) return UsageError("compare", "--custom-algorithms: " + loaded.error);
    if (loaded.status != kExitOk) {
      Log(LogLevel::kError, "--custom-algorithms: {}", loaded.error);
      return kExitFailure;
    }
    request.custom_metrics = std::move(loaded.metrics);
    auto columns = Capture([&] { return CsvColumns(CustomMetricNames(request)); });
    if (!columns.ok()) return UsageError("compare", "--custom-algorithms: " + columns.error());
  }
  Progress progress("Comparing pairs");
  request.progress = [&](size_t done, size_t total) { progress.Update(done, total); };
  try {
    const CompareResult result = ait::RunCompare(request);
    if (result.summary.dropped_int8)
      Log(LogLevel::kWarning, "int8 tensors compare only with int8: {} pair(s) left out of the CSV", result.summary.dropped_int8);
    if (result.folders && LogEnabled(LogLevel::kDebug))
      for (const CompareRow& r : result.rows)
        Log(LogLevel::kDebug, "{}:\n{}", r.pair.label, FormatPairTable(r, CustomMetricNames(request)));
    std::fputs(FormatCompareResult(request, result).c_str(), stdout);
    return result.exit_status;
  } catch (const Error& e) {
    Log(LogLevel::kError, "{}", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {  // a bug or a system failure: still a message, not an abort
    Log(LogLevel::kError, "compare failed: {}", e.what());
    return kExitFailure;
  }
}

}  // namespace ait::cli
