// A stand-in for an ATB program built with the OLD libstdc++ string ABI
// (-D_GLIBCXX_USE_CXX11_ABI=0), linked to libfake_atb_abi0.so (the engine's no-op probe
// stubs, also old ABI) as a real ATB program is linked to libatb.so. It runs one fake
// operation and calls the probe functions the way the engine (and ATB) does, so that a
// preloaded probe of the matching ABI writes the operation's output tensor, and a probe of
// the other ABI — whose std::string functions have different mangled names — interposes
// nothing that matters. Under errcheck it reports its kernel as overflowed, as real ATB does:
// through ReportOverflowKernel alone. tests/python/test_probe.py and test_dump.py run it.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ait/atb_probe_abi.h"

int main() {
  const std::vector<int64_t> ids = {0};
  const std::string type = "FakeOperation";
  const std::string dir = "0_" + std::to_string(::getpid()) + "/0/0_" + type;
  const float out[6] = {0.5f, 1.5f, 2.5f, -1.0f, 0.0f, 65504.0f};

  bool saved = false;
  // As ATB: the range is asked at every execution (a probe learns the token from it).
  const bool in_range = atb::Probe::IsExecuteCountInRange(0);
  if (atb::Probe::IsTensorNeedSave(ids, type) && in_range) {
    if (atb::Probe::IsSaveParam()) atb::Probe::SaveParam("{\"fake\":true}", dir + "/op_param.json");
    if (atb::Probe::IsSaveTensorAfter() && atb::Probe::IsSaveOuttensor()) {
      atb::Probe::SaveTensor("2", "0", "2,3", out, sizeof out, dir + "/after/outtensor0.bin");
      saved = true;
    }
  }
  if (atb::Probe::ReportOperationIOTensorEnable()) {
    const std::vector<atb::Probe::Tensor> none;
    const std::vector<atb::Probe::Tensor> outs = {{"float", "nd", "2,3", dir + "/after/outtensor0.bin"}};
    atb::Probe::ReportOperationIOTensor(0, type + "_0", "{}", none, outs);
  }
  // As ATB in saturation mode, where the device's float status flags the kernel: an overflow
  // report with the kernel path only (ATB knows nothing of ait_probe_overflow_values).
  if (atb::Probe::IsOverflowCheck()) atb::Probe::ReportOverflowKernel(type + "_0:FakeKernel");
  std::printf("%s\n", saved ? "saved" : "not saved");
  return 0;
}
