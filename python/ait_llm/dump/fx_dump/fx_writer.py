"""The FX dump (the golden): torchair's eager FX dumper, re-done with a torch.fx Interpreter
(FORMATS.md 9.4).

For every `call_function` node whose target is an aten OpOverload, one run writes
  <node.name>-<target>.INPUT.<i>.<ts>.npy      positional argument i (a tensor, a number, a bool,
                                               or a list of numbers, saved as np.array(arg))
  <node.name>-<target>.INPUT.<i>.<j>.<ts>.npy  tensor j of a list-of-tensors argument i
  <node.name>-<target>.OUTPUT.<i>.<ts>.npy     output i (tensors only)
`<target>` is str(overload) (`aten.mm.default`), `<ts>` a 20-digit UTC `%Y%m%d%H%M%S%f`, one per node
call, strictly increasing. Other arguments (None, dtypes, devices, memory formats, keyword
arguments) are not saved; nor are nodes whose target is not an aten overload (operator.getitem).
Inputs are saved before the node runs, so an in-place node (`mul_`) shows its input unchanged.
Tensors are saved as `tensor.detach().cpu().numpy()`, bfloat16 as float32.

Folder layouts (`layout`):
  "old" (default): <root>/data_dump/<step>/gm_<ts>_dump/, step = 1, 2, ... (older torchair);
  "new": <root>/data_dump/worldsize1_global_rank0/gm_<ts>_dump/<step>/, step = 0, 1, ...
One `gm_<ts>_dump` stamp per traced graph, the same in every step.
"""
import numbers
import os

import numpy as np
import torch
import torch.fx

from .clock import MicrosecondClock

LAYOUTS = ("old", "new")


def is_aten_overload(target):
    return isinstance(target, torch._ops.OpOverload)


def is_number(value):
    return isinstance(value, (bool, numbers.Number)) and not isinstance(value, complex)


def number_list(value):
    """A list/tuple made of numbers and bools only (possibly empty)."""
    return isinstance(value, (list, tuple)) and all(is_number(v) for v in value)


def number_array(value):
    """np.array(value) of a number or a number list; an empty list is an empty int64 array
    (a shape list, as GE's Const of it)."""
    if isinstance(value, (list, tuple)) and not value:
        return np.zeros(0, np.int64)
    return np.array(value)


def tensor_to_numpy(t):
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()


def flat_outputs(value):
    """The tensors a node returned, in order: a tensor, or the tensors of a tuple/list."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def fx_key(node):
    """`<node.name>-<target>`: the name the compare groups a node's files under."""
    return f"{node.name}-{node.target}"


def step_dir(root, layout, gm_stamp, step):
    if layout == "old":
        return os.path.join(root, "data_dump", str(step), f"gm_{gm_stamp}_dump")
    if layout == "new":
        return os.path.join(root, "data_dump", "worldsize1_global_rank0", f"gm_{gm_stamp}_dump", str(step))
    raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")


class _DumpingInterpreter(torch.fx.Interpreter):
    def __init__(self, gm, folder, clock):
        super().__init__(gm)
        self.folder = folder
        self.clock = clock

    def _save(self, name, array):
        np.save(os.path.join(self.folder, name), array)

    def run_node(self, n):
        if n.op != "call_function" or not is_aten_overload(n.target):
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        stamp = self.clock.next_utc20()
        key = fx_key(n)
        for i, arg in enumerate(args):
            if isinstance(arg, torch.Tensor):
                self._save(f"{key}.INPUT.{i}.{stamp}.npy", tensor_to_numpy(arg))
            elif is_number(arg) or number_list(arg):
                self._save(f"{key}.INPUT.{i}.{stamp}.npy", number_array(arg))
            elif isinstance(arg, (list, tuple)):
                for j, item in enumerate(arg):
                    if isinstance(item, torch.Tensor):
                        self._save(f"{key}.INPUT.{i}.{j}.{stamp}.npy", tensor_to_numpy(item))
        result = n.target(*args, **kwargs)
        for i, out in enumerate(flat_outputs(result)):
            self._save(f"{key}.OUTPUT.{i}.{stamp}.npy", tensor_to_numpy(out))
        return result


class FxDumper:
    """Runs a traced GraphModule step by step, writing the FX dump of each run under `root`.

    dumper = FxDumper(gm, "out/fx"); out = dumper.run(ids)  # step 1 (old layout) or 0 (new)
    """

    def __init__(self, gm, root, layout="old", clock=None):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self.gm = gm
        self.root = os.fspath(root)
        self.layout = layout
        self.clock = clock or MicrosecondClock()
        self.gm_stamp = self.clock.next_utc20()
        self.runs = 0
        self.folders = []

    @property
    def next_step(self):
        return self.runs + (1 if self.layout == "old" else 0)

    def run(self, *inputs):
        folder = step_dir(self.root, self.layout, self.gm_stamp, self.next_step)
        os.makedirs(folder, exist_ok=True)
        with torch.no_grad():
            result = _DumpingInterpreter(self.gm, folder, self.clock).run(*inputs)
        self.runs += 1
        self.folders.append(folder)
        return result
