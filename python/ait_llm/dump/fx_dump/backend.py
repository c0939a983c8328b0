"""A torch.compile backend that dumps like torchair would, without an NPU (design sketch):

    import torch
    from ait_llm.dump import fx_dump
    model = torch.compile(model, backend=fx_dump.backend(output="out", mode="all"))
    model(input_ids=ids)   # every call is one step of the FX dump and one GE iteration

`backend(...)` returns a `(gm, example_inputs) -> callable` compiler. The callable, on its first
call, takes `gm` as it is when it already holds only aten operators (a make_fx graph), else
re-traces it with make_fx on the real arguments of that call; then it opens the dumps
(api.open_session) and, on every call, runs one step of each and returns the FX (float32)
result, the value `gm` itself computes.

How far it goes: tested here (torch 1.13, no torch.compile) by calling the compiler directly on
a make_fx GraphModule. Under torch 2.x, dynamo hands a graph of torch-level calls; the re-trace
on the first call lowers it to aten. Each compiled graph (a graph break makes several) gets
its own `output` subfolder `graph_<n>`; a later call with other input shapes raises ValueError
(dynamic shapes are not supported: compile with dynamic=False).
"""
import itertools
import os

import torch

from .api import is_aten_graph, open_session, trace


def backend(output, mode="all", fx_layout="old", nz=False, perturb=()):
    """A torch.compile backend dumping every call under `output` (module docstring)."""
    counter = itertools.count(1)

    def compile_graph(gm, example_inputs):
        folder = os.path.join(os.fspath(output), f"graph_{next(counter)}")
        state = {}

        def run(*args):
            shapes = [tuple(a.shape) if isinstance(a, torch.Tensor) else a for a in args]
            if "session" not in state:
                aten_gm = gm if is_aten_graph(gm) else trace(gm, *args)
                state["shapes"] = shapes
                state["session"] = open_session(aten_gm, args, folder, mode, fx_layout, nz, perturb)
            elif shapes != state["shapes"]:
                raise ValueError(f"fx_dump backend: inputs {shapes} differ from the first call's {state['shapes']} "
                                 f"(dynamic shapes are not supported)")
            return state["session"].step(*args)

        run.dump_folder = folder
        return run

    return compile_graph
