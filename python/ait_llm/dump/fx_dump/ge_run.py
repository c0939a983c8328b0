"""Running a lowered GE graph "in fp16" and writing GE's dump layout: the stand-in for a GE
run with dumping on (FORMATS.md 9.2, 9.3).

Numbers: every floating tensor is held as float16 (weights, inputs, every operator output);
integer and bool tensors stay as they are. An operator computes with its aten function in
float32 from its float16 inputs, then rounds each floating output to float16, saturating:
finite values beyond +-65504 become +-65504 (so the causal mask's float32-min fill becomes
-65504; NaN and inf stay). GE tensors are contiguous, and `_reshape_alias(x, size, stride)` is
computed as `reshape(x, size)` (its strides describe a view of the eager run's layout; the
stride list is still a Const input, so GE input k stays FX INPUT.k). Number Consts stay
float32 / int64 / bool and are used as they are. With fusion, a fused operator's members run
in float32 one after the other with no rounding in between; only the last member's outputs
are rounded: the numerical effect of buffer fusion.

Perturbations (perturb.py) change an operator's floating outputs right after it computes them
and before the rounding (inside a fused operator: the member's float32 intermediate), so every
consumer reads the fault.

Layout under `root` (one GeRun):
  root/dump_<YYYYmmdd_HHMMSS>/dynamo_original_graph_1_rank_0_pid_<pid>_ts_<us>.txt
  root/dump_<YYYYmmdd_HHMMSS>/<YYYYMMDDHHMMSS>/0/graph_1/1/<iteration>/<file>
  <file> = <Type>.<name>.<task_id>.6.<timestamp>, or for a fused operator
           AutomaticBufferFusionOp.<name1><name2>[<name3>].<task_id>.6.<timestamp>
Iterations count from 0. task_id numbers the dumped operators 1, 2, ... in execution order (the
same in every iteration); the timestamp (16 digits, microseconds) grows strictly in execution
order. A fused operator runs, and is dumped, where its last member runs; its inputs are its
members' external inputs (those not produced by a member) in member order, each member's in
its input order; its outputs are the last member's. With `nz`, the inputs and outputs of
MatMul and BatchMatMul are written FRACTAL_NZ (original_shape = the ND shape).
"""
import os

import numpy as np
import torch

from . import clock as clock_mod
from .fx_writer import flat_outputs
from .ge_lowering import FUSED_TYPE, fused_name, fusion_groups
from .ge_writer import GeTensor, dump_file_name, write_dump_file
from .graph_text import write_graph_text
from .perturb import check_matches, seed_of

FP16_MAX = 65504.0
NZ_TYPES = ("MatMul", "BatchMatMul")


def round_fp16(t):
    """float32 tensor of the float16 values of `t` (saturating finite values at +-65504),
    contiguous."""
    t = t.detach().float()
    t = torch.where(torch.isfinite(t), t.clamp(-FP16_MAX, FP16_MAX), t)
    return t.half().float().contiguous()


def to_ge(t):
    """A tensor as the GE side holds it: contiguous; floating -> float16 values (kept in float32)."""
    return round_fp16(t) if t.dtype.is_floating_point else t.detach().clone(memory_format=torch.contiguous_format)


def ge_call(target, args, kwargs):
    """Calls an aten overload as the GE operator computes it: on contiguous tensors, where
    `_reshape_alias(x, size, stride)` (a view with strides made for x's layout in the eager
    run) is `reshape(x, size)`: the stride argument is a GE input but does not change the data."""
    if target == torch.ops.aten._reshape_alias.default:
        return torch.ops.aten.reshape.default(args[0], args[1])
    return target(*args, **kwargs)


def _to_numpy(value, dtype):
    """The array written for a value whose GE dtype is `dtype`."""
    if isinstance(value, np.ndarray):
        return value
    t = value.detach().cpu()
    if dtype == torch.float16:
        t = t.half()
    elif dtype.is_floating_point:
        t = t.to(dtype)
    return t.contiguous().numpy()


class GeRun:
    """One GE run of `graph` (the GraphModule `gm` it was lowered from gives the weights):
    the graph text at construction, one iteration folder per `run`.

    run = GeRun(graph, gm, "out/ge", fused=True); outputs = run.run([ids])  # iteration 0
    """

    def __init__(self, graph, gm, root, fused=True, nz=False, perturbations=(), clock=None):
        self.graph, self.gm = graph, gm
        self.fused, self.nz = fused, nz
        self.perturbations = list(perturbations)
        self.clock = clock or clock_mod.MicrosecondClock()
        check_matches(self.perturbations, [op.name for op in graph.compute_ops()])
        self.groups = fusion_groups(graph) if fused else []
        self.group_of = {name: g for g in self.groups for name in g}
        self.dump_dir = os.path.join(os.fspath(root), f"dump_{clock_mod.local_dump_stamp()}")
        self.model_dir = os.path.join(self.dump_dir, clock_mod.local_time_dir(), "0", graph.name, "1")
        os.makedirs(self.model_dir, exist_ok=True)
        self.graph_text = write_graph_text(graph, self.dump_dir, self.clock.next_us(),
                                           graph_id=int(graph.name.rsplit("_", 1)[-1]))
        self._specs_of = {op.name: [p for p in self.perturbations if p.matches(op.name)]
                          for op in graph.compute_ops()}
        self._task = {}
        task = 0
        for op in graph.compute_ops():
            group = self.group_of.get(op.name)
            if group is None or group[-1] == op.name:
                task += 1
                self._task[op.name] = task
        self._weights = {}
        self.iterations = 0

    def _weight(self, op):
        if op.name not in self._weights:
            value = self.gm
            for part in op.node.target.split("."):
                value = getattr(value, part)
            self._weights[op.name] = to_ge(value)
        return self._weights[op.name]

    def _resolve(self, arg, env):
        """An FX argument with every node replaced by its GE-side value."""
        if isinstance(arg, torch.fx.Node):
            values = [env[r] for r in self.graph.refs[arg.name]]
            return values[0] if len(values) == 1 else tuple(values)
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._resolve(a, env) for a in arg)
        if isinstance(arg, dict):
            return {k: self._resolve(v, env) for k, v in arg.items()}
        return arg

    def _compute(self, op, env, iteration):
        node = op.node
        args = self._resolve(node.args, env)
        kwargs = self._resolve(node.kwargs, env)
        if node.target._schema.is_mutable:  # GE operators never write their inputs
            args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
        with torch.no_grad():
            result = ge_call(node.target, args, kwargs)
        outs = flat_outputs(result)
        group = self.group_of.get(op.name)
        keep_fp32 = group is not None and group[-1] != op.name
        for k, out in enumerate(outs):
            if out.dtype.is_floating_point:
                value = out.detach().float().clone(memory_format=torch.contiguous_format)
                for p in self._specs_of[op.name]:
                    value = torch.from_numpy(p.apply(value.numpy(), seed_of(op.name, iteration, k)))
                env[(op.name, k)] = value if keep_fp32 else round_fp16(value)
            else:
                env[(op.name, k)] = to_ge(out)

    def _dump(self, op, env, folder):
        group = self.group_of.get(op.name)
        if group is None:
            members, op_type, name = [op], op.type, op.name
        else:
            members = [self.graph.by_name[m] for m in group]
            op_type, name = FUSED_TYPE, fused_name(group)
        inputs = []
        for member in members:
            for ref in member.inputs:
                if group is not None and ref[0] in group:
                    continue
                desc = self.graph.by_name[ref[0]].outputs[ref[1]]
                inputs.append(_to_numpy(env[ref], desc.dtype))
        outputs = [_to_numpy(env[(op.name, k)], d.dtype) for k, d in enumerate(op.outputs)]
        if self.nz and op_type in NZ_TYPES:
            inputs = [GeTensor(a, "FRACTAL_NZ") for a in inputs]
            outputs = [GeTensor(a, "FRACTAL_NZ") for a in outputs]
        stamp = self.clock.next_us()
        path = os.path.join(folder, dump_file_name(op_type, name, self._task[op.name], stamp))
        write_dump_file(path, name, inputs, outputs, dump_time=stamp)

    def run(self, inputs):
        """Runs iteration `self.iterations` on `inputs` (the placeholders' tensors), writing its
        folder; returns the graph outputs as float32 / integer tensors."""
        iteration = self.iterations
        folder = os.path.join(self.model_dir, str(iteration))
        os.makedirs(folder, exist_ok=True)
        env, result = {}, None
        for op in self.graph.ops:
            if op.kind == "data":
                env[(op.name, 0)] = to_ge(inputs[op.index])
            elif op.kind == "const":
                env[(op.name, 0)] = self._weight(op) if op.value is None else torch.from_numpy(op.value)
            elif op.kind == "compute":
                self._compute(op, env, iteration)
                group = self.group_of.get(op.name)
                if group is None or group[-1] == op.name:
                    self._dump(op, env, folder)
            else:
                result = [env[ref] for ref in op.inputs]
        self.iterations += 1
        return result
