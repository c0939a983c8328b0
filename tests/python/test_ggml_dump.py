"""The llama.cpp (ggml) dump end to end: libait_ggml_dump.so installed as ggml's eval callback by
ait_llm.dump.ggml_dump in a real llama.cpp context (llama-cpp-python), against a real Hugging Face
transformers golden (python/golden/hf_llama.py + ait_llm.register_hook), compared by `ait llm
compare` (the ggml-torch pairing). One tiny checkpoint (seed 7), converted once to each GGUF type;
every llama.cpp run and every compare is made once and shared (module fixtures).

- layout: one `{index}_{OP}` folder per graph node of each dumped token, the graph in
  model/{pid}/ggml_graph.json, the values read back with ait_llm.read_tensor equal to what numpy
  computes from the checkpoint; tensor_part 2 writes the sources, node_filter limits the files,
  quantized weights are written dequantized to float32;
- F32 GGUF (f32 KV cache) vs HF fp32: every pair equal to float32 rounding, no root cause, 27 of
  27 table nodes paired; Qcur/Kcur equal only after the pair's rope de-interleaving;
- Q8_0 / Q4_0: close but not identical, Q4_0 worse; what compare says about each;
- a fault planted in an F16 run at several node types is root cause #1, and the only one;
- the command line (`python -m ait_llm.dump.ggml_dump run|convert`) and its errors;
- the C API through GgmlDumper: configuration errors, and a context of one's own.

Run with the project venv:
  AIT_BUILD_DIR=$PWD/build .venv/bin/python -m pytest -q -p no:cacheprovider tests/python/test_ggml_dump.py
"""
import csv
import fnmatch
import json
import os
import pathlib
import re
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import BUILD, REPO, run_checked

# The package as built (its compiled reader, libait_ggml_dump.so beside it in build/lib).
sys.path.insert(0, str(BUILD / "python"))
sys.path.insert(0, str(REPO / "python" / "golden"))
import hf_llama  # noqa: E402

import gguf  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from ait_llm.dump.ggml_dump import GgmlDumpConfig, GgmlDumper, convert_hf_to_gguf, dump_gguf  # noqa: E402
from ait_llm.tensor_io import read_tensor  # noqa: E402

SEED = 7
PROMPT = [1, 17, 42, 99, 200]
STEPS = 2
HEAD_DIM, LAYERS = 16, 2
THREADS = 2
NODES = 78  # graph nodes of the tiny Llama per token (llama.cpp of llama-cpp-python 0.3.36, no flash attention)
TABLE_NOTE = re.compile(r"ggml nodes named in the Llama table \(with -mf entries\): (\d+), paired with a module: (\d+)")


# ---------------------------------------------------------------------------------------------
# module fixtures: one checkpoint, one golden, one llama.cpp run and one compare per setting
# ---------------------------------------------------------------------------------------------

@dataclass
class Golden:
    root: pathlib.Path       # ait_dump/torch_tensors/cpu_{pid}
    generated: list          # greedy ids
    logits: np.ndarray       # [STEPS, vocab]


@dataclass
class Run:
    root: pathlib.Path       # ait_dump/tensors/0_{pid}
    graph: dict              # ggml_graph.json
    result: object           # RunResult

    @property
    def nodes(self):
        return self.graph["nodes"]

    def folders(self, token):
        return sorted(p.name for p in (self.root / str(token)).iterdir())

    def file(self, token, index, name="outtensor0.bin"):
        node = self.nodes[index]
        return self.root / str(token) / f"{index}_{node['opType']}" / "after" / name

    def read(self, token, index, name="outtensor0.bin"):
        return read_tensor(self.file(token, index, name))

    def index(self, name, op=None):
        """The index of the first node called `name` (of op `op`)."""
        return next(i for i, n in enumerate(self.nodes) if n["opName"] == name and op in (None, n["opType"]))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return hf_llama.init_checkpoint(tmp_path_factory.mktemp("hf-tiny"), SEED)


@pytest.fixture(scope="module")
def weights(checkpoint):
    return load_file(str(checkpoint / "model.safetensors"))


@pytest.fixture(scope="module")
def ggufs(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("gguf")
    return {t: convert_hf_to_gguf(checkpoint, out / f"tiny-{t}.gguf", outtype=t)["path"]
            for t in ("f32", "f16", "q8_0", "q4_0")}


def hf_golden(checkpoint, out):
    """HF fp32, greedy, tokens 0 and 1 dumped by register_hook (as `hf_llama.py run --dump-path`)."""
    model = hf_llama.load_model(checkpoint, "fp32")
    handle = hf_llama.dump_hook(model, str(out), [0, 1])
    try:
        generated, logits = hf_llama.greedy_decode(model, PROMPT, STEPS)
    finally:
        handle.remove()
    (root,) = out.glob("ait_dump/torch_tensors/cpu_*")
    return Golden(root, generated, logits[:, 0, :])


@pytest.fixture(scope="module")
def golden(checkpoint, tmp_path_factory):
    return hf_golden(checkpoint, tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def ggml_run(ggufs, tmp_path_factory):
    """ggml_run(outtype, **settings) -> Run, each setting run once."""
    made = {}

    def run(outtype, cache_type="f16", token_range=(0, 1), tensor_part=1, node_filter=(), perturb=(),
            follow_ids=None):
        key = (outtype, cache_type, tuple(token_range), tensor_part, tuple(node_filter), tuple(perturb),
               tuple(follow_ids or ()))
        if key not in made:
            out = tmp_path_factory.mktemp(re.sub(r"[^A-Za-z0-9]+", "_", f"ggml_{outtype}_{len(made)}"))
            config = GgmlDumpConfig(dump_path=str(out), token_range=list(token_range), tensor_part=tensor_part,
                                    node_filter=list(node_filter) or None, perturb=list(perturb) or None)
            kwargs = {"follow_ids": list(follow_ids)} if follow_ids else {}
            result = dump_gguf(ggufs[outtype], PROMPT, STEPS, config, threads=THREADS, cache_type=cache_type,
                               **kwargs)
            s = result.stats
            assert (s["lost_files"], s["unreadable"], s["problems"], s["lost"]) == (0, 0, [], []), s
            (root,) = out.glob("ait_dump/tensors/0_*")
            (graph,) = out.glob("ait_dump/model/*/ggml_graph.json")
            made[key] = Run(root, json.loads(graph.read_text()), result)
        return made[key]

    return run


@dataclass
class Compared:
    stdout: str
    summary: dict
    rows: list

    @property
    def root_causes(self):
        return self.summary["root_causes"]

    def row(self, token, my_name):
        (r,) = [r for r in self.rows if r["token_id"] == str(token) and r["my_op_name"] == my_name]
        return r


@pytest.fixture(scope="module")
def compared(ait, golden, tmp_path_factory):
    """compared(run) -> `ait llm compare -gp GOLDEN -mp RUN`, once per run."""
    made = {}

    def compare(run):
        if id(run) not in made:
            out = tmp_path_factory.mktemp("compare")
            r = run_checked(ait, "llm", "compare", "-gp", golden.root, "-mp", run.root, "-o", out, timeout=120)
            (summary,) = out.glob("ait_cmp_summary_*.json")
            (report,) = out.glob("ait_cmp_report_*.csv")
            with open(report, newline="") as f:
                rows = list(csv.DictReader(f))
            made[id(run)] = Compared(r.stdout, json.loads(summary.read_text()), rows)
        return made[id(run)]

    return compare


def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def deinterleave(x, head_dim=HEAD_DIM):
    """GGUF's interleaved rotary pairs -> HF's rotate_half order, per head of the last axis."""
    shape = x.shape
    return x.reshape(-1, head_dim // 2, 2).swapaxes(1, 2).reshape(shape)


def gguf_tensor(path, name):
    """(ggml type, float32 values in numpy order) of one tensor of a GGUF file, dequantized."""
    (t,) = [t for t in gguf.GGUFReader(str(path)).tensors if t.name == name]
    values = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
    return t.tensor_type, values.reshape([int(n) for n in reversed(t.shape)]).astype(np.float32)


def golden_file(golden, token, module, stem="output"):
    return golden.root / str(token) / module / f"{stem}.pth"


def rel_l2(row):
    """The relative L2 error of a report row: its relative_euclidean_distance is the squared one,
    sum((m - g)^2) / sum(g^2), kept so for compatibility (docs/COMPATIBILITY.md)."""
    return float(row["relative_euclidean_distance"]) ** 0.5


def python_env():
    return {"PYTHONPATH": BUILD / "python", "AIT_BUILD_DIR": BUILD}


# ---------------------------------------------------------------------------------------------
# 1. the dump's layout and values
# ---------------------------------------------------------------------------------------------

def test_every_node_of_each_dumped_token_has_its_index_op_folder(ggml_run):
    run = ggml_run("f32", cache_type="f32")
    s = run.result.stats
    assert (s["tokens"], s["nodes"], s["files"], s["graph_changed"]) == (2, 2 * NODES, 2 * NODES, False)
    assert len(run.nodes) == NODES
    assert [n["param"]["index"] for n in run.nodes] == list(range(NODES))
    expected = sorted(f"{i}_{n['opType']}" for i, n in enumerate(run.nodes))
    assert sorted(p.name for p in run.root.iterdir()) == ["0", "1"]
    for token in (0, 1):
        assert run.folders(token) == expected, token
        for folder in expected:
            assert os.listdir(run.root / str(token) / folder / "after") == ["outtensor0.bin"], (token, folder)
    assert {"0_GET_ROWS", "2_MUL", "3_MUL_MAT", "5_ROPE", "24_SOFT_MAX", "34_SWIGLU", "77_MUL_MAT"} <= set(expected)


def test_by_default_only_token_0_is_written(ggufs, tmp_path):
    result = dump_gguf(ggufs["f32"], PROMPT, STEPS, GgmlDumpConfig(dump_path=str(tmp_path)), threads=THREADS)
    s = result.stats
    assert (s["tokens"], s["nodes"], s["files"]) == (2, 2 * NODES, NODES)  # both steps ran, one was written
    (root,) = tmp_path.glob("ait_dump/tensors/0_*")
    assert os.listdir(root) == ["0"] and len(os.listdir(root / "0")) == NODES
    assert s["dump_dir"] == f"{tmp_path}/ait_dump/"


def test_the_graph_json_names_llama_nodes_and_ggml_ops(ggml_run):
    run = ggml_run("f32", cache_type="f32")
    g = run.graph
    assert (g["modelName"], g["engine"], g["token"]) == ("ggml_graph", "ggml", 0)
    first_op = {}
    for n in run.nodes:
        first_op.setdefault(n["opName"], n["opType"])
    for layer in range(LAYERS):
        expected = {"attn_norm": "MUL", "Qcur": "MUL_MAT", "Kcur": "MUL_MAT", "Vcur": "MUL_MAT",
                    "kq_soft_max": "SOFT_MAX", "kqv_out": "CONT", "attn_out": "MUL_MAT", "ffn_inp": "ADD",
                    "ffn_norm": "MUL", "ffn_gate": "MUL_MAT", "ffn_up": "MUL_MAT", "ffn_swiglu": "SWIGLU",
                    "ffn_out": "MUL_MAT", "l_out": "ADD", "norm": "RMS_NORM"}
        for stem, op in expected.items():
            assert first_op[f"{stem}-{layer}"] == op, (stem, layer)
    assert (first_op["embd"], first_op["result_norm"], first_op["result_output"]) == ("GET_ROWS", "MUL", "MUL_MAT")
    # a name's nodes: the projection, its reshape into heads (a view of it), the rope
    q = [n for n in run.nodes if n["opName"] == "Qcur-0"]
    assert [n["opType"] for n in q] == ["MUL_MAT", "RESHAPE", "ROPE"]
    assert [n["param"]["ne"] for n in q] == [[64, 5, 1, 1], [16, 4, 5, 1], [16, 4, 5, 1]]
    assert [n["param"]["view_of"] for n in q] == ["", "Qcur-0", ""]
    p = run.nodes[run.index("attn_norm-1")]["param"]
    assert (p["layer"], p["type"], p["contiguous"], p["written"]) == (1, "f32", True, "float32")
    assert p["sources"] == [{"name": "norm-1", "type": "f32", "node": run.index("norm-1"), "written": ""},
                            {"name": "blk.1.attn_norm.weight", "type": "f32", "node": -1, "written": ""}]
    assert run.nodes[run.index("result_output")]["param"]["layer"] == -1
    assert run.nodes[run.index("result_output")]["param"]["ne"] == [256, 5, 1, 1]
    # a non-contiguous view is written contiguous, and says so
    permuted = run.nodes[run.index("kqv-0 (permuted)")]["param"]
    assert (permuted["contiguous"], permuted["written"]) == (False, "float32, made contiguous")


def test_values_read_back_equal_numpy_from_the_checkpoint(ggml_run, weights, golden):
    run = ggml_run("f32", cache_type="f32")
    embed = weights["model.embed_tokens.weight"]
    embd = run.read(0, run.index("embd"))
    assert (embd.dtype, embd.shape) == (np.float32, (5, 64))
    assert np.array_equal(embd, embed[PROMPT])  # GET_ROWS copies the rows bit for bit
    step = run.read(1, run.index("embd"))  # token 1: the generated id's row; ggml's ne [64, 1, 1, 1] is written [64]
    assert step.shape == (64,) and np.array_equal(step, embed[golden.generated[0]])
    # RMS norm times the weight (eps 1e-6), as numpy computes it
    x = embd.astype(np.float64)
    rms = x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-6) * weights["model.layers.0.input_layernorm.weight"]
    attn_norm = run.read(0, run.index("attn_norm-0"))
    assert np.abs(attn_norm - rms).max() < 1e-5
    # Q projection: GGUF's permuted weight rows, i.e. the HF projection with the rotary pairs interleaved
    q = run.read(0, run.index("Qcur-0"))
    hf_q = attn_norm.astype(np.float64) @ weights["model.layers.0.self_attn.q_proj.weight"].T
    assert np.abs(deinterleave(q) - hf_q).max() < 1e-5
    assert np.abs(q - hf_q).max() > 0.5
    # the rope reads the positions from the graph input inp_pos (int32)
    assert run.nodes[run.index("Qcur-0", "ROPE")]["param"]["sources"][1] == {"name": "inp_pos", "type": "i32",
                                                                               "node": -1, "written": ""}


def test_f16_gguf_embedding_is_the_checkpoint_rounded_to_f16(ggml_run, weights):
    run = ggml_run("f16")
    embd = run.read(0, run.index("embd"))
    assert embd.dtype == np.float32  # GET_ROWS of an F16 table returns F32 rows
    assert np.array_equal(embd, weights["model.embed_tokens.weight"][PROMPT].astype(np.float16).astype(np.float32))


def test_tensor_part_2_writes_each_source_as_intensor_k(ggml_run, ggufs, weights):
    run = ggml_run("f32", cache_type="f32", token_range=(0,), tensor_part=2,
                   node_filter=("embd", "attn_norm-0", "Qcur-0"))
    full = ggml_run("f32", cache_type="f32")
    assert run.folders(0) == ["0_GET_ROWS", "2_MUL", "3_MUL_MAT", "4_RESHAPE", "5_ROPE"]  # Qcur-0 names three nodes
    for folder in run.folders(0):
        index = int(folder.split("_")[0])
        sources = len(run.nodes[index]["param"]["sources"])
        files = sorted(os.listdir(run.root / "0" / folder / "after"))
        assert files == sorted(["outtensor0.bin"] + [f"intensor{k}.bin" for k in range(sources)]), folder
    # embd's sources: the table and the prompt's ids
    assert np.array_equal(run.read(0, 0, "intensor0.bin"), weights["model.embed_tokens.weight"])
    ids = run.read(0, 0, "intensor1.bin")
    assert ids.dtype == np.int32 and ids.tolist() == PROMPT
    # attn_norm-0's sources: norm-0's output, read before the MUL ran (ggml computes it in place,
    # in norm-0's memory), and the weight; Qcur-0's input is attn_norm-0's output, as its own file holds it.
    assert np.array_equal(run.read(0, 2, "intensor0.bin"), full.read(0, full.index("norm-0")))
    assert not np.array_equal(run.read(0, 2, "intensor0.bin"), full.read(0, full.index("attn_norm-0")))
    assert np.array_equal(run.read(0, 2, "intensor1.bin"), weights["model.layers.0.input_layernorm.weight"])
    assert np.array_equal(run.read(0, 3, "intensor1.bin"), full.read(0, full.index("attn_norm-0")))
    # Qcur-0's weight is the GGUF's own (q rows permuted), [out, in] as numpy orders it
    _, wq = gguf_tensor(ggufs["f32"], "blk.0.attn_q.weight")
    assert np.array_equal(run.read(0, 3, "intensor0.bin"), wq)
    assert np.array_equal(deinterleave(wq.T).T, weights["model.layers.0.self_attn.q_proj.weight"])
    pos = run.read(0, 5, "intensor1.bin")
    assert pos.dtype == np.int32 and pos.tolist() == list(range(len(PROMPT)))
    assert run.result.stats["files"] == 5 + (2 + 2 + 2 + 1 + 2)


def test_node_filter_limits_the_files(ggml_run):
    globs = ("attn_norm-*", "result_output")
    run = ggml_run("f32", cache_type="f32", node_filter=globs)
    expected = sorted(f"{i}_{n['opType']}" for i, n in enumerate(run.nodes)
                      if any(fnmatch.fnmatchcase(n["opName"], g) for g in globs))
    assert expected == ["2_MUL", "38_MUL", "77_MUL_MAT"]
    assert run.folders(0) == run.folders(1) == expected
    assert run.result.stats["files"] == 2 * 3
    assert len(run.nodes) == NODES  # the topology still has every node


def test_q4_0_weights_are_written_dequantized_to_float32(ggml_run, ggufs):
    run = ggml_run("q4_0", token_range=(0,), tensor_part=2, node_filter=("embd", "Qcur-0", "ffn_out-0"))
    path = ggufs["q4_0"]
    q = run.nodes[3]["param"]
    assert (q["name"], q["sources"][0]) == ("Qcur-0", {"name": "blk.0.attn_q.weight", "type": "q4_0", "node": -1,
                                                       "written": "float32, dequantized from q4_0"})
    kind, wq = gguf_tensor(path, "blk.0.attn_q.weight")
    assert kind == gguf.GGMLQuantizationType.Q4_0
    written = run.read(0, 3, "intensor0.bin")
    assert (written.dtype, written.shape) == (np.float32, (64, 64))
    assert np.array_equal(written, wq)  # ggml's dequantization == gguf-py's, bit for bit
    _, table = gguf_tensor(path, "token_embd.weight")
    assert run.nodes[0]["param"]["sources"][0]["type"] == "q4_0"
    assert np.array_equal(run.read(0, 0, "intensor0.bin"), table)
    assert np.array_equal(run.read(0, 0), table[PROMPT])  # GET_ROWS dequantizes the same way
    # ffn_down's 172 inputs are no multiple of 32: the converter kept it F16, written as F16
    down = run.nodes[run.index("ffn_out-0")]["param"]
    assert down["sources"][0] == {"name": "blk.0.ffn_down.weight", "type": "f16", "node": -1, "written": "float16"}
    w16 = run.read(0, run.index("ffn_out-0"), "intensor0.bin")
    assert (w16.dtype, w16.shape) == (np.float16, (64, 172))
    assert np.array_equal(w16.astype(np.float32), gguf_tensor(path, "blk.0.ffn_down.weight")[1])
    # a node's "written" describes its own output (every output of this graph is F32; the
    # quantized K cache of test_gguf_context_of_ones_own_with_a_quantized_k_cache is written
    # "float32, dequantized from q8_0"), each source's entry how that source was written
    assert {n["param"]["written"] for n in run.nodes if n["param"]["written"]} == {"float32"}


# ---------------------------------------------------------------------------------------------
# 2. F32 GGUF vs Hugging Face fp32
# ---------------------------------------------------------------------------------------------

# Measured (x86-64 AVX-512, 2 threads): llama.cpp F32 logits vs transformers fp32: max |diff| 1.3e-06;
# compare: 54 pairs, every cosine 1.0000000 to 10 digits, relative L2 at most 6.8e-07
# (ffn_out-1), Qcur/Kcur at most 4.6e-07.
F32_REL_L2 = 1e-5


def test_f32_gguf_matches_the_hf_golden_everywhere(ggml_run, golden, compared):
    run = ggml_run("f32", cache_type="f32")
    assert run.result.generated == golden.generated
    diff = float(np.abs(run.result.logits - golden.logits).max())
    assert diff < 1e-5, diff
    c = compared(run)
    assert c.root_causes == [], c.stdout
    assert c.summary["pairing"]["strategy"] == "ggml-torch"
    assert c.summary["pairs"] == {"total": 54, "scored": 54, "failed": 0, "dropped_int8": 0, "fail_reasons": []}
    assert c.summary["verdicts"]["clean"] == 54
    (note,) = [m for m in map(TABLE_NOTE.search, c.summary["notes"]) if m]
    candidates, paired = int(note.group(1)), int(note.group(2))
    assert (candidates, paired) == (27, 27)
    assert paired / candidates >= 0.9
    assert len(c.rows) == 54 and {r["token_id"] for r in c.rows} == {"0", "1"}
    for r in c.rows:
        assert r["cmp_fail_reason"] == "", r
        assert float(r["cosine_similarity"]) > 0.999999, r
        assert rel_l2(r) < F32_REL_L2, r
    assert {r["match"] for r in c.rows} == {"mapped"}
    assert "no root cause" in c.stdout


def test_f32_qcur_and_kcur_pair_through_the_rope_deinterleaving(ggml_run, golden, compared):
    run = ggml_run("f32", cache_type="f32")
    c = compared(run)
    for token in (0, 1):
        for layer in range(LAYERS):
            for stem, proj in (("Qcur", "q_proj"), ("Kcur", "k_proj")):
                r = c.row(token, f"{stem}-{layer}")
                assert r["golden_op_name"] == f"root.model.layers.{layer}.self_attn.{proj}"
                assert rel_l2(r) < F32_REL_L2, r
                # the files themselves differ in order: equal only after the de-interleaving
                mine = read_tensor(r["my_data_path"])
                theirs = read_tensor(r["golden_data_path"]).reshape(mine.shape)
                assert cosine(mine, theirs) < 0.9
                assert np.abs(deinterleave(mine) - theirs).max() < 1e-5


# ---------------------------------------------------------------------------------------------
# 3. Q8_0 and Q4_0 vs Hugging Face fp32
# ---------------------------------------------------------------------------------------------

# Measured (x86-64 AVX-512, 2 threads, f16 KV cache), prompt 1,17,42,99,200, 2 steps:
#   logits max |diff| vs HF fp32: Q8_0 0.072, Q4_0 0.87 (Q4_0 picks 57 where HF picks 97; its run
#   follows HF's ids, so that its token 1 sees the same input; left to its own choice, token 1
#   compares another token's forward: Qcur-0 cosine 0.04, 6 clean / 48 propagating)
#   Q8_0: 54 pairs clean, min cosine 0.99953 (ffn_out-1, token 0), l_out-1 token 0 cosine 0.99975,
#         relative L2 0.0052 (embd, token 1) .. 0.031 (ffn_out-1); no root cause.
#   Q4_0: token 0 min cosine 0.946 (ffn_swiglu-1), relative L2 0.080 .. 0.354; the first off pair
#         is attn_out-0 (cosine 0.98821 < 0.99) and every later one carries its error: 9 clean,
#         45 propagating, 0 introducing -> "no root cause found" (the error grows gradually).

def cosines(c, token=None):
    return {(r["token_id"], r["my_op_name"]): float(r["cosine_similarity"]) for r in c.rows
            if token is None or r["token_id"] == str(token)}


def test_q8_0_is_close_not_identical_and_no_root_cause(ggml_run, golden, compared):
    run = ggml_run("q8_0")
    assert run.result.generated == golden.generated
    diff = float(np.abs(run.result.logits - golden.logits).max())
    assert 1e-3 < diff < 0.15, diff
    c = compared(run)
    assert c.root_causes == [], c.stdout
    assert c.summary["verdicts"]["clean"] == 54 and c.summary["pairs"]["scored"] == 54
    cos = cosines(c)
    assert 0.999 < min(cos.values()) < 0.99999, min(cos.values())
    assert 0.9995 < cos[("0", "l_out-1")] < 0.99999
    rel = [rel_l2(r) for r in c.rows]
    assert 1e-3 < min(rel) and max(rel) < 0.06


def test_q4_0_is_farther_than_q8_0_and_compare_finds_no_single_cause(ggml_run, ggufs, golden, compared):
    q8 = ggml_run("q8_0")
    q4 = ggml_run("q4_0", follow_ids=golden.generated[:1])
    assert q4.result.generated[0] != golden.generated[0]  # its own greedy choice differs ...
    d8 = float(np.abs(q8.result.logits - golden.logits).max())
    d4 = float(np.abs(q4.result.logits - golden.logits).max())
    assert d8 * 5 < d4 < 2.5, (d8, d4)
    c8, c4 = compared(q8), compared(q4)
    _, table = gguf_tensor(ggufs["q4_0"], "token_embd.weight")
    assert np.array_equal(q4.read(1, q4.index("embd")), table[golden.generated[0]])
    cos8, cos4 = cosines(c8, token=0), cosines(c4, token=0)
    assert cos4.keys() == cos8.keys() and len(cos4) == 27
    assert all(cos4[k] < cos8[k] for k in cos4), [k for k in cos4 if cos4[k] >= cos8[k]]
    assert 0.9 < min(cos4.values()) < 0.99
    # ... but token 1 compares the same input: its embedding is HF's next id's row, quantized
    assert float(c4.row(1, "embd")["cosine_similarity"]) > 0.99
    assert c4.root_causes == [], c4.stdout
    v = c4.summary["verdicts"]
    assert v["introducing"] == 0 and v["unscored"] == 0 and v["clean"] + v["propagating"] == 54
    assert v["propagating"] >= 40, v
    ops = {(o["token_id"], o["my_name"]): o for o in c4.summary["operations"]}
    assert ops[("0", "embd")]["verdict"] == "clean" and ops[("0", "attn_out-0")]["verdict"] == "propagating"
    assert ops[("0", "result_output")]["verdict"] == "propagating"
    assert "no root cause found" in c4.stdout
    # left to its own choice, Q4_0's token 1 is another token's forward: compared, it is far off
    own = compared(ggml_run("q4_0"))
    assert ggml_run("q4_0").result.generated[0] == q4.result.generated[0]
    assert float(own.row(1, "embd")["cosine_similarity"]) < 0.5
    assert own.root_causes == [] and own.summary["verdicts"]["by_token"][1]["clean"] == 0


# ---------------------------------------------------------------------------------------------
# 4. faults planted in an F16 run
# ---------------------------------------------------------------------------------------------

def test_clean_f16_run_has_no_root_cause(ggml_run, golden, compared):
    run = ggml_run("f16")
    assert run.result.generated == golden.generated
    assert float(np.abs(run.result.logits - golden.logits).max()) < 1e-2  # measured 3.4e-03
    c = compared(run)
    assert c.root_causes == [], c.stdout
    assert c.summary["verdicts"]["clean"] == 54
    assert min(cosines(c).values()) > 0.99999  # measured 0.9999993


# (fault, node type, the module it pairs with). Measured: each is root cause #1 and the only one,
# on token 0 with token 1 listed too; its outlier factor (local error over the type's normal)
# e.g. ffn_up-1 33x. Also found alone (not run here): Vcur-1=noise:0.05, Qcur-1=scale:1.05,
# ffn_gate-0, result_norm, kqv_out-1, attn_out-0.
FAULTS = [
    ("attn_norm-1=scale:1.03", "MUL", "root.model.layers.1.input_layernorm"),
    ("ffn_up-1=scale:1.03", "MUL_MAT", "root.model.layers.1.mlp.up_proj"),
    ("ffn_swiglu-1=scale:1.04", "SWIGLU", "root.model.layers.1.mlp.down_proj"),
    ("l_out-0=bias:0.05", "ADD", "root.model.layers.0"),
    ("Kcur-1=scale:1.05", "MUL_MAT", "root.model.layers.1.self_attn.k_proj"),
]


@pytest.mark.parametrize("fault,op,module", FAULTS, ids=[f for f, _, _ in FAULTS])
def test_a_planted_fault_is_the_only_root_cause(ggml_run, compared, fault, op, module):
    node = fault.split("=")[0]
    run = ggml_run("f16", perturb=(fault,))
    c = compared(run)
    causes = c.root_causes
    assert len(causes) == 1, c.stdout
    first = causes[0]
    assert (first["rank"], first["my_name"], first["my_type"], first["golden_name"]) == (1, node, op, module), c.stdout
    assert first["token_id"] == "0" and first["tokens"] == ["0", "1"]
    assert f"root cause #1: {node} [{op}]" in c.stdout
    stats = run.result.stats
    # the glob perturbs every node of that name once per token, views left out (Kcur-1: its MUL_MAT
    # and ROPE; its RESHAPE shares the MUL_MAT's memory)
    assert stats["perturbed"] == 2 * len([n for n in run.nodes if n["opName"] == node and not n["param"]["view_of"]])


# ---------------------------------------------------------------------------------------------
# 5. the command line
# ---------------------------------------------------------------------------------------------

def cli(*args, rc=0):
    return run_checked(sys.executable, "-m", "ait_llm.dump.ggml_dump", *args, rc=rc, env=python_env(), timeout=120)


def test_cli_run_writes_the_dump_and_says_where(ggufs, tmp_path):
    out = tmp_path / "dump"
    r = cli("run", "--model", ggufs["f16"], "-o", out, "--input-ids", ",".join(map(str, PROMPT)),
            "--max-new-tokens", 2, "-er", "0,1", "--node-filter", "ffn_out-*", "--perturb", "ffn_up-1=scale:1.03")
    lines = r.stdout.splitlines()
    assert lines[0] == "generated ids: 97,102"
    assert lines[1] == (f"dump: 4 tensor files (0.0 MiB) over 2 token(s), {2 * NODES} graph nodes seen, "
                        f"in {out}/ait_dump/")
    assert lines[2] == "faults planted: 2 node output(s) changed"
    assert r.stderr == ""
    (root,) = out.glob("ait_dump/tensors/0_*")
    assert sorted(os.listdir(root / "0")) == sorted(os.listdir(root / "1")) == ["35_MUL_MAT", "73_MUL_MAT"]
    assert list(out.glob("ait_dump/model/*/ggml_graph.json"))


@pytest.mark.parametrize("args,message", [
    (["--perturb", "ffn_up-1=wobble"],
     "error: ggml dump configuration: perturb 'ffn_up-1=wobble': unknown KIND 'wobble'"),
    (["--perturb", "ffn_up-1"], "error: ggml dump configuration: perturb 'ffn_up-1': no '='"),
    (["-er", "1,0"], "error: argument -er/--token-range: expected 0 <= FIRST <= LAST, got '1,0'"),
    (["-er", "0"], "error: argument -er/--token-range: expected FIRST,LAST token numbers like 0,1, got '0'"),
    (["--input-ids", "1,17,256"], "error: input ids [256] are outside the model's vocabulary of 256"),
    (["--model", "MISSING"], "error: MISSING: no such GGUF file"),
], ids=["bad-perturb-kind", "perturb-without-kind", "er-reversed", "er-one-number", "id-outside-vocab",
        "missing-gguf"])
def test_cli_errors_are_one_error_line_and_status_2(ggufs, tmp_path, args, message):
    out = tmp_path / "dump"
    given = {"--model": str(ggufs["f16"]), "--input-ids": "1,17,42"}
    for i in range(0, len(args), 2):
        given[args[i]] = args[i + 1]
    if given["--model"] == "MISSING":
        given["--model"] = str(tmp_path / "missing.gguf")
        message = message.replace("MISSING", given["--model"])
    flat = [x for kv in given.items() for x in kv]
    r = cli("run", *flat, "-o", out, rc=2)
    assert r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()  # nothing written


def test_cli_run_without_an_output_folder_is_an_error(ggufs, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATB_")}
    env.update({k: str(v) for k, v in python_env().items()})
    r = subprocess.run([sys.executable, "-m", "ait_llm.dump.ggml_dump", "run", "--model", str(ggufs["f16"]),
                        "--input-ids", "1,17,42"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("error: -o DIR is required") and r.stderr.count("\n") == 1, r.stderr
    assert os.listdir(tmp_path) == []


def test_cli_convert_writes_a_gguf_that_runs(checkpoint, tmp_path):
    out = tmp_path / "tiny-q8_0.gguf"
    r = cli("convert", "--model", checkpoint, "--out", out, "--outtype", "q8_0")
    assert r.stdout.startswith(f"wrote {out}: 21 tensors")
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(str(out)).tensors}
    assert len(types) == 21 and types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    result = dump_gguf(out, PROMPT, 1, dump=False, threads=THREADS)
    assert result.stats is None and result.logits.shape == (1, 256)


# ---------------------------------------------------------------------------------------------
# 6. the C API through GgmlDumper
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config,message", [
    ('{"bogus": 1}', "ggml dump configuration: unknown key 'bogus' (known: output_dir, token_range, tensor_part, "
                     "node_filter, perturb, device)"),
    ('{"token_range": [[3, 1]]}', "'token_range' must be a list of [first, last] token pairs, first <= last"),
    ('{"token_range": [[-1, 2]]}', "'token_range' must be a list of [first, last] token pairs, first <= last"),
    ('{"token_range": [0, 1]}', "'token_range' must be a list of [first, last] token pairs, first <= last"),
    ('{"token_range": "0,1"}', "'token_range' must be a list of [first, last] token pairs, first <= last"),
    ('{"tensor_part": 3}', "'tensor_part' must be 0 (sources), 1 (outputs) or 2 (both)"),
    ('{"perturb": ["x=scale:abc"]}', "ggml dump configuration: perturb 'x=scale:abc'"),
    ('{"output_dir": ""}', "'output_dir' must be a non-empty string"),
    ('{"device": "a/b"}', "'device' must be letters and digits"),
    ("[1, 2]", "ggml dump configuration: not a JSON object"),
    ("{not json", "ggml dump configuration: not a JSON object"),
], ids=["unknown-key", "range-reversed", "range-negative", "range-not-pairs", "range-string", "tensor-part",
        "perturb-magnitude", "output-dir", "device", "array", "not-json"])
def test_dumper_configuration_errors_raise_value_error(config, message):
    with pytest.raises(ValueError) as e:
        GgmlDumper(config)
    assert message in str(e.value)
    assert str(e.value).startswith("ggml dump configuration: ")


def test_dumper_config_object_errors_raise_before_the_library():
    with pytest.raises(ValueError, match=r"token_range: token ids must be >= 0, got \[-1\]"):
        GgmlDumper(GgmlDumpConfig(token_range=[-1]))
    with pytest.raises(ValueError, match="tensor_part must be 0"):
        GgmlDumper(GgmlDumpConfig(tensor_part=5))


def test_gguf_context_of_ones_own_with_a_quantized_k_cache(ggufs, tmp_path):
    """GgmlDumper in a llama.cpp context made with llama-cpp-python's low-level API, its K cache
    Q8_0: the cache nodes are written dequantized, and the topology says so."""
    import llama_cpp
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    mparams.use_extra_bufts = False
    model = llama_cpp.llama_model_load_from_file(str(ggufs["f32"]).encode(), mparams)
    assert model
    ctx = None
    with GgmlDumper(GgmlDumpConfig(dump_path=str(tmp_path), node_filter=["Kcur-0 (view)", "cache_k_l0*"])) as dumper:
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = 64, 8, 8
        cparams.n_threads = cparams.n_threads_batch = THREADS
        cparams.type_k, cparams.type_v = gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.F16
        cparams.flash_attn_type = 0
        cparams.cb_eval, cparams.cb_eval_user_data = dumper.callback, dumper.user_data
        try:
            ctx = llama_cpp.llama_init_from_model(model, cparams)
            assert ctx
            ids = (llama_cpp.llama_token * len(PROMPT))(*PROMPT)
            assert llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(ids, len(PROMPT))) == 0
            assert dumper.end_token() == NODES
        finally:
            if ctx:
                llama_cpp.llama_free(ctx)
            llama_cpp.llama_model_free(model)
    s = dumper.stats
    assert (s["tokens"], s["nodes"], s["files"], s["lost_files"], s["problems"]) == (1, NODES, 4, 0, [])
    (graph,) = tmp_path.glob("ait_dump/model/*/ggml_graph.json")
    nodes = json.loads(graph.read_text())["nodes"]
    cache = [(i, n) for i, n in enumerate(nodes) if n["opName"].startswith("cache_k_l0")]
    assert [n["opType"] for _, n in cache] == ["SET_ROWS", "VIEW", "PERMUTE"]
    for _, n in cache:
        assert (n["param"]["type"], n["param"]["written"]) == ("q8_0", "float32, dequantized from q8_0")
    (root,) = tmp_path.glob("ait_dump/tensors/0_*")
    (k_index,) = [i for i, n in enumerate(nodes) if n["opName"] == "Kcur-0 (view)"]
    k = read_tensor(root / "0" / f"{k_index}_VIEW" / "after" / "outtensor0.bin")  # roped K, [5, 32]
    set_rows = cache[0][0]
    rows = read_tensor(root / "0" / f"{set_rows}_SET_ROWS" / "after" / "outtensor0.bin")
    assert (rows.dtype, rows.shape) == (np.float32, (256, 32))
    # the cache's first rows hold K in Q8_0 blocks of 32: within a step of each block's scale
    step = np.abs(k).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(rows[:5] - k) <= step * 1.01)
    assert np.abs(rows[:5] - k).max() > 0
    assert not rows[5:].any()  # the rest of the cache is still empty


def test_a_node_filter_dump_pairs_only_the_nodes_it_holds(ggml_run, compared):
    """Each node of ggml_graph.json carries its folder id ("folderId"): a node that was not
    written has no folder, and is not given the folder of a later node of its op type (the
    ATB reader's rank-of-type fallback, which paired attn_norm-0 with ffn_norm-0's file)."""
    run = ggml_run("f16", node_filter=("ffn_*", "attn_out-*"), perturb=("ffn_up-1=scale:1.03",))
    c = compared(run)
    paired = {r["my_op_name"] for r in c.rows}
    assert paired == {f"{stem}-{layer}" for stem in ("ffn_norm", "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out",
                                                       "attn_out") for layer in (0, 1)}
    for r in c.rows:  # every file is its own node's folder
        index = int(pathlib.Path(r["my_data_path"]).parent.parent.name.split("_")[0])
        assert run.nodes[index]["opName"] == r["my_op_name"], r["my_data_path"]
    assert [(rc["my_name"], rc["token_id"]) for rc in c.root_causes] == [("ffn_up-1", "0")]


# A model with middle layers: the tiny preset with 4 (hf_llama's "tiny-4l"), F16, a fault at a
# node of layer 2 of three op types, each the only root cause.
MIDDLE_FAULTS = [
    ("attn_norm-2=scale:1.03", "MUL", "root.model.layers.2.input_layernorm"),
    ("ffn_up-2=scale:1.03", "MUL_MAT", "root.model.layers.2.mlp.up_proj"),
    ("ffn_swiglu-2=scale:1.04", "SWIGLU", "root.model.layers.2.mlp.down_proj"),
]


@pytest.fixture(scope="module")
def four_layers(tmp_path_factory):
    checkpoint = hf_llama.init_checkpoint(tmp_path_factory.mktemp("hf-tiny-4l"), SEED, preset="tiny-4l")
    gguf_path = convert_hf_to_gguf(checkpoint, tmp_path_factory.mktemp("gguf-4l") / "f16.gguf", outtype="f16")["path"]
    # The golden in a process of its own: register_hook counts forwards per process, and this
    # module's first golden has already made two.
    out = tmp_path_factory.mktemp("golden-4l")
    r = run_checked(sys.executable, REPO / "python/golden/hf_llama.py", "run", "--model", checkpoint,
                    "--input-ids", ",".join(map(str, PROMPT)), "--max-new-tokens", STEPS, "--dump-path", out,
                    "--token-range", "0,1", env={"PYTHONPATH": BUILD / "python"}, timeout=300)
    generated = [int(i) for i in r.stdout.strip().splitlines()[-1].split(",")]
    (root,) = out.glob("ait_dump/torch_tensors/cpu_*")
    return gguf_path, Golden(root, generated, None)


@pytest.mark.parametrize("fault,op,module", MIDDLE_FAULTS, ids=[f for f, _, _ in MIDDLE_FAULTS])
def test_a_fault_in_a_middle_layer_is_the_only_root_cause(ait, four_layers, tmp_path, fault, op, module):
    gguf_path, golden4 = four_layers
    config = GgmlDumpConfig(dump_path=str(tmp_path / "dump"), token_range=[0, 1], perturb=[fault])
    result = dump_gguf(gguf_path, PROMPT, STEPS, config, threads=THREADS, follow_ids=golden4.generated[:1])
    assert result.stats["perturbed"] == 2  # the node's one computing node, in both tokens
    (root,) = (tmp_path / "dump").glob("ait_dump/tensors/0_*")
    r = run_checked(ait, "llm", "compare", "-gp", golden4.root, "-mp", root, "-o", tmp_path / "cmp", timeout=120)
    assert "ggml nodes named in the Llama table (with -mf entries): 51, paired with a module: 51" in r.stderr + r.stdout
    (summary,) = (tmp_path / "cmp").glob("ait_cmp_summary_*.json")
    causes = json.loads(summary.read_text())["root_causes"]
    assert [(c["rank"], c["my_name"], c["my_type"], c["golden_name"], c["token_id"]) for c in causes] == \
        [(1, fault.split("=")[0], op, module, "0")], r.stdout
