"""ait_llm.compare_folders: the folder compare from Python, through the same C++ call as
`ait llm compare` (RunCompare). On every scenario of the CLI's end-to-end tests it must choose
the same strategy and give the same rows, root causes and reports; on the demo's generated
dumps its reports (and the CLI's) must equal those pinned in tests/data/compare_pinned/,
written by compare before it became a library pipeline."""
import csv
import json
import os
import pathlib
import re
import subprocess

import pytest

from conftest import REPO, build_program, run_checked
from test_pair_by_topology import engine_dump, torch_dump

PINNED = REPO / "tests" / "data" / "compare_pinned"


@pytest.fixture(scope="module")
def compare(ait_llm_package):
    import ait_llm.compare
    return ait_llm.compare


@pytest.fixture(scope="module")
def scenario_dumps(ait, ait_engine, tiny, tmp_path_factory):
    base = tmp_path_factory.mktemp("compare_folders")
    return {
        "engine": engine_dump(ait, ait_engine, tiny, base / "engine"),
        "faulty": engine_dump(ait, ait_engine, tiny, base / "faulty", "--dtype", "fp16", "--perturb",
                              "LinearOperation_2_9=scale:1.25"),
        "quant": engine_dump(ait, ait_engine, tiny, base / "quant", "--quant", "w8a16"),
        "torch": torch_dump(tiny, base / "torch"),
        "torch2": torch_dump(tiny, base / "torch2"),
    }


def reports(folder):
    """{kind: text} of the one report set in `folder`, its timestamp and folder replaced."""
    (csv_file,) = pathlib.Path(folder).glob("ait_cmp_report_*.csv")
    stamp = re.search(r"(\d{14})", csv_file.name).group(1)
    out = {}
    for kind, pattern in (("report.csv", "ait_cmp_report_*.csv"), ("summary.json", "ait_cmp_summary_*.json"),
                          ("report.html", "ait_cmp_report_*.html")):
        (file,) = pathlib.Path(folder).glob(pattern)
        out[kind] = file.read_text().replace(stamp, "{STAMP}").replace(str(folder), "{OUT}")
    return out


def csv_value(cell, value):
    """Whether a CSV cell and compare_folders' value for it agree."""
    if value is None:
        return cell == ""
    if isinstance(value, float):
        return cell != "" and float(cell) == value or (value != value and cell == "nan")
    return cell == value


@pytest.mark.parametrize("golden, my, strategy", [
    ("torch", "faulty", "atb-torch"),
    ("faulty", "torch", "atb-torch"),
    ("engine", "quant", "float-quant"),
    ("torch", "torch2", "torch-torch"),
    ("engine", "faulty", "path"),
])
def test_same_strategy_rows_root_causes_and_reports_as_the_cli(compare, ait, scenario_dumps, tmp_path, golden, my,
                                                              strategy):
    g, m = scenario_dumps[golden], scenario_dumps[my]
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    r = run_checked(ait, "llm", "compare", "-gp", g, "-mp", m, "-o", cli_out, timeout=300)
    result = compare.compare_folders(g, m, output=py_out)

    assert result["strategy"] == strategy
    assert f"[{strategy}" in r.stderr
    for declined in result["declined"]:
        assert declined["reason"] and declined["strategy"] in r.stderr
    assert reports(cli_out) == reports(py_out)

    with open(result["reports"]["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result["rows"]) > 0
    for cells, row in zip(rows, result["rows"]):
        assert set(row) == set(cells)
        for column, cell in cells.items():
            assert csv_value(cell, row[column]), (column, cell, row[column])
    written = json.loads(pathlib.Path(result["reports"]["json"]).read_text())
    assert result["summary"] == written
    causes = result["summary"]["root_causes"]
    for k, cause in enumerate(causes):
        assert f"root cause #{k + 1}: {cause['my_name']} " in r.stdout
    assert bool(causes) == (my == "faulty" or golden == "faulty")


def test_planted_fault_is_the_root_cause_from_python(compare, scenario_dumps):
    result = compare.compare_folders(scenario_dumps["torch"], scenario_dumps["faulty"])
    assert result["reports"] is None
    causes = result["summary"]["root_causes"]
    assert causes and causes[0]["my_name"] == "LinearOperation_2_9"
    assert causes[0]["golden_name"].endswith("mlp.gate_proj")
    declined = {d["strategy"]: d for d in result["declined"]}
    assert declined["torch-torch"]["reason"] == "not two torch dumps"
    assert "manual-mapping" in declined  # asked first, as the original decides it first
    assert not any(d["blocked"] for d in result["declined"])


def test_fail_on_gives_the_commands_verdict_from_python(compare, ait_llm_package, scenario_dumps):
    result = compare.compare_folders(scenario_dumps["torch"], scenario_dumps["faulty"], fail_on=["off", "root-cause"])
    assert result["summary"]["verdict"] == {"fail_on": ["off", "root-cause"], "conditions": ["root-cause", "off"],
                                            "exit_status": 4}
    clean = compare.compare_folders(scenario_dumps["torch"], scenario_dumps["engine"], fail_on="failed")
    assert clean["summary"]["verdict"]["fail_on"] == ["failed"] and clean["summary"]["verdict"]["exit_status"] == 0
    with pytest.raises(ait_llm_package.compare.AitError, match="'roots' is not a condition"):
        compare.compare_folders(scenario_dumps["torch"], scenario_dumps["engine"], fail_on=["roots"])


def test_demo_dumps_reports_are_pinned_for_cli_and_python(compare, ait, tmp_path):
    """tools/make_demo_dumps.cc writes the same bytes on every run: the reports of both entry
    points must equal the pinned ones, byte for byte."""
    make = build_program("ait_make_demo_dumps")
    subprocess.run([make, str(tmp_path), "--tokens", "2", "--layers", "4", "--hidden", "128"], check=True,
                   capture_output=True)
    golden, my = tmp_path / "golden" / "ait_dump", tmp_path / "my" / "ait_dump"
    run_checked(ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", tmp_path / "cli")
    compare.compare_folders(golden, my, output=tmp_path / "py")
    for folder in (tmp_path / "cli", tmp_path / "py"):
        got = {k: v.replace(str(tmp_path), "{ROOT}").replace("{OUT}", "{ROOT}/out") for k, v in reports(folder).items()}
        for kind, text in got.items():
            if os.environ.get("AIT_UPDATE_PINNED"):  # after an intended report change (tests/data/compare_pinned/README.md)
                (PINNED / "demo_dumps" / kind).write_text(text)
            assert text == (PINNED / "demo_dumps" / kind).read_text(), f"{folder.name}/{kind} differs from the pinned one"


def test_errors_name_the_folder(compare, ait_llm_package, scenario_dumps, tmp_path):
    with pytest.raises(ait_llm_package.compare.AitError, match="not a folder"):
        compare.compare_folders(tmp_path / "missing", scenario_dumps["engine"])
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(ait_llm_package.compare.AitError, match="not an ATB dump"):
        compare.compare_folders(scenario_dumps["torch"], tmp_path / "empty")


def test_exported_from_the_package(ait_llm_package):
    assert ait_llm_package.compare_folders is ait_llm_package.compare.compare_folders


def test_atb_torch_rows_carry_the_real_token_and_a_running_data_id(compare, scenario_dumps):
    """The original writes token_id 0 and data_id 0 on every ATB vs torch row (COMPATIBILITY.md)."""
    rows = compare.compare_folders(scenario_dumps["torch"], scenario_dumps["engine"])["rows"]
    assert [r["data_id"] for r in rows] == [str(i) for i in range(len(rows))]
    tokens = {r["token_id"] for r in rows}
    assert {"0", "1"} <= tokens
    assert any(r["token_id"] == "1" and "/1/" in r["my_data_path"] for r in rows)
