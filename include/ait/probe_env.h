// The contract between `ait llm dump` / `ait llm errcheck` and libait_probe, spelled once:
// the environment variables the CLI sets and the probe reads (FORMATS.md 3.4 and 7,
// docs/PROBE.md "What it reads"), and the names of the files and folders the probe writes
// and the CLI reads or reports (FORMATS.md 2, docs/PROBE.md "What it writes").
//
// Header only and free of dependencies: libait_probe includes it and links nothing of
// ait_core (src/probe/CMakeLists.txt). The values are compatibility surface (the original
// CLI, ATB and its probes use the same names); tests spell them out independently.
#pragma once

namespace ait::probe_env {

// ---- Variables the CLI sets and the probe reads ----

// Output prefix {OUT}: the dump goes to {OUT}ait_dump/, overflow reports into {OUT} itself.
inline constexpr const char* kOutputDir = "ATB_OUTPUT_DIR";
// What to write: `|`-joined dump types (tensor, layer, model, op, kernel, cpu_profiling, onnx).
inline constexpr const char* kDumpType = "ATB_DUMP_TYPE";
// Tensor files: 1 data and description, 2 description only.
inline constexpr const char* kSaveTensor = "ATB_SAVE_TENSOR";
// When tensors are saved: 0 before execution, 1 after, 2 both.
inline constexpr const char* kSaveTensorTime = "ATB_SAVE_TENSOR_TIME";
// Which tensors are saved: 0 inputs, 1 outputs, 2 both.
inline constexpr const char* kSaveTensorPart = "ATB_SAVE_TENSOR_PART";
// Operations to save: a comma list of `_`-joined operation ids (unset: all).
inline constexpr const char* kSaveTensorIds = "ATB_SAVE_TENSOR_IDS";
// Non-zero: an id in ATB_SAVE_TENSOR_IDS also selects its descendants.
inline constexpr const char* kSaveChild = "ATB_SAVE_CHILD";
// Operations to save: a comma list of lower-case operation-name prefixes.
inline constexpr const char* kSaveTensorRunner = "ATB_SAVE_TENSOR_RUNNER";
// Execute counts (tokens) to save: inclusive pairs, `0,0` or `3,5,7,7`.
inline constexpr const char* kSaveTensorRange = "ATB_SAVE_TENSOR_RANGE";
// Non-zero: also save each kernel's tiling data.
inline constexpr const char* kSaveTiling = "ATB_SAVE_TILING";
// Save only the tensors of this device (tensor paths starting `<id>_`).
inline constexpr const char* kDeviceId = "ATB_DEVICE_ID";
// With `onnx`: the folder whose subprocess_info.txt lists every topology JSON written.
inline constexpr const char* kSubProcInfoSavePath = "ATB_DUMP_SUB_PROC_INFO_SAVE_PATH";
// The probe's log threshold: 0 debug, 1 info, 2 warning, 3 error, 4 fatal, 5 critical.
inline constexpr const char* kLogLevel = "ATB_AIT_LOG_LEVEL";
// errcheck: a value containing `1` turns the overflow check on.
inline constexpr const char* kCheckType = "ATB_CHECK_TYPE";
// errcheck: exactly `1` stops the host at the first overflow.
inline constexpr const char* kExit = "ATB_EXIT";
// Set by dump for the original probe (1 with cpu_profiling); this probe reads ATB_DUMP_TYPE.
inline constexpr const char* kSaveCpuProfiling = "ATB_SAVE_CPU_PROFILING";
// Set by dump to the CLI's pid for the original probe's cpu_profiling folder; unread here.
inline constexpr const char* kCurPid = "ATB_CUR_PID";
// `0` writes every tensor file in full instead of hard-linking large duplicates (default 1).
inline constexpr const char* kLinkDuplicates = "AIT_DUMP_LINK_DUPLICATES";
// Set by dump: the file each process appends what it could not write to, at exit (one
// "{count}\t{what}\t{first reason}" line per kind of loss; src/probe/probe_log.h).
inline constexpr const char* kLostOutputsFile = "AIT_DUMP_LOST_OUTPUTS_FILE";
// Tests only: milliseconds the writer sleeps between a file's temporary copy and its rename.
inline constexpr const char* kTestWriteDelayMs = "AIT_PROBE_TEST_WRITE_DELAY_MS";
// Tests only: the free space, in bytes, below which tensors are skipped (instead of 2 GiB),
// so a test can set it above the disk's free space and see tensors skipped.
inline constexpr const char* kTestMinFreeBytes = "AIT_PROBE_TEST_MIN_FREE_BYTES";

// ---- Variables around the probe ----

// ATB's install root: its lib/libatb.so decides which probe flavour the CLI preloads.
inline constexpr const char* kAtbHomePath = "ATB_HOME_PATH";
// The dynamic loader's preload list: the CLI puts the probe first, before the caller's entries.
inline constexpr const char* kLdPreload = "LD_PRELOAD";

// ---- The probe libraries, in `<ait executable dir>/../lib` ----

// The probe for hosts built with the cxx11 string ABI (_GLIBCXX_USE_CXX11_ABI=1).
inline constexpr const char* kProbeLibraryAbi1 = "libait_probe_abi1.so";
// The probe for hosts built with the old copy-on-write string ABI (_GLIBCXX_USE_CXX11_ABI=0).
inline constexpr const char* kProbeLibraryAbi0 = "libait_probe_abi0.so";

// ---- Files and folders: {root} is {OUT}ait_dump/ ----

// The dump root inside ATB_OUTPUT_DIR.
inline constexpr const char* kDumpDir = "ait_dump";
// {root}tensors/{dev}_{pid}/{count}/...: tensor .bin files and op_param.json.
inline constexpr const char* kTensorsDir = "tensors";
// {root}layer/{pid}/{opName}.json: layer topology.
inline constexpr const char* kLayerDir = "layer";
// {root}model/{pid}/{modelName}.json: model topology.
inline constexpr const char* kModelDir = "model";
// {root}tiling/{dev}_{pid}/...: kernel tiling data.
inline constexpr const char* kTilingDir = "tiling";
// {root}operation_io_tensors/{pid}/: the operation IO CSVs.
inline constexpr const char* kOperationIoDir = "operation_io_tensors";
// operation_tensors_{count}.csv: one operation IO CSV per execute count.
inline constexpr const char* kOperationIoFilePrefix = "operation_tensors_";
// {root}kernel_io_tensors/{pid}/: the kernel IO CSVs.
inline constexpr const char* kKernelIoDir = "kernel_io_tensors";
// kernel_tensors_{count}.csv: one kernel IO CSV per execute count.
inline constexpr const char* kKernelIoFilePrefix = "kernel_tensors_";
// The extension of the operation and kernel IO CSVs.
inline constexpr const char* kIoFileExtension = ".csv";
// {root}cpu_profiling/{TIMESTAMP}/: one folder of statistics per process run.
inline constexpr const char* kCpuProfilingDir = "cpu_profiling";
// operation_statistic_{count}.txt: the `[opName]:statistics` lines of one execute count.
inline constexpr const char* kStatisticFilePrefix = "operation_statistic_";
// The extension of the statistics files.
inline constexpr const char* kStatisticFileExtension = ".txt";
// In each cpu_profiling run folder: the process id, one line.
inline constexpr const char* kPidFile = "pid.txt";
// In each cpu_profiling run folder: the Chrome trace the CLI makes of the statistics.
inline constexpr const char* kCpuProfilingTraceFile = "cpu_profiling_trace.json";
// In ATB_DUMP_SUB_PROC_INFO_SAVE_PATH: one line per topology JSON written, for ONNX export.
inline constexpr const char* kSubProcInfoFile = "subprocess_info.txt";
// {root}.lost_outputs_{ait pid}.txt: what dump names in AIT_DUMP_LOST_OUTPUTS_FILE; it reads
// the file for its summary and removes it.
inline constexpr const char* kLostOutputsFilePrefix = ".lost_outputs_";
// The extension of the lost-outputs file.
inline constexpr const char* kLostOutputsFileExtension = ".txt";
// {OUT}ait_overflow_res_{pid}.txt: errcheck's overflow report, one line per overflow.
inline constexpr const char* kOverflowReportPrefix = "ait_overflow_res_";
// The extension of the overflow reports.
inline constexpr const char* kOverflowReportExtension = ".txt";

}  // namespace ait::probe_env
