"""End-to-end tests of `ait llm compare`: real files written by numpy and torch, metrics
checked against an independent numpy implementation of the original's definitions."""
import csv
import math
import pathlib
import subprocess

import numpy as np
import pytest
import torch

from conftest import REPO

EPS = float(np.finfo(np.float32).eps)
METRICS = ["cosine_similarity", "max_relative_error", "mean_relative_error", "max_absolute_error",
           "mean_absolute_error", "kl_divergence", "relative_euclidean_distance"]
COLUMNS = ["token_id", "data_id", "golden_data_path", "golden_dtype", "golden_shape", "golden_max_value",
           "golden_min_value", "golden_mean_value", "my_data_path", "my_dtype", "my_shape", "my_max_value",
           "my_min_value", "my_mean_value"] + METRICS + ["cmp_fail_reason"]
# Not in the original: the operation / module each pair belongs to (appended after its 22 columns).
EXTRA_COLUMNS = ["my_op_name", "my_op_type", "golden_op_name", "golden_op_type", "match",
                 "op_verdict", "local_error", "expected_local_error", "root_cause"]


def reference_metrics(golden, my):
    """FORMATS.md 7.6, computed in numpy float64 from the float32 casts."""
    g = np.asarray(golden, dtype=np.float32).ravel()
    m = np.asarray(my, dtype=np.float32).ravel()
    g64, m64 = g.astype(np.float64), m.astype(np.float64)
    if not g.any() and not m.any():
        cos = 1.0
    else:
        cos = round(float(g64 @ m64 / (max(np.linalg.norm(g64), 1e-8) * max(np.linalg.norm(m64), 1e-8))), 10)
    mask = np.abs(g) > EPS
    safe_g = np.where(mask, g, np.float32(1))
    rel = np.where(mask, np.abs(m / safe_g - np.float32(1)), np.float32(0))
    ab = np.where(mask, np.abs(m - g), np.float32(0))

    def log_softmax(x):
        x = x - x.max()
        return x - np.log(np.exp(x).sum())

    log_p, log_q = log_softmax(g64), log_softmax(m64)
    p = np.exp(log_p)
    kl = max(float(np.sum(np.where(p > 0, p * (log_p - log_q), 0.0))), 0.0)
    red = 0.0 if math.sqrt(float(g64 @ g64)) <= EPS else float(((m64 - g64) ** 2).sum() / (g64 @ g64))
    return {"cosine_similarity": cos, "max_relative_error": float(rel.max()),
            "mean_relative_error": float(rel.astype(np.float64).mean()), "max_absolute_error": float(ab.max()),
            "mean_absolute_error": float(ab.astype(np.float64).mean()), "kl_divergence": kl,
            "relative_euclidean_distance": red}


def run(ait, *args, cwd=None):
    return subprocess.run([ait, "llm", "compare", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def read_report(folder):
    reports = sorted(pathlib.Path(folder).glob("ait_cmp_report_*.csv"))
    assert len(reports) == 1, f"expected one report in {folder}, found {reports}"
    with open(reports[0], newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == COLUMNS + EXTRA_COLUMNS
        return [dict(zip(header, row)) for row in reader]


def assert_metrics_match(row, golden, my):
    ref = reference_metrics(golden, my)
    assert row["cmp_fail_reason"] == ""
    for name in METRICS:
        got = float(row[name])
        assert got == pytest.approx(ref[name], rel=1e-6, abs=1e-9), name


def write_bin(path, array, dtype_code):
    """An ATB .bin file as the probe writes it (FORMATS.md 1.3)."""
    payload = np.ascontiguousarray(array).tobytes()
    dims = ",".join(str(d) for d in array.shape)
    header = (f"$Version=1.0\n$Object.Count=1\n$Object.Length={len(payload)}\nformat=2\ndtype={dtype_code}\n"
              f"dims={dims}\n$Object.data=0,{len(payload)}\n$End=1\n")
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_bytes(header.encode() + payload)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_file_pair_npy_fp32_vs_fp16(ait, tmp_path, rng):
    golden = rng.standard_normal((4, 1000)).astype(np.float32)
    my = golden.astype(np.float16)
    np.save(tmp_path / "g.npy", golden)
    np.save(tmp_path / "m.npy", my)
    r = run(ait, "-gp", tmp_path / "g.npy", "-mp", tmp_path / "m.npy", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "cosine_similarity" in r.stdout and "Report:" in r.stdout
    (row,) = read_report(tmp_path / "out")
    assert_metrics_match(row, golden, my)
    assert row["golden_dtype"] == "torch.float32" and row["my_dtype"] == "torch.float16"
    assert row["golden_shape"] == "[4, 1000]"
    assert float(row["golden_max_value"]) == pytest.approx(float(golden.max()), rel=1e-7)
    assert float(row["my_mean_value"]) == pytest.approx(float(my.astype(np.float64).mean()), rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_file_pair_torch_saved_views_and_dtypes(ait, tmp_path, dtype):
    torch.manual_seed(0)
    base = torch.randn(64, 48)
    golden = base.t()  # a transposed, non-contiguous view
    torch.save(golden, tmp_path / "golden.pth")
    # The same values through numpy (a Fortran-order .npy): a perfect match.
    np.save(tmp_path / "golden_ref.npy", golden.numpy())
    r = run(ait, "-gp", tmp_path / "golden.pth", "-mp", tmp_path / "golden_ref.npy", "-o", tmp_path / "o1")
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path / "o1")
    assert float(row["cosine_similarity"]) == 1.0 and float(row["max_absolute_error"]) == 0.0
    assert row["golden_shape"] == "[48, 64]"
    # A strided view (every other row) of another tensor in `dtype`, same element count.
    my = (torch.randn(96, 64) * 0.1 + golden.reshape(48, 64).repeat(2, 1)).to(dtype)[::2]
    torch.save(my, tmp_path / "my.pt")
    r = run(ait, "-gp", tmp_path / "golden.pth", "-mp", tmp_path / "my.pt", "-o", tmp_path / "o2")
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path / "o2")
    assert_metrics_match(row, golden.contiguous().numpy(), my.float().numpy())
    assert row["my_dtype"] == str(dtype) and row["my_shape"] == "[48, 64]"


def test_file_pair_count_mismatch_and_nan_are_results_not_errors(ait, tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3, np.float32))
    np.save(tmp_path / "b.npy", np.ones(4, np.float32))
    np.save(tmp_path / "n.npy", np.array([1, np.nan, 2], np.float32))
    r = run(ait, "-gp", tmp_path / "a.npy", "-mp", tmp_path / "b.npy", "-o", tmp_path / "o1")
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path / "o1")
    assert row["cmp_fail_reason"] == "data shape doesn't match."
    assert row["cosine_similarity"] == ""
    r = run(ait, "-gp", tmp_path / "a.npy", "-mp", tmp_path / "n.npy", "-o", tmp_path / "o2")
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path / "o2")
    assert row["cmp_fail_reason"] == "my_data includes NAN or inf."
    assert row["my_max_value"] == "nan"


def make_dump(root, pid, tensors, dtype, code):
    """ATB layout: root/ait_dump/tensors/0_{pid}/{token}/{op path}/after/outtensor0.bin."""
    for rel, value in tensors.items():
        write_bin(root / "ait_dump" / "tensors" / f"0_{pid}" / rel, value.astype(dtype), code)


def test_folder_pairs_in_execution_order_with_metrics(ait, tmp_path, rng):
    ops = ["0_Embedding/after/outtensor0.bin", "1_Layer/0_RmsNormOperation/after/outtensor0.bin",
           "1_Layer/1_LinearOperation/after/outtensor0.bin", "1_Layer/after/outtensor0.bin",
           "2_Norm/after/outtensor0.bin", "10_LmHead/after/outtensor0.bin"]
    golden = {f"{t}/{op}": rng.standard_normal((2, 300)).astype(np.float32) for t in (0, 1, 10) for op in ops}
    my = {k: v.astype(np.float16) for k, v in golden.items()}
    bad = "1/1_Layer/1_LinearOperation/after/outtensor0.bin"
    my[bad] = (golden[bad] * 1.2 + 0.5).astype(np.float16)
    make_dump(tmp_path / "g", 111, golden, np.float32, 0)
    make_dump(tmp_path / "m", 222, my, np.float16, 1)
    r = run(ait, "--golden-path", tmp_path / "g", "--my-path", tmp_path / "m", "--output", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    rows = read_report(tmp_path / "out")
    assert len(rows) == len(golden)
    expected_order = [f"{t}/{op}" for t in (0, 1, 10) for op in
                      [ops[0], ops[1], ops[2], ops[3], ops[4], ops[5]]]
    got_order = [r["my_data_path"].split("0_222/")[1] for r in rows]
    assert got_order == expected_order
    assert [r["token_id"] for r in rows] == [k.split("/")[0] for k in expected_order]
    assert [r["data_id"] for r in rows] == [str(i) for i in range(len(rows))]
    for row, key in zip(rows, expected_order):
        assert_metrics_match(row, golden[key], my[key].astype(np.float32))
    assert "First divergence" in r.stdout and "1_LinearOperation" in r.stdout
    assert "token 1" in r.stdout


def test_folder_batch_broadcast_and_tile(ait, tmp_path, rng):
    g1 = rng.standard_normal((1, 8)).astype(np.float32)
    g2 = rng.standard_normal((2, 8)).astype(np.float32)
    golden = {"0/0_A/after/outtensor0.bin": g1, "0/1_B/after/outtensor0.bin": g2,
              "0/2_C/after/outtensor0.bin": g2}
    my = {"0/0_A/after/outtensor0.bin": np.repeat(g1, 4, axis=0), "0/1_B/after/outtensor0.bin": np.tile(g2, (2, 1)),
          "0/2_C/after/outtensor0.bin": rng.standard_normal((3, 8)).astype(np.float32)}
    make_dump(tmp_path / "g", 1, golden, np.float32, 0)
    make_dump(tmp_path / "m", 2, my, np.float32, 0)
    r = run(ait, "-gp", tmp_path / "g", "-mp", tmp_path / "m", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    a, b, c = read_report(tmp_path / "out")
    assert float(a["cosine_similarity"]) == 1.0 and a["golden_shape"] == "[1, 8]" and a["my_shape"] == "[4, 8]"
    assert float(b["cosine_similarity"]) == 1.0
    assert c["cosine_similarity"] == "" and "neither broadcast nor tile" in c["cmp_fail_reason"]


def test_folder_int8_pairs_only_with_int8(ait, tmp_path):
    golden = {"0/0_A/after/outtensor0.bin": np.ones(4), "0/1_B/after/outtensor0.bin": np.ones(4)}
    make_dump(tmp_path / "g", 1, golden, np.float32, 0)
    write_bin(tmp_path / "m/ait_dump/tensors/0_2/0/0_A/after/outtensor0.bin", np.ones(4, np.int8), 2)
    write_bin(tmp_path / "m/ait_dump/tensors/0_2/0/1_B/after/outtensor0.bin", np.ones(4, np.float32), 0)
    r = run(ait, "-gp", tmp_path / "g", "-mp", tmp_path / "m", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    rows = read_report(tmp_path / "out")
    assert [row["my_dtype"] for row in rows] == ["torch.float32"]
    assert "int8-vs-non-int8 pairs dropped" in r.stdout


def test_corrupt_file_in_folder_becomes_a_row(ait, tmp_path):
    make_dump(tmp_path / "g", 1, {"0/0_A/after/outtensor0.bin": np.ones(4)}, np.float32, 0)
    bad = tmp_path / "m/ait_dump/tensors/0_2/0/0_A/after/outtensor0.bin"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"$Version=1.0\ndtype=0\ndims=4\n$End=1\n\x00\x00")
    r = run(ait, "-gp", tmp_path / "g", "-mp", tmp_path / "m", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path / "out")
    assert str(bad) in row["cmp_fail_reason"] and "payload holds 2 bytes" in row["cmp_fail_reason"]


@pytest.mark.parametrize("args, message", [
    (["-gp", "{t}/missing.npy", "-mp", "{t}/a.npy"], "--golden-path: '{t}/missing.npy' does not exist"),
    (["-gp", "{t}/a.npy", "-mp", "{t}"], "must both be folders or both be files"),
    (["-gp", "{t}/a.npy"], "--my-path is required"),
    (["-gp", "{t}/a.npy", "-mp", "{t}/a.npy", "-o", "{t}/a.npy"], "exists and is not a folder"),
    (["-gp", "{t}/a.npy", "-mp", "{t}/a.npy", "-l", "loud"], "--log-level: 'loud'"),
    (["-gp", "{t}/a.npy", "-mp", "{t}/a.npy", "-mf", "{t}/map.json"], "may contain only letters"),
    (["-gp", "{t}/a.npy", "-mp", "{t}/a.npy", "--cosine-threshold", "2"], "--cosine-threshold"),
])
def test_bad_arguments_exit_2_with_a_clear_message(ait, tmp_path, args, message):
    np.save(tmp_path / "a.npy", np.ones(3, np.float32))
    (tmp_path / "map.json").write_text('{"LinearOperation": ["Li-near"]}')
    r = run(ait, *[a.format(t=tmp_path) for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message.format(t=tmp_path) in r.stderr
    assert not list(tmp_path.glob("ait_cmp_report_*.csv"))


def test_unreadable_file_pair_exits_1_naming_the_file(ait, tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3, np.float32))
    (tmp_path / "b.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    r = run(ait, "-gp", tmp_path / "a.npy", "-mp", tmp_path / "b.npy", "-o", tmp_path)
    assert r.returncode == 1
    assert str(tmp_path / "b.npy") in r.stderr
    assert not list(tmp_path.glob("ait_cmp_report_*.csv"))


def test_default_output_is_the_current_folder_and_long_prefixes_work(ait, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(5, dtype=np.float32))
    r = run(ait, "--golden", "a.npy", "--my", "a.npy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path)
    assert float(row["cosine_similarity"]) == 1.0


def test_help_and_unknown_command(ait):
    r = subprocess.run([ait, "llm", "compare", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "-gp, --golden-path" in r.stdout and "Exit status" in r.stdout
    r = subprocess.run([ait, "llm", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def test_ranges_read_as_words_in_help_and_errors(ait):
    """Issue 18: `-t -1` answered with 309 digits of DBL_MAX, `-ct` showed `FLOAT:FLOAT in [-1 - 1]`."""
    r = subprocess.run([ait, "llm", "compare", "--help"], capture_output=True, text=True)
    assert "--cosine-threshold FLOAT in [-1, 1]=0.99" in r.stdout
    assert "--threads INT (>= 0)=0" in r.stdout
    for args, message in ((["-t", "-1"], "--threads: '-1' is not >= 0"),
                          (["-ct", "2"], "--cosine-threshold: '2' is not in [-1, 1]"),
                          (["-ct", "x"], "--cosine-threshold: 'x' is not a number")):
        r = subprocess.run([ait, "llm", "compare", "-gp", "a", "-mp", "b", *args], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert max(len(word) for word in r.stderr.split()) < 40, r.stderr
    r = subprocess.run([ait, "llm", "onnx", "--level", "-2", "x.json"], capture_output=True, text=True)
    assert r.returncode == 2 and "--level: '-2' is not >= -1" in r.stderr, r.stderr


@pytest.mark.parametrize("command", ["compare", "dump", "errcheck", "onnx", "opcheck"])
def test_option_help_is_wrapped_to_100_columns(ait, command):
    r = subprocess.run([ait, "llm", command, "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    options = r.stdout[r.stdout.index("Options:"):].splitlines()
    long_lines = [line for line in r.stdout.splitlines() if len(line) > 100]  # the description too
    assert not long_lines, long_lines
    if command in ("compare", "dump"):  # a wrapped description goes on in the description column
        assert any(line.startswith(" " * 20) and line.strip() for line in options)


def test_every_command_is_listed_and_none_is_planned(ait):
    r = subprocess.run([ait, "llm", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for command in ("compare", "dump", "errcheck", "onnx", "opcheck"):
        assert f"  {command}" in r.stdout, r.stdout
    assert "planned" not in r.stdout
    r = subprocess.run([ait, "llm", "opcheck", "-i", "x"], capture_output=True, text=True)
    assert r.returncode == 2 and "--input: 'x' does not exist" in r.stderr and "unknown command" not in r.stderr


def test_python_package_version_is_the_command_version(ait, ait_llm_package):
    import re
    for args in (["--version"], ["llm", "--version"], ["-V"]):
        r = subprocess.run([ait, *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        m = re.fullmatch(r"ait-llm (\S+) \(git ([0-9a-f]{12})(-dirty)?\)", r.stdout.strip())
        assert m, r.stdout
        assert m.group(1) == ait_llm_package.__version__
        # the revision the build was made from: this checkout's HEAD (make test builds before testing)
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert m.group(2) == head
    assert "__version__" not in ait_llm_package.__all__


def test_progress_shows_on_a_terminal_only(ait, tmp_path, rng):
    import os
    import pty

    tensors = {f"0/{i}_Op/after/outtensor0.bin": rng.standard_normal(64).astype(np.float32) for i in range(30)}
    make_dump(tmp_path / "g", 1, tensors, np.float32, 0)
    make_dump(tmp_path / "m", 2, tensors, np.float32, 0)
    args = [ait, "llm", "compare", "-gp", str(tmp_path / "g"), "-mp", str(tmp_path / "m"), "-o", str(tmp_path)]
    piped = subprocess.run(args, capture_output=True, text=True)
    assert piped.returncode == 0 and "Comparing pairs" not in piped.stderr + piped.stdout
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(ait, args)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert b"Comparing pairs 30/30 (100%)" in out


def test_torch_containers_of_one_tensor_compare_and_several_are_refused(ait, tmp_path):
    torch.manual_seed(1)
    t = torch.randn(10, 7)
    torch.save((t,), tmp_path / "tuple.pth")
    torch.save({"hidden": t.to(torch.float16)}, tmp_path / "dict.pth")
    torch.save({"a": t, "b": t}, tmp_path / "two.pth")
    r = run(ait, "-gp", tmp_path / "tuple.pth", "-mp", tmp_path / "dict.pth", "-o", tmp_path / "o1")
    assert r.returncode == 0, r.stderr
    (row,) = read_report(tmp_path / "o1")
    assert_metrics_match(row, t.numpy(), t.to(torch.float16).float().numpy())
    r = run(ait, "-gp", tmp_path / "tuple.pth", "-mp", tmp_path / "two.pth", "-o", tmp_path / "o2")
    assert r.returncode == 1
    assert str(tmp_path / "two.pth") in r.stderr and "holds 2 tensors (a, b); expected exactly one" in r.stderr


def test_cosine_matches_torch_at_every_norm(ait_llm_package):
    """Small-norm cosine: torch >= 1.12 (Debian's 1.13, which the original runs on) clamps each
    norm at 1e-8 on its own. Randomized float32 tensors with norms from 1e-12 to 1e6, zeros and
    one-sided zeros included, scored by the C++ kernel (scalar tail and SIMD body alike: sizes
    below and above a vector) must agree with torch's float64 cosine_similarity to 1e-9."""
    from ait_llm.compare import compare_tensors
    rng = np.random.default_rng(12)
    checked = 0
    for size in (1, 3, 64, 1000, 4099):
        for log_norm in range(-12, 7):
            for noise in (0.0, 0.5, 2.0):
                direction = rng.standard_normal(size)
                g = (direction / np.linalg.norm(direction) * 10.0 ** log_norm).astype(np.float32)
                m = (g + noise * 10.0 ** log_norm * rng.standard_normal(size) / math.sqrt(size)).astype(np.float32)
                if rng.random() < 0.1:
                    m = np.zeros_like(m)
                want = torch.nn.functional.cosine_similarity(torch.from_numpy(g.astype(np.float64)),
                                                             torch.from_numpy(m.astype(np.float64)), dim=0).item()
                got = compare_tensors(g, m)["cosine_similarity"]
                assert abs(got - want) <= 1e-9, (size, log_norm, noise, got, want)
                checked += 1
    assert checked == 5 * 19 * 3
    # The original's one special case: both sides all zeros are equal (torch would say 0).
    zeros = np.zeros(8, np.float32)
    assert compare_tensors(zeros, zeros)["cosine_similarity"] == 1.0


def test_cosine_of_the_issue_examples(ait_llm_package):
    """The two cases that showed the torch 1.9 formula's error: norms around 3e-5, and 64 values
    of about 4e-6 with 50% noise. Both are near-equal tensors and must score as such."""
    from ait_llm.compare import compare_tensors
    rng = np.random.default_rng(3)
    g = (rng.standard_normal(64) * 4e-6).astype(np.float32)
    m = (g + 0.5 * 4e-6 * rng.standard_normal(64)).astype(np.float32)
    want = torch.nn.functional.cosine_similarity(torch.from_numpy(g).double(), torch.from_numpy(m).double(), dim=0)
    got = compare_tensors(g, m)["cosine_similarity"]
    assert got > 0.85 and abs(got - want.item()) <= 1e-9
    old_formula = float(g.astype(np.float64) @ m.astype(np.float64)) / max(
        np.linalg.norm(g.astype(np.float64)) * np.linalg.norm(m.astype(np.float64)), 1e-8)
    assert old_formula < 0.3  # what the product clamp gave: the pair looked unrelated
