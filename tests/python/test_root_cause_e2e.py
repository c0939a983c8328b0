"""Issue 5's scenarios end to end, each as a user runs it: the Hugging Face golden dumped
with `ait_llm.register_hook` (python/golden/hf_llama.py run --dump-path), the reference
engine dumped with `ait llm dump`, and `ait llm compare` pairing them automatically.

- HF fp32 golden vs engine fp32: every paired operation close, no root cause;
- vs engine fp16 / bf16: close but not identical, no root cause (rounding is not a bug);
- vs engine w8a8: the float<->quant pairs (LinearQuantOperation <-> Linear), no root cause;
- vs engine fp16 with a fault planted at several operation types: the planted operation is
  the first root cause, named on both sides (ATB opName and torch module name);
- torch fp32 vs torch bf16 (both register_hook dumps): modules paired by name, no root cause;
- engine fp16 vs engine w8a8 (ATB float vs ATB quant topology): paired, no root cause.
"""
import csv
import json
import pathlib
import re
import sys

import pytest

from conftest import BUILD, REPO, run_checked

PY = sys.executable  # the venv's interpreter (transformers), as make python-test runs it
HF_LLAMA = REPO / "python" / "golden" / "hf_llama.py"
PROMPT = "1,17,42,99,200"
TOKENS = 2


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("hf_model")
    run_checked(PY, HF_LLAMA, "init", "--preset", "tiny", "--seed", 7, "--out", out, timeout=300)
    return out


def only_dir(pattern_root, glob):
    found = sorted(pathlib.Path(pattern_root).glob(glob))
    assert len(found) == 1, (pattern_root, glob, found)
    return found[0]


@pytest.fixture(scope="module")
def torch_dump(hf_model, tmp_path_factory):
    made = {}

    def get(dtype):
        if dtype not in made:
            out = tmp_path_factory.mktemp(f"torch_{dtype}")
            run_checked(PY, HF_LLAMA, "run", "--model", hf_model, "--input-ids", PROMPT, "--max-new-tokens", TOKENS,
                        "--dtype", dtype, "--dump-path", out, "--token-range", "0,1",
                        env={"PYTHONPATH": BUILD / "python"}, timeout=300)
            made[dtype] = only_dir(out, "ait_dump/torch_tensors/cpu_*")
        return made[dtype]

    return get


@pytest.fixture(scope="module")
def engine_dump(ait, ait_engine, hf_model, tmp_path_factory):
    made = {}

    def get(*flags):
        if flags not in made:
            out = tmp_path_factory.mktemp("engine_" + re.sub(r"[^A-Za-z0-9]+", "_", "_".join(flags) or "fp32"))
            cmd = f"{ait_engine} run --model {hf_model} --input-ids {PROMPT} --max-new-tokens {TOKENS} " + " ".join(flags)
            run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "model", "layer", "tensor", "-er", "0,1",
                        "-o", out, timeout=300)
            made[flags] = only_dir(out, "ait_dump/tensors/0_*")
        return made[flags]

    return get


def compare(ait, golden, my, out):
    r = run_checked(ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out, timeout=300)
    (summary_path,) = pathlib.Path(out).glob("ait_cmp_summary_*.json")
    (csv_path,) = pathlib.Path(out).glob("ait_cmp_report_*.csv")
    rows = list(csv.DictReader(open(csv_path)))
    return r, json.loads(summary_path.read_text()), rows


def scored(rows):
    return [r for r in rows if r["cmp_fail_reason"] == ""]


def by_type(rows):
    pairs = {}
    for r in rows:
        pairs.setdefault((r["my_op_type"], r["golden_op_type"]), []).append(r)
    return pairs


def test_hf_golden_vs_engine_fp32_every_pair_close(ait, torch_dump, engine_dump, tmp_path):
    r, s, rows = compare(ait, torch_dump("fp32"), engine_dump("--dtype", "fp32"), tmp_path)
    assert s["root_causes"] == [], r.stdout
    good = scored(rows)
    assert len(good) >= TOKENS * 2 * 12, r.stdout  # both layers' operations, both tokens
    assert {r["token_id"] for r in good} == {"0", "1"}
    for row in good:
        assert float(row["cosine_similarity"]) > 0.99999, row
        assert float(row["max_absolute_error"]) < 1e-3, row
    pairs = by_type(good)
    # The original's exact pairs and the mapped / aligned ones, named on both sides.
    assert len(pairs[("LinearOperation", "Linear")]) == TOKENS * (2 * 7 + 1)
    assert ("RmsNormOperation", "LlamaRMSNorm") in pairs
    assert any(my == "LlamaLayer" and golden == "LlamaDecoderLayer" for my, golden in pairs)
    linear = pairs[("LinearOperation", "Linear")]
    assert {row["golden_op_name"] for row in linear} >= {"root.model.layers.0.self_attn.q_proj", "root.lm_head"}
    assert {row["match"] for row in good} <= {"exact", "mapped", "aligned"}
    assert "exact" in {row["match"] for row in good}


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
def test_hf_golden_vs_engine_low_precision_close_not_identical_no_root_cause(ait, torch_dump, engine_dump, tmp_path,
                                                                            dtype):
    r, s, rows = compare(ait, torch_dump("fp32"), engine_dump("--dtype", dtype), tmp_path)
    assert s["root_causes"] == [], r.stdout
    good = scored(rows)
    assert len(good) >= TOKENS * 2 * 12
    assert min(float(row["cosine_similarity"]) for row in good) > 0.99
    assert max(float(row["max_absolute_error"]) for row in good) > 0  # rounding shows
    assert {row["my_dtype"] for row in good} >= {"torch.float16" if dtype == "fp16" else "torch.bfloat16"}
    assert "no root cause" in r.stdout.lower()


def test_hf_golden_vs_engine_w8a8_pairs_quantized_linears(ait, torch_dump, engine_dump, tmp_path):
    r, s, rows = compare(ait, torch_dump("fp32"), engine_dump("--quant", "w8a8"), tmp_path)
    assert s["root_causes"] == [], r.stdout
    quant = by_type(scored(rows)).get(("LinearQuantOperation", "Linear"), [])
    assert len(quant) == TOKENS * 2 * 7, r.stdout  # every projection of both layers
    assert min(float(row["cosine_similarity"]) for row in quant) > 0.98


# (planted engine operation, fault, the torch module it corresponds to)
PLANTED = [
    ("LinearOperation_2_9", "scale:1.25", "root.model.layers.1.mlp.gate_proj"),
    ("RmsNormOperation_1_8", "bias:1", "root.model.layers.0.post_attention_layernorm"),
    ("LinearOperation_1_1", "noise:0.5", "root.model.layers.0.self_attn.q_proj"),
    ("ActivationOperation_2_11", "nan", "root.model.layers.1.mlp.act_fn"),
]


@pytest.mark.parametrize("op, fault, module", PLANTED, ids=[f"{o}={f}" for o, f, _ in PLANTED])
def test_hf_golden_vs_engine_fp16_with_a_planted_fault(ait, torch_dump, engine_dump, tmp_path, op, fault, module):
    r, s, _ = compare(ait, torch_dump("fp32"), engine_dump("--dtype", "fp16", "--perturb", f"{op}={fault}"), tmp_path)
    causes = s["root_causes"]
    assert causes, r.stdout
    first = causes[0]
    assert first["operation"] == op, r.stdout
    assert first["golden_name"] == module, r.stdout
    assert first["token_id"] == "0"
    assert op in r.stdout and module in r.stdout


def test_torch_fp32_vs_torch_bf16_pairs_modules_by_name(ait, torch_dump, tmp_path):
    r, s, rows = compare(ait, torch_dump("fp32"), torch_dump("bf16"), tmp_path)
    assert s["root_causes"] == [], r.stdout
    good = scored(rows)
    assert good and all(row["my_op_name"] == row["golden_op_name"] for row in good)
    names = {row["my_op_name"] for row in good}
    assert {"root.model.layers.0.mlp.down_proj", "root.model.layers.1", "root.lm_head"} <= names
    assert {row["my_dtype"] for row in good} == {"torch.bfloat16"}
    assert {row["golden_dtype"] for row in good} == {"torch.float32"}
    assert min(float(row["cosine_similarity"]) for row in good) > 0.99


def test_engine_fp16_vs_engine_w8a8_pairs_float_and_quant_topologies(ait, engine_dump, tmp_path):
    r, s, rows = compare(ait, engine_dump("--dtype", "fp16"), engine_dump("--quant", "w8a8"), tmp_path)
    assert s["root_causes"] == [], r.stdout
    quant = by_type(scored(rows)).get(("LinearQuantOperation", "LinearOperation"), [])
    assert len(quant) == TOKENS * 2 * 7, r.stdout


API_DUMP = """
import sys
sys.path.insert(0, {golden!r})
import hf_llama
from ait_llm import DumpConfig, register_hook
model = hf_llama.load_model({model!r}, {dtype!r})
register_hook(model, DumpConfig(dump_path={out!r}, token_range=[0], mode=["module", "api"]))
hf_llama.greedy_decode(model, [1, 17, 42], 1)
"""


def test_torch_vs_torch_with_api_folders_pairs_them_too(ait, hf_model, tmp_path):
    """mode=["module", "api"] dumps hold `{module}.{function}` folders beside the modules: they
    pair by name as well (the tree alone would leave them out)."""
    dumps = {}
    for dtype in ("fp32", "bf16"):
        script = API_DUMP.format(golden=str(HF_LLAMA.parent), model=str(hf_model), dtype=dtype,
                                 out=str(tmp_path / dtype))
        run_checked(PY, "-c", script, env={"PYTHONPATH": BUILD / "python"}, timeout=300)
        dumps[dtype] = only_dir(tmp_path / dtype, "ait_dump/torch_tensors/cpu_*")
    r, s, rows = compare(ait, dumps["fp32"], dumps["bf16"], tmp_path / "out")
    good = scored(rows)
    api = [row for row in good if "silu" in row["my_op_name"] or "matmul" in row["my_op_name"]]
    assert api, r.stdout
    assert {row["my_op_name"] for row in good} >= {"root.model.layers.0.mlp.down_proj", "root.lm_head"}
    assert s["root_causes"] == [], r.stdout
