// GraphOperation (nodes over a tensor list, shape inference, in-order execution, graph
// info), GraphBuilder, and the observed runner behind TopLevelOperation::Run.
#include "ait_engine/graph.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "ait/error.h"

namespace ait::engine {

std::string IdString(const std::vector<int64_t>& ids) { return fmt::format("{}", fmt::join(ids, "_")); }

void ObserverChain::BeforeOperation(const OpEvent& op) {
  if (first_) first_->BeforeOperation(op);
  if (second_) second_->BeforeOperation(op);
}
void ObserverChain::AfterOperation(const OpEvent& op) {
  if (first_) first_->AfterOperation(op);
  if (second_) second_->AfterOperation(op);
}
void ObserverChain::BeforeKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                                 const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {
  if (first_) first_->BeforeKernel(op, kernel_index, kernel_name, in, out);
  if (second_) second_->BeforeKernel(op, kernel_index, kernel_name, in, out);
}
void ObserverChain::AfterKernel(const OpEvent& op, size_t kernel_index, std::string_view kernel_name,
                                const std::vector<const Tensor*>& in, const std::vector<const Tensor*>& out) {
  if (first_) first_->AfterKernel(op, kernel_index, kernel_name, in, out);
  if (second_) second_->AfterKernel(op, kernel_index, kernel_name, in, out);
}

std::string OperationName(const Operation& op, const std::vector<int64_t>& ids) {
  return op.type() + "_" + IdString(ids);
}

GraphOperation::GraphOperation(std::string type, Json param, size_t in_count, size_t out_count, size_t internal_count)
    : Operation(std::move(type), std::move(param)),
      in_count_(in_count),
      out_count_(out_count),
      internal_count_(internal_count),
      written_(in_count + out_count + internal_count, false) {}

void GraphOperation::AddNode(std::unique_ptr<Operation> op, std::vector<size_t> in_ids, std::vector<size_t> out_ids) {
  const size_t n = written_.size(), node = nodes_.size();
  if (!op) Fail(type(), "node {}: no operation", node);
  if (in_ids.size() != op->in_count() || out_ids.size() != op->out_count())
    Fail(type(), "node {} ({}) takes {} inputs and {} outputs, given {} and {} tensor ids", node, op->type(),
         op->in_count(), op->out_count(), in_ids.size(), out_ids.size());
  for (size_t id : in_ids)
    if (id >= n) Fail(type(), "node {} ({}): input tensor id {} is out of range [0, {})", node, op->type(), id, n);
  for (size_t id : out_ids) {
    if (id >= n) Fail(type(), "node {} ({}): output tensor id {} is out of range [0, {})", node, op->type(), id, n);
    if (id < in_count_) Fail(type(), "node {} ({}) writes graph input {}", node, op->type(), id);
    if (written_[id]) Fail(type(), "node {} ({}) writes tensor {}, already written by an earlier node", node, op->type(), id);
    written_[id] = true;
  }
  nodes_.push_back(Node{std::move(op), std::move(in_ids), std::move(out_ids)});
}

std::vector<TensorDesc> GraphOperation::Plan(const std::vector<TensorDesc>& in) const {
  if (in.size() != in_count_) Fail(type(), "expected {} input tensors, found {}", in_count_, in.size());
  std::vector<TensorDesc> slots(written_.size());
  std::vector<bool> ready(written_.size(), false);
  std::copy(in.begin(), in.end(), slots.begin());
  std::fill(ready.begin(), ready.begin() + static_cast<ptrdiff_t>(in_count_), true);
  std::vector<TensorDesc> node_in;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    node_in.clear();
    for (size_t id : node.in_ids) {
      if (!ready[id]) Fail(type(), "node {} ({}) reads tensor {} before any node writes it", i, node.op->type(), id);
      node_in.push_back(slots[id]);
    }
    std::vector<TensorDesc> outs;
    try {
      outs = node.op->InferShape(node_in);
    } catch (const Error& e) {
      Fail(type(), "node {}: {}", i, e.what());
    }
    for (size_t j = 0; j < outs.size(); ++j) {
      slots[node.out_ids[j]] = std::move(outs[j]);
      ready[node.out_ids[j]] = true;
    }
  }
  for (size_t id = in_count_; id < in_count_ + out_count_; ++id)
    if (!ready[id]) Fail(type(), "graph output {} is written by no node", id - in_count_);
  return slots;
}

std::vector<TensorDesc> GraphOperation::InferShape(const std::vector<TensorDesc>& in) const {
  std::vector<TensorDesc> slots = Plan(in);
  return {slots.begin() + static_cast<ptrdiff_t>(in_count_),
          slots.begin() + static_cast<ptrdiff_t>(in_count_ + out_count_)};
}

std::vector<Tensor> GraphOperation::Slots(const std::vector<Tensor>& in, const std::vector<Tensor>& out) const {
  std::vector<TensorDesc> in_descs;
  for (const Tensor& t : in) in_descs.push_back(DescOf(t));
  std::vector<TensorDesc> descs = Plan(in_descs);
  if (out.size() != out_count_) Fail(type(), "expected {} output tensors, found {}", out_count_, out.size());
  std::vector<Tensor> slots(descs.size());
  std::copy(in.begin(), in.end(), slots.begin());
  for (size_t j = 0; j < out_count_; ++j) {
    if (DescOf(out[j]) != descs[in_count_ + j])
      Fail(type(), "output {} is allocated as {} {}, the graph produces {} {}", j, ShortName(out[j].dtype),
           out[j].ShapeString(), ShortName(descs[in_count_ + j].dtype), fmt::format("[{}]", fmt::join(descs[in_count_ + j].shape, ", ")));
    slots[in_count_ + j] = out[j];
  }
  // Internal tensors live for one execution, as ATB's intermediate workspace does.
  for (size_t id = in_count_ + out_count_; id < descs.size(); ++id)
    slots[id] = Tensor::Allocate(descs[id].dtype, descs[id].shape);
  return slots;
}

void GraphOperation::Execute(const std::vector<Tensor>& in, const std::vector<Tensor>& out, ExecContext& ctx) const {
  ExecuteWith(in, out, [&](size_t, const Operation& op, const std::vector<Tensor>& node_in,
                           const std::vector<Tensor>& node_out) {
    ctx.BeginOperation();
    op.Execute(node_in, node_out, ctx);
  });
}

Json GraphOperation::GraphInfo(const std::vector<int64_t>& ids) const {
  Json info = {{"opName", OperationName(*this, ids)},
               {"opType", type()},
               {"param", param()},
               {"inTensorNum", in_count_},
               {"outTensorNum", out_count_},
               {"internalTensorNum", internal_count_}};
  Json nodes = Json::array();
  std::vector<int64_t> child_ids = ids;
  child_ids.push_back(0);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    child_ids.back() = static_cast<int64_t>(i);
    const Node& node = nodes_[i];
    Json child;
    if (auto* graph = dynamic_cast<const GraphOperation*>(node.op.get())) {
      child = graph->GraphInfo(child_ids);
    } else {
      child = {{"opName", OperationName(*node.op, child_ids)}, {"opType", node.op->type()}, {"param", node.op->param()}};
    }
    child["inTensorIds"] = node.in_ids;
    child["outTensorIds"] = node.out_ids;
    nodes.push_back(std::move(child));
  }
  info["nodes"] = std::move(nodes);
  return info;
}

// --- GraphBuilder -------------------------------------------------------------------------

GraphBuilder::GraphBuilder(std::string type, Json param, std::vector<std::string> inputs,
                           std::vector<std::string> outputs)
    : type_(std::move(type)), param_(std::move(param)), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {}

GraphBuilder& GraphBuilder::Add(std::unique_ptr<Operation> op, const std::vector<std::string>& in,
                                const std::vector<std::string>& out) {
  for (const auto& name : in) Id(name, false);  // must exist already: graphs run in order
  for (const auto& name : out) Id(name, true);
  nodes_.push_back(PendingNode{std::move(op), in, out});
  return *this;
}

size_t GraphBuilder::Id(const std::string& name, bool create) {
  auto find = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), name) - v.begin(); };
  if (size_t i = find(inputs_); i < inputs_.size()) return i;
  if (size_t i = find(outputs_); i < outputs_.size()) return inputs_.size() + i;
  if (size_t i = find(internals_); i < internals_.size()) return inputs_.size() + outputs_.size() + i;
  if (!create) Fail(type_, "tensor '{}' is read before any node writes it", name);
  internals_.push_back(name);
  return inputs_.size() + outputs_.size() + internals_.size() - 1;
}

std::unique_ptr<GraphOperation> GraphBuilder::Build() {
  auto graph = std::make_unique<GraphOperation>(type_, param_, inputs_.size(), outputs_.size(), internals_.size());
  for (auto& node : nodes_) {
    std::vector<size_t> in, out;
    for (const auto& name : node.in) in.push_back(Id(name, false));
    for (const auto& name : node.out) out.push_back(Id(name, false));
    graph->AddNode(std::move(node.op), std::move(in), std::move(out));
  }
  nodes_.clear();
  return graph;
}

// --- The observed runner --------------------------------------------------------------------

namespace {

// Forwards one leaf operation's kernel launches to the execution observer.
class KernelForwarder : public KernelObserver {
 public:
  KernelForwarder(ExecutionObserver& obs, const OpEvent& event) : obs_(obs), event_(event) {}
  void BeforeKernel(size_t index, std::string_view name, const std::vector<const Tensor*>& in,
                    const std::vector<const Tensor*>& out) override {
    obs_.BeforeKernel(event_, index, name, in, out);
  }
  void AfterKernel(size_t index, std::string_view name, const std::vector<const Tensor*>& in,
                   const std::vector<const Tensor*>& out) override {
    obs_.AfterKernel(event_, index, name, in, out);
  }

 private:
  ExecutionObserver& obs_;
  const OpEvent& event_;
};

struct Walker {
  int threads;
  ExecutionObserver& obs;
  uint64_t execute_count;
  std::vector<int64_t> ids;

  void Run(const Operation& op, const std::vector<Tensor>& in, const std::vector<Tensor>& out, uint64_t setup_ns = 0) {
    const OpEvent event{ids, op, execute_count, in, out, setup_ns};
    obs.BeforeOperation(event);
    if (auto* graph = dynamic_cast<const GraphOperation*>(&op)) {
      ids.push_back(0);
      graph->ExecuteWith(in, out, [&](size_t i, const Operation& child, const std::vector<Tensor>& child_in,
                                      const std::vector<Tensor>& child_out) {
        ids.back() = static_cast<int64_t>(i);
        Run(child, child_in, child_out);
      });
      ids.pop_back();
    } else {
      KernelForwarder forwarder(obs, event);
      ExecContext ctx(threads, obs.WantsKernels() ? &forwarder : nullptr);
      ctx.BeginOperation();
      op.Execute(in, out, ctx);
    }
    obs.AfterOperation(event);
  }
};

}  // namespace

std::vector<Tensor> TopLevelOperation::Run(const std::vector<Tensor>& in, int threads, ExecutionObserver* observer) {
  std::vector<Tensor> out;
  if (!observer) {
    ExecContext ctx(threads);
    out = RunOperation(*op_, in, ctx);
  } else {
    const auto setup_start = std::chrono::steady_clock::now();
    std::vector<TensorDesc> descs;
    for (const Tensor& t : in) descs.push_back(DescOf(t));
    if (in.size() != op_->in_count()) Fail(op_->type(), "expected {} input tensors, found {}", op_->in_count(), in.size());
    for (auto& d : op_->InferShape(descs)) out.push_back(Tensor::Allocate(d.dtype, d.shape));
    const auto setup_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - setup_start);
    Walker walker{threads, *observer, execute_count_, {id_}};
    walker.Run(*op_, in, out, static_cast<uint64_t>(setup_ns.count()));
  }
  ++execute_count_;  // ATB counts after Execute
  return out;
}

Json TopLevelOperation::GraphInfo() const {
  if (auto* graph = dynamic_cast<const GraphOperation*>(op_.get())) return graph->GraphInfo({id_});
  return {{"opName", OperationName(*op_, {id_})},
          {"opType", op_->type()},
          {"param", op_->param()},
          {"inTensorNum", op_->in_count()},
          {"outTensorNum", op_->out_count()}};
}

}  // namespace ait::engine
