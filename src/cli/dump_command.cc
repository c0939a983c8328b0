// `ait llm dump` / `ait llm errcheck`: run a command with the ATB probe preloaded, configured
// through the ATB_* environment (FORMATS.md 3.4, 4.3, 4.6), then post-process what it wrote.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "ait/cpu_profiling.h"
#include "ait/error.h"
#include "ait/atb_onnx.h"
#include "ait/log.h"
#include "ait/overflow_report.h"
#include "ait/probe_env.h"
#include "args.h"
#include "commands.h"
#include "probe_launch.h"

namespace ait::cli {
namespace fs = std::filesystem;
namespace penv = ait::probe_env;
namespace {

const std::vector<OptionAlias> kDumpAliases = {
    {"-sd", "--only-save-desc"}, {"-ids", "--save-operation-ids"},   {"-er", "--execute-range"},
    {"-child", "--save-operation-child"}, {"-time", "--save-time"},  {"-opname", "--operation-name"},
    {"-tiling", "--save-tiling"}, {"-stp", "--save-tensor-part"},    {"-o", "--output"},
    {"-device", "--device-id"},   {"-l", "--log-level"},
};
const std::vector<OptionAlias> kErrcheckAliases = {{"-o", "--output"}, {"-l", "--log-level"}};

const std::vector<std::string> kDumpTypes = {"model", "layer", "op", "kernel", "tensor", "cpu_profiling", "onnx"};

struct UsageFailure {
  std::string message;
};

[[noreturn]] void Usage(std::string message) { throw UsageFailure{std::move(message)}; }

// The original's str2bool.
bool ParseBool(const std::string& flag, const std::string& v) {
  std::string s = v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "yes" || s == "true" || s == "t" || s == "y" || s == "1") return true;
  if (s == "no" || s == "false" || s == "f" || s == "n" || s == "0") return false;
  Usage(flag + ": '" + v + "' is not a boolean (use true/false, yes/no, 1/0)");
}

int ParseChoice012(const std::string& flag, const std::string& v, const char* meaning) {
  if (v == "0" || v == "1" || v == "2") return v[0] - '0';
  Usage(fmt::format("{}: '{}' must be 0, 1 or 2 ({})", flag, v, meaning));
}

// Log level name -> ATB_AIT_LOG_LEVEL (debug 0, info 1, warning 2, error 3, fatal 4, critical 5).
std::string ProbeLogLevel(const std::string& level) {
  std::string s = level;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::map<std::string, std::string> kMap = {{"debug", "0"}, {"info", "1"},  {"warning", "2"},
                                                          {"warn", "2"},  {"error", "3"}, {"fatal", "4"},
                                                          {"critical", "5"}};
  auto it = kMap.find(s);
  return it == kMap.end() ? "1" : it->second;
}

void CheckOutputPath(const std::string& flag, const std::string& path) {
  static const std::regex kAllowed("[_A-Za-z0-9/.-]*");
  if (path.size() > 4096) Usage(flag + ": the path is longer than 4096 characters");
  if (!std::regex_match(path, kAllowed))
    Usage(flag + ": '" + path + "' may contain only letters, digits and _ / . - (as the original)");
  std::error_code ec;
  if (fs::is_symlink(path, ec)) Usage(flag + ": '" + path + "' is a symbolic link");
  if (fs::exists(path, ec) && !fs::is_directory(path, ec)) Usage(flag + ": '" + path + "' exists and is not a folder");
  if (fs::exists(path, ec) && access(path.c_str(), W_OK) != 0) Usage(flag + ": '" + path + "' is not writable");
}

void MakeDirs(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) Fail(dir.string(), "cannot create the folder: {}", ec.message());
}

// The folders one run made, so that a command that never started leaves none behind.
class MadeFolders {
 public:
  // MakeDirs, remembering each folder that did not exist before.
  void Make(const fs::path& dir) {
    std::error_code ec;
    fs::path p = fs::absolute(dir, ec).lexically_normal();
    if (p.filename().empty()) p = p.parent_path();  // "out/" -> "out"
    std::vector<fs::path> missing;
    for (; !ec && p.has_relative_path() && !fs::exists(p, ec); p = p.parent_path()) missing.push_back(p);
    MakeDirs(dir);
    made_.insert(made_.end(), missing.rbegin(), missing.rend());
  }

  // Removes the remembered folders that are still empty, deepest first. rmdir(2) refuses a
  // folder that holds anything, so whatever was written (by anyone) stays.
  void RemoveEmpty() {
    std::error_code ec;
    for (auto it = made_.rbegin(); it != made_.rend(); ++it)
      if (fs::is_directory(*it, ec) && fs::is_empty(*it, ec)) fs::remove(*it, ec);
    made_.clear();
  }

 private:
  std::vector<fs::path> made_;  // in the order they were made, parents first
};

// A bad --exec is a usage error (exit 2).
std::vector<std::string> SplitExecArgument(const std::string& exec) {
  auto argv = Capture([&] { return SplitExecCommand(exec); });
  if (!argv.ok()) Usage(argv.error());
  return std::move(argv).value();
}

ProbeAbi ParseAbi(const std::string& v) {
  if (v == "auto") return ProbeAbi::kAuto;
  if (v == "0") return ProbeAbi::kOld;
  if (v == "1") return ProbeAbi::kCxx11;
  Usage("--probe-abi: '" + v + "' must be auto, 0 (old string ABI) or 1 (cxx11 string ABI)");
}

// Files under `dir` modified at or after `since`, by top-level subfolder of ait_dump.
std::map<std::string, size_t> CountNewFiles(const fs::path& dir, fs::file_time_type since) {
  std::map<std::string, size_t> counts;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return counts;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->last_write_time(ec) < since) continue;
    const std::string name = it->path().filename().string();
    if (name.find(".tmp") != std::string::npos) continue;  // a probe temporary left by a killed run
    const fs::path rel = fs::relative(it->path(), dir, ec);
    ++counts[rel.begin()->string()];
  }
  return counts;
}

// --type cpu_profiling: a Chrome trace per run folder this command wrote (an earlier run's,
// already merged, is left alone), then the original's merge.
void PostProcessCpuProfiling(const fs::path& root, fs::file_time_type since) {
  const fs::path dir = root / penv::kCpuProfilingDir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    Log(LogLevel::kWarning, "--type cpu_profiling: the command wrote no statistics ({} is missing)", dir.string());
    return;
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    const auto files = FindStatisticFiles(entry.path());
    if (files.empty() || std::none_of(files.begin(), files.end(), [&](const fs::path& f) {
          return fs::last_write_time(f, ec) >= since;
        }))
      continue;
    // A run folder is {TIMESTAMP} with the process id in pid.txt (the original's folders
    // were named by the pid).
    std::string pid_text = entry.path().filename().string();
    if (std::ifstream in(entry.path() / penv::kPidFile); in) std::getline(in, pid_text);
    int64_t pid = 0;
    if (!pid_text.empty() && pid_text.find_first_not_of("0123456789") == std::string::npos && pid_text.size() < 10)
      pid = std::stoll(pid_text);
    const fs::path trace = entry.path() / penv::kCpuProfilingTraceFile;
    const size_t events = WriteChromeTrace(files, trace, pid);
    MergeStatisticFiles(files);
    std::printf("CPU profile: %zu statistic files merged in %s; Chrome trace (%zu operations): %s\n", files.size(),
                entry.path().c_str(), events, trace.c_str());
  }
}

// --type onnx: convert every topology JSON the probe listed in subprocess_info.txt.
void PostProcessOnnx(const fs::path& sub_proc_dir) {
  const fs::path list = sub_proc_dir / penv::kSubProcInfoFile;
  std::ifstream in(list);
  if (!in) {
    Log(LogLevel::kWarning, "--type onnx: the command reported no topology ({} is missing)", list.string());
    return;
  }
  std::set<std::string> seen;
  size_t converted = 0, failed = 0;
  for (std::string path; std::getline(in, path);) {
    if (path.empty() || !seen.insert(path).second) continue;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) continue;
    auto result = Capture([&] { return AtbJsonToOnnx(path, -1); });
    if (result.ok()) {
      ++converted;
      Log(LogLevel::kDebug, "ONNX: {}", result.value());
    } else {
      ++failed;
      Log(LogLevel::kError, "{}", result.error());
    }
  }
  std::printf("ONNX: %zu topology file%s converted (next to each JSON)%s\n", converted, converted == 1 ? "" : "s",
              failed ? fmt::format(", {} failed", failed).c_str() : "");
}

// What the probe's processes could not write, by what was lost ("tensors were not
// written"), in the order first reported: the total and the first process's reason.
struct LostOutputs {
  std::string what, reason;
  uint64_t count = 0;
};

// Reads and removes the file the probe appends its losses to (probe_env::kLostOutputsFile:
// "{count}\t{what}\t{reason}" lines, one per process and kind).
std::vector<LostOutputs> TakeLostOutputs(const fs::path& file) {
  std::vector<LostOutputs> lost;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const size_t tab1 = line.find('\t'), tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
    if (tab2 == std::string::npos || tab1 == 0 || tab1 > 19 || line.find_first_not_of("0123456789") != tab1)
      continue;  // not the probe's line
    const std::string what = line.substr(tab1 + 1, tab2 - tab1 - 1);
    auto it = std::find_if(lost.begin(), lost.end(), [&](const LostOutputs& l) { return l.what == what; });
    if (it == lost.end()) it = lost.insert(lost.end(), LostOutputs{what, line.substr(tab2 + 1), 0});
    it->count += std::stoull(line.substr(0, tab1));
  }
  std::error_code ec;
  fs::remove(file, ec);
  return lost;
}

void PrintDumpSummary(const fs::path& root, fs::file_time_type since, const std::vector<LostOutputs>& lost) {
  const auto counts = CountNewFiles(root, since);
  std::error_code ec;
  const fs::path abs = fs::absolute(root, ec);
  if (counts.empty()) {
    std::printf("No dump files were written under %s (did the command run an ATB-style engine? check the "
                "selectors: -ids, -opname, -er)\n", abs.c_str());
  } else {
    std::printf("Dump written to %s:\n", abs.c_str());
    for (const auto& [dir, n] : counts) std::printf("  %-22s %zu file%s\n", (dir + "/").c_str(), n, n == 1 ? "" : "s");
  }
  // The reasons are text another process wrote: printed through PrintableText.
  for (const LostOutputs& l : lost)
    std::printf("WARNING: %s\n", PrintableText(fmt::format("{} {}: {}", l.count, l.what, l.reason)).c_str());
}

int Dump(const std::vector<std::string>& raw) {
  CLI::App app(
      std::string("Run a command with the ATB probe preloaded and dump what its operations compute.\n\n"
                  "The command is split into words as a shell would (quotes work) but runs without a shell,\n") +
          "with " + penv::kLdPreload + "=libait_probe and the ATB_* variables set from the options below; an\n" +
          "ATB-style engine (real ATB, or ait-engine) then writes OUTPUT/" + penv::kDumpDir + "/:\n" +
          "  " + penv::kTensorsDir + "/{dev}_{pid}/{token}/{id}_{Op}/.../{before,after}/*.bin, " + penv::kLayerDir +
          "/ and " + penv::kModelDir + "/\n" +
          "  topology JSON, operation/kernel IO CSVs, " + penv::kCpuProfilingDir + "/, " + penv::kTilingDir + "/.\n" +
          "Exit status: the command's (128+N when it died of signal N); " + std::to_string(kExitDumpIncomplete) +
          " when it exited 0 but the\n"
          "probe could not write some outputs (see the WARNING lines); 2 for bad arguments, 1 when\n"
          "it could not run.",
      "ait llm dump");
  app.formatter(std::make_shared<AliasFormatter>(kDumpAliases));
  app.get_formatter()->column_width(36);
  std::vector<std::string> id_words;
  std::string exec, ids, range = "0,0", child = "true", time = "1", opname, stp = "2", output = "./", device,
                    log_level = "info", abi = "auto";
  std::vector<std::string> types = {"tensor"};
  bool save_desc = false, tiling = false;
  app.add_option("--exec", exec, "the command to run, e.g. \"ait-engine run --model m --input-ids 1,2\"")->required();
  app.add_option("--type", types, "what to dump: model layer op kernel tensor cpu_profiling onnx")
      ->capture_default_str()
      ->check(CLI::IsMember(kDumpTypes));
  app.add_flag("--only-save-desc", save_desc, "tensor files hold the description only (no data)");
  app.add_option("--save-operation-ids", id_words, "operation ids to save, e.g. 2,3_1 or 2, 3_1 (default: all)")
      ->expected(1, -1);
  app.add_option("--execute-range", range, "execute counts (tokens) to save, inclusive pairs: 0,0 or 1,3 or 3,5,7,7")
      ->capture_default_str();
  app.add_option("--save-operation-child", child, "with -ids: also save the children of the selected operations")
      ->capture_default_str();
  app.add_option("--save-time", time, "0 before execution, 1 after, 2 both")->capture_default_str();
  app.add_option("--operation-name", opname, "operation type prefixes to save, e.g. self,linear (any case)");
  app.add_flag("--save-tiling", tiling, "also save each kernel's tiling data");
  app.add_option("--save-tensor-part", stp, "0 inputs, 1 outputs, 2 both")->capture_default_str();
  app.add_option("--output", output, std::string("output folder (") + penv::kDumpDir + "/ goes inside)")
      ->capture_default_str();
  app.add_option("--device-id", device, "save tensors of this device only");
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical (also the probe's)")
      ->capture_default_str();
  app.add_option("--probe-abi", abi,
                 std::string("probe flavour: auto (") + penv::kAtbHomePath +
                     "'s libatb.so decides, else ait-engine's), 0 old or 1 cxx11 string ABI")
      ->capture_default_str();
  if (int rc = ParseArgs(app, raw, kDumpAliases); rc >= 0) return rc;

  std::map<std::string, std::string> env;
  std::vector<std::string> unset;
  std::vector<std::string> argv;
  ProbeChoice probe;
  try {
    auto level = ParseLogLevel(log_level);
    if (!level) Usage("--log-level: '" + log_level + "' is not one of debug, info, warning, error, fatal, critical");
    SetLogLevel(*level);
    argv = SplitExecArgument(exec);
    const std::set<std::string> type_set(types.begin(), types.end());
    if (type_set.count("onnx") && !type_set.count("model") && !type_set.count("layer"))
      Usage("--type: onnx converts the model/layer topology, so it needs model or layer too");
    // The guide's own example is `-ids 2, 3_1`: words are joined, spaces around ids dropped.
    static const std::regex kId(R"(\d+(_\d+)*)");
    std::string given;
    for (const auto& w : id_words) given += (given.empty() ? "" : " ") + w;
    for (size_t at = 0; at < given.size();) {
      const size_t comma = std::min(given.find(',', at), given.size());
      std::string id = given.substr(at, comma - at);
      id.erase(0, id.find_first_not_of(' '));
      id.erase(id.find_last_not_of(' ') + 1);
      if (!std::regex_match(id, kId))
        Usage("--save-operation-ids: '" + given + "' must be operation ids like 2,3_1 (digits joined by _, "
              "separated by commas)");
      ids += (ids.empty() ? "" : ",") + id;
      at = comma + 1;
    }
    static const std::regex kRange(R"(^\d{1,9}(,\d{1,9})*$)");
    if (!std::regex_match(range, kRange))
      Usage("--execute-range: '" + range + "' must be comma-separated non-negative integers, e.g. 0,0 or 1,3,5,5");
    std::vector<long> bounds;
    for (size_t at = 0; at <= range.size();) {
      const size_t comma = std::min(range.find(',', at), range.size());
      bounds.push_back(std::stol(range.substr(at, comma - at)));
      at = comma + 1;
    }
    if (bounds.size() % 2) Usage("--execute-range: '" + range + "' has an odd number of values; give inclusive pairs");
    for (size_t i = 0; i + 1 < bounds.size(); i += 2)
      if (bounds[i] > bounds[i + 1])
        Usage(fmt::format("--execute-range: the pair {},{} is empty (start > end)", bounds[i], bounds[i + 1]));
    const bool save_child = ParseBool("--save-operation-child", child);
    const int save_time = ParseChoice012("--save-time", time, "0 before, 1 after, 2 both");
    const int part = ParseChoice012("--save-tensor-part", stp, "0 inputs, 1 outputs, 2 both");
    if (!opname.empty())
      if (auto bad = UnsafeCharacter(opname); bad || opname.find_first_of(" <>") != std::string::npos)
        Usage("--operation-name: '" + opname + "' must be comma-separated operation type prefixes");
    if (!device.empty() && (device.find_first_not_of("0123456789") != std::string::npos || device.size() > 9))
      Usage("--device-id: '" + device + "' must be a non-negative integer");
    CheckOutputPath("--output", output);
    probe = ChooseProbe(ParseAbi(abi));

    std::string out_dir = output.empty() ? "./" : output;
    if (out_dir.back() != '/') out_dir += '/';
    std::string joined;
    for (const auto& t : types) joined += (joined.empty() ? "" : "|") + t;
    std::string lower = opname;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    env = {{penv::kSaveTensor, save_desc ? "2" : "1"},
           {penv::kSaveTensorTime, std::to_string(save_time)},
           {penv::kSaveTensorRange, range},
           {penv::kSaveChild, save_child ? "1" : "0"},
           {penv::kSaveTensorPart, std::to_string(part)},
           {penv::kSaveTiling, tiling ? "1" : "0"},
           {penv::kOutputDir, out_dir},
           {penv::kDumpType, joined},
           {penv::kSaveCpuProfiling, type_set.count("cpu_profiling") ? "1" : "0"},
           {penv::kCurPid, std::to_string(getpid())},
           {penv::kLogLevel, ProbeLogLevel(log_level)}};
    if (ids.empty()) unset.push_back(penv::kSaveTensorIds); else env[penv::kSaveTensorIds] = ids;
    if (opname.empty()) unset.push_back(penv::kSaveTensorRunner); else env[penv::kSaveTensorRunner] = lower;
    if (device.empty()) unset.push_back(penv::kDeviceId); else env[penv::kDeviceId] = device;
    // errcheck's variables must not leak in from the caller's environment.
    unset.push_back(penv::kCheckType);
    unset.push_back(penv::kExit);
    const bool onnx = type_set.count("onnx") > 0;
    fs::path sub_proc_dir = fs::path(out_dir) / std::to_string(getpid());
    if (onnx) env[penv::kSubProcInfoSavePath] = sub_proc_dir.string();
    else unset.push_back(penv::kSubProcInfoSavePath);
    const fs::path root = fs::path(out_dir) / penv::kDumpDir;
    std::error_code ec;
    const fs::path lost_file = fs::absolute(root / (penv::kLostOutputsFilePrefix + std::to_string(getpid()) +
                                                    penv::kLostOutputsFileExtension), ec);
    env[penv::kLostOutputsFile] = lost_file.string();

    MadeFolders folders;
    folders.Make(root);
    if (type_set.count("tensor")) folders.Make(root / penv::kTensorsDir);
    if (onnx) folders.Make(sub_proc_dir);
    fs::remove(lost_file, ec);  // an earlier ait of the same pid's, killed before it read it
    Log(LogLevel::kInfo, "probe: {} ({})", probe.path, probe.reason);
    Log(LogLevel::kInfo, "running: {}", exec);

    const auto since = fs::file_time_type::clock::now() - std::chrono::seconds(1);
    int status = 0;
    try {
      status = RunWithProbe(argv, env, unset, probe.path);
    } catch (const Error&) {  // the command never started: it wrote nothing
      folders.RemoveEmpty();
      throw;
    }
    if (status != 0) Log(LogLevel::kWarning, "the command exited with status {}", status);
    // The original skips the CPU profiling merge when it converts to ONNX (an elif); both run here.
    if (onnx) {
      PostProcessOnnx(sub_proc_dir);
      fs::remove_all(sub_proc_dir, ec);
    }
    if (type_set.count("cpu_profiling")) PostProcessCpuProfiling(root, since);
    const std::vector<LostOutputs> lost = TakeLostOutputs(lost_file);
    PrintDumpSummary(root, since, lost);
    // The command's own failure says more than what the probe lost.
    return status == 0 && !lost.empty() ? kExitDumpIncomplete : status;
  } catch (const UsageFailure& u) {
    std::fprintf(stderr, "ait llm dump: error: %s\n(see 'ait llm dump --help')\n", u.message.c_str());
    return kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "ait llm dump: error: %s\n", e.what());
    return kExitFailure;
  }
}

// The non-empty lines of an `ait_overflow_res_<pid>.txt` (ait/overflow_report.h reads them).
std::vector<std::string> OverflowLines(const fs::path& file) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

int Errcheck(const std::vector<std::string>& raw) {
  CLI::App app(
      std::string("Run a command with the ATB probe in overflow-check mode.\n\n"
                  "After every kernel the engine scans its outputs for NaN and +-inf and reports the\n"
                  "kernel (<Operation>_<ids>:<Kernel>), its token and the kind (NaN, inf, NaN+inf)\n"
                  "to the probe, which appends a line to\n") +
          "OUTPUT/" + penv::kOverflowReportPrefix + "{pid}" + penv::kOverflowReportExtension +
          "; no file is written when nothing overflows. With --exit\n"
          "the command stops at the first overflow (a NaN included). Exit status: the command's;\n"
          "2 for bad arguments.",
      "ait llm errcheck");
  app.formatter(std::make_shared<AliasFormatter>(kErrcheckAliases));
  app.get_formatter()->column_width(30);
  std::string exec, output, log_level = "info", abi = "auto";
  std::vector<std::string> types = {"overflow"};
  bool exit_on_overflow = false;
  app.add_option("--exec", exec, "the command to run (quotes work as in a shell; no shell runs it)")->required();
  app.add_option("--type", types, "checks to run: overflow")->capture_default_str()->check(CLI::IsMember({"overflow"}));
  app.add_option("--output", output, "folder for the report (default: the current folder)");
  app.add_flag("--exit", exit_on_overflow, "stop the command at the first overflow");
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical")->capture_default_str();
  app.add_option("--probe-abi", abi, "probe flavour: auto, 0 or 1 (as ait llm dump)")->capture_default_str();
  if (int rc = ParseArgs(app, raw, kErrcheckAliases); rc >= 0) return rc;
  try {
    auto level = ParseLogLevel(log_level);
    if (!level) Usage("--log-level: '" + log_level + "' is not one of debug, info, warning, error, fatal, critical");
    SetLogLevel(*level);
    const auto argv = SplitExecArgument(exec);
    if (!output.empty()) CheckOutputPath("--output", output);
    const ProbeChoice probe = ChooseProbe(ParseAbi(abi));
    std::error_code ec;
    const fs::path out = output.empty() ? fs::current_path() : fs::absolute(output, ec);
    if (!output.empty()) {
      MakeDirs(out);
      fs::permissions(out, fs::perms(0750), ec);
    }
    std::string codes;
    for (const auto& t : types)
      if (t == "overflow") codes += "1";
    const std::map<std::string, std::string> env = {
        {penv::kOutputDir, out.string()}, {penv::kCheckType, codes}, {penv::kExit, exit_on_overflow ? "1" : "0"},
        {penv::kLogLevel, ProbeLogLevel(log_level)}};
    // A dump configuration in the caller's environment must not turn on tensor saving here.
    const std::vector<std::string> unset = {penv::kDumpType,         penv::kSaveTensorIds,  penv::kSaveTensorRunner,
                                            penv::kSaveTensorRange, penv::kSaveTensorPart, penv::kSaveTiling};
    Log(LogLevel::kInfo, "probe: {} ({})", probe.path, probe.reason);
    const auto since = fs::file_time_type::clock::now() - std::chrono::seconds(1);
    int child = 0;
    const int status = RunWithProbe(argv, env, unset, probe.path, &child);
    // Reports of this run: the command's own pid, and any process it started.
    std::vector<fs::path> reports;
    for (const auto& entry : fs::directory_iterator(out, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(penv::kOverflowReportPrefix, 0) == 0 &&
          entry.path().extension() == penv::kOverflowReportExtension && entry.last_write_time(ec) >= since)
        reports.push_back(entry.path());
    }
    std::sort(reports.begin(), reports.end());
    if (reports.empty()) {
      std::printf("No overflow detected (the command exited with status %d). Checked: %s\n", status, exec.c_str());
    } else {
      for (const auto& report : reports) {
        std::printf("%s\nReport: %s\n", overflow_report::Summary(OverflowLines(report)).c_str(), report.c_str());
      }
      if (exit_on_overflow && status != 0)
        std::printf("The command was stopped at the first overflow (--exit); it exited with status %d.\n", status);
    }
    return status;
  } catch (const UsageFailure& u) {
    std::fprintf(stderr, "ait llm errcheck: error: %s\n(see 'ait llm errcheck --help')\n", u.message.c_str());
    return kExitUsage;
  } catch (const Error& e) {
    std::fprintf(stderr, "ait llm errcheck: error: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace

int RunDump(const std::vector<std::string>& args) { return Dump(args); }
int RunErrcheck(const std::vector<std::string>& args) { return Errcheck(args); }

}  // namespace ait::cli
