// The probe's configuration: the ATB_* environment (FORMATS.md 3.4) read once, and the
// selection predicates of FORMATS.md 3.3 answered from it. Immutable after construction, so
// any thread may ask.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ait::probe {

// getenv-like: the value of a variable, or nullptr when it is unset.
using EnvLookup = std::function<const char*(const char*)>;

// Integer parsing as std::stoi/stoll read the value (leading spaces, optional sign, digits,
// anything after the digits ignored), but never throwing: no digits or out of range gives
// nullopt, and the caller uses the variable's "unset" meaning instead.
std::optional<int64_t> ParseInt(const std::string& text);

// `text` split on `sep`, every element kept (empty ones too).
std::vector<std::string> Split(const std::string& text, char sep);

// Spaces and tabs removed from both ends.
std::string Trim(const std::string& text);

// Lexically normalized absolute form of `dir` (relative to `cwd`), ending in '/'.
std::string AbsoluteDir(const std::string& dir, const std::string& cwd);

struct Config {
  // Reads the environment through `env`; relative ATB_OUTPUT_DIR values are taken relative
  // to `cwd` (the working directory when the library loads), so a host that changes its
  // working directory later still writes where the CLI expects.
  static Config FromEnv(const EnvLookup& env, const std::string& cwd);

  // --- Selection (FORMATS.md 3.3) ---
  bool DumpTypeEnabled(const std::string& type) const;
  bool IsTensorNeedSave(const std::vector<int64_t>& ids, const std::string& optype) const;
  bool IsExecuteCountInRange(uint64_t execute_count) const;
  bool IsSaveChild() const { return save_child; }
  bool IsSaveTensorData() const { return save_tensor == 1; }
  bool IsSaveTensorBefore() const { return save_time == 0 || save_time == 2; }
  bool IsSaveTensorAfter() const { return save_time == 1 || save_time == 2; }
  bool IsSaveIntensor() const { return save_part == 0 || save_part == 2; }
  bool IsSaveOuttensor() const { return save_part == 1 || save_part == 2; }
  bool IsSaveTiling() const { return save_tiling; }
  bool ReportOperationGraphEnable() const { return DumpTypeEnabled("layer") || DumpTypeEnabled("model"); }
  bool ReportOperationStatisticEnable() const { return DumpTypeEnabled("cpu_profiling"); }
  bool ReportOperationIOTensorEnable() const { return DumpTypeEnabled("op"); }
  bool ReportKernelIOTensorEnable() const { return DumpTypeEnabled("kernel"); }
  bool IsOverflowCheck() const { return overflow_check; }
  bool IsOverflowStop() const { return overflow_stop; }
  // ATB_DEVICE_ID filter: true when no device is selected or `file_path` (a relative tensor
  // path "{dev}_{pid}/...") belongs to the selected device.
  bool DeviceSelected(const std::string& file_path) const;

  // --- Where outputs go ---
  std::string out;   // `{OUT}`: absolute ATB_OUTPUT_DIR ("./" when unset), ending in '/'
  std::string root;  // out + "ait_dump/"
  std::optional<std::string> overflow_dir;  // ATB_OUTPUT_DIR as an absolute folder; unset: no report
  std::optional<std::string> sub_proc_info_dir;  // ATB_DUMP_SUB_PROC_INFO_SAVE_PATH
  std::optional<std::string> lost_outputs_file;  // AIT_DUMP_LOST_OUTPUTS_FILE, made absolute

  // --- Parsed variables, each with its "unset" meaning as the default ---
  std::vector<std::string> dump_types;                     // ATB_DUMP_TYPE split on '|'
  std::optional<std::vector<std::string>> ids;             // ATB_SAVE_TENSOR_IDS
  std::optional<std::vector<std::string>> runners;         // ATB_SAVE_TENSOR_RUNNER
  std::optional<std::vector<std::pair<int64_t, int64_t>>> ranges;  // ATB_SAVE_TENSOR_RANGE
  bool save_child = false;                                 // ATB_SAVE_CHILD
  int64_t save_tensor = 0;                                 // ATB_SAVE_TENSOR (1 = data)
  int64_t save_time = 1;                                   // ATB_SAVE_TENSOR_TIME
  int64_t save_part = -1;                                  // ATB_SAVE_TENSOR_PART
  bool save_tiling = false;                                // ATB_SAVE_TILING
  std::optional<int64_t> device_id;                        // ATB_DEVICE_ID
  int64_t log_level = 1;                                   // ATB_AIT_LOG_LEVEL
  bool overflow_check = false;                             // ATB_CHECK_TYPE contains '1'
  bool overflow_stop = false;                              // ATB_EXIT == "1"
  // AIT_DUMP_LINK_DUPLICATES (default 1): a large tensor whose bytes equal a file this
  // process already wrote (the same buffer saved at operation and kernel level, or a weight
  // saved again for the next token) becomes a hard link to that file instead of a copy.
  bool link_duplicates = true;
  // AIT_PROBE_TEST_WRITE_DELAY_MS (tests only): the writer thread sleeps this long between
  // writing a file's temporary copy and renaming it, so a test can kill the process while
  // jobs are queued and a temporary file exists.
  int64_t test_write_delay_ms = 0;
  // Tensors are skipped while the disk under {root}tensors/ has this much free or less (or
  // less than twice the tensor): the original's rule. AIT_PROBE_TEST_MIN_FREE_BYTES (tests
  // only) replaces it.
  uint64_t min_free_bytes = uint64_t{2} << 30;
};

}  // namespace ait::probe
