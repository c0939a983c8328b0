// The ATB probe ABI (FORMATS.md section 3): the static member functions of `atb::Probe` and
// `atb_speed::SpeedProbe` that an ATB-style engine calls around every operation and kernel.
//
// Three parties share these declarations:
//  - the reference engine (libait_engine) calls them, and defines default implementations
//    that do nothing (engine/src/atb_probe_stubs.cc), as libatb.so and atb_speed do;
//  - libait_probe (issue 4) defines them for real; `ait llm dump` / `errcheck` put it first
//    in LD_PRELOAD so its definitions interpose the engine's (or real ATB's);
//  - tests define a few of them in a small preloaded library.
// Interposition works on the mangled C++ names, so the names, parameter types and namespaces
// here must not change. std::string parameters make the mangling depend on
// _GLIBCXX_USE_CXX11_ABI: a library built with the other string ABI does not interpose.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#define AIT_ATB_PROBE_API __attribute__((visibility("default")))

namespace atb {

class AIT_ATB_PROBE_API Probe {
 public:
  // One tensor of an operation/kernel IO report. ATB's probe header spells the members
  // `dype` ... `path`, recent ATB `dtype` ... `filePath`; the layout is what matters.
  struct Tensor {
    std::string dtype;   // "float16", "int64", "bf16", ... (FORMATS.md 1.4, middle column)
    std::string format;  // "nd", ...
    std::string shape;   // dims joined by ','
    std::string path;    // "{dev}_{pid}/{count}/.../{before|after}/intensor0.bin"
  };

  // Tensor saving.
  static bool IsTensorNeedSave(const std::vector<int64_t>& ids, const std::string& optype);
  static bool IsSaveChild();
  static bool IsSaveTensorData();
  static bool IsSaveTensorDesc();
  static bool IsExecuteCountInRange(const uint64_t executeCount);
  static bool IsSaveTensorBefore();
  static bool IsSaveTensorAfter();
  static bool IsSaveIntensor();
  static bool IsSaveOuttensor();
  // format and dtype are the decimal codes (FORMATS.md 1.4, 1.5), dims joined by ','.
  static void SaveTensor(const std::string& format, const std::string& dtype, const std::string& dims,
                         const void* hostData, uint64_t dataSize, const std::string& filePath);
  static bool IsSaveTiling();
  static void SaveTiling(const uint8_t* data, uint64_t dataSize, const std::string& filePath);
  static bool IsSaveParam();
  static void SaveParam(const std::string& param, const std::string& filePath);

  // Topology.
  static bool ReportOperationGraphEnable();
  static void ReportOperationGraph(const std::string& opName, const std::string& graph);

  // Setup/execute statistics.
  static bool ReportOperationStatisticEnable();
  static void ReportOperationSetupStatistic(const uint64_t executeCount, const std::string& opname,
                                            const std::string& st);
  static void ReportOperationExecuteStatistic(const uint64_t executeCount, const std::string& opname,
                                              const std::string& st);

  // Operation / kernel IO descriptions.
  static bool ReportOperationIOTensorEnable();
  static void ReportOperationIOTensor(const size_t executeCount, const std::string& opName, const std::string& opParam,
                                      const std::vector<Tensor>& inTensors, const std::vector<Tensor>& outTensors);
  static bool ReportKernelIOTensorEnable();
  static void ReportKernelIOTensor(const size_t executeCount, const std::string& opName, const std::string& opParam,
                                   const std::vector<Tensor>& inTensors, const std::vector<Tensor>& outTensors);

  // Overflow checking (errcheck).
  static bool IsOverflowCheck();
  static bool IsOverflowStop();
  static void ReportOverflowKernel(const std::string& kernelPath);

  // Later-ABI additions (recent ATB): a probe without them gets the stubs' behaviour.
  static void UpdateConfig();
  static bool IsSaveTensorInSpecificDir(const std::string& tensorDir);
};

}  // namespace atb

namespace atb_speed {

class AIT_ATB_PROBE_API SpeedProbe {
 public:
  static bool IsReportModelTopoInfo(const std::string& modelName);
  static void ReportModelTopoInfo(const std::string& modelName, const std::string& graph);
};

}  // namespace atb_speed
