"""`python -m ait_llm.dump.fx_dump`: FX and GE-layout dumps of one traced model, without an NPU.

Traces a Hugging Face causal LM (forward without KV cache, returning the logits) with make_fx,
runs the graph --steps times and writes, under --output:
  fx/           the FX dump, float32: torchair's eager FX dumper layout (the golden)
  ge/           a GE dump computed in float16, with buffer fusion, and its graph text
  ge_nofusion/  the same GE run with every operator dumped on its own (fusion off)
Compare them with `ait llm compare`: ge vs fx (ge-fx), ge vs ge_nofusion (ge-fused).
"""
import argparse
import os
import sys

from ...common.cli_args import positive_int, token_ids
from . import api
from . import perturb as perturb_mod


def _perturb(text):
    try:
        return perturb_mod.parse(text)
    except perturb_mod.PerturbError as e:
        raise argparse.ArgumentTypeError(str(e))


def parser():
    p = argparse.ArgumentParser(
        prog="python -m ait_llm.dump.fx_dump", description=__doc__.split("\n\n")[0].split(": ", 1)[1],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="HF_DIR",
                   help="Hugging Face model folder (config.json + weights) of a causal LM, loaded in float32 with "
                        "eager attention")
    p.add_argument("--output", required=True, metavar="OUT",
                   help="folder to write fx/, ge/ and ge_nofusion/ into (made if missing; those subfolders must "
                        "not hold a dump yet)")
    p.add_argument("--input-ids", type=token_ids, default=[1, 2, 3, 4, 5], metavar="IDS",
                   help="comma-separated prompt token ids of step 0 (default 1,2,3,4,5); step s feeds "
                        "(id + s) %% vocab_size, same shape")
    p.add_argument("--steps", type=positive_int, default=2,
                   help="how many times the graph runs (default 2): FX steps 1..N (old layout) or 0..N-1 "
                        "(new layout), GE iterations 0..N-1")
    p.add_argument("--mode", choices=api.MODES, default="all",
                   help="which dumps to write: all (default), fx, ge (fused) or ge-nofusion")
    p.add_argument("--fx-layout", choices=("old", "new"), default="old",
                   help="old (default): fx/data_dump/<step>/gm_<ts>_dump/, steps from 1; new: "
                        "fx/data_dump/worldsize1_global_rank0/gm_<ts>_dump/<step>/, steps from 0")
    p.add_argument("--nz", action="store_true",
                   help="write MatMul and BatchMatMul inputs and outputs in FRACTAL_NZ (format 29)")
    p.add_argument("--perturb", type=_perturb, action="append", default=[], metavar="'PATTERN=KIND[:MAG]'",
                   help="plant a fault in the GE runs (fused and unfused; never the FX dump): change the outputs "
                        "of the GE operators whose name matches the glob PATTERN (e.g. 'Mul_3', 'MatMul*'). KIND: "
                        "noise[:0.1] (x + MAG*rms*N(0,1), seeded), scale[:2], bias[:1], zero, nan[:0.01], "
                        "inf[:0.01] (every round(1/MAG)-th element), fp16-saturate. Repeatable")
    return p


def main(argv=None):
    p = parser()
    a = p.parse_args(argv)
    if not os.path.isfile(os.path.join(a.model, "config.json")):
        p.error(f"argument --model: {a.model} is not a model folder (no config.json)")
    modes = api.modes_of(a.mode)
    try:
        api.check_output_folder(a.output, modes)
    except ValueError as e:
        p.error(f"argument --output: {e}")
    try:
        model = api.load_model(a.model)
    except (OSError, ValueError, KeyError) as e:
        p.error(f"argument --model: cannot load {a.model}: {e}")
    vocab = model.config.vocab_size
    if any(i >= vocab for i in a.input_ids):
        p.error(f"argument --input-ids: ids must be below the vocabulary size {vocab}, got "
                f"{','.join(map(str, a.input_ids))}")
    inputs = api.step_inputs(a.input_ids, a.steps, vocab)
    try:
        gm = api.trace_causal_lm(model, inputs[0][0])
    except (RuntimeError, TypeError, ValueError) as e:
        print(f"fx_dump: error: make_fx cannot trace {a.model}: {e}", file=sys.stderr)
        return 1
    try:
        session = api.open_session(gm, inputs[0], a.output, a.mode, a.fx_layout, a.nz, a.perturb)
    except perturb_mod.PerturbError as e:
        p.error(f"argument --perturb: {e}")
    graph = session.graph
    fused = f", {len(session.ge.groups)} fused" if session.ge else ""
    print(f"fx_dump: {len(graph.compute_ops())} aten nodes -> {len(graph.compute_ops())} GE operators "
          f"({len(graph.ops)} with Data/Const/NetOutput){fused}", file=sys.stderr)
    for spec in a.perturb:
        names = [op.name for op in graph.compute_ops() if spec.matches(op.name)]
        print(f"fx_dump: --perturb '{spec.spec}' changes {', '.join(names)}", file=sys.stderr)
    for args in inputs:
        session.step(*args)
    paths = session.paths()
    print("fx_dump: wrote " + "; ".join(f"{k.replace('_', '-')} dump in {v}" for k, v in paths.items()))
    return 0
