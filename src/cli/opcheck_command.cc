// `ait llm opcheck`: parse and validate the arguments, call RunOpcheck (src/opcheck/opcheck_run.cc),
// print its result.
#include <filesystem>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/log.h"
#include "ait/opcheck_run.h"
#include "args.h"
#include "commands.h"
#include "progress.h"

namespace ait::cli {
namespace fs = std::filesystem;
namespace {

const std::vector<OptionAlias> kAliases = {
    {"-i", "--input"},           {"-c", "--csv-path"},         {"-o", "--output"},
    {"-ids", "--operation-ids"}, {"-opname", "--operation-name"}, {"-metric", "--precision-metric"},
    {"-device", "--device-id"},  {"-rerun", "--atb-rerun"},     {"-t", "--threads"},
    {"-l", "--log-level"},
};

// opcheck's statuses: 1 is "an operation failed", so input errors share 2 with usage errors.
constexpr int kExitCheckFailed = 1;
constexpr int kExitBadInput = 2;

}  // namespace

int RunOpcheck(const std::vector<std::string>& raw_args) {
  CLI::App app(
      "Check every operation of a dump on its own inputs: recompute its outputs from the inputs it\n"
      "really received (its dumped after/intensor*.bin) with an independent float64 reference,\n"
      "and score its dumped outputs (after/outtensor*.bin) against them with the precision\n"
      "standard of their dtype. An operation that fails is wrong by itself, whatever came before\n"
      "it: operations downstream of a fault still pass, because each is checked on its own inputs.\n\n"
      "What it reads: an ATB dump taken with 'ait llm dump --type tensor -time 2' (or -time 1): each\n"
      "operation folder holds after/ and op_param.json. --input may be ait_dump/ (or the folder\n"
      "above it), tensors/, a {dev}_{pid} folder (every token), a token folder, or any operation\n"
      "folder below it (that operation and those inside it). Graph operations (layers) are not\n"
      "checked themselves; their nodes are. With --csv-path, the operations (name, id, param) come\n"
      "from an operation_tensors_{n}.csv of 'dump --type op' and their tensors from --input.\n\n"
      "Selection: --operation-ids 24_1,2_3_5 takes those operations and every operation inside\n"
      "them; --operation-name self,linear takes types containing one of the names (case-\n"
      "insensitive); given both, an operation must match both.\n\n"
      "Standards (element error |out - ref| / |ref|, or |out - ref| where |ref| <= 2^-23 and for\n"
      "integers; an output passes when at least the rate of its elements are within the level):\n"
      "  float16 0.001 99.9%   bfloat16 0.004 99.6%   float32/float64/int32/int64 0.0001 99.99%\n"
      "  int8/int16/uint16 1 99.9%   uint8 1 99%   bool exact 100%\n"
      "docs/OPCHECK.md has every rule and the list of operation types with a reference; a type\n"
      "without one is reported 'addition failed'. Collective operations (AllReduce, AllGather,\n"
      "LinearParallel) are checked when the dump holds every rank's inputs.\n\n"
      "--atb-rerun runs each operation again from its dumped inputs through the reference engine\n"
      "(libait_engine.so; $AIT_OPCHECK_LIB_PATH names another) and scores that run; the dump is\n"
      "compared with the rerun, and a difference says the run or the dump is not deterministic.\n\n"
      "Writes into OUTPUT, with one timestamp:\n"
      "  opcheck_result_{YYYYmmdd_HHMMSS}.xlsx  one row per output tensor (the original's columns,\n"
      "                                          then token, worst_element, rerun_vs_dump)\n"
      "  opcheck_result_{YYYYmmdd_HHMMSS}.csv   the same rows\n"
      "Exit status: 0 every checked operation passed, 1 some operation FAILED, 2 bad arguments or\n"
      "an input that cannot be checked (no dump, nothing to check, a report not written).",
      "ait llm opcheck");
  app.formatter(std::make_shared<AliasFormatter>(kAliases));
  app.get_formatter()->column_width(34);
  std::string input, csv, output = "./", log_level = "info";
  std::vector<std::string> ids, names, metrics;
  int device = 0, threads = 0;
  bool rerun = false;
  app.add_option("--input", input, "dump folder: ait_dump/, tensors/, {dev}_{pid}/, a token or an operation folder")
      ->required();
  app.add_option("--csv-path", csv, "an operation_tensors_{n}.csv of 'dump --type op': the operations to check");
  app.add_option("--output", output, "folder for the xlsx and CSV reports (created if missing)")->capture_default_str();
  app.add_option("--operation-ids", ids, "ID[,ID...]: operations (and those inside them) to check, e.g. 24_1,2_3_5")
      ->expected(1, -1);
  app.add_option("--operation-name", names, "NAME[,NAME...]: operation types containing one of these to check")
      ->expected(1, -1);
  app.add_option("--precision-metric", metrics, "more columns: abs (absolute error rate), cos_sim, kl")
      ->expected(1, -1)
      ->check(CLI::IsMember({"abs", "cos_sim", "kl"}));
  Bounded(app.add_option("--device-id", device, "device the dump was taken on (recorded; the references run on the CPU)")
              ->capture_default_str(),
          "INT", 0, HUGE_VAL);
  app.add_flag("--atb-rerun", rerun, "run each operation again through the reference engine and score that run");
  Bounded(app.add_option("--threads", threads, "worker threads (0 = all cores)")->capture_default_str(), "INT", 0,
          HUGE_VAL);
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical")->capture_default_str();
  if (int rc = ParseArgs(app, raw_args, kAliases); rc >= 0) return rc;
  auto level = ParseLogLevel(log_level);
  if (!level) return UsageError("opcheck", "--log-level: '" + log_level + "' is not one of debug, info, warning, error, fatal, critical");
  SetLogLevel(*level);
  std::error_code ec;
  if (!fs::exists(input, ec)) return UsageError("opcheck", "--input: '" + input + "' does not exist");
  if (!fs::is_directory(input, ec)) return UsageError("opcheck", "--input: '" + input + "' is not a folder (opcheck reads a dump folder)");
  if (!csv.empty() && !fs::is_regular_file(csv, ec)) return UsageError("opcheck", "--csv-path: '" + csv + "' is not a file");
  if (fs::exists(output, ec) && !fs::is_directory(output, ec))
    return UsageError("opcheck", "--output: '" + output + "' exists and is not a folder");
  OpcheckRequest request;
  request.input = input;
  request.op_csv = csv;
  request.output = output;
  request.ids = ids;
  request.names = names;
  request.metrics = metrics;
  request.rerun = rerun;
  request.device_id = device;
  request.threads = threads;
  Progress progress("Checking operations");
  request.progress = [&](size_t done, size_t total) { progress.Update(done, total); };
  try {
    const OpcheckResult result = ait::RunOpcheck(request);
    std::fputs(FormatOpcheckResult(result).c_str(), stdout);
    return result.failed ? kExitCheckFailed : kExitOk;
  } catch (const Error& e) {
    Log(LogLevel::kError, "{}", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "opcheck failed: {}", e.what());
    return kExitBadInput;
  }
}

}  // namespace ait::cli
