#!/usr/bin/env python3
"""Planted-fault calibration of the root-cause analysis (`make calibrate`, docs/ROOT_CAUSE.md).

Plants faults with `ait-engine run --perturb OP=KIND:MAG` in the reference engine, dumps each
faulty run with `ait llm dump`, compares it with `ait llm compare` against clean goldens, and
counts whether the planted operation is named as the first root cause:

  hit          the first root cause is the planted operation (or the kernel that wrote its output;
               where the golden has no counterpart of it, as ATB's Rope against a torch dump,
               the layer that holds it, with the planted operation in the gap it names)
  miss         no root cause is named
  false claim  another operation is named first

Faults: every operation of the first, middle and last decoder layer, the layers themselves, the
embedding, the final norm and the lm head (--ops all; --ops types keeps one operation of each
type per layer; --ops NAME,NAME names them). Kinds, all of relative size MAG (relative L2 error
MAG on the faulty output): noise (noise:MAG, Gaussian of MAG x the output's rms), scale
(scale:1+MAG), bias (bias:MAG x the output's rms in the clean fp32 run) and zero (no magnitude).

Pair kinds (the faulty run's dtype in brackets):

  same-dtype    [fp32 fp16 bf16]  vs the clean engine run in the same dtype
  cross-dtype   [fp16 bf16]       vs the clean engine run in fp32
  vs-hf         [fp16 bf16]       vs the Hugging Face fp32 golden (python/golden/hf_llama.py)
  vs-fp32+peer  [fp16]            vs the engine fp32 run, --peer-path the clean engine fp16 run
  vs-hf+peer    [fp16 bf16]       vs the HF fp32 golden, --peer-path the HF run in the faulty run's
                                  dtype (fp16 on CPU: python/golden/half_on_cpu.py)

The peer kinds need `ait llm compare --peer-path`; a binary without it reports them as not
available. Clean runs (no fault: fp16, bf16, w8a16, w8a8) are compared against the engine fp32
run and the HF fp32 golden over --clean-seeds checkpoint seeds: any root cause there is a false
claim, and every compare must list contributors.

Grids: --grid default (what `make calibrate` runs: the tiny preset with one operation of each
type per layer, every kind, magnitude and dtype, 3 clean seeds, and the small preset's noise 5 %
in bf16 runs; ~10 minutes on 2 cores), --grid quick (tests/python/test_calibration.py's reduced
suite, ~15 s), --grid full (every operation of both presets' first, middle and last layers,
every kind, magnitude and dtype, seeds 7 and 8, 10 clean seeds: many hours). --quick and --full
are short for the last two; the other options override the grid's values for every preset (a
preset the grid lacks gets the last one's). Dumps go to /dev/shm when it has room. The table goes to stdout (markdown); --write-docs puts it between the calibration
markers of docs/ROOT_CAUSE.md; --json FILE writes the raw outcome counts. Progress on stderr.

  .venv/bin/python scripts/calibrate.py [--build build] [--grid default|quick|full] [--presets tiny,small]
      [--seeds 7,8] [--kinds noise,scale,bias,zero] [--magnitudes 0.005,0.05] [--dtypes fp32,fp16,bf16]
      [--pairs same-dtype,vs-hf] [--ops all|types|NAME,...] [--clean-seeds 10] [--workers 2]
      [--json FILE] [--write-docs]
"""
import argparse
import collections
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
HF_LLAMA = REPO / "python" / "golden" / "hf_llama.py"
DOC = REPO / "docs" / "ROOT_CAUSE.md"
BEGIN, END = "<!-- calibration:begin -->", "<!-- calibration:end -->"
PROMPT = "1,17,42,99,200"
NEW_TOKENS = 2
TOKEN_RANGE = "0,1"

KINDS = ("noise", "scale", "bias", "zero")
MAGNITUDES = (0.005, 0.01, 0.02, 0.05, 0.2, 1.0)
DTYPES = ("fp32", "fp16", "bf16")
# pair kind -> (dtypes of the faulty run, golden, peer); goldens and peers: ("engine", dtype) or
# ("hf", dtype), where dtype None is the faulty run's
PAIRS = {
    "same-dtype": (("fp32", "fp16", "bf16"), ("engine", None), None),
    "cross-dtype": (("fp16", "bf16"), ("engine", "fp32"), None),
    "vs-hf": (("fp16", "bf16"), ("hf", "fp32"), None),
    "vs-fp32+peer": (("fp16",), ("engine", "fp32"), ("engine", "fp16")),
    "vs-hf+peer": (("fp16", "bf16"), ("hf", "fp32"), ("hf", None)),
}
PEER_PAIRS = tuple(p for p, (_, _, peer) in PAIRS.items() if peer)
# clean run name -> ait-engine run flags
CLEAN_RUNS = {"fp16": ("--dtype", "fp16"), "bf16": ("--dtype", "bf16"), "w8a16": ("--quant", "w8a16"),
              "w8a8": ("--quant", "w8a8")}
# golden name -> (golden, peer): the peer, in the clean run's dtype, only for fp16/bf16 runs
CLEAN_GOLDENS = {"engine fp32": (("engine", "fp32"), None), "HF fp32": (("hf", "fp32"), None),
                 "HF fp32 + HF peer": (("hf", "fp32"), ("hf", None))}
# The quick grid's faults (tiny preset): different types, both layers, a top-level operation.
QUICK_OPS = ("LinearOperation_1_2", "SelfAttentionOperation_1_5", "ElewiseOperation_1_7", "ActivationOperation_2_11",
             "LinearOperation_2_13", "RmsNormOperation_3")


@dataclasses.dataclass
class Suite:
    """One preset's part of a grid: faults planted on `seeds`, clean runs on `clean_seeds`
    checkpoint seeds (the first of them are `seeds`)."""
    preset: str
    seeds: list
    ops: str  # all | types | NAME,NAME,...
    kinds: list
    magnitudes: list
    dtypes: list
    pairs: list
    clean_seeds: int
    clean_runs: list = dataclasses.field(default_factory=lambda: list(CLEAN_RUNS))


GRIDS = {
    "quick": [Suite("tiny", [7], ",".join(QUICK_OPS), ["noise", "scale"], [0.05], ["fp16"],
                    ["same-dtype", "cross-dtype", "vs-hf"], 1, ["fp16", "bf16"]),
              Suite("tiny", [7], ",".join(QUICK_OPS), ["noise"], [0.02], ["fp16"], ["vs-fp32+peer", "vs-hf+peer"], 0,
                    [])],
    "default": [Suite("tiny", [7], "types", list(KINDS), list(MAGNITUDES), list(DTYPES), list(PAIRS), 3),
                Suite("small", [7], "types", ["noise"], [0.05], ["bf16"], list(PAIRS), 1)],
    "full": [Suite("tiny", [7, 8], "all", list(KINDS), list(MAGNITUDES), list(DTYPES), list(PAIRS), 10),
             Suite("small", [7, 8], "all", list(KINDS), list(MAGNITUDES), list(DTYPES), list(PAIRS), 10)],
}


def fault_spec(kind, magnitude, rms=1.0):
    """The --perturb KIND[:MAG] of a fault of relative size `magnitude` (bias: x `rms`)."""
    if kind == "zero":
        return "zero"
    if kind == "noise":
        return f"noise:{magnitude:g}"
    if kind == "scale":
        return f"scale:{1 + magnitude:g}"
    if kind == "bias":
        return f"bias:{magnitude * rms:.6g}"
    raise ValueError(f"unknown fault kind {kind!r} (have: {', '.join(KINDS)})")


def outcome(causes, planted, parent=None, paired=True, gap=()):
    """0 hit, 1 miss, 2 false claim, from the summary's root causes (most likely first). Where
    the golden has no counterpart of the planted operation (`paired` false: the ATB-only
    operations of an ATB vs torch compare, Rope, SelfAttention, the Elewise adds and mul), the
    hit is the graph that holds it (`parent`, its layer) with the planted operation among those
    its gap names (`gap`: the first root cause's operations between the last clean and the first
    off tensor)."""
    if not causes:
        return 1
    return 0 if causes[0] == planted or (not paired and parent is not None and causes[0] == parent and
                                         planted in gap) else 2


def first_gap(summary):
    """The names of my operations in the first root cause's gap (ErrorGap), if it has one."""
    causes = summary.get("root_causes") or [{}]
    return [b["my_name"] for b in (causes[0].get("gap") or {}).get("between", [])]


def paired_operations(summary):
    """The operations of my dump that the compare paired with a golden one."""
    return {o["my_name"].split(":")[0] for o in summary.get("operations", []) if o.get("golden_name")}


def pair_dtypes(pair, dtypes):
    return [d for d in PAIRS[pair][0] if d in dtypes]


def layer_position(layer, layers):
    return "first" if layer == 1 else "last" if layer == layers else "middle"


def model_operations(model_json, ops, layers_wanted=None):
    """[(name, type, position, parent graph or None)] of the plantable operations named by the topology JSON of a
    clean engine dump: `all` = every top-level operation, and every operation of the first,
    middle and last layer plus those layers; `types` = one of each type per such layer (the
    k-th instance of its type in the k-th layer chosen), the middle layer, the top-level ones;
    else a comma-separated list of names."""
    top = json.loads(pathlib.Path(model_json).read_text())["nodes"]
    layer_nodes = [n for n in top if n.get("nodes")]
    layers = len(layer_nodes)
    chosen = sorted({1, (layers + 1) // 2, layers}) if layers_wanted is None else layers_wanted
    found = []
    for i, node in enumerate(top):
        name, op_type = node["opName"], node["opType"]
        if not node.get("nodes"):
            found.append((name, op_type, "first" if i == 0 else "last", None))
            continue
        layer = layer_nodes.index(node) + 1
        if layer not in chosen:
            continue
        where = layer_position(layer, layers)
        children = [(c["opName"], c["opType"], where, name) for c in node["nodes"]]
        if ops == "types":
            k = chosen.index(layer)
            by_type = collections.OrderedDict()
            for child in children:
                by_type.setdefault(child[1], []).append(child)
            found += [group[k % len(group)] for group in by_type.values()]
            if layer == chosen[len(chosen) // 2]:
                found.append((name, op_type, where, None))
        else:
            found += children + [(name, op_type, where, None)]
    if ops in ("all", "types"):
        return found
    every = {op[0]: op for op in model_operations(model_json, "all", list(range(1, layers + 1)))}
    wanted = [n for n in ops.split(",") if n]
    unknown = [n for n in wanted if n not in every]
    if unknown:
        raise SystemExit(f"--ops: {', '.join(unknown)} not in the model (e.g. {', '.join(list(every)[:4])})")
    return [every[n] for n in wanted]


class Progress:
    """Counts finished tasks and prints a line to stderr at most every few seconds."""

    def __init__(self, started):
        self.started, self.lock, self.done, self.total, self.last = started, threading.Lock(), 0, 0, 0.0

    def phase(self, what, total):
        with self.lock:
            self.done, self.total, self.last = 0, total, 0.0
            self.say(f"{what}: {total} tasks")

    def say(self, text):
        print(f"[calibrate {time.time() - self.started:6.0f} s] {text}", file=sys.stderr, flush=True)

    def step(self, text):
        with self.lock:
            self.done += 1
            now = time.time()
            if now - self.last >= 5 or self.done == self.total:
                self.last = now
                self.say(f"{self.done}/{self.total} {text}")


class Runner:
    """Runs the built programs of one build folder (its bin/, lib/, python/)."""

    def __init__(self, build, work, workers):
        self.build, self.work = pathlib.Path(build).resolve(), pathlib.Path(work)
        self.ait, self.engine = self.build / "bin" / "ait", self.build / "bin" / "ait-engine"
        for program in (self.ait, self.engine):
            if not program.exists():
                raise SystemExit(f"{program} is missing: run 'make build' first (or pass --build)")
        lib = str(self.build / "lib")  # the engine's RUNPATH names the build it was linked in
        self.env = {**os.environ, "PYTHONPATH": str(self.build / "python"),
                    "LD_LIBRARY_PATH": lib + (":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get(
                        "LD_LIBRARY_PATH") else "")}
        if workers > 1:  # one thread per process: the workers share the cores
            self.env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.threads = 1 if workers > 1 else 0
        self.counter = 0
        self.lock = threading.Lock()
        help_text = self.call([self.ait, "llm", "compare", "--help"]).stdout
        self.has_peer = "--peer-path" in help_text
        hf_help = self.call([sys.executable, HF_LLAMA, "init", "--help"]).stdout
        m = re.search(r"--preset \{([^}]*)\}", hf_help)
        self.hf_presets = set(m.group(1).split(",")) if m else {"tiny"}

    def call(self, cmd, timeout=1800):
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=self.env, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {r.returncode}\n{r.stderr[-3000:]}")
        return r

    def fresh(self, prefix):
        with self.lock:
            self.counter += 1
            return self.work / f"{prefix}-{self.counter}"

    def init_checkpoint(self, preset, seed):
        out = self.work / f"model-{preset}-{seed}"
        if preset in self.hf_presets:  # transformers' own initialisation (save_pretrained)
            self.call([sys.executable, HF_LLAMA, "init", "--preset", preset, "--seed", seed, "--out", out])
        else:  # the engine's writer of the same Hugging Face layout
            self.call([self.engine, "init", "--preset", preset, "--seed", seed, "--out", out])
        return out

    def engine_dump(self, model, *flags, out=None):
        out = out or self.fresh("dump")
        shutil.rmtree(out, ignore_errors=True)
        run = (f"{self.engine} run --model {model} --input-ids {PROMPT} --max-new-tokens {NEW_TOKENS} "
               f"--threads {self.threads} " + " ".join(flags))
        self.call([self.ait, "llm", "dump", "--type", "model", "layer", "tensor", "-er", TOKEN_RANGE, "-o", out,
                   "--exec", run])
        return out, next((out / "ait_dump" / "tensors").glob("0_*"))

    def hf_dump(self, model, dtype, out):
        shutil.rmtree(out, ignore_errors=True)
        self.call([sys.executable, HF_LLAMA, "run", "--model", model, "--input-ids", PROMPT, "--max-new-tokens",
                   NEW_TOKENS, "--dtype", dtype, "--dump-path", out, "--token-range", TOKEN_RANGE])
        return out, next((out / "ait_dump" / "torch_tensors").glob("cpu_*"))

    def compare(self, golden, my, peer=None):
        """The summary JSON of `ait llm compare` (its reports deleted)."""
        out = self.fresh("cmp")
        cmd = [self.ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out, "-l", "error", "-t", self.threads]
        if peer is not None:
            cmd += ["--peer-path", peer]
        try:
            self.call(cmd)
            return json.loads(next(out.glob("ait_cmp_summary_*.json")).read_text())
        finally:
            shutil.rmtree(out, ignore_errors=True)


def first_causes(summary):
    return [c.get("operation") or c["my_name"].split(":")[0] for c in summary.get("root_causes", [])]


def output_rms(token0, name, op_type):
    """rms of the first output of operation `name` in a clean dump's token-0 folder (for bias)."""
    import numpy as np
    from ait_llm.tensor_io import read_tensor
    folder = token0
    for part in name[len(op_type) + 1:].split("_"):
        folder = next(folder.glob(f"{part}_*"))
    values = np.asarray(read_tensor(folder / "after" / "outtensor0.bin"), dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.sqrt(np.mean(values * values))) if values.size else 1.0


def default_work_dir(suites):
    """/dev/shm when it has room (the dumps are written and read once each: a disk makes the
    suite I/O-bound), else the system's temporary folder."""
    need = (8 if any(s.preset != "tiny" for s in suites) else 1) << 30
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= need and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


def run_grid(suites, build, workers=2, work_dir=None, progress=True):
    """Runs the suites; returns the raw results (a dict, as --json writes it)."""
    started = time.time()
    say = Progress(started)
    if not progress:
        say.say = lambda text: None
    work = pathlib.Path(tempfile.mkdtemp(prefix="ait-calibrate-", dir=work_dir or default_work_dir(suites)))
    phases = {}
    try:
        run = Runner(build, work, workers)
        if build is not None and str(pathlib.Path(build).resolve() / "python") not in sys.path:
            sys.path.insert(0, str(pathlib.Path(build).resolve() / "python"))
        pairs_wanted = {p for s in suites for p in s.pairs}
        skipped = sorted(p for p in pairs_wanted if p in PEER_PAIRS and not run.has_peer)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            def parallel(what, jobs):
                t0 = time.time()
                say.phase(what, len(jobs))

                def one(job):
                    label, fn = job
                    value = fn()
                    say.step(label)
                    return value
                futures = [pool.submit(one, job) for job in jobs]
                try:
                    values = [f.result() for f in futures]
                except BaseException:  # a failed task or an interrupt: run nothing more
                    for f in futures:
                        f.cancel()
                    raise
                phases[what] = round(time.time() - t0, 1)
                return values

            # 1. checkpoints, one per (preset, seed) that faults or clean runs need
            models = {}
            for s in suites:
                for seed in sorted(set(s.seeds) | set(range(s.seeds[0], s.seeds[0] + s.clean_seeds))):
                    models.setdefault((s.preset, seed), None)
            paths = parallel("checkpoints", [(f"{p} seed {seed}", lambda p=p, seed=seed: run.init_checkpoint(p, seed))
                                             for p, seed in models])
            models = dict(zip(models, paths))

            # 2. clean goldens, reused by every fault and clean run of their checkpoint
            need = collections.defaultdict(set)
            for s in suites:
                for seed in s.seeds:
                    for pair in s.pairs:
                        if pair in skipped:
                            continue
                        dtypes, golden, peer = PAIRS[pair]
                        for d in pair_dtypes(pair, s.dtypes):
                            need[(s.preset, seed)].add((golden[0], golden[1] or d))
                            if peer:
                                need[(s.preset, seed)].add((peer[0], peer[1] or d))
                    need[(s.preset, seed)].add(("engine", "fp32"))  # operation list and bias scale
                for seed in range(s.seeds[0], s.seeds[0] + s.clean_seeds):
                    for golden, peer in CLEAN_GOLDENS.values():
                        need[(s.preset, seed)].add(golden)
                        for name in s.clean_runs:
                            if peer and name in DTYPES and run.has_peer:
                                need[(s.preset, seed)].add((peer[0], peer[1] or name))
            jobs = []
            for key, wanted in need.items():
                for side, dtype in sorted(wanted):
                    out = work / f"golden-{key[0]}-{key[1]}-{side}-{dtype}"
                    fn = ((lambda m=models[key], d=dtype, o=out: run.engine_dump(m, "--dtype", d, out=o)[1])
                          if side == "engine" else (lambda m=models[key], d=dtype, o=out: run.hf_dump(m, d, o)[1]))
                    jobs.append((f"{key[0]} seed {key[1]} {side} {dtype}", fn))
            goldens = {}
            for (label, _), path in zip(jobs, parallel("goldens", jobs)):
                preset, _, seed, side, dtype = label.split()
                goldens[(preset, int(seed), side, dtype)] = path

            # 3. planted faults: one dump per (operation, kind, magnitude, dtype), compared with each pair kind
            cases = []
            for s in suites:
                for seed in s.seeds:
                    fp32 = goldens[(s.preset, seed, "engine", "fp32")]
                    model_json = next((fp32.parents[1] / "model").glob("*/*.json"))
                    token0 = fp32 / "0"
                    for name, op_type, where, parent in model_operations(model_json, s.ops):
                        rms = output_rms(token0, name, op_type) if "bias" in s.kinds else 1.0
                        for kind in s.kinds:
                            for magnitude in ([None] if kind == "zero" else s.magnitudes):
                                for dtype in s.dtypes:
                                    pairs = [p for p in s.pairs if p not in skipped and dtype in PAIRS[p][0]]
                                    if pairs:
                                        cases.append(dict(preset=s.preset, seed=seed, op=name, op_type=op_type,
                                                          position=where, parent=parent, kind=kind,
                                                          magnitude=magnitude,
                                                          dtype=dtype, pairs=pairs,
                                                          spec=fault_spec(kind, magnitude or 0, rms)))

            def plant(case):
                key = (case["preset"], case["seed"])
                out, my = run.engine_dump(models[key], "--dtype", case["dtype"], "--perturb",
                                          f"{case['op']}={case['spec']}")
                results = []
                try:
                    for pair in case["pairs"]:
                        _, golden, peer = PAIRS[pair]
                        g = goldens[key + (golden[0], golden[1] or case["dtype"])]
                        p = goldens[key + (peer[0], peer[1] or case["dtype"])] if peer else None
                        summary = run.compare(g, my, p)
                        causes = first_causes(summary)
                        paired = case["op"] in paired_operations(summary)
                        results.append(dict(pair=pair, outcome=outcome(causes, case["op"], case["parent"], paired,
                                                                       first_gap(summary)),
                                            paired=paired, causes=causes[:3],
                                            thresholds=summary.get("thresholds", {})))
                finally:
                    shutil.rmtree(out, ignore_errors=True)
                return results

            planted = parallel("planted faults", [
                (f"{c['preset']} s{c['seed']} {c['dtype']} {c['op']}={c['spec']}", lambda c=c: plant(c)) for c in cases])
            for case, results in zip(cases, planted):
                case["results"] = results

            # 4. clean runs against the fp32 goldens
            clean_jobs = []
            for s in suites:
                for seed in range(s.seeds[0], s.seeds[0] + s.clean_seeds):
                    for name in s.clean_runs:
                        clean_jobs.append(dict(preset=s.preset, seed=seed, run=name))

            def clean(job):
                key = (job["preset"], job["seed"])
                out, my = run.engine_dump(models[key], *CLEAN_RUNS[job["run"]])
                try:
                    results = []
                    for gname, (golden, peer) in CLEAN_GOLDENS.items():
                        if peer and (job["run"] not in DTYPES or not run.has_peer):
                            continue
                        p = goldens[key + (peer[0], peer[1] or job["run"])] if peer else None
                        summary = run.compare(goldens[key + golden], my, p)
                        results.append(dict(golden=gname, causes=first_causes(summary),
                                            contributors=len(summary.get("contributors", [])),
                                            thresholds=summary.get("thresholds", {})))
                    return results
                finally:
                    shutil.rmtree(out, ignore_errors=True)

            cleaned = parallel("clean runs", [(f"{j['preset']} s{j['seed']} {j['run']}", lambda j=j: clean(j))
                                              for j in clean_jobs])
            for job, results in zip(clean_jobs, cleaned):
                job["results"] = results
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.time() - started
    say.say(f"done in {wall:.0f} s")
    return dict(schema="ait-llm/calibration/1", wall_seconds=round(wall, 1), phases=phases, workers=workers,
                peer_path=run.has_peer, not_available=skipped, suites=[dataclasses.asdict(s) for s in suites],
                cases=cases, clean=clean_jobs, cells=cell_counts(cases))


def cell_counts(cases):
    """[{preset, pair, dtype, op_type, kind, magnitude, hits, misses, false_claims}] over all cases."""
    counts = collections.OrderedDict()
    for case in cases:
        for r in case["results"]:
            key = (case["preset"], r["pair"], case["dtype"], case["op_type"], case["kind"], case["magnitude"])
            counts.setdefault(key, [0, 0, 0])[r["outcome"]] += 1
    return [dict(preset=k[0], pair=k[1], dtype=k[2], op_type=k[3], kind=k[4], magnitude=k[5], hits=v[0],
                 misses=v[1], false_claims=v[2]) for k, v in counts.items()]


def rate(results, pair=None, dtype=None, magnitude=None, kinds=None, preset=None):
    """(hits, total) over the planted-fault results matching the filters."""
    hits = total = 0
    for case in results["cases"]:
        if (dtype and case["dtype"] != dtype) or (magnitude is not None and case["magnitude"] != magnitude) or \
                (kinds and case["kind"] not in kinds) or (preset and case["preset"] != preset):
            continue
        for r in case["results"]:
            if pair and r["pair"] != pair:
                continue
            total += 1
            hits += r["outcome"] == 0
    return hits, total


def hmf(counts):
    h, m, f = counts
    return f"{h}/{m}/{f}"


def pct(h, n):
    return f"{h}/{n} ({100 * h / n:.0f} %)" if n else "—"


def fmt_mag(m):
    return "zero" if m is None else f"{100 * m:g} %"


def render(results):
    """The markdown table (what goes between the calibration markers)."""
    cases, clean = results["cases"], results["clean"]
    presets = list(dict.fromkeys(c["preset"] for c in cases))
    # a row: (preset, pair kind, dtype of the faulty run), presets in grid order, then PAIRS order
    rows = [(p, pair, d) for p in presets for pair in PAIRS for d in DTYPES
            if any(c["preset"] == p and c["dtype"] == d and r["pair"] == pair for c in cases for r in c["results"])]

    def label(row):
        return " ".join(row if len(presets) > 1 else row[1:])

    mags = sorted({c["magnitude"] for c in cases if c["magnitude"] is not None}) + \
        ([None] if any(c["kind"] == "zero" for c in cases) else [])
    kinds = [k for k in KINDS if any(c["kind"] == k for c in cases)]
    by = collections.defaultdict(lambda: [0, 0, 0])  # (row, what, ...) -> [hits, misses, false claims]
    via_layer = collections.Counter()
    for c in cases:
        for r in c["results"]:
            row, o = (c["preset"], r["pair"], c["dtype"]), r["outcome"]
            for key in ((row, "mag", c["magnitude"]), (row, "cell", c["op_type"], c["kind"], c["magnitude"]),
                        (row, "type-mag", c["op_type"], c["magnitude"]), (row, "where", c["position"]),
                        (row, "all")):
                by[key][o] += 1
            if o == 0 and r["causes"][:1] != [c["op"]]:
                via_layer[row] += 1

    out = []
    suites = "; ".join(
        f"{s['preset']} preset, seeds {','.join(map(str, s['seeds']))}: ops {s['ops'] if len(s['ops']) < 20 else 'listed'}"
        f" ({len({c['op'] for c in cases if c['preset'] == s['preset']})} operations), "
        f"{'/'.join(s['kinds'])} at {', '.join(fmt_mag(m) for m in s['magnitudes'])}, faulty runs "
        f"{'/'.join(s['dtypes'])}, clean runs on {s['clean_seeds']} seed(s)" for s in results["suites"])
    n_compares = sum(len(c["results"]) for c in cases) + sum(len(j["results"]) for j in clean)
    phases = ", ".join(f"{k} {v:g} s" for k, v in results["phases"].items())
    out += [f"Grid: {suites}. {len(cases)} faulty runs, {n_compares} compares, "
            f"**{results['wall_seconds']:.0f} s** wall time with {results['workers']} workers ({phases}). "
            "Magnitudes are the fault's relative size (noise: MAG x rms; scale: 1 + MAG; bias: MAG x the clean "
            "output's rms). Cells: hits / misses / false claims (hit = the planted operation named first, or, "
            "where the golden has no counterpart of it, the layer holding it with the planted operation in the gap "
            "it names).", ""]
    if results["not_available"]:
        out += [f"Not available: {', '.join(results['not_available'])} (this `ait llm compare` has no "
                "`--peer-path`).", ""]

    # constants
    consts = collections.defaultdict(set)
    floors = collections.defaultdict(collections.Counter)
    for c in cases:
        for r in c["results"]:
            for k, v in r["thresholds"].items():
                if k == "noise_floor":
                    floors[label((c["preset"], r["pair"], c["dtype"]))][v] += 1
                else:
                    consts[k].add(json.dumps(v))
    for j in clean:
        for r in j["results"]:
            for k, v in r["thresholds"].items():
                if k == "noise_floor":
                    floors[f"clean {j['run']} vs {r['golden']}"][v] += 1
                else:
                    consts[k].add(json.dumps(v))

    def show(v):
        v = json.loads(v)
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    out += ["Constants (the summary JSON's `thresholds`): " + ", ".join(
        f"{k} = {' / '.join(show(v) for v in sorted(vals))}" for k, vals in consts.items()) + ". Noise floor used: " +
        "; ".join(f"{lab}: " + ", ".join(f"{f} x{n}" for f, n in cnt.most_common()) for lab, cnt in floors.items())
        + ".", ""]

    # totals per pair kind and magnitude
    out += ["Named first, per pair kind (faulty run's dtype) and magnitude, all kinds and operations "
            "(m = misses, f = false claims):", "",
            "| pair | " + " | ".join(fmt_mag(m) for m in mags) + " | all |",
            "| --- | " + " | ".join("---" for _ in mags) + " | --- |"]
    for row in rows:
        cols = []
        for m in mags:
            h, mi, f = by[(row, "mag", m)]
            cols.append(f"{pct(h, h + mi + f)} {mi}m {f}f" if h + mi + f else "—")
        h, mi, f = by[(row, "all")]
        out.append(f"| {label(row)} | " + " | ".join(cols) + f" | {pct(h, h + mi + f)} {mi}m {f}f |")
    if via_layer:
        out += ["", "Hits by the layer holding an operation the golden lacks: " +
                ", ".join(f"{label(row)} {n}" for row, n in via_layer.items()) + "."]
    out.append("")

    # smallest magnitude per operation type and pair kind
    types = sorted({c["op_type"] for c in cases})
    out += ["Smallest magnitude from which every planted fault of a type is named first (at that magnitude and "
            "every larger one, all kinds but zero; — none; ✗ a zero fault not named):", "",
            "| operation type | " + " | ".join(label(row) for row in rows) + " |",
            "| --- | " + " | ".join("---" for _ in rows) + " |"]
    for t in types:
        cols = []
        for row in rows:
            found, seen = None, False
            for m in reversed([m for m in mags if m is not None]):
                h, mi, f = by[(row, "type-mag", t, m)]
                if h + mi + f == 0:
                    continue
                seen = True
                if mi or f:
                    break
                found = m
            zh, zm, zf = by[(row, "type-mag", t, None)]
            seen = seen or zh + zm + zf
            cols.append(((fmt_mag(found) if found is not None else "—") + (" ✗" if zm or zf else ""))
                        if seen else "")
        out.append(f"| {t} | " + " | ".join(cols) + " |")
    out.append("")

    # per position
    positions = [w for w in ("first", "middle", "last") if any(c["position"] == w for c in cases)]
    out += ["By position (first layer and the embedding, middle layer, last layer and the head):", "",
            "| pair | " + " | ".join(positions) + " |", "| --- | " + " | ".join("---" for _ in positions) + " |"]
    for row in rows:
        cols = []
        for w in positions:
            h, mi, f = by[(row, "where", w)]
            cols.append(pct(h, h + mi + f))
        out.append(f"| {label(row)} | " + " | ".join(cols) + " |")
    out.append("")

    # clean runs
    out += ["Clean runs (no fault), one compare per checkpoint seed:", "",
            "| run | golden | compares | claiming a root cause | without contributors | noise floor |",
            "| --- | --- | --- | --- | --- | --- |"]
    agg = collections.OrderedDict()
    for j in clean:
        for r in j["results"]:
            a = agg.setdefault((j["preset"], j["run"], r["golden"]), [0, 0, 0, collections.Counter(), []])
            a[0] += 1
            a[1] += bool(r["causes"])
            a[2] += r["contributors"] == 0
            a[3][r["thresholds"].get("noise_floor", "?")] += 1
            if r["causes"]:
                a[4].append(r["causes"][0])
    for (preset, name, golden), (n, claims, nocontrib, fl, named) in agg.items():
        flags = " ".join(CLEAN_RUNS[name])
        out.append(f"| {preset} {name} (`{flags}`) | {golden} | {n} | {claims}"
                   + (f" ({', '.join(sorted(set(named)))})" if named else "") + f" | {nocontrib} | "
                   + ", ".join(f"{k} x{v}" for k, v in fl.most_common()) + " |")
    out.append("")

    # every cell
    cols = [(k, m) for k in kinds for m in ([None] if k == "zero" else [m for m in mags if m is not None])]
    out += ["<details><summary>Every cell: pair kind x operation type x kind/magnitude</summary>", "",
            "| pair | operation type | " + " | ".join("zero" if k == "zero" else f"{k} {fmt_mag(m)}"
                                                    for k, m in cols) + " |",
            "| --- | --- | " + " | ".join("---" for _ in cols) + " |"]
    for row in rows:
        for t in types:
            if not any((row, "cell", t, k, m) in by for k, m in cols):
                continue
            cells = [hmf(by[(row, "cell", t, k, m)]) if (row, "cell", t, k, m) in by else "—" for k, m in cols]
            out.append(f"| {label(row)} | {t} | " + " | ".join(cells) + " |")
    out += ["", "</details>"]
    return "\n".join(out)


def write_docs(table, doc=DOC):
    text = doc.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{doc}: the markers {BEGIN} / {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def build_suites(args):
    """The grid's suites with the command line's overrides applied."""
    suites = [dataclasses.replace(s) for s in GRIDS[args.grid]]
    if args.presets:
        wanted = args.presets.split(",")
        have = {s.preset: s for s in suites}
        suites = [have.get(p) or dataclasses.replace(suites[-1], preset=p) for p in wanted]
    for s in suites:
        if args.seeds:
            s.seeds = [int(x) for x in args.seeds.split(",")]
        if args.kinds:
            s.kinds = args.kinds.split(",")
        if args.magnitudes:
            s.magnitudes = [float(m) for m in args.magnitudes.split(",")]
        if args.dtypes:
            s.dtypes = args.dtypes.split(",")
        if args.pairs:
            s.pairs = args.pairs.split(",")
        if args.ops:
            s.ops = args.ops
        if args.clean_seeds is not None:
            s.clean_seeds = args.clean_seeds
        if args.clean_runs:
            s.clean_runs = args.clean_runs.split(",")
        bad = ([k for k in s.kinds if k not in KINDS] + [d for d in s.dtypes if d not in DTYPES] +
               [p for p in s.pairs if p not in PAIRS] + [c for c in s.clean_runs if c not in CLEAN_RUNS])
        if bad:
            raise SystemExit(f"unknown {', '.join(bad)} (kinds {', '.join(KINDS)}; dtypes {', '.join(DTYPES)}; "
                             f"pairs {', '.join(PAIRS)}; clean runs {', '.join(CLEAN_RUNS)})")
    return suites


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--grid", choices=sorted(GRIDS), default="default")
    ap.add_argument("--quick", dest="grid", action="store_const", const="quick", help="same as --grid quick")
    ap.add_argument("--full", dest="grid", action="store_const", const="full", help="same as --grid full")
    ap.add_argument("--presets", help="comma-separated: tiny, small")
    ap.add_argument("--seeds", help="checkpoint seeds of the planted faults, e.g. 7,8")
    ap.add_argument("--kinds", help=f"comma-separated of {', '.join(KINDS)}")
    ap.add_argument("--magnitudes", help="relative fault sizes, e.g. 0.005,0.01,0.02,0.05,0.2,1.0")
    ap.add_argument("--dtypes", help="faulty run dtypes: fp32,fp16,bf16")
    ap.add_argument("--pairs", help=f"pair kinds: {', '.join(PAIRS)}")
    ap.add_argument("--ops", help="all | types | NAME,NAME,... (operation names of the engine)")
    ap.add_argument("--clean-seeds", type=int, help="checkpoint seeds of the clean runs")
    ap.add_argument("--clean-runs", help=f"comma-separated of {', '.join(CLEAN_RUNS)}")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work-dir", help="where the temporary dumps go (default: /dev/shm when it has room, else "
                    "the system's temporary folder)")
    ap.add_argument("--json", metavar="FILE", help="write the raw outcome counts")
    ap.add_argument("--write-docs", action="store_true", help="replace the table in docs/ROOT_CAUSE.md")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("calibrate: terminated"))  # cleans up the dumps
    results = run_grid(build_suites(args), args.build, args.workers, args.work_dir)
    table = render(results)
    print(table)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"raw counts written to {args.json}", file=sys.stderr)
    if args.write_docs:
        write_docs(table)
        print(f"written to {DOC}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
