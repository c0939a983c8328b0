// Fault injection: `PATTERN=KIND[:MAG]` specs (ait-engine run --perturb) that change the
// output tensors of every operation whose name matches PATTERN, right after it executes.
//
// Operation names are the GraphInfo opNames: `<OpType>_<id path>` — top-level ops
// `GatherOperation_0`, `LlamaLayer_3`, `RmsNormOperation_<L+1>`, `LinearOperation_<L+2>`;
// nodes inside a graph `LinearOperation_3_1` (layer 3, node 1). PATTERN is an fnmatch-style
// glob over the whole name: `*` any run, `?` one character, `[abc]` / `[a-z]` / `[!a]` (or
// `[^a]`) a set, `\c` the literal c.
//
// Kinds (x = an output element as float32; the result is stored back rounded to the tensor's
// storage dtype, RNE for fp16/bf16):
//   noise[:MAG]      x + MAG * rms * z, z ~ N(0, 1) from a fixed-seed generator (seeded by the
//                    op name, execute count and output index: runs are reproducible); rms =
//                    sqrt(mean(x^2)) over the tensor's finite elements (0 -> no change).
//                    MAG >= 0, default 0.1.
//   scale[:MAG]      x * MAG, default 2.
//   bias[:MAG]       x + MAG, default 1.
//   zero             0.
//   nan[:FRAC]       NaN at the elements whose flat index is a multiple of round(1/FRAC)
//   inf[:FRAC]       (+inf for inf); FRAC in (0, 1], default 0.01: elements 0, 100, 200, ...,
//                    i.e. ceil(n/100) elements, always at least element 0.
//   fp16-saturate    fp16 overflow as an RNE cast has it, without touching in-range values:
//                    |x| <= 65504 unchanged; 65504 < |x| < 65520 -> ±65504 (rounds down to
//                    fp16's max); |x| >= 65520 -> ±inf; NaN unchanged.
// Only float outputs (fp32, fp16, bf16) are perturbed; integer outputs are left alone.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ait/tensor.h"
#include "ait_engine/graph.h"

namespace ait::engine {

enum class PerturbKind { kNoise, kScale, kBias, kZero, kNan, kInf, kFp16Saturate };

// "noise", "scale", "bias", "zero", "nan", "inf", "fp16-saturate".
std::string_view PerturbKindName(PerturbKind kind);

// fnmatch-style glob (see above) over the whole of `name`. A `[` without its `]` matches a
// literal `[`; Perturbation::Parse rejects such patterns.
bool GlobMatch(std::string_view pattern, std::string_view name);

struct Perturbation {
  std::string spec;     // as given
  std::string pattern;  // glob over operation names
  PerturbKind kind = PerturbKind::kNoise;
  double magnitude = 0;  // MAG (the kind's default when absent); FRAC for nan/inf; 0 for zero

  // Parses `PATTERN=KIND[:MAG]` (split at the last '='). Throws ait::Error with a message
  // quoting the spec for an empty or malformed pattern, an unknown kind, a MAG that is not a
  // finite number or out of the kind's range, or a MAG given to zero / fp16-saturate.
  static Perturbation Parse(std::string_view spec);

  bool Matches(std::string_view op_name) const { return GlobMatch(pattern, op_name); }
  // Perturbs `t` in place (it must be writable: an allocated tensor). `seed` drives noise.
  void Apply(const Tensor& t, uint64_t seed = 0) const;
};

// Noise seed for output `out_index` of the op named `op_name` at `execute_count`.
uint64_t PerturbSeed(std::string_view op_name, uint64_t execute_count, size_t out_index);

// Every operation name of a model, graphs before their nodes, in execution order.
std::vector<std::string> OperationNames(const std::vector<TopLevelOperation>& ops);

// An ExecutionObserver that applies perturbations and forwards every hook to `next` (may be
// null). An output of a matching leaf operation is perturbed right after the kernel that
// writes it, before that kernel's AfterKernel reaches `next`; outputs no kernel reported, and
// every output of a matching graph, are perturbed in AfterOperation before it reaches `next`.
// So a probe observer chained after this one (as `next`, or second in an ObserverChain) saves
// the faulty kernel and operation `after` tensors and sees the fault in its overflow check, as
// if the kernel itself were wrong — and every downstream op reads the faulty values. Specs
// apply in the order given. A graph's nodes finish before the graph's own AfterOperation, so
// the nodes' saved tensors stay clean when only the graph matches; `*` perturbs a graph output
// written by its last node twice.
class PerturbingObserver : public ExecutionObserver {
 public:
  explicit PerturbingObserver(std::vector<Perturbation> specs, ExecutionObserver* next = nullptr);

  bool WantsKernels() const override { return !specs_.empty() || (next_ && next_->WantsKernels()); }
  void BeforeOperation(const OpEvent& op) override;
  void AfterOperation(const OpEvent& op) override;
  void BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                    const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) override;
  void AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                   const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) override;

  // Operation executions perturbed so far, per spec.
  const std::vector<uint64_t>& applied() const { return applied_; }

 private:
  struct Pending {  // one per operation being executed
    std::string name;
    std::vector<size_t> specs;  // indices of the matching specs
    std::vector<bool> done;     // per output: already perturbed in this execution
  };
  void Perturb(const OpEvent& op, Pending& p, size_t out_index);

  std::vector<Perturbation> specs_;
  ExecutionObserver* next_;
  std::vector<uint64_t> applied_;
  std::vector<Pending> pending_;
};

}  // namespace ait::engine
