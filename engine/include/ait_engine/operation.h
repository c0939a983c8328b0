// The reference engine's operation model, as ATB (Ascend Transformer Boost) has it: an
// operation has a type name ("LinearOperation"), a JSON param object, fixed numbers of
// in/out tensors, shape inference, and an execute step that runs one or more named
// kernels. Graph operations, models and probe hooks build on this (see DESIGN.md).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ait/tensor.h"

namespace ait::engine {

using Json = nlohmann::json;

struct TensorDesc {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  bool operator==(const TensorDesc&) const = default;
};

TensorDesc DescOf(const Tensor& t);

// Sees every kernel launch of an operation; the probe layer installs one. The tensors are
// the kernel's own inputs and outputs (for single-kernel ops, the operation's).
class KernelObserver {
 public:
  virtual ~KernelObserver() = default;
  virtual void BeforeKernel(size_t kernel_index, std::string_view kernel_name, const std::vector<const Tensor*>& in,
                            const std::vector<const Tensor*>& out) {}
  virtual void AfterKernel(size_t kernel_index, std::string_view kernel_name, const std::vector<const Tensor*>& in,
                           const std::vector<const Tensor*>& out) {}
};

// Per-execution state handed to Operation::Execute. Not thread-safe; one per execution.
class ExecContext {
 public:
  explicit ExecContext(int threads = 0, KernelObserver* observer = nullptr) : threads_(threads), observer_(observer) {}
  // Worker threads for the operation's parallel loops (0 = all cores).
  int threads() const { return threads_; }
  // Runs `body` as the next kernel of the current operation, named `name`; the observer
  // sees `in` before and `in`/`out` after. Kernel indices count from 0 per operation.
  void RunKernel(std::string_view name, const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out,
                 const std::function<void()>& body);
  // Called by the runner before each operation: kernel indices restart at 0.
  void BeginOperation() { next_kernel_ = 0; }

 private:
  int threads_;
  KernelObserver* observer_;
  size_t next_kernel_ = 0;
};

class Operation {
 public:
  Operation(std::string type, Json param) : type_(std::move(type)), param_(std::move(param)) {}
  virtual ~Operation() = default;
  const std::string& type() const { return type_; }
  const Json& param() const { return param_; }
  virtual size_t in_count() const = 0;
  virtual size_t out_count() const = 0;
  // Output descriptions for inputs `in` (in_count() of them). Throws ait::Error naming
  // the operation type and the mismatch when inputs do not fit.
  virtual std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const = 0;
  // REQUIRES: `in` match InferShape's expectations; `out` allocated with its descriptions.
  // Inputs may be updated in place only where ATB does so (the KV cache of attention).
  // Compute accumulates in float32 and rounds each output to its storage dtype.
  virtual void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const = 0;

 private:
  std::string type_;
  Json param_;
};

// Creates an operation from its ATB type name and param JSON. Throws ait::Error for an
// unknown type or an invalid param (naming the type and the field).
std::unique_ptr<Operation> CreateOperation(const std::string& type, const Json& param);
// Every type name CreateOperation accepts.
std::vector<std::string> OperationTypes();

// Infers, allocates and executes: the convenience path for tests and single-op runs.
std::vector<Tensor> RunOperation(const Operation& op, const std::vector<Tensor>& in, ExecContext& ctx);

}  // namespace ait::engine
