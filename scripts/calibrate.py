#!/usr/bin/env python3
"""Planted-fault calibration of the root-cause analysis (`make calibrate`, docs/ROOT_CAUSE.md).

Plants a fault with `ait-engine run --perturb OP=KIND:MAGNITUDE` at every operation of the tiny
preset (both layers, the embedding, the final norm, the lm head), dumps the run with
`ait llm dump`, and compares it with `ait llm compare` against three goldens:

  same-dtype   the unperturbed engine run in the same dtype
  vs-fp32      the unperturbed engine run in fp32 (my run in fp16)
  vs-hf        the Hugging Face fp32 golden dumped by ait_llm.register_hook (my run in fp16)

A case is a hit when the first root cause is the planted operation (or the kernel that wrote its
output), a miss when no root cause is named, and a false claim when another operation is named
first. Clean runs (no fault) in fp16, bf16, w8a16 and w8a8 are compared against both fp32
goldens; any root cause there is a false claim. The table goes to stdout (markdown) and, with
--write-docs, between the calibration markers of docs/ROOT_CAUSE.md.

  .venv/bin/python scripts/calibrate.py [--build build] [--magnitudes 0.01,0.05] [--kinds noise,scale]
"""
import argparse
import collections
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
PROMPT = "1,17,42,99,200"
LAYER_OPS = ["RmsNormOperation", "LinearOperation", "LinearOperation", "LinearOperation", "RopeOperation",
             "SelfAttentionOperation", "LinearOperation", "ElewiseOperation", "RmsNormOperation", "LinearOperation",
             "LinearOperation", "ActivationOperation", "ElewiseOperation", "LinearOperation", "ElewiseOperation"]
BEGIN, END = "<!-- calibration:begin -->", "<!-- calibration:end -->"


def operations(layers):
    ops = [("GatherOperation_0", "GatherOperation", "first")]
    for layer in range(1, layers + 1):
        where = "first" if layer == 1 else "last" if layer == layers else "middle"
        ops += [(f"{t}_{layer}_{i}", t, where) for i, t in enumerate(LAYER_OPS)]
    ops += [(f"RmsNormOperation_{layers + 1}", "RmsNormOperation", "last"),
            (f"LinearOperation_{layers + 2}", "LinearOperation", "last")]
    return ops


def fault(kind, magnitude):
    return {"noise": f"noise:{magnitude}", "scale": f"scale:{1 + magnitude}", "bias": f"bias:{magnitude}",
            "zero": "zero"}[kind]


class Runner:
    def __init__(self, build, work, model):
        self.ait, self.engine, self.work, self.model = build / "bin" / "ait", build / "bin" / "ait-engine", work, model

    def dump(self, name, *extra):
        out = self.work / name
        shutil.rmtree(out, ignore_errors=True)
        cmd = f"{self.engine} run --model {self.model} --input-ids {PROMPT} --max-new-tokens 2 " + " ".join(extra)
        subprocess.run([str(self.ait), "llm", "dump", "--type", "model", "layer", "tensor", "-er", "0,1", "-o", str(out),
                        "--exec", cmd], check=True, capture_output=True)
        return pathlib.Path(glob.glob(str(out / "ait_dump" / "tensors" / "0_*"))[0])

    def root_causes(self, golden, my):
        out = pathlib.Path(tempfile.mkdtemp(dir=self.work))
        subprocess.run([str(self.ait), "llm", "compare", "-gp", str(golden), "-mp", str(my), "-o", str(out), "-l",
                        "error"], check=True, capture_output=True)
        summary = json.loads(next(out.glob("*.json")).read_text())
        shutil.rmtree(out)
        return [c["operation"] for c in summary["root_causes"]], summary["thresholds"].get("noise_floor", "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--magnitudes", default="0.01,0.05")
    ap.add_argument("--kinds", default="noise,scale")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write-docs", action="store_true", help="replace the table in docs/ROOT_CAUSE.md")
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    magnitudes = [float(m) for m in args.magnitudes.split(",")]
    kinds = args.kinds.split(",")
    started = time.time()
    work = pathlib.Path(tempfile.mkdtemp(prefix="ait-calibrate-"))
    try:
        model = work / "model"
        py = sys.executable
        env = {**os.environ, "PYTHONPATH": str(build / "python")}
        hf_llama = str(REPO / "python" / "golden" / "hf_llama.py")
        subprocess.run([py, hf_llama, "init", "--preset", "tiny", "--seed", str(args.seed), "--out", str(model)],
                       check=True, capture_output=True)
        subprocess.run([py, hf_llama, "run", "--model", str(model), "--input-ids", PROMPT, "--max-new-tokens", "2",
                        "--dump-path", str(work / "hf"), "--token-range", "0,1"], check=True, capture_output=True, env=env)
        layers = json.loads((model / "config.json").read_text())["num_hidden_layers"]
        run = Runner(build, work, model)
        goldens = {"fp16": run.dump("g16", "--dtype", "fp16"), "fp32": run.dump("g32", "--dtype", "fp32"),
                   "hf": pathlib.Path(glob.glob(str(work / "hf" / "ait_dump" / "torch_tensors" / "cpu_*"))[0])}
        # (pair kind, type, magnitude) -> [hits, misses, false claims]
        cells = collections.defaultdict(lambda: [0, 0, 0])
        smallest = {}
        for op, op_type, where in operations(layers):
            for kind in kinds:
                for magnitude in magnitudes:
                    my = run.dump("my", "--dtype", "fp16", "--perturb", f"{op}={fault(kind, magnitude)}")
                    for pair, golden in (("same-dtype", goldens["fp16"]), ("vs-fp32", goldens["fp32"]),
                                         ("vs-hf", goldens["hf"])):
                        causes, _ = run.root_causes(golden, my)
                        outcome = 0 if causes[:1] == [op] else 1 if not causes else 2
                        cells[(pair, op_type, kind, magnitude)][outcome] += 1
                        if outcome == 0:
                            key = (pair, op_type)
                            smallest[key] = min(smallest.get(key, magnitude), magnitude)
        clean = []
        for name, extra in (("fp16", ["--dtype", "fp16"]), ("bf16", ["--dtype", "bf16"]),
                            ("w8a16", ["--quant", "w8a16"]), ("w8a8", ["--quant", "w8a8"])):
            my = run.dump("clean", *extra)
            for gname in ("fp32", "hf"):
                causes, floor = run.root_causes(goldens[gname], my)
                clean.append((name, gname, causes, floor))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [f"Tiny preset ({layers} layers), checkpoint seed {args.seed}, faults in an fp16 run; "
             f"{time.time() - started:.0f} s on this machine. Cells: hits / misses / false claims.", "",
             "| pair | operation type | " + " | ".join(f"{k} {m:g}" for k in kinds for m in magnitudes) +
             " | smallest magnitude found |", "| --- | --- | " + " | ".join("---" for _ in kinds for _ in magnitudes) +
             " | --- |"]
    totals = collections.defaultdict(lambda: [0, 0, 0])
    for pair in ("same-dtype", "vs-fp32", "vs-hf"):
        for op_type in sorted({t for _, t, _ in operations(layers)}):
            row = []
            for kind in kinds:
                for magnitude in magnitudes:
                    h, m, f = cells[(pair, op_type, kind, magnitude)]
                    row.append(f"{h}/{m}/{f}")
                    for i, v in enumerate((h, m, f)):
                        totals[(pair, kind, magnitude)][i] += v
            found = smallest.get((pair, op_type))
            lines.append(f"| {pair} | {op_type} | " + " | ".join(row) + f" | {found:g} |" if found is not None else
                         f"| {pair} | {op_type} | " + " | ".join(row) + " | — |")
    lines += ["", "| pair | " + " | ".join(f"{k} {m:g}" for k in kinds for m in magnitudes) + " |",
              "| --- | " + " | ".join("---" for _ in kinds for _ in magnitudes) + " |"]
    for pair in ("same-dtype", "vs-fp32", "vs-hf"):
        cols = []
        for kind in kinds:
            for magnitude in magnitudes:
                h, m, f = totals[(pair, kind, magnitude)]
                cols.append(f"{h}/{h + m + f} named first ({100 * h / max(1, h + m + f):.0f} %)")
        lines.append(f"| {pair} | " + " | ".join(cols) + " |")
    lines += ["", "Clean runs (no fault): " + "; ".join(
        f"{n} vs {g}: {'no root cause' if not c else 'FALSE CLAIM ' + ', '.join(c)} (floor {fl})"
        for n, g, c, fl in clean) + "."]
    table = "\n".join(lines)
    print(table)
    if args.write_docs:
        doc = REPO / "docs" / "ROOT_CAUSE.md"
        text = doc.read_text()
        if BEGIN not in text or END not in text:
            sys.exit(f"{doc}: the markers {BEGIN} / {END} are missing")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
        print(f"written to {doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
