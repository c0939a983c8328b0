// The exported ATB probe ABI (include/ait/atb_probe_abi.h): thin wrappers over one Dumper,
// configured from the environment when the library is loaded. Nothing escapes into the
// host: every function catches everything and answers "no" / does nothing on failure.
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>
#include <string>

#include "ait/ait_probe_ext.h"
#include "ait/atb_probe_abi.h"
#include "probe/dumper.h"
#include "probe/signals.h"

namespace {

using ait::probe::Dumper;

std::string CurrentDir() {
  char buf[PATH_MAX];
  return ::getcwd(buf, sizeof buf) != nullptr ? buf : "";
}

void FlushAtExit();

// Created on first use (at load, from the constructor below, unless the host calls in
// earlier) and never destroyed: hooks called from other libraries' static destructors still
// find it. FlushAtExit drains the writer at exit(); outputs after that are synchronous.
// The execute count ATB last asked about on this thread: ATB asks IsExecuteCountInRange at
// every operation execution, so this is the token an overflow report belongs to.
thread_local int64_t t_execute_count = -1;
// What the host announced through ait_probe_overflow_values on this thread for the kernel it
// is about to report (ait/ait_probe_ext.h); taken by the next ReportOverflowKernel.
struct PendingValues {
  std::string kernel_path;
  ait::overflow_report::Values values;
  bool set = false;
};
thread_local PendingValues t_overflow_values;

// The announced values if they are for `kernel_path`; either way nothing stays pending.
std::optional<ait::overflow_report::Values> TakeOverflowValues(const std::string& kernel_path) {
  PendingValues& p = t_overflow_values;
  std::optional<ait::overflow_report::Values> v;
  if (p.set && p.kernel_path == kernel_path) v = p.values;
  p.set = false;
  return v;
}

Dumper& Instance() {
  static Dumper* dumper = [] {
    auto* d = new Dumper(ait::probe::Config::FromEnv([](const char* name) { return std::getenv(name); }, CurrentDir()));
    d->writer().set_on_start([d] { ait::probe::InstallFlushOnSignal(&d->writer().pending_jobs()); });
    std::atexit(FlushAtExit);
    pthread_atfork([] { Instance().PrepareFork(); }, [] { Instance().ParentAfterFork(); },
                   [] { Instance().ChildAfterFork(); });
    return d;
  }();
  return *dumper;
}

void FlushAtExit() {
  try {
    Instance().Flush();
    Instance().ReportLostOutputs();
  } catch (...) {
  }
}

__attribute__((constructor)) void LoadProbe() {
  try {
    Instance();
  } catch (...) {
  }
}

// Runs `f` and returns its answer; `fallback` if anything is thrown (bad_alloc, ...).
template <typename F>
auto Guard(F f, decltype(f()) fallback) noexcept -> decltype(f()) {
  const int saved_errno = errno;
  try {
    auto r = f();
    errno = saved_errno;
    return r;
  } catch (...) {
    errno = saved_errno;
    return fallback;
  }
}

template <typename F>
void Guard(F f) noexcept {
  const int saved_errno = errno;
  try {
    f();
  } catch (...) {
  }
  errno = saved_errno;
}

const ait::probe::Config& Cfg() { return Instance().config(); }

}  // namespace

namespace atb {

bool Probe::IsTensorNeedSave(const std::vector<int64_t>& ids, const std::string& optype) {
  return Guard([&] { return Cfg().IsTensorNeedSave(ids, optype); }, false);
}
bool Probe::IsSaveChild() {
  return Guard([] { return Cfg().IsSaveChild(); }, false);
}
bool Probe::IsSaveTensorData() {
  return Guard([] { return Cfg().IsSaveTensorData(); }, false);
}
bool Probe::IsSaveTensorDesc() { return true; }
bool Probe::IsExecuteCountInRange(const uint64_t executeCount) {
  t_execute_count = executeCount > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(executeCount);
  return Guard([&] { return Cfg().IsExecuteCountInRange(executeCount); }, false);
}
bool Probe::IsSaveTensorBefore() {
  return Guard([] { return Cfg().IsSaveTensorBefore(); }, false);
}
bool Probe::IsSaveTensorAfter() {
  return Guard([] { return Cfg().IsSaveTensorAfter(); }, false);
}
bool Probe::IsSaveIntensor() {
  return Guard([] { return Cfg().IsSaveIntensor(); }, false);
}
bool Probe::IsSaveOuttensor() {
  return Guard([] { return Cfg().IsSaveOuttensor(); }, false);
}
void Probe::SaveTensor(const std::string& format, const std::string& dtype, const std::string& dims,
                       const void* hostData, uint64_t dataSize, const std::string& filePath) {
  Guard([&] { Instance().SaveTensor(format, dtype, dims, hostData, dataSize, filePath); });
}
bool Probe::IsSaveTiling() {
  return Guard([] { return Cfg().IsSaveTiling(); }, false);
}
void Probe::SaveTiling(const uint8_t* data, uint64_t dataSize, const std::string& filePath) {
  Guard([&] { Instance().SaveTiling(data, dataSize, filePath); });
}
bool Probe::IsSaveParam() { return true; }
void Probe::SaveParam(const std::string& param, const std::string& filePath) {
  Guard([&] { Instance().SaveParam(param, filePath); });
}

bool Probe::ReportOperationGraphEnable() {
  return Guard([] { return Cfg().ReportOperationGraphEnable(); }, false);
}
void Probe::ReportOperationGraph(const std::string& opName, const std::string& graph) {
  Guard([&] { Instance().ReportOperationGraph(opName, graph); });
}

bool Probe::ReportOperationStatisticEnable() {
  return Guard([] { return Cfg().ReportOperationStatisticEnable(); }, false);
}
void Probe::ReportOperationSetupStatistic(const uint64_t executeCount, const std::string& opname,
                                          const std::string& st) {
  Guard([&] { Instance().ReportStatistic(executeCount, opname, st); });
}
void Probe::ReportOperationExecuteStatistic(const uint64_t executeCount, const std::string& opname,
                                            const std::string& st) {
  Guard([&] { Instance().ReportStatistic(executeCount, opname, st); });
}

bool Probe::ReportOperationIOTensorEnable() {
  return Guard([] { return Cfg().ReportOperationIOTensorEnable(); }, false);
}
void Probe::ReportOperationIOTensor(const size_t executeCount, const std::string& opName, const std::string& opParam,
                                    const std::vector<Tensor>& inTensors, const std::vector<Tensor>& outTensors) {
  Guard([&] {
    Instance().ReportIoTensor(Dumper::IoKind::kOperation, executeCount, opName, opParam, inTensors, outTensors);
  });
}
bool Probe::ReportKernelIOTensorEnable() {
  return Guard([] { return Cfg().ReportKernelIOTensorEnable(); }, false);
}
void Probe::ReportKernelIOTensor(const size_t executeCount, const std::string& opName, const std::string& opParam,
                                 const std::vector<Tensor>& inTensors, const std::vector<Tensor>& outTensors) {
  Guard([&] {
    Instance().ReportIoTensor(Dumper::IoKind::kKernel, executeCount, opName, opParam, inTensors, outTensors);
  });
}

bool Probe::IsOverflowCheck() {
  return Guard([] { return Cfg().IsOverflowCheck(); }, false);
}
bool Probe::IsOverflowStop() {
  return Guard([] { return Cfg().IsOverflowStop(); }, false);
}
void Probe::ReportOverflowKernel(const std::string& kernelPath) {
  Guard([&] { Instance().ReportOverflowKernel(kernelPath, t_execute_count, TakeOverflowValues(kernelPath)); });
}

// The configuration is read once, at load; there is no config file to re-read.
void Probe::UpdateConfig() {}
// No per-directory configuration: every directory the other predicates select is saved.
bool Probe::IsSaveTensorInSpecificDir(const std::string&) { return true; }

}  // namespace atb

namespace atb_speed {

bool SpeedProbe::IsReportModelTopoInfo(const std::string& modelName) {
  return Guard([&] { return Instance().IsReportModelTopoInfo(modelName); }, false);
}
void SpeedProbe::ReportModelTopoInfo(const std::string& modelName, const std::string& graph) {
  Guard([&] { Instance().ReportModelTopoInfo(modelName, graph); });
}

}  // namespace atb_speed

// ait's extension (ait/ait_probe_ext.h): remembered for this thread's next overflow report.
extern "C" void ait_probe_overflow_values(const char* kernel_path, uint64_t nan, uint64_t inf, uint64_t values) {
  Guard([&] {
    PendingValues& p = t_overflow_values;
    p.set = false;
    if (kernel_path == nullptr) return;
    p.kernel_path = kernel_path;
    p.values = {nan, inf, values};
    p.set = true;
  });
}
