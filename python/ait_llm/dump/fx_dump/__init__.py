"""FX and GE-layout dumps of one traced graph, without an NPU: the stand-in for torchair's FX
dumper and for a GE run with dumping on (docs/TORCHAIR.md, FORMATS.md 9).

    python -m ait_llm.dump.fx_dump --model HF_DIR --output OUT [--steps 2] [--mode all] ...

    from ait_llm.dump import fx_dump
    paths = fx_dump.dump_model("tiny/", "out", input_ids=[1, 2, 3, 4, 5], steps=2)

Modules: api (trace, dump, dump_model, open_session), fx_writer (the FX .npy dump), ge_lowering
(aten -> GE operators, names, buffer fusion), ge_run (float16 execution, GE dump folders),
ge_writer (one GE dump file), graph_text (dynamo_original_graph_*.txt), layouts (FRACTAL_NZ,
NC1HWC0), perturb (fault injection), backend (torch.compile backend), cli.
"""
from .api import (MODES, DumpSession, dump, dump_model, load_model, open_session, step_inputs, trace,
                  trace_causal_lm)
from .backend import backend
from .fx_writer import FxDumper
from .ge_lowering import fusion_groups, lower
from .ge_run import GeRun, round_fp16
from .ge_writer import GeTensor, write_dump_file
from .layouts import fractal_nz_to_nd, nc1hwc0_to_nchw, nchw_to_nc1hwc0, nd_to_fractal_nz

__all__ = ["MODES", "DumpSession", "FxDumper", "GeRun", "GeTensor", "backend", "dump", "dump_model", "fractal_nz_to_nd",
           "fusion_groups", "load_model", "lower", "nc1hwc0_to_nchw", "nchw_to_nc1hwc0", "nd_to_fractal_nz",
           "open_session", "round_fp16", "step_inputs", "trace", "trace_causal_lm", "write_dump_file"]
