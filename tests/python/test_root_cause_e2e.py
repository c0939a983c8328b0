"""Issue 5's scenarios end to end, each as a user runs it: the Hugging Face golden dumped
with `ait_llm.register_hook` (python/golden/hf_llama.py run --dump-path), the reference
engine dumped with `ait llm dump`, and `ait llm compare` pairing them automatically.

- HF fp32 golden vs engine fp32: every paired operation close, no root cause;
- vs engine fp16 / bf16: close but not identical, no root cause (rounding is not a bug);
- vs engine w8a8: the float<->quant pairs (LinearQuantOperation <-> Linear), no root cause;
- vs engine fp16 with a fault planted at several operation types: the planted operation is
  the first root cause, named on both sides (ATB opName and torch module name);
- torch fp32 vs torch bf16 (both register_hook dumps): modules paired by name, no root cause;
- engine fp16 vs engine w8a8 (ATB float vs ATB quant topology): paired, no root cause;
- a fault planted in an operation the golden has no counterpart of (ATB's SelfAttention, Rope,
  the residual adds): the layer is named, with the gap: the last clean and the first off tensor
  pair around it, and the operations in between;
- `--fail-on`: its exit statuses and the JSON's verdict; a self-compare is clean (empty tensors
  included) and an unreadable tensor leaves its operation unscored.
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


def compare(ait, golden, my, out, *flags, rc=0):
    r = run_checked(ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out, *flags, rc=rc, timeout=300)
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
    assert "input_mismatch" not in s  # both runs were fed the same prompt
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
    assert "input_mismatch" not in s and "fed different inputs" not in r.stdout


def test_runs_fed_different_tokens_are_named_as_such_not_as_a_fault_of_the_model(ait, ait_engine, hf_model, torch_dump,
                                                                                 tmp_path):
    other = PROMPT.replace("42", "43")  # one prompt token differs; nothing is wrong in the engine
    out = tmp_path / "my"
    run_checked(ait, "llm", "dump", "--exec", f"{ait_engine} run --model {hf_model} --input-ids {other} "
                f"--max-new-tokens {TOKENS} --dtype fp16", "--type", "model", "layer", "tensor", "-er", "0,1", "-o", out,
                timeout=300)
    r, s, _ = compare(ait, torch_dump("fp32"), only_dir(out, "ait_dump/tensors/0_*"), tmp_path / "cmp")
    assert s["root_causes"] == [], r.stdout
    m = s["input_mismatch"]
    assert (m["token_id"], m["my_name"], m["golden_name"]) == ("0", "GatherOperation_0", "root.model.embed_tokens")
    assert m["tensor"] == "GatherOperation_0:intensor1 ~ root.model.embed_tokens:input_0"
    assert m["my_path"].endswith("intensor1.bin") and m["golden_path"].endswith("input_0.pth")
    assert ("no root cause in the model: the runs were fed different inputs: GatherOperation_0:intensor1 ~ "
            "root.model.embed_tokens:input_0 (token 0)") in r.stdout
    (html,) = (tmp_path / "cmp").glob("*.html")
    assert "the runs were fed different inputs" in html.read_text()
    assert s["verdict"]["conditions"] == ["off", "inputs-differ"] and s["verdict"]["exit_status"] == 0
    # For CI: a condition of its own, exit status 7.
    _, s, _ = compare(ait, torch_dump("fp32"), only_dir(out, "ait_dump/tensors/0_*"), tmp_path / "ci", "--fail-on",
                      "root-cause,inputs-differ", rc=7)
    assert s["verdict"]["exit_status"] == 7


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


# (planted engine operation without a torch counterpart, its layer, the clean tensor before the
# gap, the first off one after it)
UNPAIRED = [
    ("SelfAttentionOperation_2_5", "noise:0.5", "LlamaLayer_2", "LinearOperation_2_3:outtensor0",
     "LinearOperation_2_6:intensor0"),
    ("RopeOperation_1_4", "scale:1.25", "LlamaLayer_1", "LinearOperation_1_3:outtensor0",
     "LinearOperation_1_6:intensor0"),
    ("ElewiseOperation_2_7", "noise:0.3", "LlamaLayer_2", "LinearOperation_2_6:outtensor0",
     "RmsNormOperation_2_8:intensor0"),
    ("ElewiseOperation_2_14", "noise:0.3", "LlamaLayer_2", "LinearOperation_2_13:outtensor0",
     "LlamaLayer_2:outtensor0"),
]


@pytest.mark.parametrize("op, fault, layer, clean, off", UNPAIRED, ids=[f"{u[0]}={u[1]}" for u in UNPAIRED])
def test_a_fault_without_golden_counterpart_names_the_gap(ait, torch_dump, engine_dump, tmp_path, op, fault, layer,
                                                         clean, off):
    r, s, _ = compare(ait, torch_dump("fp32"), engine_dump("--dtype", "fp16", "--perturb", f"{op}={fault}"), tmp_path)
    first = s["root_causes"][0]
    assert first["my_name"] == layer, r.stdout
    gap = first["gap"]
    assert gap["last_clean"]["label"].startswith(clean + " ~ root.model.layers."), gap
    assert gap["first_off"]["label"].startswith(off + " ~ root.model.layers."), gap
    assert gap["last_clean"]["distance"] <= gap["threshold"] < gap["first_off"]["distance"]
    between = [b["my_name"] for b in gap["between"]]
    assert op in between, gap
    assert all(b.split("_")[1] == layer.split("_")[1] for b in between), between  # inside the layer
    assert pathlib.Path(gap["first_off"]["my_path"]).is_file() and pathlib.Path(gap["first_off"]["golden_path"]).is_file()
    # The terminal and the HTML say the same sentence.
    assert "  " + gap["text"] in r.stdout
    assert gap["text"].startswith(f"the error appears between {clean} ~ ")
    assert f"without a golden counterpart: {', '.join(between)}" in gap["text"]
    (html,) = pathlib.Path(tmp_path).glob("ait_cmp_report_*.html")
    assert html.read_text().count(clean + " ~ root.model.layers.") >= 1


def test_a_root_cause_on_a_paired_operation_has_no_gap(ait, torch_dump, engine_dump, tmp_path):
    r, s, _ = compare(ait, torch_dump("fp32"), engine_dump("--dtype", "fp16", "--perturb", "LinearOperation_2_9=scale:1.25"),
                      tmp_path)
    assert s["root_causes"][0]["operation"] == "LinearOperation_2_9"
    assert s["root_causes"][0]["gap"] is None
    assert "the error appears between" not in r.stdout
    # The counts add up: per token, and the introducing ones are the root cause in both tokens
    # plus the layer around it in each.
    assert ("First divergence (cosine similarity < 0.99 or relative L2 error > 0.1414) in execution order: token 0, "
            "LinearOperation_2_9:outtensor0 ~ root.model.layers.1.mlp.gate_proj:output") in r.stdout
    v = s["verdicts"]
    assert v["introducing_as"] == {"root_cause_occurrences": 2, "holding_a_root_cause": 2, "left_out": 0}
    assert v["introducing"] == 4
    assert "  the 4 introducing: 2 occurrences of the root cause below, 2 operations holding one" in r.stdout
    for t in v["by_token"]:
        assert (f"  token {t['token_id']}: {t['clean']} clean, {t['propagating']} propagating, "
                f"{t['introducing']} introducing, {t['unscored']} unscored") in r.stdout


def test_fail_on_exit_statuses_and_the_json_verdict(ait, torch_dump, engine_dump, tmp_path):
    golden = torch_dump("fp32")
    faulty = engine_dump("--dtype", "fp16", "--perturb", "LinearOperation_2_9=scale:1.25")
    # Without --fail-on a root cause is a result: exit 0, as before.
    _, s, _ = compare(ait, golden, faulty, tmp_path / "default")
    assert s["verdict"] == {"fail_on": [], "conditions": ["root-cause", "off"], "exit_status": 0}
    _, s, _ = compare(ait, golden, faulty, tmp_path / "rc", "--fail-on", "root-cause,off,failed", rc=4)
    assert s["verdict"] == {"fail_on": ["root-cause", "off", "failed"], "conditions": ["root-cause", "off"],
                            "exit_status": 4}
    _, s, _ = compare(ait, golden, faulty, tmp_path / "off", "--fail-on", "off", rc=5)
    assert s["verdict"]["exit_status"] == 5
    _, s, _ = compare(ait, golden, faulty, tmp_path / "failed", "--fail-on", "failed", rc=0)
    assert s["verdict"]["exit_status"] == 0 and "failed" not in s["verdict"]["conditions"]
    # A clean run passes every condition.
    _, s, _ = compare(ait, golden, engine_dump("--dtype", "fp32"), tmp_path / "clean", "--fail-on", "root-cause",
                      "--fail-on", "off,failed")
    assert s["verdict"] == {"fail_on": ["root-cause", "off", "failed"], "conditions": [], "exit_status": 0}
    r = run_checked(ait, "llm", "compare", "-gp", golden, "-mp", faulty, "--fail-on", "roots", rc=2)
    assert "--fail-on: 'roots' is not one of root-cause, off, failed, inputs-differ" in r.stderr
    help_text = run_checked(ait, "llm", "compare", "--help").stdout
    for line in ("4  root-cause", "5  off", "6  failed", "7  inputs-differ"):
        assert line in help_text


def test_self_compare_is_clean_and_an_unreadable_tensor_is_unscored(ait, engine_dump, tmp_path):
    mine = engine_dump("--dtype", "fp16")
    # Identical dumps: every pair equal, the 0-element KV caches and the masks included.
    r, s, rows = compare(ait, mine, mine, tmp_path / "self", "--fail-on", "root-cause,off,failed")
    assert s["pairs"]["failed"] == 0 and s["verdict"]["conditions"] == [], r.stdout
    assert s["verdicts"]["unscored"] == 0 and s["verdicts"]["clean"] == len(s["operations"]), r.stdout
    empty = [row for row in rows if "0" in row["my_shape"].strip("[]").split(", ")]
    assert empty, "the prefill's KV caches are 0-element tensors"
    assert all(row["cosine_similarity"] == "1.0" and row["my_max_value"] == "" for row in empty)
    # One tensor file replaced by random bytes: a failed row without statistics, its operation unscored.
    import shutil
    copy = tmp_path / "copy" / mine.name
    shutil.copytree(mine, copy)
    bad = copy / "0" / "2_LlamaLayer" / "9_LinearOperation" / "after" / "outtensor0.bin"
    bad.write_bytes(bytes(range(256)) * 4)
    r, s, rows = compare(ait, mine, copy, tmp_path / "bad", "--fail-on", "failed", rc=6)
    (row,) = [row for row in rows if row["my_data_path"] == str(bad)]
    assert row["cmp_fail_reason"], row
    assert row["golden_max_value"] == row["golden_min_value"] == row["golden_mean_value"] == "", row
    (op,) = [o for o in s["operations"] if o["my_name"] == "LinearOperation_2_9" and o["token_id"] == "0"]
    assert op["verdict"] == "unscored", op
    assert s["verdict"] == {"fail_on": ["failed"], "conditions": ["failed"], "exit_status": 6}


@pytest.fixture(scope="module")
def small(ait, ait_engine, tmp_path_factory):
    """The small preset (8 layers): its checkpoint, the HF golden in fp32 and fp16 (the peer), and
    engine fp16 runs with a fault."""
    root = tmp_path_factory.mktemp("small")
    model = root / "model"
    run_checked(ait_engine, "init", "--preset", "small", "--seed", 7, "--out", model)
    made = {}

    def hf(dtype):
        if dtype not in made:
            run_checked(PY, HF_LLAMA, "run", "--model", model, "--input-ids", PROMPT, "--max-new-tokens", TOKENS,
                        "--dtype", dtype, "--dump-path", root / f"hf_{dtype}", "--token-range", "0,1",
                        env={"PYTHONPATH": BUILD / "python"}, timeout=300)
            made[dtype] = only_dir(root / f"hf_{dtype}", "ait_dump/torch_tensors/cpu_*")
        return made[dtype]

    def engine(fault):
        if fault not in made:
            out = root / re.sub(r"[^A-Za-z0-9]+", "_", fault)
            cmd = (f"{ait_engine} run --model {model} --input-ids {PROMPT} --max-new-tokens {TOKENS} --dtype fp16 "
                   f"--perturb {fault}")
            run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "model", "layer", "tensor", "-er", "0,1", "-o",
                        out, timeout=300)
            made[fault] = only_dir(out, "ait_dump/tensors/0_*")
        return made[fault]

    return hf, engine


def test_a_small_fault_without_counterpart_deep_in_the_small_preset_is_found_by_its_jump(ait, small, tmp_path):
    """In the small preset's last layer, noise of 5 % on ATB's Rope barely moves the layer's output
    (the residual stream dilutes it), but o_proj's input jumps past everything paired before it
    in the layer, by far more than the same input does in the other layers: the layer is named,
    by that jump, with Rope in its gap."""
    hf, engine = small
    r, s, _ = compare(ait, hf("fp32"), engine("RopeOperation_8_4=noise:0.05"), tmp_path)
    first = s["root_causes"][0]
    assert first["my_name"] == "LlamaLayer_8", r.stdout
    assert first["cause"] == "outlier"
    assert first["why"].startswith("LinearOperation_8_6:intensor0 ~ root.model.layers.7.self_attn.o_proj:input_0 "
                                   "jumps to distance"), first["why"]
    assert first["why"].endswith("from the same input in other layers and tokens)"), first["why"]
    assert first["evidence"]["output_relative_l2"] < 0.1414  # the layer's output alone is within threshold
    assert "RopeOperation_8_4" in [b["my_name"] for b in first["gap"]["between"]]


def test_with_the_hf_fp16_peer_the_jump_is_judged_against_the_peers_same_input(ait, small, tmp_path):
    hf, engine = small
    r, s, _ = compare(ait, hf("fp32"), engine("RopeOperation_8_4=noise:0.05"), tmp_path, "--peer-path", hf("fp16"))
    first = s["root_causes"][0]
    assert first["my_name"] == "LlamaLayer_8", r.stdout
    assert "o_proj:input_0 jumps to distance" in first["why"] and "from the peer's same input" in first["why"], \
        first["why"]
    assert "RopeOperation_8_4" in [b["my_name"] for b in first["gap"]["between"]]
    assert s["thresholds"]["noise_floor"] == "peer"
