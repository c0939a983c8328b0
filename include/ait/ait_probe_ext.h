// ait's one extension of the ATB probe ABI (ait/atb_probe_abi.h, which stays exactly as
// ATB has it): what an overflowing kernel's outputs held, so that the overflow report can
// say whether it was NaN or inf.
//
// atb::Probe::ReportOverflowKernel(kernelPath) carries the kernel path only, and a probe
// never sees the kernel's output tensors (errcheck saves none). So the engine, which scanned
// them, announces the counts just before it reports, on the same thread:
//
//   ait_probe_overflow_values(path.c_str(), nan, inf, values);
//   atb::Probe::ReportOverflowKernel(path);
//
// and libait_probe attaches them to that report (the same path, the next report on this
// thread), as it attaches the execute count the thread last passed to IsExecuteCountInRange.
// Both parties keep working with a party that lacks the extension:
//  - the engine defines a no-op (engine/src/atb_probe_stubs.cc, default visibility, called
//    through the PLT like the ABI stubs), so a probe without it (the original's) interposes
//    the ABI alone and writes its usual line;
//  - a host without it (real ATB) never calls it, and libait_probe writes the line without
//    a kind.
// A C function with C types: its symbol is the same under both libstdc++ string ABIs, so the
// abi0 and abi1 probe flavours export one name.
#pragma once

#include <cstdint>

extern "C" {

// `kernel_path`: the path the next ReportOverflowKernel on this thread carries; `nan`,
// `inf`: the NaN and ±inf elements among the kernel's `values` float output elements.
__attribute__((visibility("default"))) void ait_probe_overflow_values(const char* kernel_path, uint64_t nan,
                                                                       uint64_t inf, uint64_t values);
}
