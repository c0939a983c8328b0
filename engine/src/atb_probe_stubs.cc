// The engine's default ATB probe hooks: they answer "no" and do nothing, as libatb.so's and
// atb_speed's own do, so an engine run without a probe costs one indirect call per hook.
// Likewise a no-op for ait's one extension, ait_probe_overflow_values (ait/ait_probe_ext.h).
//
// They live alone in this file, exported with default visibility, so every call from the
// rest of libait_engine is a call to an external symbol that goes through the PLT and the
// dynamic linker's lookup order: a library earlier in that order (LD_PRELOAD=libait_probe.so)
// that defines the same mangled names wins. Do not move callers into this file, do not link
// libait_engine with -Bsymbolic, and do not build it with LTO: any of those would let the
// compiler or linker bind the calls here directly (tests/python/test_engine_probe_hooks.py
// proves interposition works).
#include "ait/ait_probe_ext.h"
#include "ait/atb_probe_abi.h"

namespace atb {

bool Probe::IsTensorNeedSave(const std::vector<int64_t>&, const std::string&) { return false; }
bool Probe::IsSaveChild() { return false; }
bool Probe::IsSaveTensorData() { return false; }
bool Probe::IsSaveTensorDesc() { return false; }
bool Probe::IsExecuteCountInRange(const uint64_t) { return false; }
bool Probe::IsSaveTensorBefore() { return false; }
bool Probe::IsSaveTensorAfter() { return false; }
bool Probe::IsSaveIntensor() { return false; }
bool Probe::IsSaveOuttensor() { return false; }
void Probe::SaveTensor(const std::string&, const std::string&, const std::string&, const void*, uint64_t,
                       const std::string&) {}
bool Probe::IsSaveTiling() { return false; }
void Probe::SaveTiling(const uint8_t*, uint64_t, const std::string&) {}
bool Probe::IsSaveParam() { return false; }
void Probe::SaveParam(const std::string&, const std::string&) {}
bool Probe::ReportOperationGraphEnable() { return false; }
void Probe::ReportOperationGraph(const std::string&, const std::string&) {}
bool Probe::ReportOperationStatisticEnable() { return false; }
void Probe::ReportOperationSetupStatistic(const uint64_t, const std::string&, const std::string&) {}
void Probe::ReportOperationExecuteStatistic(const uint64_t, const std::string&, const std::string&) {}
bool Probe::ReportOperationIOTensorEnable() { return false; }
void Probe::ReportOperationIOTensor(const size_t, const std::string&, const std::string&, const std::vector<Tensor>&,
                                    const std::vector<Tensor>&) {}
bool Probe::ReportKernelIOTensorEnable() { return false; }
void Probe::ReportKernelIOTensor(const size_t, const std::string&, const std::string&, const std::vector<Tensor>&,
                                 const std::vector<Tensor>&) {}
bool Probe::IsOverflowCheck() { return false; }
bool Probe::IsOverflowStop() { return false; }
void Probe::ReportOverflowKernel(const std::string&) {}
void Probe::UpdateConfig() {}
bool Probe::IsSaveTensorInSpecificDir(const std::string&) { return true; }  // as ATB's stub

}  // namespace atb

namespace atb_speed {

bool SpeedProbe::IsReportModelTopoInfo(const std::string&) { return false; }
void SpeedProbe::ReportModelTopoInfo(const std::string&, const std::string&) {}

}  // namespace atb_speed

// ait's extension (ait/ait_probe_ext.h): with a probe that lacks it, the overflow report
// just names no kind.
extern "C" void ait_probe_overflow_values(const char*, uint64_t, uint64_t, uint64_t) {}
