// Graph operations as ATB has them: a GraphOperation is an Operation made of nodes, each an
// operation plus in/out tensor ids into the graph's tensor list [graph inputs, graph outputs,
// internal tensors]; nodes nest to any depth. A model holds TopLevelOperations (its
// operations in creation order, each with its id and execute count); running one walks the
// nodes and reports every operation and kernel to an ExecutionObserver with the operation's
// id path (`2_3_5`) — the seam the probe layer hooks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ait_engine/operation.h"

namespace ait::engine {

// One operation as an observer sees it. `ids` is the nesting path (top-level id, then node
// indices); op.type() is the name ATB dumps under (`LinearOperation`, `LlamaLayer`).
struct OpEvent {
  const std::vector<int64_t>& ids;
  const Operation& op;
  uint64_t execute_count;
  const std::vector<Tensor>& in;
  const std::vector<Tensor>& out;
  // Nanoseconds the operation's setup took (shape inference and output allocation): a
  // top-level operation's; nested operations have no setup step of their own (0).
  uint64_t setup_ns = 0;
};

// Hooks around every operation (graph and leaf) and every kernel of a leaf. Default no-ops;
// the runner skips all kernel bookkeeping when WantsKernels() is false.
class ExecutionObserver {
 public:
  virtual ~ExecutionObserver() = default;
  virtual bool WantsKernels() const { return true; }
  virtual void BeforeOperation(const OpEvent& op) {}
  virtual void AfterOperation(const OpEvent& op) {}
  virtual void BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                            const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {}
  virtual void AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                           const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {}
};

// Calls `first` then `second` (either may be null) at every hook: a fault injector first,
// then the probe hooks, so the probe sees what downstream operations read.
class ObserverChain : public ExecutionObserver {
 public:
  ObserverChain(ExecutionObserver* first, ExecutionObserver* second) : first_(first), second_(second) {}
  bool WantsKernels() const override {
    return (first_ && first_->WantsKernels()) || (second_ && second_->WantsKernels());
  }
  void BeforeOperation(const OpEvent& op) override;
  void AfterOperation(const OpEvent& op) override;
  void BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                    const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) override;
  void AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                   const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) override;

 private:
  ExecutionObserver* first_;
  ExecutionObserver* second_;
};

// "2_3_5" for {2, 3, 5}.
std::string IdString(const std::vector<int64_t>& ids);
// The name of the op at id path `ids`: `<type>_<ids>` (ATB's GenerateOperationName; the
// GraphInfo opName, e.g. `LinearOperation_3_1`).
std::string OperationName(const Operation& op, const std::vector<int64_t>& ids);

class GraphOperation : public Operation {
 public:
  struct Node {
    std::unique_ptr<Operation> op;
    std::vector<size_t> in_ids, out_ids;
  };

  // `type` is the graph's name (e.g. "LlamaLayer"); `param` is reported as its op param.
  GraphOperation(std::string type, Json param, size_t in_count, size_t out_count, size_t internal_count);

  // Appends a node. Throws ait::Error when an id is out of range, the op's arity differs, a
  // node writes a graph input, or a tensor is written twice.
  void AddNode(std::unique_ptr<Operation> op, std::vector<size_t> in_ids, std::vector<size_t> out_ids);

  size_t in_count() const override { return in_count_; }
  size_t out_count() const override { return out_count_; }
  size_t internal_count() const { return internal_count_; }
  const std::vector<Node>& nodes() const { return nodes_; }

  // Shape inference through the nodes in order; also checks every tensor a node reads was
  // written before and every output is written.
  std::vector<TensorDesc> InferShape(const std::vector<TensorDesc>& in) const override;
  // Runs the nodes in order (kernel indices restart per node); observers are the runner's.
  void Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const override;

  // ATB's GetGraphInfo() for this graph at id path `ids` (FORMATS.md 5.1 input form):
  // opName "<type>_<ids>", opType, param, inTensorNum, outTensorNum, internalTensorNum and
  // nodes [{opName "<childType>_<ids>_<i>", opType, param, inTensorIds, outTensorIds, ...}].
  Json GraphInfo(const std::vector<int64_t>& ids) const;

  // Used by the observed runner (graph.cc): runs node `i` via `run_node`, with the graph's
  // tensor slots allocated. Not for callers.
  template <typename RunNode>
  void ExecuteWith(const std::vector<Tensor>& in, const std::vector<Tensor>& out, RunNode&& run_node) const;

 private:
  // Every slot's description for these inputs.
  std::vector<TensorDesc> Plan(const std::vector<TensorDesc>& in) const;
  std::vector<Tensor> Slots(const std::vector<Tensor>& in, const std::vector<Tensor>& out) const;

  size_t in_count_, out_count_, internal_count_;
  std::vector<Node> nodes_;
  std::vector<bool> written_;  // per slot, set by AddNode
};

// Builds a graph from tensor names: inputs and outputs are declared up front, an internal
// tensor is created by the first node that writes it. Keeps model code readable.
class GraphBuilder {
 public:
  GraphBuilder(std::string type, Json param, std::vector<std::string> inputs, std::vector<std::string> outputs);
  GraphBuilder& Add(std::unique_ptr<Operation> op, const std::vector<std::string>& in,
                    const std::vector<std::string>& out);
  std::unique_ptr<GraphOperation> Build();

 private:
  size_t Id(const std::string& name, bool create);
  struct PendingNode {
    std::unique_ptr<Operation> op;
    std::vector<std::string> in, out;
  };
  std::string type_;
  Json param_;
  std::vector<std::string> inputs_, outputs_, internals_;
  std::vector<PendingNode> nodes_;
};

// A model's top-level operation: ATB's operation object with its id (creation order in the
// model) and its execute count (0-based, +1 after every Run; one per forward step).
class TopLevelOperation {
 public:
  TopLevelOperation(int64_t id, std::unique_ptr<Operation> op) : id_(id), op_(std::move(op)) {}
  int64_t id() const { return id_; }
  const Operation& op() const { return *op_; }
  uint64_t execute_count() const { return execute_count_; }
  // Infers, allocates and executes, reporting to `observer` (may be null) with id paths
  // starting at id(). `threads` as ExecContext.
  std::vector<Tensor> Run(const std::vector<Tensor>& in, int threads, ExecutionObserver* observer);
  // GraphInfo for a graph operation; for a leaf the same fields without nodes.
  Json GraphInfo() const;

 private:
  int64_t id_;
  std::unique_ptr<Operation> op_;
  uint64_t execute_count_ = 0;
};

template <typename RunNode>
void GraphOperation::ExecuteWith(const std::vector<Tensor>& in, const std::vector<Tensor>& out,
                                 RunNode&& run_node) const {
  std::vector<Tensor> slots = Slots(in, out);
  std::vector<Tensor> node_in, node_out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    node_in.clear();
    node_out.clear();
    for (size_t id : nodes_[i].in_ids) node_in.push_back(slots[id]);
    for (size_t id : nodes_[i].out_ids) node_out.push_back(slots[id]);
    run_node(i, *nodes_[i].op, node_in, node_out);
  }
}

}  // namespace ait::engine
