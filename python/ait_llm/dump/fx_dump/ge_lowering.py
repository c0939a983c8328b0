"""Lowering a traced aten graph to a GE graph: one GE operator per aten node, GE names, the
operators' inputs, and which elementwise chains buffer fusion merges.

Operators (in the FX graph's order):
- each placeholder -> a `Data` operator (no dump file);
- each get_attr tensor (a weight, a constant buffer) -> a `Const` operator (no dump file);
- each aten call_function node -> one operator of the type TYPES gives (aten `mm` -> `MatMul`,
  ...); an in-place overload (`mul_`) gets the type of its out-of-place one. Any other aten
  op gets the CamelCase of its name without leading/trailing underscores (`native_layer_norm`
  -> `NativeLayerNorm`). Its GE inputs are the node's positional arguments in order: a tensor
  (or each tensor of a list of tensors) as it is, a number / bool / list of numbers as the
  output of a `Const` operator made for it just before the node, anything else (None, dtypes,
  devices) skipped. GE input k is therefore FX `INPUT.k` when no argument is skipped and none is
  a list of tensors (a list's tensors `INPUT.i.0, INPUT.i.1, ...` sort in the same order).
  Number Consts are int64 (ints), float32 (floats) or bool (all bools);
- the graph's output node -> one `NetOutput` operator (no dump file);
- operator.getitem nodes are edges: they pick an output of their producer.
Names: the first operator of a type is `<Type>`, the next ones `<Type>_1`, `<Type>_2`, ...

Buffer fusion (`fusion_groups`): a chain of 2 or 3 operators of an ELEMENTWISE type, each with
one output whose only consumer is the next member (the graph output counts as a consumer),
becomes one fused operator, `AutomaticBufferFusionOp.<name1><name2>[<name3>]`. Chains are formed
greedily in execution order: an unfused elementwise operator starts a chain that grows while
the condition holds, up to 3 members.
"""
import dataclasses
import operator

import torch
import torch.fx

from .fx_writer import flat_outputs, is_aten_overload, is_number, number_list

TYPES = {
    "mm": "MatMul", "bmm": "BatchMatMul", "matmul": "BatchMatMul",
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "RealDiv", "neg": "Neg",
    "rsqrt": "Rsqrt", "sqrt": "Sqrt", "pow": "Pow", "exp": "Exp", "log": "Log",
    "mean": "ReduceMean", "sum": "ReduceSum", "amax": "ReduceMax",
    "silu": "Swish", "sigmoid": "Sigmoid", "relu": "Relu", "gelu": "Gelu", "tanh": "Tanh",
    "_softmax": "SoftmaxV2", "embedding": "GatherV2", "index_select": "GatherV2",
    "cat": "ConcatV2", "slice": "StridedSlice",
    "view": "Reshape", "_reshape_alias": "Reshape", "_unsafe_view": "Reshape", "reshape": "Reshape",
    "t": "Transpose", "transpose": "Transpose", "permute": "Transpose",
    "unsqueeze": "Unsqueeze", "squeeze": "Squeeze", "expand": "BroadcastTo",
    "clone": "Identity", "_to_copy": "Cast",
    "cos": "Cos", "sin": "Sin", "arange": "Range", "full": "Fill", "triu": "Triu",
    "gt": "Greater", "lt": "Less", "eq": "Equal", "where": "SelectV2",
}

# GE types buffer fusion may merge (elementwise, one output).
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "RealDiv", "Neg", "Rsqrt", "Sqrt", "Pow", "Exp", "Log",
                         "Swish", "Sigmoid", "Relu", "Tanh", "Cast", "Cos", "Sin"})
MAX_FUSED = 3
FUSED_TYPE = "AutomaticBufferFusionOp"


def ge_type(target):
    """The GE operator type of an aten OpOverload (module docstring)."""
    name = target.overloadpacket.__name__
    base = name.rstrip("_") if name.endswith("_") and not name.startswith("_") else name
    if base in TYPES:
        return TYPES[base]
    return "".join(part.capitalize() for part in name.strip("_").split("_") if part) or "Op"


def ge_dtype(dtype):
    """The dtype a tensor has on the GE side: every floating tensor is float16."""
    return torch.float16 if dtype.is_floating_point else dtype


@dataclasses.dataclass
class TensorDesc:
    dtype: torch.dtype  # on the GE side
    shape: tuple


@dataclasses.dataclass
class GeOp:
    name: str
    type: str
    kind: str                 # "data", "const", "compute", "netoutput"
    inputs: list = dataclasses.field(default_factory=list)   # [(producer name, output index)]
    outputs: list = dataclasses.field(default_factory=list)  # [TensorDesc]
    node: torch.fx.Node = None    # the FX node (data / get_attr const / compute)
    value: object = None          # number Const: its numpy value
    index: int = 0                # data: placeholder position
    fx_names: list = dataclasses.field(default_factory=list)  # compute: _fx_tensor_name per output


@dataclasses.dataclass
class GeGraph:
    name: str
    ops: list                 # in execution order
    by_name: dict
    refs: dict                # fx node name -> [(op name, output index)] of its tensor outputs

    def compute_ops(self):
        return [op for op in self.ops if op.kind == "compute"]

    def consumers(self):
        """op name -> number of input edges reading any of its outputs, per consumer op."""
        users = {op.name: [] for op in self.ops}
        for op in self.ops:
            for producer, _ in op.inputs:
                users[producer].append(op.name)
        return users


def _example_values(gm, example_inputs):
    """node name -> value of one eager run (for output dtypes and shapes)."""
    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            values[n.name] = result
            return result

    with torch.no_grad():
        Recorder(gm).run(*example_inputs)
    return values


def _const_value(arg):
    import numpy as np
    if isinstance(arg, (list, tuple)):
        if arg and all(isinstance(v, bool) for v in arg):
            return np.array(arg, dtype=np.bool_)
        if any(isinstance(v, float) for v in arg):
            return np.array(arg, dtype=np.float32)
        return np.array(arg, dtype=np.int64).reshape(len(arg))
    if isinstance(arg, bool):
        return np.array(arg, dtype=np.bool_)
    if isinstance(arg, float):
        return np.array(arg, dtype=np.float32)
    return np.array(arg, dtype=np.int64)


def lower(gm, example_inputs, name="graph_1"):
    """The GeGraph of a make_fx GraphModule (module docstring). `example_inputs` are run once
    through `gm` to learn every output's dtype and shape."""
    values = _example_values(gm, example_inputs)
    counters = {}
    ops, by_name, refs = [], {}, {}

    def new_op(op_type, kind, **fields):
        n = counters.get(op_type, 0)
        counters[op_type] = n + 1
        op = GeOp(name=op_type if n == 0 else f"{op_type}_{n}", type=op_type, kind=kind, **fields)
        ops.append(op)
        by_name[op.name] = op
        return op

    def descs(value):
        return [TensorDesc(ge_dtype(t.dtype), tuple(t.shape)) for t in flat_outputs(value)]

    def tensor_refs(node):
        if node.name not in refs:
            raise ValueError(f"node {node.name} feeds {node.op} {node.target} but produces no tensor")
        return refs[node.name]

    placeholder_index = 0
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            op = new_op("Data", "data", node=node, index=placeholder_index, outputs=descs(values[node.name]))
            placeholder_index += 1
            refs[node.name] = [(op.name, 0)]
        elif node.op == "get_attr":
            value = values[node.name]
            if isinstance(value, torch.Tensor):
                op = new_op("Const", "const", node=node, outputs=descs(value))
                refs[node.name] = [(op.name, 0)]
        elif node.op == "call_function" and node.target is operator.getitem:
            source, index = node.args
            if isinstance(source, torch.fx.Node) and isinstance(values[node.name], torch.Tensor):
                refs[node.name] = [tensor_refs(source)[index]]
        elif node.op == "call_function" and is_aten_overload(node.target):
            inputs = []
            for arg in node.args:
                if isinstance(arg, torch.fx.Node):
                    inputs.extend(tensor_refs(arg))
                elif is_number(arg) or number_list(arg):
                    value = _const_value(arg)
                    const = new_op("Const", "const", value=value,
                                   outputs=[TensorDesc(torch.from_numpy(value).dtype, tuple(value.shape))])
                    inputs.append((const.name, 0))
                elif isinstance(arg, (list, tuple)):
                    for item in arg:
                        if isinstance(item, torch.fx.Node):
                            inputs.extend(tensor_refs(item))
            outs = descs(values[node.name])
            op = new_op(ge_type(node.target), "compute", node=node, inputs=inputs, outputs=outs,
                        fx_names=[f"{node.name}-{node.target}.OUTPUT.{i}" for i in range(len(outs))])
            refs[node.name] = [(op.name, i) for i in range(len(outs))]
        elif node.op == "output":
            inputs = []
            for item in _flatten(node.args[0]):
                if isinstance(item, torch.fx.Node) and item.name in refs:
                    inputs.extend(refs[item.name])
            new_op("NetOutput", "netoutput", node=node, inputs=inputs)
        else:
            raise ValueError(f"cannot lower node {node.name}: {node.op} {node.target} (make_fx graphs hold aten "
                             f"operators only)")
    return GeGraph(name=name, ops=ops, by_name=by_name, refs=refs)


def _flatten(value):
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _flatten(item)
    else:
        yield value


def fusion_groups(graph):
    """The buffer-fusion chains of `graph`: a list of lists of operator names (module docstring)."""
    users = graph.consumers()
    taken = set()
    groups = []

    def only_consumer(op):
        if len(op.outputs) != 1:
            return None
        consumers = set(users[op.name])
        if len(consumers) != 1:
            return None
        return graph.by_name[next(iter(consumers))]

    for op in graph.ops:
        if op.kind != "compute" or op.type not in ELEMENTWISE or op.name in taken:
            continue
        chain = [op]
        while len(chain) < MAX_FUSED:
            nxt = only_consumer(chain[-1])
            if nxt is None or nxt.kind != "compute" or nxt.type not in ELEMENTWISE or nxt.name in taken:
                break
            chain.append(nxt)
        if len(chain) >= 2:
            groups.append([m.name for m in chain])
            taken.update(m.name for m in chain)
    return groups


def fused_name(group):
    return "".join(group)
