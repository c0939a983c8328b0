"""compare --opcheck: every operation of my dump checked on its own dumped inputs against
opcheck's float64 reference, as evidence for the root cause (docs/OPCHECK.md, docs/ROOT_CAUSE.md).

Golden: the reference engine in fp32; my: the engine in fp16, clean or with a fault planted by
--perturb. A fault of 0.08 % noise stays within the drift analysis' noise floor (fp16 rounding
is 0.05 %), so compare alone names no root cause for it; its own check names it."""
import csv
import json
import pathlib

import pytest

from conftest import run_checked

PROMPT = "1,2,3"


@pytest.fixture(scope="module")
def dumps(ait, ait_engine, tiny, tmp_path_factory):
    made = {}

    def get(dtype, perturb=None):
        key = (dtype, perturb)
        if key not in made:
            out = tmp_path_factory.mktemp(f"dump_{dtype}")
            cmd = f"{ait_engine} run --model {tiny} --input-ids {PROMPT} --max-new-tokens 1 --dtype {dtype}"
            if perturb:
                cmd += f" --perturb {perturb}"
            run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "tensor", "-time", "2", "-o", out, timeout=300)
            made[key] = out
        return made[key]

    return get


def compare(ait, golden, my, out, *flags):
    r = run_checked(ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out, *flags, timeout=300)
    (summary,) = pathlib.Path(out).glob("ait_cmp_summary_*.json")
    (html,) = pathlib.Path(out).glob("ait_cmp_report_*.html")
    return r.stdout, json.loads(summary.read_text()), html.read_text()


@pytest.mark.parametrize("op", ["LinearOperation_1_2", "RmsNormOperation_1_0", "RopeOperation_1_4"])
def test_a_fault_within_the_noise_floor_is_named_only_with_opcheck(ait, dumps, tmp_path, op):
    golden, my = dumps("fp32"), dumps("fp16", f"{op}=noise:0.0008")
    text, summary, _ = compare(ait, golden, my, tmp_path / "plain")
    named = [rc["my_name"] for rc in summary["root_causes"]]
    assert not any(name.startswith(op) for name in named), text

    text, summary, html = compare(ait, golden, my, tmp_path / "opcheck", "--opcheck")
    first = summary["root_causes"][0]
    assert first["my_name"] == op, text
    assert first["cause"] == "opcheck"
    assert first["opcheck"]["result"] == "FAILED" and first["opcheck"]["kind"] == "wrong kernel"
    assert "within 0.001 (needs 99.9%)" in first["opcheck"]["evidence"]
    assert f"root cause #1: {op}" in text and "fails its own check on its dumped inputs" in text
    assert "opcheck FAILED" in html
    # Every other operation checked passes: downstream ones are checked on their own inputs.
    checked = [o for o in summary["operations"] if o["opcheck"]]
    assert len(checked) > 20
    failed = [o["my_name"] for o in checked if o["opcheck"]["result"] == "FAILED"]
    assert failed == [op]


def test_a_gross_fault_on_a_kernel_shows_its_operations_check(ait, dumps, tmp_path):
    golden, my = dumps("fp32"), dumps("fp16", "RmsNormOperation_2_8=scale:1.5")
    text, summary, html = compare(ait, golden, my, tmp_path, "--opcheck")
    first = summary["root_causes"][0]
    assert first["my_name"].startswith("RmsNormOperation_2_8"), text
    assert first["opcheck"]["result"] == "FAILED"
    assert first["opcheck"]["operation"] == "RmsNormOperation_2_8"
    assert "opcheck FAILED on its own inputs" in text
    assert "opcheck FAILED" in html


def test_a_clean_run_with_opcheck_has_no_root_cause_and_every_check_passes(ait, dumps, tmp_path):
    text, summary, _ = compare(ait, dumps("fp32"), dumps("fp16"), tmp_path, "--opcheck")
    assert summary["root_causes"] == [], text
    checked = [o for o in summary["operations"] if o["opcheck"]]
    assert checked and all(o["opcheck"]["result"] == "PASS" for o in checked)
    # Kernels, graphs (layers) have no own check.
    assert all(o["opcheck"] is None for o in summary["operations"] if o["my_type"] == "LlamaLayer")


def test_without_after_tensors_opcheck_checks_nothing(ait, ait_engine, tiny, dumps, tmp_path):
    # A dump of inputs before execution only (-time 0) gives opcheck nothing: no check, no root cause.
    out = tmp_path / "before"
    cmd = f"{ait_engine} run --model {tiny} --input-ids {PROMPT} --max-new-tokens 1 --dtype fp16"
    run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "tensor", "-time", "0", "-o", out, timeout=300)
    r = run_checked(ait, "llm", "compare", "-gp", dumps("fp32"), "-mp", out, "-o", tmp_path / "r", "--opcheck",
                    timeout=300)
    (summary,) = (tmp_path / "r").glob("ait_cmp_summary_*.json")
    doc = json.loads(summary.read_text())
    assert all(o["opcheck"] is None for o in doc["operations"])
    assert "0 operations of my dump checked" in r.stderr


def test_compare_folders_takes_opcheck(ait_llm_package, dumps):
    result = ait_llm_package.compare_folders(dumps("fp32"), dumps("fp16", "LinearOperation_1_2=noise:0.0008"),
                                             opcheck=True)
    assert result["summary"]["root_causes"][0]["my_name"] == "LinearOperation_1_2"
