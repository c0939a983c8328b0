// Calls the ATB probe ABI (ait/atb_probe_abi.h) where ATB calls it, from the execution
// observer seam: around every operation (graph and leaf) and every kernel of a model run.
// Without a preloaded probe each hook is one call into the engine's no-op stubs; with
// libait_probe preloaded these calls produce the ATB dump (FORMATS.md section 2).
//
// What is called, per operation at execute count c (the top-level op's, = the token index):
//  - once, on the first execution: IsTensorNeedSave(ids, type) (cached, as ATB caches it per
//    runner); for a top-level graph operation (a layer) ReportOperationGraph("<type>_<id>",
//    GetGraphInfo JSON) when ReportOperationGraphEnable();
//  - ReportOperationSetupStatistic / ...ExecuteStatistic when ReportOperationStatisticEnable();
//  - when the cached flag and IsExecuteCountInRange(c) hold: SaveParam(op_param.json) when
//    IsSaveParam() and the param is not empty, and SaveTensor for every input
//    (IsSaveIntensor()) and output (IsSaveOuttensor()) before (IsSaveTensorBefore()) and after
//    (IsSaveTensorAfter()) execution, at
//    `{dev}_{pid}/{c}/{topId}_{TopType}[/{node}_{Type}]*/{before|after}/{intensor|outtensor}{i}.bin`;
//  - for a leaf, ReportOperationIOTensor when ReportOperationIOTensorEnable().
// Per kernel k of a leaf (dir `{leafDir}/{k}_{KernelName}`), ids = the leaf's + [k]:
//  - saving as above when IsTensorNeedSave(ids + [k], leaf type) (cached), IsExecuteCountInRange
//    and IsSaveTensorInSpecificDir(dir) hold, plus SaveTiling(`{dir}/kernel_tilingdata.bin`)
//    when IsSaveTiling();
//  - ReportKernelIOTensor when ReportKernelIOTensorEnable() (tensor paths under the leaf's dir,
//    as ATB has them);
//  - after the kernel, when IsOverflowCheck(): any NaN or ±inf in a float output ->
//    ait_probe_overflow_values(path, NaN count, inf count, float values) (ait's extension,
//    ait/ait_probe_ext.h: how the probe learns the kind) then
//    ReportOverflowKernel(path = "<LeafType>_<ids>:<KernelName>"), and when IsOverflowStop()
//    the run stops with an ait::Error naming the kernel and the kind.
// The model's topology goes through ReportModelTopology (atb_speed::SpeedProbe).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ait/overflow_report.h"
#include "ait_engine/graph.h"

namespace ait::engine {

// The NaN and ±inf elements of a float tensor (fp32, fp16, bf16) and its element count, as
// the overflow check counts them; all zero for other dtypes.
overflow_report::Values CountNonFinite(const Tensor& t);

class AtbProbeHooks : public ExecutionObserver {
 public:
  // `device_id` names the dump root `{device_id}_{pid}`.
  explicit AtbProbeHooks(int device_id);

  bool WantsKernels() const override { return true; }
  void BeforeOperation(const OpEvent& op) override;
  void AfterOperation(const OpEvent& op) override;
  void BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                    const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) override;
  void AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                   const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) override;

  // atb_speed: when SpeedProbe::IsReportModelTopoInfo(name), ReportModelTopoInfo(name, topology).
  static void ReportModelTopology(const std::string& model_name, const Json& topology);

  // The tiling data the engine hands to SaveTiling for a kernel: little-endian uint64 words
  // [n_in, n_out, then per tensor (inputs, then outputs): ATB dtype code, rank, dims...].
  static std::vector<uint8_t> TilingData(const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out);

 private:
  struct OpState {
    bool initialized = false;
    bool need_save = false;
    std::vector<int8_t> kernel_need_save;  // -1 not asked yet
    uint64_t setups = 0, setup_hits = 0;
    std::vector<TensorDesc> last_in;  // for the setup cache hit count
  };
  struct Frame {
    const Operation* op = nullptr;
    OpState* state = nullptr;
    bool save = false;   // tensors of this op are saved at this execution
    bool stats = false;  // statistics reported
    std::string dir;     // relative dump dir, built on first use
    std::chrono::steady_clock::time_point start{}, kernel_start{};
    uint64_t kernel_ns = 0;
    bool kernel_save = false;
    std::string kernel_dir;
  };

  const std::string& Dir(const OpEvent& op, Frame& frame);

  std::string root_;  // "{dev}_{pid}"
  std::unordered_map<const Operation*, OpState> states_;
  std::vector<Frame> stack_;
};

}  // namespace ait::engine
