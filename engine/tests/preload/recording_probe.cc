// A test probe for the interposition test (tests/python/test_engine_probe_hooks.py): a
// shared library that defines SOME of the ATB probe ABI functions. Preloaded into
// `ait-engine run`, its definitions must win over the engine's no-op stubs; the functions it
// leaves out must still resolve to the stubs.
//
// With env AIT_RECORDING_PROBE_DIR=D it asks for the outputs of every operation and kernel
// at execute count 0, after execution, and records in D/calls.txt one line per call:
//   need|<ids>|<optype>            IsTensorNeedSave
//   tensor|<path>|<format>|<dtype>|<dims>|<bytes>   SaveTensor (data written to D/tensors/<path>)
//   param|<path>|<json>            SaveParam
//   graph|<opName>|<json>          ReportOperationGraph
//   model|<modelName>|<json>       SpeedProbe::ReportModelTopoInfo
//   opio|<count>|<opName>|<param>|<in paths ;>|<out paths ;>    ReportOperationIOTensor
//   kernelio|<count>|<kernel>|<in dtype:shape ;>|<out dtype:shape ;> ReportKernelIOTensor
//   setup|<count>|<opName>|<stats> and exec|...   statistics
//   tiling|<path>|<bytes>          SaveTiling
//   overflow|<kernelPath>          ReportOverflowKernel
//   values|<kernelPath>|<nan>|<inf>|<values>   ait_probe_overflow_values (ait/ait_probe_ext.h)
// AIT_RECORDING_PROBE_OVERFLOW=1 turns the overflow check on, =stop also stops on overflow.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "ait/ait_probe_ext.h"
#include "ait/atb_probe_abi.h"

namespace {

std::string Dir() {
  const char* d = std::getenv("AIT_RECORDING_PROBE_DIR");
  return d ? d : "";
}

void Record(const std::string& line) {
  if (Dir().empty()) return;
  std::ofstream(Dir() + "/calls.txt", std::ios::app) << line << '\n';
}

std::string Join(const std::vector<int64_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += '_';
    s += std::to_string(ids[i]);
  }
  return s;
}

}  // namespace

namespace atb {

bool Probe::IsTensorNeedSave(const std::vector<int64_t>& ids, const std::string& optype) {
  Record("need|" + Join(ids) + "|" + optype);
  return !Dir().empty();
}
bool Probe::IsExecuteCountInRange(const uint64_t executeCount) { return executeCount == 0; }
bool Probe::IsSaveTensorAfter() { return true; }
bool Probe::IsSaveOuttensor() { return true; }
bool Probe::IsSaveParam() { return true; }

void Probe::SaveTensor(const std::string& format, const std::string& dtype, const std::string& dims,
                       const void* hostData, uint64_t dataSize, const std::string& filePath) {
  if (Dir().empty()) return;
  const std::filesystem::path path = std::filesystem::path(Dir()) / "tensors" / filePath;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(static_cast<const char*>(hostData), static_cast<std::streamsize>(dataSize));
  Record("tensor|" + filePath + "|" + format + "|" + dtype + "|" + dims + "|" + std::to_string(dataSize));
}

bool Probe::IsSaveTiling() { return true; }
void Probe::SaveTiling(const uint8_t* data, uint64_t dataSize, const std::string& filePath) {
  Record("tiling|" + filePath + "|" + std::to_string(dataSize));
}

bool Probe::ReportOperationIOTensorEnable() { return true; }
void Probe::ReportOperationIOTensor(const size_t executeCount, const std::string& opName, const std::string& opParam,
                                    const std::vector<Tensor>& inTensors, const std::vector<Tensor>& outTensors) {
  auto paths = [](const std::vector<Tensor>& v) {
    std::string s;
    for (const auto& t : v) s += (s.empty() ? "" : ";") + t.path;
    return s;
  };
  Record("opio|" + std::to_string(executeCount) + "|" + opName + "|" + opParam + "|" + paths(inTensors) + "|" +
         paths(outTensors));
}
bool Probe::ReportKernelIOTensorEnable() { return true; }
void Probe::ReportKernelIOTensor(const size_t executeCount, const std::string& opName, const std::string&,
                                 const std::vector<Tensor>& inTensors, const std::vector<Tensor>& outTensors) {
  auto descs = [](const std::vector<Tensor>& v) {
    std::string s;
    for (const auto& t : v) s += (s.empty() ? "" : ";") + t.dtype + ":" + t.format + ":" + t.shape;
    return s;
  };
  Record("kernelio|" + std::to_string(executeCount) + "|" + opName + "|" + descs(inTensors) + "|" + descs(outTensors));
}

bool Probe::ReportOperationStatisticEnable() { return true; }
void Probe::ReportOperationSetupStatistic(const uint64_t executeCount, const std::string& opname,
                                          const std::string& st) {
  Record("setup|" + std::to_string(executeCount) + "|" + opname + "|" + st);
}
void Probe::ReportOperationExecuteStatistic(const uint64_t executeCount, const std::string& opname,
                                            const std::string& st) {
  Record("exec|" + std::to_string(executeCount) + "|" + opname + "|" + st);
}

bool Probe::IsOverflowCheck() { return std::getenv("AIT_RECORDING_PROBE_OVERFLOW") != nullptr; }
bool Probe::IsOverflowStop() {
  const char* v = std::getenv("AIT_RECORDING_PROBE_OVERFLOW");
  return v && std::string(v) == "stop";
}
void Probe::ReportOverflowKernel(const std::string& kernelPath) { Record("overflow|" + kernelPath); }

void Probe::SaveParam(const std::string& param, const std::string& filePath) { Record("param|" + filePath + "|" + param); }

bool Probe::ReportOperationGraphEnable() { return true; }
void Probe::ReportOperationGraph(const std::string& opName, const std::string& graph) {
  Record("graph|" + opName + "|" + graph);
}

}  // namespace atb

namespace atb_speed {

bool SpeedProbe::IsReportModelTopoInfo(const std::string&) { return true; }
void SpeedProbe::ReportModelTopoInfo(const std::string& modelName, const std::string& graph) {
  Record("model|" + modelName + "|" + graph);
}

}  // namespace atb_speed

// ait's extension: what the overflowing kernel's outputs held (announced before the report).
extern "C" void ait_probe_overflow_values(const char* kernel_path, uint64_t nan, uint64_t inf, uint64_t values) {
  Record("values|" + std::string(kernel_path) + "|" + std::to_string(nan) + "|" + std::to_string(inf) + "|" +
         std::to_string(values));
}
