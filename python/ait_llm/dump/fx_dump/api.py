"""The Python API: trace a model or callable with make_fx, then dump FX and GE runs of the traced
graph side by side.

    from ait_llm.dump import fx_dump
    model = fx_dump.load_model("tiny/")                       # HF causal LM, float32, eager attention
    gm = fx_dump.trace_causal_lm(model, torch.tensor([[1, 2, 3, 4, 5]]))
    inputs = fx_dump.step_inputs([1, 2, 3, 4, 5], steps=2, vocab_size=256)
    paths = fx_dump.dump(gm, inputs, "out", mode="all", perturb=["Mul_3=scale:2"])
    paths["fx"], paths["ge"], paths["ge_nofusion"]

or in one call: fx_dump.dump_model("tiny/", "out", input_ids=[1, 2, 3, 4, 5], steps=2).
"""
import dataclasses
import os

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from . import perturb as perturb_mod
from .clock import MicrosecondClock
from .fx_writer import FxDumper, is_aten_overload
from .ge_lowering import lower
from .ge_run import GeRun

MODES = ("all", "fx", "ge", "ge-nofusion")
FOLDERS = {"fx": "fx", "ge": "ge", "ge-nofusion": "ge_nofusion"}


def load_model(model_dir):
    """A Hugging Face causal LM from a local folder (config.json + weights): float32, eval mode,
    eager attention. Refuses checkpoints whose weights do not all match the model."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    model, info = AutoModelForCausalLM.from_pretrained(
        os.fspath(model_dir), torch_dtype=torch.float32, local_files_only=True,
        attn_implementation="eager", output_loading_info=True)
    bad = {k: v for k, v in info.items() if k != "error_msgs" and v}
    if bad or info.get("error_msgs"):
        raise ValueError(f"{model_dir}: the checkpoint does not match its model class: {info}")
    return model.eval()


def trace(fn, *example_inputs):
    """make_fx(fn)(*example_inputs) without autograd: a GraphModule of aten operators."""
    with torch.no_grad():
        return make_fx(fn)(*example_inputs)


def trace_causal_lm(model, input_ids):
    """The graph of one forward of `model` without KV cache, returning the logits."""
    return trace(lambda ids: model(input_ids=ids, use_cache=False).logits, input_ids)


def step_inputs(input_ids, steps, vocab_size):
    """The input of each step: step s feeds `(id + s) % vocab_size` for every id, shape
    [1, len(input_ids)]. Returns a list of 1-tuples of int64 tensors."""
    ids = torch.tensor([list(input_ids)], dtype=torch.int64)
    return [((ids + s) % vocab_size,) for s in range(steps)]


def is_aten_graph(gm):
    """True when every call_function of `gm` is an aten overload or operator.getitem."""
    import operator
    return all(n.op != "call_function" or is_aten_overload(n.target) or n.target is operator.getitem
               for n in gm.graph.nodes)


def check_output_folder(output, modes):
    """Raises ValueError when `output` is a file or a dump folder it would write is not empty
    (a second run into it would mix two runs' tokens)."""
    output = os.fspath(output)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"{output} is not a folder")
    for mode in modes:
        folder = os.path.join(output, FOLDERS[mode])
        if os.path.isdir(folder) and os.listdir(folder):
            raise ValueError(f"{folder} already holds a dump: choose another --output")
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise ValueError(f"{folder} is not a folder")


def modes_of(mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return ["fx", "ge", "ge-nofusion"] if mode == "all" else [mode]


@dataclasses.dataclass
class DumpSession:
    """The dumpers of one traced graph: `step(*inputs)` runs every selected dump once and
    returns the FX (float32) outputs. Build it with `open_session`."""
    gm: torch.fx.GraphModule
    graph: object
    fx: FxDumper = None
    ge: GeRun = None
    ge_nofusion: GeRun = None

    def step(self, *inputs):
        result = None
        for run in (self.ge, self.ge_nofusion):
            if run is not None:
                run.run(inputs)
        if self.fx is not None:
            result = self.fx.run(*inputs)
        if result is None:
            with torch.no_grad():
                result = torch.fx.Interpreter(self.gm).run(*inputs)
        return result

    def paths(self):
        """{"fx": OUT/fx, "ge": OUT/ge/dump_<ts>, "ge_nofusion": ...} for the dumps made."""
        out = {}
        if self.fx is not None:
            out["fx"] = self.fx.root
        if self.ge is not None:
            out["ge"] = self.ge.dump_dir
        if self.ge_nofusion is not None:
            out["ge_nofusion"] = self.ge_nofusion.dump_dir
        return out


def open_session(gm, example_inputs, output, mode="all", fx_layout="old", nz=False, perturb=()):
    """Lowers `gm` (with `example_inputs`, a tuple) and opens the dumps `mode` selects under
    `output`: fx -> output/fx, ge -> output/ge, ge-nofusion -> output/ge_nofusion.
    `perturb`: spec strings or perturb.Perturbation objects (GE runs only)."""
    modes = modes_of(mode)
    specs = [perturb_mod.parse(p) if isinstance(p, str) else p for p in perturb]
    graph = lower(gm, example_inputs)
    perturb_mod.check_matches(specs, [op.name for op in graph.compute_ops()])
    check_output_folder(output, modes)
    clock = MicrosecondClock()
    session = DumpSession(gm=gm, graph=graph)
    if "fx" in modes:
        session.fx = FxDumper(gm, os.path.join(output, "fx"), layout=fx_layout, clock=clock)
    if "ge" in modes:
        session.ge = GeRun(graph, gm, os.path.join(output, "ge"), fused=True, nz=nz, perturbations=specs,
                           clock=clock)
    if "ge-nofusion" in modes:
        session.ge_nofusion = GeRun(graph, gm, os.path.join(output, "ge_nofusion"), fused=False, nz=nz,
                                    perturbations=specs, clock=clock)
    return session


def dump(gm, inputs, output, mode="all", fx_layout="old", nz=False, perturb=()):
    """Runs `gm` once per entry of `inputs` (a list of argument tuples), dumping each run as
    `mode` selects (open_session). Returns the paths (DumpSession.paths)."""
    session = open_session(gm, inputs[0], output, mode, fx_layout, nz, perturb)
    for args in inputs:
        session.step(*args)
    return session.paths()


def dump_model(model_dir, output, input_ids=(1, 2, 3, 4, 5), steps=2, mode="all", fx_layout="old", nz=False,
               perturb=()):
    """load_model + trace_causal_lm + dump with step_inputs: what `python -m ait_llm.dump.fx_dump`
    does."""
    model = load_model(model_dir)
    inputs = step_inputs(input_ids, steps, model.config.vocab_size)
    gm = trace_causal_lm(model, inputs[0][0])
    return dump(gm, inputs, output, mode, fx_layout, nz, perturb)

