// The operation runtime: kernel launches seen by the observer, the type registry, and the
// infer-allocate-execute path.
#include "ait_engine/operation.h"

#include <fmt/ranges.h>

#include <map>

#include "ait/error.h"
#include "ops/ops.h"

namespace ait::engine {

TensorDesc DescOf(const Tensor& t) { return TensorDesc{t.dtype, t.shape}; }

void ExecContext::RunKernel(std::string_view name, const std::vector<const Tensor*>& in,
                            const std::vector<const Tensor*>& out, const std::function<void()>& body) {
  const size_t index = next_kernel_++;
  if (observer_) observer_->BeforeKernel(index, name, in, out);
  body();
  if (observer_) observer_->AfterKernel(index, name, in, out);
}

namespace {

using Creator = std::function<std::unique_ptr<Operation>(const Json&)>;

const std::map<std::string, Creator>& Registry() {
  static const std::map<std::string, Creator> registry = {
      {"GatherOperation", ops::CreateGather},
      {"RmsNormOperation", ops::CreateRmsNorm},
      {"LayerNormOperation", ops::CreateLayerNorm},
      {"LinearOperation", ops::CreateLinear},
      // ATB spells it "MatmulOperation"; the issue "MatMulOperation". Both name one op.
      {"MatMulOperation", [](const Json& p) { return ops::CreateMatMul("MatMulOperation", p); }},
      {"MatmulOperation", [](const Json& p) { return ops::CreateMatMul("MatmulOperation", p); }},
      {"LinearQuantOperation", ops::CreateLinearQuant},
      {"RopeOperation", ops::CreateRope},
      {"SelfAttentionOperation", ops::CreateSelfAttention},
      {"ElewiseOperation", ops::CreateElewise},
      {"ActivationOperation", ops::CreateActivation},
      {"SoftmaxOperation", ops::CreateSoftmax},
      {"SplitOperation", ops::CreateSplit},
      {"ConcatOperation", ops::CreateConcat},
      {"TransposeOperation", ops::CreateTranspose},
      {"SamplingOperation", ops::CreateSampling},
  };
  return registry;
}

}  // namespace

std::unique_ptr<Operation> CreateOperation(const std::string& type, const Json& param) {
  auto it = Registry().find(type);
  if (it == Registry().end()) Fail(type, "unknown operation type (known: {})", fmt::join(OperationTypes(), ", "));
  // op_param.json files hold the param object; some tools pass it as a JSON string.
  if (param.is_string()) {
    Json parsed = Json::parse(param.get<std::string>(), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) Fail(type, "param is a string that is not JSON: {}", param.get<std::string>());
    return it->second(parsed);
  }
  return it->second(param);
}

std::vector<std::string> OperationTypes() {
  std::vector<std::string> types;
  for (const auto& [name, creator] : Registry()) types.push_back(name);
  return types;
}

std::vector<Tensor> RunOperation(const Operation& op, const std::vector<Tensor>& in, ExecContext& ctx) {
  if (in.size() != op.in_count())
    Fail(op.type(), "expected {} input tensors, found {}", op.in_count(), in.size());
  std::vector<TensorDesc> descs;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].has_data) Fail(op.type(), "input {} has no data (a description-only tensor)", i);
    if (in[i].nbytes != static_cast<size_t>(in[i].numel()) * ItemSize(in[i].dtype))
      Fail(op.type(), "input {} holds {} bytes, its shape {} and dtype need {}", i, in[i].nbytes, in[i].ShapeString(),
           static_cast<size_t>(in[i].numel()) * ItemSize(in[i].dtype));
    descs.push_back(DescOf(in[i]));
  }
  std::vector<TensorDesc> out_descs = op.InferShape(descs);
  std::vector<Tensor> out;
  out.reserve(out_descs.size());
  for (auto& d : out_descs) out.push_back(Tensor::Allocate(d.dtype, d.shape));
  ctx.BeginOperation();
  op.Execute(in, out, ctx);
  return out;
}

}  // namespace ait::engine
