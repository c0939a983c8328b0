"""The row-level differences from the original that docs/COMPATIBILITY.md ("Row by row") lists,
each pinned as ours: the row set and order of a same-graph compare, data_id, relative paths,
`nan` statistics cells, 0-element tensors, and float64 sums closer to the exact value."""
import csv
import pathlib

import numpy as np
import pytest
import torch

from conftest import run_checked
from test_pair_by_topology import engine_dump


def report_rows(folder):
    (report,) = pathlib.Path(folder).glob("ait_cmp_report_*.csv")
    with open(report, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def same_graph(ait, ait_engine, tiny, tmp_path_factory):
    base = tmp_path_factory.mktemp("compat")
    g = engine_dump(ait, ait_engine, tiny, base / "fp32")
    m = engine_dump(ait, ait_engine, tiny, base / "fp16", "--dtype", "fp16")
    run_checked(ait, "llm", "compare", "-gp", g, "-mp", m, "-o", base / "out", timeout=300)
    return report_rows(base / "out")


def test_same_graph_rows_are_every_file_and_the_originals_are_a_filter_of_them(same_graph):
    paths = [r["my_data_path"] for r in same_graph]
    assert any("/intensor" in p for p in paths)  # inputs: ours only
    kernels = [p for p in paths if "Operation/0_" in p and "/after/outtensor" in p]
    assert kernels  # kernel outputs under their operation: ours only
    original = [p for p in paths if "/after/outtensor" in p]
    assert 0 < len(original) < len(paths)


def test_rows_follow_execution_order_and_data_id_is_the_row_index(same_graph):
    assert [r["data_id"] for r in same_graph] == [str(i) for i in range(len(same_graph))]
    tokens = [int(r["token_id"]) for r in same_graph]
    assert tokens == sorted(tokens) and set(tokens) == {0, 1, 2}
    paths = [r["my_data_path"].split("/ait_dump/tensors/", 1)[1].split("/", 1)[1]  # below {dev}_{pid}/
             for r in same_graph if r["token_id"] == "0"]
    layer_out = next(i for i, p in enumerate(paths) if p.endswith("0/1_LlamaLayer/after/outtensor0.bin"))
    inner = [i for i, p in enumerate(paths) if p.startswith("0/1_LlamaLayer/") and "Operation" in p]
    assert inner and max(inner) < layer_out  # a layer's row after its operations' rows


def test_empty_tensors_are_rows_not_a_stop(same_graph):
    """The original stops at a 0-element tensor. Here it is a row: two empty tensors of one shape
    are equal (cosine 1.0, the other metrics 0, no statistics)."""
    empty = [r for r in same_graph if "0" in r["my_shape"].strip("[]").split(", ")]
    assert empty
    for r in empty:
        assert r["my_shape"] == r["golden_shape"] and r["cmp_fail_reason"] == ""
        assert r["my_max_value"] == "" and r["cosine_similarity"] == "1.0" and r["max_absolute_error"] == "0.0"


def test_relative_paths_stay_relative_and_nan_statistics_read_nan(ait, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for side in ("g", "m"):
        (tmp_path / side).mkdir()
    np.save("g/a.npy", np.array([1, 2, 3], np.float32))
    np.save("m/a.npy", np.array([1, np.nan, 3], np.float32))
    run_checked(ait, "llm", "compare", "-gp", "g", "-mp", "m", "-o", "out")
    (row,) = report_rows(tmp_path / "out")
    assert (row["golden_data_path"], row["my_data_path"]) == ("g/a.npy", "m/a.npy")
    assert (row["my_max_value"], row["my_min_value"], row["my_mean_value"]) == ("nan", "nan", "nan")
    assert row["golden_max_value"] == "3.0" and row["cmp_fail_reason"] == "my_data includes NAN or inf."


def test_sums_in_float64_are_closer_to_the_exact_value_than_float32(ait_llm_package):
    """kl_divergence and the mean columns: the original sums in float32 (torch); ours in float64.
    On a large near-equal pair ours is the closer to a float64 reference, and the two differ by
    far less than 1e-4 in absolute terms."""
    from ait_llm.compare import compare_tensors
    rng = np.random.default_rng(5)
    g = rng.standard_normal(1 << 20).astype(np.float32)
    m = (g + 1e-3 * rng.standard_normal(g.size)).astype(np.float32)
    ours = compare_tensors(g, m)
    g64, m64 = torch.from_numpy(g).double(), torch.from_numpy(m).double()
    exact_kl = torch.nn.functional.kl_div(torch.log_softmax(m64, 0), torch.log_softmax(g64, 0), reduction="sum",
                                          log_target=True).item()
    g32, m32 = torch.from_numpy(g), torch.from_numpy(m)
    float32_kl = torch.nn.functional.kl_div(torch.log_softmax(m32, 0), torch.log_softmax(g32, 0), reduction="sum",
                                            log_target=True).item()
    assert abs(ours["kl_divergence"] - exact_kl) <= abs(float32_kl - exact_kl)
    assert abs(ours["kl_divergence"] - float32_kl) < 1e-4
    exact_mae = float(np.mean(np.abs(m.astype(np.float64) - g.astype(np.float64))))
    assert abs(ours["mean_absolute_error"] - exact_mae) < 1e-6
