"""The torchair tensor readers seen from Python (ait_llm.tensor_io over the C++ core): GE dump
files written by the core and read by address, the pre-converted `.npz` form numpy writes,
plain `.npz` archives, and a compare of two GE files (FORMATS.md 9.2)."""
import csv as csv_module
import subprocess

import numpy as np
import pytest

from conftest import build_program

GE_NAME = "Add.Add_2.44.6.1706596912161941"


@pytest.fixture(scope="module")
def tio(ait_llm_package):
    from ait_llm import tensor_io
    return tensor_io


def _write_ge(tio, path, inputs, outputs):
    items = {f"inputs,{k}": a for k, a in enumerate(inputs)}
    items.update({f"outputs,{k}": a for k, a in enumerate(outputs)})
    tio.write_tensors(path, items)


def test_ge_file_round_trip_and_addresses(tio, tmp_path):
    x = np.arange(6, dtype=np.float16).reshape(2, 3)
    w = np.array([3, 4], dtype=np.int64)
    y = (x.astype(np.float32) * 2).astype(np.float16)
    path = tmp_path / GE_NAME
    _write_ge(tio, path, [x, w], [y])
    everything = tio.read_tensors(path)
    assert list(everything) == ["inputs,0", "inputs,1", "outputs,0"]
    np.testing.assert_array_equal(everything["inputs,0"], x)
    np.testing.assert_array_equal(tio.read_tensor(f"{path},outputs,0"), y)
    np.testing.assert_array_equal(tio.read_tensor(path, "inputs,1"), w)
    with pytest.raises(tio.AitError, match=r"no tensor 'outputs,3'.*2 inputs and 1 outputs"):
        tio.read_tensor(f"{path},outputs,3")


def test_preconverted_npz_is_read_as_the_ge_file(tio, tmp_path):
    """The original's np.load(...)["inputs"] / ["outputs"]: tensors along the first axis."""
    inputs = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    outputs = np.ones((1, 3, 4), np.float16)
    for save in (np.savez, np.savez_compressed):
        path = tmp_path / f"{GE_NAME}.npz"
        save(path, inputs=inputs, outputs=outputs)
        got = tio.read_tensors(path)
        assert list(got) == ["inputs,0", "inputs,1", "outputs,0"]
        np.testing.assert_array_equal(got["inputs,1"], inputs[1])
        np.testing.assert_array_equal(tio.read_tensor(f"{path},outputs,0"), outputs[0])


def test_plain_npz_members_by_name(tio, tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, a=np.arange(3, dtype=">i4"), b=np.asfortranarray(np.arange(6.0).reshape(2, 3)))
    got = tio.read_tensors(path)
    assert sorted(got) == ["a", "b"]
    np.testing.assert_array_equal(got["a"], np.arange(3))
    np.testing.assert_array_equal(got["b"], np.arange(6.0).reshape(2, 3))
    # "inputs"/"outputs" are plain members where the file is not named as a GE dump file.
    np.savez(tmp_path / "x.npz", inputs=np.zeros((2, 2)))
    assert list(tio.read_tensors(tmp_path / "x.npz")) == ["inputs"]
    bad = tmp_path / f"{GE_NAME}.npz"
    np.savez(bad, inputs=np.array(1.0))
    with pytest.raises(tio.AitError, match="0-d array"):
        tio.read_tensors(bad)


def test_compare_two_ge_files_row_by_address(tio, tmp_path):
    """`ait llm compare` of two GE tensors by address: the pair table's metrics are numpy's."""
    rng = np.random.default_rng(0)
    golden = rng.standard_normal((4, 8)).astype(np.float32)
    my = golden.astype(np.float16)
    _write_ge(tio, tmp_path / GE_NAME, [golden], [golden])
    other = tmp_path / "my" / GE_NAME
    other.parent.mkdir()
    _write_ge(tio, other, [my], [my])
    from ait_llm import compare_files
    row = compare_files(f"{tmp_path / GE_NAME},outputs,0", f"{other},outputs,0")
    g, m = golden.astype(np.float64).ravel(), my.astype(np.float64).ravel()
    cosine = g @ m / np.linalg.norm(g) / np.linalg.norm(m)
    assert row["cosine_similarity"] == pytest.approx(cosine, rel=1e-9)
    assert row["max_absolute_error"] == pytest.approx(np.abs(g - m).max(), rel=1e-9)
    # A GE tensor against an .npy (an FX dump's file), as for any two tensor files.
    np.save(tmp_path / "golden.npy", golden)
    row = compare_files(tmp_path / "golden.npy", f"{other},outputs,0")
    assert row["max_absolute_error"] == pytest.approx(np.abs(g - m).max(), rel=1e-9)
    assert row["my_dtype"] == "torch.float16" and row["golden_dtype"] == "torch.float32"
    # The command takes the same addresses; its one-row CSV names them.
    out = subprocess.run([str(build_program("ait")), "llm", "compare", "-gp", f"{tmp_path / GE_NAME},inputs,0",
                          "-mp", f"{other},inputs,0", "-o", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    (csv,) = (tmp_path / "report").glob("ait_cmp_report_*.csv")
    assert f"{other},inputs,0" in csv.read_text()


def test_compare_two_whole_ge_files_gives_a_row_per_tensor(tio, tmp_path):
    """Two GE dump files as two files: each input and output is a row, addressed FILE,inputs,K."""
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    (tmp_path / "g").mkdir()
    (tmp_path / "m").mkdir()
    _write_ge(tio, tmp_path / "g" / GE_NAME, [x, x], [x * 2])
    _write_ge(tio, tmp_path / "m" / GE_NAME, [x.astype(np.float16), x.astype(np.float16)], [(x * 2.1).astype(np.float16)])
    out = subprocess.run([str(build_program("ait")), "llm", "compare", "-gp", str(tmp_path / "g" / GE_NAME),
                          "-mp", str(tmp_path / "m" / GE_NAME), "-o", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [line for line in out.stdout.splitlines() if line in ("inputs,0", "inputs,1", "outputs,0")] == \
        ["inputs,0", "inputs,1", "outputs,0"]
    (csv,) = (tmp_path / "report").glob("ait_cmp_report_*.csv")
    rows = list(csv_module.DictReader(csv.open()))
    assert [r["my_data_path"].rsplit("/", 1)[-1] for r in rows] == [f"{GE_NAME},inputs,0", f"{GE_NAME},inputs,1",
                                                                     f"{GE_NAME},outputs,0"]
    assert float(rows[0]["cosine_similarity"]) > 0.9999 and float(rows[2]["max_absolute_error"]) > 0.05
    # A GE file against a single-tensor file names the way to pick one of its tensors.
    np.save(tmp_path / "one.npy", x)
    out = subprocess.run([str(build_program("ait")), "llm", "compare", "-gp", str(tmp_path / "one.npy"),
                          "-mp", str(tmp_path / "m" / GE_NAME)], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.returncode != 0
    assert "holds 3 tensors" in out.stderr and "FILE,NAME" in out.stderr

