// The probe's state and outputs: what each ATB probe function does (FORMATS.md 3.3), given
// the configuration read at load. The exported ABI functions (abi.cc) are thin wrappers over
// one Dumper; tests make their own with a Config of their choosing.
//
// Thread-safe: the host may call from any thread. No method throws.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "ait/atb_probe_abi.h"
#include "ait/overflow_report.h"
#include "probe/config.h"
#include "probe/file_writer.h"
#include "probe/probe_log.h"
#include "probe/topology.h"

namespace ait::probe {

class Dumper {
 public:
  // `max_queued_bytes` bounds the tensor bytes waiting for the writer thread.
  explicit Dumper(Config config, size_t max_queued_bytes = size_t{256} << 20);

  const Config& config() const { return config_; }

  // .bin of a tensor at `{root}tensors/{file_path}` (queued: returns once the bytes are
  // copied). Skipped when the file name says in/out tensor and that part is not selected,
  // when ATB_DEVICE_ID selects another device, when the disk has config().min_free_bytes
  // (2 GiB) or less free (or less than twice the tensor), when the data pointer is null, or
  // when file_path is not a safe relative path.
  void SaveTensor(const std::string& format, const std::string& dtype, const std::string& dims, const void* data,
                  uint64_t size, const std::string& file_path);
  // Raw bytes at `{root}tiling/{file_path}` (queued).
  void SaveTiling(const uint8_t* data, uint64_t size, const std::string& file_path);
  // `param` + '\n' at `{root}tensors/{file_path}` (queued).
  void SaveParam(const std::string& param, const std::string& file_path);

  // Layer JSON at `{root}layer/{pid}/{op_name}.json`; with `model` enabled the graph is
  // kept for merging into the model topology.
  void ReportOperationGraph(const std::string& op_name, const std::string& graph);
  bool IsReportModelTopoInfo(const std::string& model_name);
  // Model JSON at `{root}model/{pid}/{model_name}.json`, layer graphs merged in.
  void ReportModelTopoInfo(const std::string& model_name, const std::string& graph);

  // `[opname]:stats` lines in `{root}cpu_profiling/{TIMESTAMP}/operation_statistic_{count}.txt`.
  void ReportStatistic(uint64_t execute_count, const std::string& op_name, const std::string& stats);

  enum class IoKind { kOperation, kKernel };
  // A row in `{root}operation_io_tensors/{pid}/operation_tensors_{count}.csv` (or the kernel file).
  void ReportIoTensor(IoKind kind, uint64_t execute_count, const std::string& op_name, const std::string& op_param,
                      const std::vector<atb::Probe::Tensor>& in, const std::vector<atb::Probe::Tensor>& out);

  // A line in `{ATB_OUTPUT_DIR}/ait_overflow_res_{pid}.txt` (ait/overflow_report.h): the
  // original's `Overflow detected! Operator name: <kernel_path>`, then `, execute count N`
  // when execute_count >= 0 (the token, as the host last asked IsExecuteCountInRange), then
  // `, kind K (a NaN, b inf of t output values)` when the host announced `values` (ait's
  // extension, ait/ait_probe_ext.h) and they hold a NaN or an inf.
  void ReportOverflowKernel(const std::string& kernel_path, int64_t execute_count = -1,
                            const std::optional<overflow_report::Values>& values = std::nullopt);

  // Writes everything queued and stops the writer thread (at exit); later outputs are
  // written synchronously.
  void Flush() { writer_.Flush(); }

  // Appends errors().LostOutputs() to the file `ait llm dump` named
  // (AIT_DUMP_LOST_OUTPUTS_FILE), when one is named and outputs were lost. At exit, after
  // Flush, so that failed writes of the queue count.
  void ReportLostOutputs();

  AsyncWriter& writer() { return writer_; }
  ErrorReporter& errors() { return errors_; }
  const Logger& logger() const { return log_; }

  // pthread_atfork protocol (see AsyncWriter).
  void PrepareFork();
  void ParentAfterFork();
  void ChildAfterFork();

 private:
  // Writes a whole JSON file synchronously and lists it in subprocess_info.txt with `onnx`.
  void WriteTopologyFile(const std::string& path, const std::string& text);
  bool EnoughSpace(uint64_t size);
  std::string StatisticsDir();

  const Config config_;
  const Logger log_;
  ErrorReporter errors_;
  AsyncWriter writer_;

  std::mutex mu_;
  ModelMerger merger_;                     // guarded by mu_
  std::set<std::string> reported_models_;  // guarded by mu_
  pid_t stats_pid_ = -1;                    // guarded by mu_: the process stats_dir_ belongs to
  std::string stats_dir_;                   // guarded by mu_
  std::map<std::string, uint64_t> csv_lines_;  // guarded by mu_: lines in each IO CSV

  // Large tensors already on disk, by host buffer, size and .bin header -> the file written
  // and the 128-bit hash of the bytes it holds (config_.link_duplicates).
  struct Written {
    std::string path;
    FileId id;
    uint64_t hash_low = 0, hash_high = 0;
  };
  std::mutex written_mu_;
  std::unordered_map<std::string, Written> written_;  // guarded by written_mu_
};

}  // namespace ait::probe
