// The engine's ATB probe call sites (see atb_probe_hooks.h for what is called when).
#include "ait_engine/atb_probe_hooks.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "ait/ait_probe_ext.h"
#include "ait/atb_probe_abi.h"
#include "ait/dtype.h"
#include "ait/error.h"
#include "ait/probe_env.h"

namespace ait::engine {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t Micros(uint64_t ns) { return ns / 1000; }
uint64_t NanosSince(Clock::time_point t) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t).count());
}

const Tensor& Deref(const Tensor& t) { return t; }
const Tensor& Deref(const Tensor* t) { return *t; }

std::string Dims(const Tensor& t) { return fmt::format("{}", fmt::join(t.shape, ",")); }

// Saves `in` then `out` under `dir` (relative: "{dev}_{pid}/.../before"), as far as the probe
// asks for inputs and outputs.
template <typename Tensors>
void SaveTensors(const std::string& dir, const Tensors& in, const Tensors& out) {
  auto save = [&](const Tensors& tensors, const char* stem) {
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = Deref(tensors[i]);
      atb::Probe::SaveTensor(std::to_string(t.atb_format), std::to_string(AtbCode(t.dtype)), Dims(t), t.data, t.nbytes,
                             fmt::format("{}/{}{}.bin", dir, stem, i));
    }
  };
  if (atb::Probe::IsSaveIntensor()) save(in, "intensor");
  if (atb::Probe::IsSaveOuttensor()) save(out, "outtensor");
}

std::string FormatName(int code) {
  switch (code) {
    case 0: return "nchw";
    case 1: return "nhwc";
    case 2: return "nd";
    case 3: return "nc1hwc0";
    case 29: return "fractal_nz";
    default: return std::to_string(code);
  }
}

// Probe::Tensor descriptions with ATB's relative tensor paths under `dir`.
template <typename Tensors>
std::vector<atb::Probe::Tensor> Describe(const Tensors& tensors, const std::string& dir, const char* stem) {
  std::vector<atb::Probe::Tensor> v;
  v.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = Deref(tensors[i]);
    v.push_back({std::string(AtbDtypeName(t.dtype)), FormatName(t.atb_format), Dims(t),
                 fmt::format("{}/{}{}.bin", dir, stem, i)});
  }
  return v;
}

// ATB's relative path of the tensors an IO report points at: before/ when before-saving is
// on, else after/.
std::string IoDir(const std::string& dir) {
  return dir + (atb::Probe::IsSaveTensorBefore() ? "/before" : "/after");
}

bool IsEmptyParam(const Json& p) { return p.is_null() || (p.is_object() && p.empty()); }
// The param text of IO reports: ATB passes `{}` for an empty param.
std::string ParamText(const Operation& op) { return IsEmptyParam(op.param()) ? "{}" : op.param().dump(); }

}  // namespace

overflow_report::Values CountNonFinite(const Tensor& t) {
  overflow_report::Values v;
  const size_t n = t.nbytes / std::max<size_t>(1, ItemSize(t.dtype));
  switch (t.dtype) {
    case DType::kFloat32: {
      const auto* p = reinterpret_cast<const float*>(t.data);
      for (size_t i = 0; i < n; ++i) {
        v.nan += std::isnan(p[i]) ? 1 : 0;
        v.inf += std::isinf(p[i]) ? 1 : 0;
      }
      break;
    }
    case DType::kFloat16:
    case DType::kBFloat16: {
      // Exponent all ones: mantissa 0 is ±inf, anything else NaN.
      const uint16_t inf = t.dtype == DType::kFloat16 ? 0x7c00 : 0x7f80;
      const auto* p = reinterpret_cast<const uint16_t*>(t.data);
      for (size_t i = 0; i < n; ++i) {
        const uint16_t m = p[i] & 0x7fff;
        v.nan += m > inf ? 1 : 0;
        v.inf += m == inf ? 1 : 0;
      }
      break;
    }
    default:
      return v;  // integer outputs cannot overflow to inf or NaN
  }
  v.values = n;
  return v;
}

AtbProbeHooks::AtbProbeHooks(int device_id) : root_(fmt::format("{}_{}", device_id, getpid())) {}

const std::string& AtbProbeHooks::Dir(const OpEvent& op, Frame& frame) {
  if (frame.dir.empty()) {
    frame.dir = fmt::format("{}/{}", root_, op.execute_count);
    for (size_t i = 0; i < op.ids.size(); ++i) fmt::format_to(std::back_inserter(frame.dir), "/{}_{}", op.ids[i], stack_[i].op->type());
  }
  return frame.dir;
}

void AtbProbeHooks::BeforeOperation(const OpEvent& op) {
  OpState& state = states_[&op.op];
  const auto* graph = dynamic_cast<const GraphOperation*>(&op.op);
  if (!state.initialized) {  // ATB: runner creation and setup
    state.initialized = true;
    state.need_save = atb::Probe::IsTensorNeedSave(op.ids, op.op.type());
    if (graph && op.ids.size() == 1 && atb::Probe::ReportOperationGraphEnable())
      atb::Probe::ReportOperationGraph(OperationName(op.op, op.ids), graph->GraphInfo(op.ids).dump());
  }
  Frame& frame = stack_.emplace_back();
  frame.op = &op.op;
  frame.state = &state;

  if (atb::Probe::ReportOperationStatisticEnable()) {
    frame.stats = true;
    std::vector<TensorDesc> in;
    for (const Tensor& t : op.in) in.push_back(DescOf(t));
    ++state.setups;
    if (in == state.last_in) ++state.setup_hits;
    state.last_in = std::move(in);
    const uint64_t us = Micros(op.setup_ns);
    atb::Probe::ReportOperationSetupStatistic(
        op.execute_count, OperationName(op.op, op.ids),
        fmt::format("totalTime:{}, runnerCreateTime:0, runnerSetupTime:{}, runnerFillHostTilingTime:0, "
                    "setupTotalCount:{}, setupCacheHitCount:{}, setupCacheMissCount:{}, opsInitLuanchBufferTime:0, "
                    "tilingCacheHitCount:0, tilingCacheMissCount:0, tilingLocalCacheHitCount:0, "
                    "tilingGlobalCacheHitCount:0, kernelCacheGetTilingTime:0, kernelCacheAddTilingTime:0, "
                    "kernelCacheCompareRunInfoTime:0, kernelCacheGetRunInfoTime:0",
                    us, us, state.setups, state.setup_hits, state.setups - state.setup_hits));
  }

  // ATB asks for the range on every execution, before its cached save flag: a probe learns
  // the current execute count (token) from it, e.g. to stamp an overflow report.
  frame.save = atb::Probe::IsExecuteCountInRange(op.execute_count) && state.need_save;
  if (frame.save) {
    const std::string& dir = Dir(op, frame);
    if (atb::Probe::IsSaveParam() && !IsEmptyParam(op.op.param()))
      atb::Probe::SaveParam(op.op.param().dump(), dir + "/op_param.json");
    if (atb::Probe::IsSaveTensorBefore()) SaveTensors(dir + "/before", op.in, op.out);
  }
  if (frame.stats) frame.start = Clock::now();
}

void AtbProbeHooks::AfterOperation(const OpEvent& op) {
  Frame& frame = stack_.back();
  const uint64_t total_ns = frame.stats ? NanosSince(frame.start) : 0;
  if (frame.save && atb::Probe::IsSaveTensorAfter()) SaveTensors(Dir(op, frame) + "/after", op.in, op.out);
  const bool leaf = dynamic_cast<const GraphOperation*>(&op.op) == nullptr;
  if (leaf && atb::Probe::ReportOperationIOTensorEnable()) {
    const std::string dir = IoDir(Dir(op, frame));
    atb::Probe::ReportOperationIOTensor(op.execute_count, OperationName(op.op, op.ids),
                                        ParamText(op.op),
                                        Describe(op.in, dir, "intensor"), Describe(op.out, dir, "outtensor"));
  }
  if (frame.stats)
    atb::Probe::ReportOperationExecuteStatistic(
        op.execute_count, OperationName(op.op, op.ids),
        fmt::format("totalTime:{}, streamSyncTime:0, tillingCopyTime:0, kernelExecuteTime:{}, launchTime:0, "
                    "preLaunchTime:0",
                    Micros(total_ns), Micros(leaf ? frame.kernel_ns : total_ns)));
  stack_.pop_back();
}

void AtbProbeHooks::BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                                 const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {
  Frame& frame = stack_.back();
  OpState& state = *frame.state;
  if (kernel_index >= state.kernel_need_save.size()) state.kernel_need_save.resize(kernel_index + 1, -1);
  int8_t& need = state.kernel_need_save[kernel_index];
  if (need < 0) {
    std::vector<int64_t> ids = op.ids;
    ids.push_back(static_cast<int64_t>(kernel_index));
    need = atb::Probe::IsTensorNeedSave(ids, op.op.type()) ? 1 : 0;
  }
  frame.kernel_save = false;
  if (need && atb::Probe::IsExecuteCountInRange(op.execute_count)) {
    frame.kernel_dir = fmt::format("{}/{}_{}", Dir(op, frame), kernel_index, kernel_name);
    frame.kernel_save = atb::Probe::IsSaveTensorInSpecificDir(frame.kernel_dir);
  }
  if (frame.kernel_save) {
    if (atb::Probe::IsSaveTensorBefore()) SaveTensors(frame.kernel_dir + "/before", in, out);
    if (atb::Probe::IsSaveTiling()) {
      const auto tiling = TilingData(in, out);
      atb::Probe::SaveTiling(tiling.data(), tiling.size(), frame.kernel_dir + "/kernel_tilingdata.bin");
    }
  }
  if (frame.stats) frame.kernel_start = Clock::now();
}

void AtbProbeHooks::AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                                const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {
  Frame& frame = stack_.back();
  if (frame.stats) frame.kernel_ns += NanosSince(frame.kernel_start);
  if (frame.kernel_save && atb::Probe::IsSaveTensorAfter()) SaveTensors(frame.kernel_dir + "/after", in, out);
  if (atb::Probe::ReportKernelIOTensorEnable()) {
    const std::string dir = IoDir(Dir(op, frame));
    atb::Probe::ReportKernelIOTensor(op.execute_count, std::string(kernel_name),
                                     ParamText(op.op),
                                     Describe(in, dir, "intensor"), Describe(out, dir, "outtensor"));
  }
  if (atb::Probe::IsOverflowCheck()) {
    overflow_report::Values found;
    for (const Tensor* t : out) {
      const auto v = CountNonFinite(*t);
      found.nan += v.nan;
      found.inf += v.inf;
      found.values += v.values;
    }
    if (found.nan > 0 || found.inf > 0) {
      const std::string path = fmt::format("{}:{}", OperationName(op.op, op.ids), kernel_name);
      // The kind travels beside the ABI call (ait/ait_probe_ext.h): ReportOverflowKernel
      // carries the path only.
      ait_probe_overflow_values(path.c_str(), found.nan, found.inf, found.values);
      atb::Probe::ReportOverflowKernel(path);
      if (atb::Probe::IsOverflowStop())
        Fail(path, "overflow ({} in an output: {} NaN, {} inf of {} values); stopped because {}=1",
             overflow_report::KindName(found), found.nan, found.inf, found.values, probe_env::kExit);
    }
  }
}

void AtbProbeHooks::ReportModelTopology(const std::string& model_name, const Json& topology) {
  if (atb_speed::SpeedProbe::IsReportModelTopoInfo(model_name))
    atb_speed::SpeedProbe::ReportModelTopoInfo(model_name, topology.dump());
}

std::vector<uint8_t> AtbProbeHooks::TilingData(const std::vector<const Tensor*>& in,
                                               const std::vector<const Tensor*>& out) {
  std::vector<uint64_t> words = {in.size(), out.size()};
  for (const auto* list : {&in, &out})
    for (const Tensor* t : *list) {
      words.push_back(static_cast<uint64_t>(AtbCode(t->dtype)));
      words.push_back(t->shape.size());
      for (int64_t d : t->shape) words.push_back(static_cast<uint64_t>(d));
    }
  std::vector<uint8_t> bytes(words.size() * sizeof(uint64_t));
  std::memcpy(bytes.data(), words.data(), bytes.size());  // little-endian hosts only (x86-64, aarch64)
  return bytes;
}

}  // namespace ait::engine
