#include "probe/dumper.h"

// Header-only: the probe is preloaded into other programs and must not need libxxhash there.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <new>

#include "ait/probe_env.h"
#include "probe/io_csv.h"
#include "probe/safe_path.h"
#include "probe/tensor_bin.h"

namespace ait::probe {

namespace {

std::string Pid() { return std::to_string(::getpid()); }

// `s` with control characters shown as '?', for messages.
std::string Printable(const std::string& s) {
  std::string out = s.substr(0, 512);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool Contains(const std::string& s, const char* a, const char* b) {
  return s.find(a) != std::string::npos || s.find(b) != std::string::npos;
}

// "2 GiB", "512 MiB", "1000 bytes": a byte count as messages show it, exactly.
std::string Bytes(uint64_t n) {
  if (n != 0 && n % (uint64_t{1} << 30) == 0) return std::to_string(n >> 30) + " GiB";
  if (n != 0 && n % (uint64_t{1} << 20) == 0) return std::to_string(n >> 20) + " MiB";
  return std::to_string(n) + " bytes";
}

}  // namespace

Dumper::Dumper(Config config, size_t max_queued_bytes)
    : config_(std::move(config)),
      log_(config_.log_level),
      writer_(&errors_, config_.test_write_delay_ms, max_queued_bytes) {}

bool Dumper::EnoughSpace(uint64_t size) {
  // The tensor folder may not exist yet: ask the nearest folder that does.
  std::string dir = config_.root + probe_env::kTensorsDir;
  struct statvfs st {};
  while (::statvfs(dir.c_str(), &st) != 0) {
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash == 0) return true;  // nothing to ask: let the write tell
    dir.resize(slash);
  }
  const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  const uint64_t pending = writer_.pending_bytes();
  const uint64_t available = free_bytes > pending ? free_bytes - pending : 0;
  if (available > config_.min_free_bytes && available / 2 > size) return true;
  errors_.Report(ErrorKind::kLowSpace, "only " + std::to_string(available >> 20) + " MiB free under '" + dir +
                                           "': tensors are skipped while less than " + Bytes(config_.min_free_bytes) +
                                           " (or twice the tensor) is free");
  return false;
}

// Tensors at least this large are written by the calling thread (see SaveTensor).
constexpr uint64_t kDirectWriteBytes = uint64_t{4} << 20;
// Bound on the files remembered as link targets (a few hundred bytes each).
constexpr size_t kMaxLinkCandidates = 16384;

void Dumper::SaveTensor(const std::string& format, const std::string& dtype, const std::string& dims, const void* data,
                        uint64_t size, const std::string& file_path) {
  if (!IsSafeRelativePath(file_path)) {
    errors_.Report(ErrorKind::kUnsafeName,
                   "refusing tensor path '" + Printable(file_path) + "': not a plain relative path inside the dump");
    return;
  }
  const std::string name = BaseName(file_path);
  if (Contains(name, "intensor", "inTensor") && !config_.IsSaveIntensor()) return;
  if (Contains(name, "outtensor", "outTensor") && !config_.IsSaveOuttensor()) return;
  if (!config_.DeviceSelected(file_path)) return;
  if (!IsHeaderValue(format) || !IsHeaderValue(dtype) || !IsHeaderValue(dims)) {
    errors_.Report(ErrorKind::kBadValue, "tensor '" + file_path + "' skipped: format/dtype/dims hold a line break or '='");
    return;
  }
  if (data == nullptr) {
    errors_.Report(ErrorKind::kBadValue, "tensor '" + file_path + "' skipped: the host passed no data");
    return;
  }
  const bool with_data = config_.IsSaveTensorData();
  const uint64_t payload = with_data ? size : 0;
  if (!EnoughSpace(payload)) return;
  const std::string header = TensorBinHeader(format, dtype, dims, with_data, size);
  if (payload >= kDirectWriteBytes) {
    // Large tensors go straight from the host's buffer into the page cache: one kernel copy,
    // which costs the host what the queue's copy would, without a second pass over memory
    // (and without holding a duplicate of weights-sized tensors). Still temp + rename.
    const std::string path = config_.root + probe_env::kTensorsDir + "/" + file_path;
    const char* bytes = static_cast<const char*>(data);
    if (!config_.link_duplicates) {
      WriteFileAtomically(path, header.data(), header.size(), bytes, payload, errors_, config_.test_write_delay_ms);
      return;
    }
    // The same buffer is saved again at kernel level, and weights again every token: when the
    // bytes hash as those of a file this process wrote from the same buffer with the same
    // header, and that name still is that file, link to it instead of copying them again.
    const std::string key =
        std::to_string(reinterpret_cast<uintptr_t>(data)) + ':' + std::to_string(payload) + ':' + header;
    const XXH128_hash_t hash = XXH3_128bits(bytes, payload);
    Written before;
    {
      std::lock_guard<std::mutex> lock(written_mu_);
      if (auto it = written_.find(key); it != written_.end()) before = it->second;
    }
    if (!before.path.empty() && before.path != path && before.hash_low == hash.low64 &&
        before.hash_high == hash.high64 && LinkToSameFile(before.path, before.id, path, errors_)) {
      AIT_PROBE_LOG(log_, LogLevel::kDebug, "linked " + path + " to identical " + before.path);
      return;
    }
    FileId id;
    if (WriteFileAtomically(path, header.data(), header.size(), bytes, payload, errors_, config_.test_write_delay_ms,
                            &id)) {
      std::lock_guard<std::mutex> lock(written_mu_);
      if (written_.size() >= kMaxLinkCandidates) written_.clear();
      written_[key] = Written{path, id, hash.low64, hash.high64};
    }
    return;
  }
  WriteJob job;
  job.path = config_.root + probe_env::kTensorsDir + "/" + file_path;
  job.size = header.size() + payload;
  job.data.reset(new (std::nothrow) char[job.size]);
  if (!job.data) {
    errors_.Report(ErrorKind::kOutOfMemory, "tensor '" + file_path + "' skipped: no memory for a copy of " +
                                                std::to_string(job.size) + " bytes");
    return;
  }
  std::memcpy(job.data.get(), header.data(), header.size());
  if (payload > 0) std::memcpy(job.data.get() + header.size(), data, payload);
  // Logged once accepted: a signal after this line finds the job counted as pending.
  const std::string what = log_.Enabled(LogLevel::kDebug) ? job.path + " (" + std::to_string(job.size) + " bytes)" : "";
  const bool queued = writer_.Submit(std::move(job));
  AIT_PROBE_LOG(log_, LogLevel::kDebug, (queued ? "queued " : "dropped (the process is ending) ") + what);
}

void Dumper::SaveTiling(const uint8_t* data, uint64_t size, const std::string& file_path) {
  if (data == nullptr) {
    AIT_PROBE_LOG(log_, LogLevel::kWarning, "no tiling data for " + Printable(file_path));
    return;
  }
  if (!IsSafeRelativePath(file_path)) {
    errors_.Report(ErrorKind::kUnsafeName,
                   "refusing tiling path '" + Printable(file_path) + "': not a plain relative path inside the dump");
    return;
  }
  WriteJob job;
  // FORMATS.md policy 9 (the original: {OUT}{file_path})
  job.path = config_.root + probe_env::kTilingDir + "/" + file_path;
  job.size = size;
  job.data.reset(new (std::nothrow) char[size ? size : 1]);
  if (!job.data) {
    errors_.Report(ErrorKind::kOutOfMemory, "tiling '" + file_path + "' skipped: out of memory");
    return;
  }
  std::memcpy(job.data.get(), data, size);
  writer_.Submit(std::move(job));
}

void Dumper::SaveParam(const std::string& param, const std::string& file_path) {
  if (!IsSafeRelativePath(file_path)) {
    errors_.Report(ErrorKind::kUnsafeName,
                   "refusing param path '" + Printable(file_path) + "': not a plain relative path inside the dump");
    return;
  }
  WriteJob job;
  job.path = config_.root + probe_env::kTensorsDir + "/" + file_path;
  job.size = param.size() + 1;
  job.data.reset(new (std::nothrow) char[job.size]);
  if (!job.data) return;
  std::memcpy(job.data.get(), param.data(), param.size());
  job.data[param.size()] = '\n';
  writer_.Submit(std::move(job));
}

void Dumper::WriteTopologyFile(const std::string& path, const std::string& text) {
  if (!WriteFileAtomically(path, text.data(), text.size(), errors_)) return;
  if (config_.DumpTypeEnabled("onnx") && config_.sub_proc_info_dir)
    AppendToFile(*config_.sub_proc_info_dir + probe_env::kSubProcInfoFile, path + "\n", errors_);
}

void Dumper::ReportOperationGraph(const std::string& op_name, const std::string& graph) {
  if (!config_.ReportOperationGraphEnable()) return;
  if (!IsSafeFileName(op_name)) {
    errors_.Report(ErrorKind::kUnsafeName, "refusing layer name '" + Printable(op_name) + "': not a plain file name");
    return;
  }
  OrderedJson g = OrderedJson::parse(graph, nullptr, false);
  if (g.is_discarded()) {
    AIT_PROBE_LOG(log_, LogLevel::kError, "the graph of " + op_name + " is not valid JSON");
    return;
  }
  if (!g.is_object() || !g.contains("opName") || g["opName"] != op_name) {
    AIT_PROBE_LOG(log_, LogLevel::kError, "the graph reported for " + op_name + " names another operation");
    return;
  }
  std::string error;
  const auto layer = BuildLayerJson(g, &error);
  if (!error.empty()) AIT_PROBE_LOG(log_, LogLevel::kError, "graph of " + op_name + ": " + error);
  if (!layer) return;
  if (config_.DumpTypeEnabled("model")) {
    std::lock_guard<std::mutex> lock(mu_);
    merger_.CacheLayer(op_name, std::move(g));
  }
  WriteTopologyFile(config_.root + probe_env::kLayerDir + "/" + Pid() + "/" + op_name + ".json",
                    DumpCompact(*layer) + "\n");
}

bool Dumper::IsReportModelTopoInfo(const std::string& model_name) {
  if (!config_.DumpTypeEnabled("model")) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return reported_models_.count(model_name) == 0;
}

void Dumper::ReportModelTopoInfo(const std::string& model_name, const std::string& graph) {
  if (!config_.DumpTypeEnabled("model")) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reported_models_.insert(model_name);
  }
  if (!IsSafeFileName(model_name)) {
    errors_.Report(ErrorKind::kUnsafeName, "refusing model name '" + Printable(model_name) + "': not a plain file name");
    return;
  }
  OrderedJson g = OrderedJson::parse(graph, nullptr, false);
  if (g.is_discarded()) {
    AIT_PROBE_LOG(log_, LogLevel::kError, "the topology of model " + model_name + " is not valid JSON");
    return;
  }
  std::string error;
  OrderedJson merged;
  {
    std::lock_guard<std::mutex> lock(mu_);
    merged = merger_.Merge(std::move(g), &error);
  }
  if (!error.empty()) AIT_PROBE_LOG(log_, LogLevel::kError, "model " + model_name + ": " + error);
  WriteTopologyFile(config_.root + probe_env::kModelDir + "/" + Pid() + "/" + model_name + ".json",
                    DumpCompact(merged) + "\n");
}

void Dumper::ReportStatistic(uint64_t execute_count, const std::string& op_name, const std::string& stats) {
  if (!config_.ReportOperationStatisticEnable()) return;
  std::string line = "[";  // built by appending: GCC 12 warns falsely on "[" + std::string
  line += OneLine(op_name);
  line += "]:";
  line += OneLine(stats);
  line += "\n";
  const std::string dir = StatisticsDir();
  if (dir.empty()) return;
  AppendToFile(dir + "/" + probe_env::kStatisticFilePrefix + std::to_string(execute_count) +
                   probe_env::kStatisticFileExtension,
               line, errors_);
}

// `{root}cpu_profiling/{TIMESTAMP}`: the local time of this process's first statistic
// (YYYYmmddHHMMSS), one folder per process run as the user guide has it (FORMATS.md policy 1;
// the original used the pid). A process starting in the same second as another gets `_1`,
// `_2`, ... The folder's `pid.txt` records the process id. Empty when it cannot be made.
std::string Dumper::StatisticsDir() {
  std::lock_guard<std::mutex> lock(mu_);
  const pid_t pid = ::getpid();
  if (stats_pid_ == pid) return stats_dir_;
  stats_pid_ = pid;  // a forked child makes its own
  stats_dir_.clear();
  const std::string base = config_.root + probe_env::kCpuProfilingDir;
  if (!MakeDirs(base, errors_)) return stats_dir_;
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  for (int n = 0; n < 1000; ++n) {
    std::string dir = base + "/" + stamp;
    if (n) dir.append("_").append(std::to_string(n));
    if (::mkdir(dir.c_str(), 0750) == 0) {
      stats_dir_ = dir;
      const std::string pid_text = Pid() + "\n";
      WriteFileAtomically(dir + "/" + probe_env::kPidFile, pid_text.data(), pid_text.size(), errors_);
      return stats_dir_;
    }
    if (errno != EEXIST) {
      errors_.Report(ErrorKind::kCreateDir, "cannot create folder '" + dir + "': " + ErrnoText(errno));
      return stats_dir_;
    }
  }
  return stats_dir_;
}

void Dumper::ReportIoTensor(IoKind kind, uint64_t execute_count, const std::string& op_name,
                            const std::string& op_param, const std::vector<atb::Probe::Tensor>& in,
                            const std::vector<atb::Probe::Tensor>& out) {
  const bool op = kind == IoKind::kOperation;
  if (!(op ? config_.ReportOperationIOTensorEnable() : config_.ReportKernelIOTensorEnable())) return;
  const std::string path = config_.root + (op ? probe_env::kOperationIoDir : probe_env::kKernelIoDir) + "/" + Pid() +
                           "/" + (op ? probe_env::kOperationIoFilePrefix : probe_env::kKernelIoFilePrefix) +
                           std::to_string(execute_count) + probe_env::kIoFileExtension;
  const std::string tensor_root = config_.root + probe_env::kTensorsDir + "/";
  std::lock_guard<std::mutex> lock(mu_);
  auto it = csv_lines_.find(path);
  if (it == csv_lines_.end()) {
    // First row from this process: a new file gets the header; an existing one (a reused
    // pid, a re-run) continues its numbering.
    const std::string first = IoCsvHeader() + IoCsvRow(1, op_name, op_param, in, out, tensor_root);
    const auto created = CreateExclusive(path, first, errors_);
    if (!created) return;
    if (*created) {
      csv_lines_[path] = 2;
      return;
    }
    const uint64_t lines = CountLines(path, 10000);
    if (lines == 0) {
      if (AppendToFile(path, first, errors_)) csv_lines_[path] = 2;
      return;
    }
    it = csv_lines_.emplace(path, lines).first;
  }
  if (AppendToFile(path, IoCsvRow(NextCaseNum(it->second), op_name, op_param, in, out, tensor_root), errors_))
    ++it->second;
}

void Dumper::ReportOverflowKernel(const std::string& kernel_path, int64_t execute_count,
                                  const std::optional<overflow_report::Values>& values) {
  if (kernel_path.empty() || !config_.overflow_dir) return;
  AppendToFile(*config_.overflow_dir + probe_env::kOverflowReportPrefix + Pid() + probe_env::kOverflowReportExtension,
               overflow_report::FormatLine(OneLine(kernel_path), execute_count, values) + "\n", errors_);
}

void Dumper::PrepareFork() {
  mu_.lock();
  written_mu_.lock();
  writer_.PrepareFork();
}

void Dumper::ParentAfterFork() {
  writer_.ParentAfterFork();
  written_mu_.unlock();
  mu_.unlock();
}

void Dumper::ReportLostOutputs() {
  if (!config_.lost_outputs_file) return;
  const std::string lines = errors_.LostOutputs();
  if (!lines.empty()) AppendToFile(*config_.lost_outputs_file, lines, errors_);
}

void Dumper::ChildAfterFork() {
  errors_.ForgetAfterFork();
  writer_.ChildAfterFork();
  written_mu_.unlock();
  mu_.unlock();
}

}  // namespace ait::probe
