// The engine's overflow check (AtbProbeHooks::AfterKernel): which outputs count as an
// overflow (NaN and ±inf, in every float storage dtype), what it announces through ait's
// extension before the ABI's ReportOverflowKernel, and stopping at the first one.
//
// The overflow functions are defined here, in the test executable: like a preloaded probe,
// the executable's definitions win over libait_engine's stubs (the engine calls them through
// the PLT). They behave as the stubs do until a test turns the check on.
#include "ait_engine/atb_probe_hooks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ait/ait_probe_ext.h"
#include "ait/atb_probe_abi.h"
#include "ait_engine/perturb.h"
#include "op_test_util.h"

namespace {

bool g_check = false, g_stop = false;
std::vector<std::string> g_calls;

}  // namespace

namespace atb {
bool Probe::IsOverflowCheck() { return g_check; }
bool Probe::IsOverflowStop() { return g_stop; }
void Probe::ReportOverflowKernel(const std::string& kernelPath) { g_calls.push_back("overflow|" + kernelPath); }
}  // namespace atb

extern "C" void ait_probe_overflow_values(const char* kernel_path, uint64_t nan, uint64_t inf, uint64_t values) {
  g_calls.push_back("values|" + std::string(kernel_path) + "|" + std::to_string(nan) + "|" + std::to_string(inf) +
                    "|" + std::to_string(values));
}

namespace ait::engine {
namespace {

using overflow_report::Values;
using testing::ExpectError;
using testing::Make;

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(OverflowCheck, CountsNanAndInfInEveryFloatDtype) {
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    // The largest finite fp16 value (and a large bf16/fp32 one) is not an overflow.
    EXPECT_EQ(CountNonFinite(Make(t, {4}, {1.0, -2.0, 65504.0, 0.0})), (Values{0, 0, 4})) << ShortName(t);
    EXPECT_EQ(CountNonFinite(Make(t, {5}, {kNan, kInf, -kInf, 3.0, kNan})), (Values{2, 2, 5})) << ShortName(t);
    EXPECT_EQ(CountNonFinite(Make(t, {2}, {-kNan, 1.0})), (Values{1, 0, 2})) << ShortName(t);
    EXPECT_EQ(CountNonFinite(Make(t, {0}, {})), (Values{0, 0, 0})) << ShortName(t);
  }
  // Every NaN bit pattern (signalling, negative, any payload) counts as NaN, never as inf.
  Tensor h = Make(DType::kFloat16, {4}, {0, 0, 0, 0});
  const uint16_t patterns[] = {0x7c01, 0xfe00, 0x7fff, 0xfc00};  // NaN, -NaN, NaN, -inf
  std::memcpy(h.mutable_data(), patterns, sizeof patterns);
  EXPECT_EQ(CountNonFinite(h), (Values{3, 1, 4}));
  // Integer outputs cannot overflow to NaN or inf.
  EXPECT_EQ(CountNonFinite(Make(DType::kInt32, {3}, {1, 2, 3})), (Values{0, 0, 0}));
}

// G(a, b) = (a + b) * b: node 0 Add, node 1 Mul.
TopLevelOperation Graph() {
  GraphBuilder g("G", Json::object(), {"a", "b"}, {"out"});
  g.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 8}}), {"a", "b"}, {"sum"});
  g.Add(CreateOperation("ElewiseOperation", {{"elewiseType", 9}}), {"sum", "b"}, {"out"});
  return TopLevelOperation(1, g.Build());
}

// Runs G on 4 elements with `spec` planted, the hooks chained after the perturber (as
// ait-engine run chains them), the overflow check on.
void RunChecked(const char* spec, bool stop, DType t = DType::kFloat32) {
  g_check = true;
  g_stop = stop;
  g_calls.clear();
  TopLevelOperation op = Graph();
  AtbProbeHooks hooks(0);
  PerturbingObserver perturber({Perturbation::Parse(spec)});
  ObserverChain chain(&perturber, &hooks);
  struct Reset {
    ~Reset() { g_check = g_stop = false; }
  } reset;
  op.Run({Make(t, {4}, {1, 2, 3, 4}), Make(t, {4}, {1, 1, 1, 1})}, 1, &chain);
}

TEST(OverflowCheck, ANanOutputIsReportedWithItsKind) {
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    // NaN at element 0 of the Add kernel's output; Mul carries it on.
    RunChecked("ElewiseOperation_1_0=nan:0.5", false, t);
    EXPECT_EQ(g_calls, (std::vector<std::string>{"values|ElewiseOperation_1_0:Add|2|0|4",
                                                 "overflow|ElewiseOperation_1_0:Add",
                                                 "values|ElewiseOperation_1_1:Mul|2|0|4",
                                                 "overflow|ElewiseOperation_1_1:Mul"}))
        << ShortName(t);
  }
}

TEST(OverflowCheck, InfIsReportedAndAKernelWithBothKindsCountsEach) {
  RunChecked("ElewiseOperation_1_0=inf:0.25", false);
  EXPECT_EQ(g_calls, (std::vector<std::string>{"values|ElewiseOperation_1_0:Add|0|1|4",
                                               "overflow|ElewiseOperation_1_0:Add",
                                               "values|ElewiseOperation_1_1:Mul|0|1|4",
                                               "overflow|ElewiseOperation_1_1:Mul"}));
  // inf * 0 = NaN: b = 0 at element 0 turns Mul's inf into NaN, the rest stay finite.
  g_check = true;
  g_calls.clear();
  TopLevelOperation op = Graph();
  AtbProbeHooks hooks(0);
  op.Run({Make(DType::kFloat32, {3}, {kInf, kNan, 1}), Make(DType::kFloat32, {3}, {0, 1, 1})}, 1, &hooks);
  g_check = false;
  EXPECT_EQ(g_calls, (std::vector<std::string>{"values|ElewiseOperation_1_0:Add|1|1|3",
                                               "overflow|ElewiseOperation_1_0:Add",
                                               "values|ElewiseOperation_1_1:Mul|2|0|3",
                                               "overflow|ElewiseOperation_1_1:Mul"}));
}

TEST(OverflowCheck, StopEndsTheRunAtTheFirstNan) {
  ExpectError([] { RunChecked("ElewiseOperation_1_0=nan", true); },
              {"ElewiseOperation_1_0:Add", "overflow (NaN in an output: 1 NaN, 0 inf of 4 values)", "ATB_EXIT=1"});
  EXPECT_EQ(g_calls, (std::vector<std::string>{"values|ElewiseOperation_1_0:Add|1|0|4",
                                               "overflow|ElewiseOperation_1_0:Add"}));
}

TEST(OverflowCheck, CleanRunsAndAnUncheckedRunReportNothing) {
  RunChecked("ElewiseOperation_1_0=scale:2", true);
  EXPECT_TRUE(g_calls.empty());
  // Check off (the stubs' answer): nothing is counted or reported, however faulty the run.
  g_calls.clear();
  TopLevelOperation op = Graph();
  AtbProbeHooks hooks(0);
  op.Run({Make(DType::kFloat32, {1}, {kNan}), Make(DType::kFloat32, {1}, {kInf})}, 1, &hooks);
  EXPECT_TRUE(g_calls.empty());
}

}  // namespace
}  // namespace ait::engine
