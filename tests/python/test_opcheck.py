"""`ait llm opcheck` end to end on real dumps: the reference engine's tiny preset dumped with
`ait llm dump --type tensor op -time 2`, clean (every operation passes in fp32, fp16 and bf16)
and with a fault planted by `ait-engine run --perturb` (exactly that operation fails: every
other one is checked on its own dumped inputs, so what comes downstream of the fault passes).
Then the precision standards at their boundaries, the selection flags, -c with the dump's
operation CSV, -metric, the xlsx and CSV reports cell by cell, types without a reference, a hand-made two-rank collective dump, malformed
params and tensor files, -rerun, input errors and the Python API (docs/OPCHECK.md,
FORMATS.md 4.5 and 8)."""
import csv
import json
import math
import os
import pathlib
import re
import shutil

import numpy as np
import pytest

from conftest import run_checked

PROMPT = "1,2,3"
# FORMATS 8.4 keyed by canonical dtype (our policy 6).
STANDARD = {"fp32": "99.99%(error<0.0001)", "fp16": "99.9%(error<0.001)", "bf16": "99.6%(error<0.004)"}
BASE_COLUMNS = ["op_id", "op_name", "op_param", "tensor_path", "out_tensor_id", "precision_standard",
                "precision_result", "rel_precision_rate(%)", "max_rel_error"]
TAIL_COLUMNS = ["fail_reason", "token", "worst_element"]
SUMMARY = re.compile(r"opcheck: (\d+) operations? checked under (\S+): (\d+) PASS, (\d+) FAILED, "
                     r"(\d+) addition failed(?: \((\d+) graph operations)?")


# ---------------------------------------------------------------------------------------------
# Dumps and runs.

@pytest.fixture(scope="module")
def dumps(ait, ait_engine, tiny, tmp_path_factory):
    """dumps(dtype, perturb=None, tokens=1, time_="2") -> the -o folder of an `ait llm dump` of the
    tiny preset (made once per module)."""
    made = {}

    def get(dtype, perturb=None, tokens=1, time_="2"):
        key = (dtype, perturb, tokens, time_)
        if key not in made:
            out = tmp_path_factory.mktemp("dump_" + re.sub(r"[^A-Za-z0-9]+", "_", "_".join(map(str, key))))
            cmd = [ait_engine, "run", "--model", str(tiny), "--input-ids", PROMPT, "--max-new-tokens", str(tokens),
                   "--dtype", dtype]
            if perturb:
                cmd += ["--perturb", perturb]
            run_checked(ait, "llm", "dump", "--exec", " ".join(cmd), "--type", "tensor", "op", "-time", time_,
                        "-er", f"0,{tokens - 1}", "-o", out)
            made[key] = out
        return made[key]

    return get


def process_dir(out):
    (proc,) = (pathlib.Path(out) / "ait_dump" / "tensors").iterdir()
    return proc


def op_csv(out, token=0):
    (found,) = (pathlib.Path(out) / "ait_dump" / "operation_io_tensors").glob(f"*/operation_tensors_{token}.csv")
    return found


class Run:
    """One `ait llm opcheck` run: its output, summary counts and report rows."""

    def __init__(self, proc, out_dir):
        self.rc, self.stdout, self.stderr = proc.returncode, proc.stdout, proc.stderr
        m = SUMMARY.search(self.stdout)
        self.counts = None
        if m:
            self.counts = {"checked": int(m[1]), "base": m[2], "passed": int(m[3]), "failed": int(m[4]),
                           "unsupported": int(m[5]), "graphs": int(m[6] or 0)}
        csvs = sorted(pathlib.Path(out_dir).glob("opcheck_result_*.csv"))
        xlsxs = sorted(pathlib.Path(out_dir).glob("opcheck_result_*.xlsx"))
        self.csv = csvs[-1] if csvs else None
        self.xlsx = xlsxs[-1] if xlsxs else None
        self.columns, self.rows = [], []
        if self.csv:
            with open(self.csv, newline="") as f:
                table = list(csv.reader(f))
            self.columns = table[0]
            self.rows = [dict(zip(self.columns, r)) for r in table[1:]]

    def cases(self):
        """{(token, op_id): [rows]} in report order."""
        out = {}
        for r in self.rows:
            out.setdefault((r["token"], r["op_id"]), []).append(r)
        return out

    def results(self):
        """{(token, op_id): precision_result of the case} (FAILED when any row failed)."""
        return {k: "FAILED" if any(r["precision_result"] == "FAILED" for r in rows) else rows[0]["precision_result"]
                for k, rows in self.cases().items()}


@pytest.fixture
def opcheck(ait, tmp_path):
    """opcheck(*args, rc=0, env=None) -> Run: `ait llm opcheck args -o <fresh folder> -t 2`."""
    count = [0]

    def run(*args, rc=0, env=None, output=True):
        count[0] += 1
        out = tmp_path / f"report{count[0]}"
        extra = ["-o", out] if output else []
        r = run_checked(ait, "llm", "opcheck", *args, *extra, "-t", 2, rc=rc, env=env)
        return Run(r, out)

    return run


@pytest.fixture(scope="module")
def tensor_io(ait_llm_package):
    """ait_llm.tensor_io of the build."""
    import importlib
    return importlib.import_module("ait_llm.tensor_io")


def read_float64(tensor_io, path):
    """A dumped tensor's values as a float64 numpy array (bfloat16 comes back as torch or float32)."""
    t = tensor_io.read_tensor(path)
    if hasattr(t, "detach"):
        t = t.detach().float().numpy()
    return np.asarray(t, dtype=np.float64)


def leaf_operations(token_dir):
    """The dump's leaf operations below a token folder by a walk of our own: op id -> type, and
    the number of graph operations (folders with op_param.json holding operations that have one)."""
    leaves, graphs = {}, 0

    def walk(d, prefix):
        nonlocal graphs
        for sub in sorted(p for p in d.iterdir() if p.is_dir() and re.fullmatch(r"\d+_\w+", p.name)):
            op_id = sub.name.split("_", 1)[0] if not prefix else prefix + "_" + sub.name.split("_", 1)[0]
            children = [c for c in sub.iterdir() if c.is_dir() and (c / "op_param.json").is_file()]
            if (sub / "op_param.json").is_file() and children:
                graphs += 1
                walk(sub, op_id)
            elif (sub / "op_param.json").is_file() and (sub / "after").is_dir():
                leaves[op_id] = sub.name.split("_", 1)[1]

    walk(pathlib.Path(token_dir), "")
    return leaves, graphs


# ---------------------------------------------------------------------------------------------
# Clean dumps: every operation passes.

@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_clean_dump_every_operation_passes(dumps, opcheck, layers, dtype):
    out = dumps(dtype, tokens=2)
    proc = process_dir(out)
    r = opcheck("-i", out / "ait_dump")
    expected = {}
    graphs = 0
    for token in ("0", "1"):
        leaves, g = leaf_operations(proc / token)
        graphs += g
        expected.update({(token, op_id): t for op_id, t in leaves.items()})
    assert len(expected) == 2 * (3 + 15 * layers)  # embedding, every layer node, final norm, lm head
    assert r.rc == 0 and r.counts == {"checked": len(expected), "base": str(proc), "passed": len(expected),
                                      "failed": 0, "unsupported": 0, "graphs": graphs}, r.stdout
    assert graphs == 2 * layers
    assert "FAILED (" not in r.stdout and "Not checked" not in r.stdout
    assert r.results() == {k: "PASS" for k in expected}
    assert {(r_["token"], r_["op_id"]): r_["op_name"] for r_ in r.rows} == expected
    assert {t for t in expected.values()} == {"GatherOperation", "RmsNormOperation", "LinearOperation",
                                              "RopeOperation", "SelfAttentionOperation", "ElewiseOperation",
                                              "ActivationOperation"}
    for row in r.rows:
        assert row["precision_standard"] == STANDARD[dtype], row
        assert row["fail_reason"] == "", row
        rate, required = float(row["rel_precision_rate(%)"]), float(STANDARD[dtype].split("%")[0])
        assert required <= rate <= 100, row
        assert 0 <= float(row["max_rel_error"]) < 1, row
        assert pathlib.Path(row["tensor_path"]).name == "after" and pathlib.Path(row["tensor_path"]).is_dir()
    # Rope's two outputs: two rows per Rope case.
    assert sum(1 for row in r.rows if row["op_name"] == "RopeOperation") == 2 * 2 * layers


# ---------------------------------------------------------------------------------------------
# Planted faults: exactly that operation fails.

PLANTED = [
    ("LinearOperation_1_6", "scale:1.01", "1_6"),
    ("RopeOperation_2_4", "noise:0.01", "2_4"),
    ("RmsNormOperation_1_8", "bias:0.01", "1_8"),
    ("ActivationOperation_2_11", "nan:0.01", "2_11"),
    ("ElewiseOperation_1_12", "scale:1.01", "1_12"),
    ("SelfAttentionOperation_1_5", "noise:0.01", "1_5"),
    ("GatherOperation_0", "bias:0.01", "0"),
]
WORST = re.compile(r"^\[([0-9, ]+)\]: (\S+) \(reference (\S+)\)$")


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
@pytest.mark.parametrize("name,fault,op_id", PLANTED, ids=[p[0] + "=" + p[1] for p in PLANTED])
def test_planted_fault_fails_exactly_that_operation(dumps, opcheck, tensor_io, name, fault, op_id, dtype):
    out = dumps(dtype, perturb=f"{name}={fault}")
    op_type = re.match(r"[A-Za-z]+", name)[0]
    r = opcheck("-i", out / "ait_dump", rc=1)
    leaves, _ = leaf_operations(process_dir(out) / "0")
    assert r.counts["checked"] == len(leaves) and r.counts["failed"] == 1, r.stdout
    assert r.counts["passed"] == len(leaves) - 1 and r.counts["unsupported"] == 0
    assert r.results() == {("0", i): "FAILED" if i == op_id else "PASS" for i in leaves}
    assert leaves[op_id] == op_type

    # The terminal names the operation and its worst element; the report row says the same.
    failed_rows = [row for row in r.rows if row["op_id"] == op_id and row["precision_result"] == "FAILED"]
    assert failed_rows, r.rows
    row = failed_rows[0]
    section = r.stdout.split("FAILED (", 1)[1]
    assert f"token 0 op {op_id} {op_type}\n" in section, r.stdout
    assert "max relative error" in section and f"at {row['worst_element']}" in section, r.stdout
    assert "relative pass rate" in row["fail_reason"] and "not met standard" in row["fail_reason"]
    rate, required = float(row["rel_precision_rate(%)"]), float(STANDARD[dtype].split("%")[0])
    assert rate < required

    # The worst element is where the dumped output really holds that value.
    m = WORST.match(row["worst_element"])
    assert m, row["worst_element"]
    index = tuple(int(i) for i in m[1].split(","))
    dumped = read_float64(tensor_io, pathlib.Path(row["tensor_path"]) / f"outtensor{row['out_tensor_id']}.bin")
    value = dumped[index]
    if fault.startswith("nan"):
        # NaN at flat index 0, 100, ...: the first is the worst (an infinite error).
        assert m[2] == "nan" and math.isnan(value) and index == (0,) * dumped.ndim
        assert row["max_rel_error"] == "inf"
        nans = math.ceil(dumped.size / 100)
        assert int(np.isnan(dumped).sum()) == nans
        assert 100 - 100 * nans / dumped.size - 0.5 <= rate <= 100 - 100 * nans / dumped.size + 1e-9
    else:
        assert float(m[2]) == pytest.approx(value, rel=1e-6, abs=1e-12)
        reference = float(m[3])
        # The error is relative to |reference| or more (the RMS floor), never to less.
        assert 0 < float(row["max_rel_error"]) <= abs(value - reference) / abs(reference) * (1 + 1e-3)
    if fault.startswith("scale"):  # x * 1.01, rounded to the storage dtype
        assert 0.005 < float(row["max_rel_error"]) < 0.02, row


# ---------------------------------------------------------------------------------------------
# The standards at their boundaries (our policy: pass when rate >= required, keyed by dtype), on
# hand-made GatherOperation dumps whose output copies the table except `bad` elements.

BOUNDARIES = [  # dtype, elements, the most bad elements that still pass, the standard's text
    ("float16", 1000, 1, "99.9%(error<0.001)"),
    ("bfloat16", 1000, 4, "99.6%(error<0.004)"),
    ("float32", 10000, 1, "99.99%(error<0.0001)"),
    ("float64", 10000, 1, "99.99%(error<0.0001)"),
    ("int8", 1000, 1, "99.9%(error<1)"),
    ("int16", 1000, 1, "99.9%(error<1)"),
    ("uint8", 100, 1, "99%(error<1)"),
    ("int32", 10000, 1, "99.99%(error<0.0001)"),
    ("int64", 10000, 1, "99.99%(error<0.0001)"),
    ("bool", 10, 0, "100%(error<0.0001)"),
]


def write_case(tensor_io, folder, param, inputs, outputs):
    (folder / "after").mkdir(parents=True)
    (folder / "op_param.json").write_text(json.dumps(param) + "\n")
    for prefix, tensors in (("intensor", inputs), ("outtensor", outputs)):
        for i, t in enumerate(tensors):
            tensor_io.write_bin(folder / "after" / f"{prefix}{i}.bin", t)


@pytest.mark.parametrize("dtype,n,allowed,standard", BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_precision_standard_boundaries(opcheck, tensor_io, tmp_path, dtype, n, allowed, standard):
    import torch
    rng = np.random.default_rng(7)
    if dtype == "bool":
        table = rng.integers(0, 2, n).astype(bool)
    elif dtype.startswith(("int", "uint")):
        table = rng.integers(1, 60, n).astype(dtype)
    else:
        table = rng.uniform(0.5, 2.0, n).astype(np.float32 if dtype == "bfloat16" else dtype)
    token = tmp_path / "ait_dump" / "tensors" / "0_77" / "0"

    def as_stored(a):
        return torch.from_numpy(np.asarray(a, np.float32)).bfloat16() if dtype == "bfloat16" else a

    def case(op_id, out):
        write_case(tensor_io, token / f"{op_id}_GatherOperation", {"axis": 0},
                   [as_stored(table.reshape(n, 1)), np.arange(n, dtype=np.int32)], [as_stored(out.reshape(n, 1))])

    def spoiled(count):
        out = table.copy()
        if dtype == "bool":
            out[:count] = ~out[:count]
        elif dtype.startswith(("int", "uint")):
            out[:count] += 7  # far outside every error level, the same error everywhere
        else:
            out[:count] *= 4  # a relative error of 3
        return out

    case(0, spoiled(allowed))      # exactly the required rate (or above it): PASS
    case(1, spoiled(allowed + 1))  # just below: FAILED
    if dtype.startswith(("int", "uint")):
        case(2, table + 1)         # off by one everywhere: within the integer level of 1 or not
    r = opcheck("-i", token, rc=1)
    rows = {row["op_id"]: row for row in r.rows}
    assert {row["precision_standard"] for row in r.rows} == {standard}
    required = float(standard.split("%")[0])
    assert rows["0"]["precision_result"] == "PASS" and float(rows["0"]["rel_precision_rate(%)"]) >= required, rows
    assert rows["1"]["precision_result"] == "FAILED" and float(rows["1"]["rel_precision_rate(%)"]) < required
    assert int(WORST.match(rows["1"]["worst_element"])[1].split(",")[0]) <= allowed  # one of the spoiled
    if dtype.startswith(("int", "uint")):
        # An absolute error of 1: within int8/int16/uint8's level of 1, not int32/int64's 0.0001.
        assert rows["2"]["precision_result"] == ("PASS" if standard.endswith("(error<1)") else "FAILED")
        assert float(rows["2"]["max_rel_error"]) == 1


# ---------------------------------------------------------------------------------------------
# Selection: -ids, -opname.

def expected_ids(out, keep):
    leaves, _ = leaf_operations(process_dir(out) / "0")
    return {("0", i) for i, t in leaves.items() if keep(i, t)}


@pytest.mark.parametrize("args,keep", [
    (["-ids", "1"], lambda i, t: i.split("_")[0] == "1"),
    (["-ids", "1_6"], lambda i, t: i == "1_6"),
    (["-ids", "1_1"], lambda i, t: i == "1_1"),  # not 1_10 .. 1_14
    (["-ids", "0,2_5"], lambda i, t: i in ("0", "2_5")),
    (["-ids", "2_5, 1_6"], lambda i, t: i in ("2_5", "1_6")),
    (["-ids", "2_5,", " 1_1"], lambda i, t: i in ("2_5", "1_1")),
    (["-opname", "linear"], lambda i, t: "linear" in t.lower()),
    (["-opname", "LINEAR,rms"], lambda i, t: t in ("LinearOperation", "RmsNormOperation")),
    (["-opname", "Norm", "gather"], lambda i, t: t in ("RmsNormOperation", "GatherOperation")),
    (["-opname", "ation"], lambda i, t: True),
    (["-ids", "2", "-opname", "self"], lambda i, t: i == "2_5"),
    (["-ids", "1,3", "-opname", "linear"], lambda i, t: i.split("_")[0] in ("1", "3") and t == "LinearOperation"),
], ids=["layer", "one", "not-prefix", "list", "spaced", "values", "name", "names", "name-values", "all", "both", "both-list"])
def test_filters_select_operations(dumps, opcheck, args, keep):
    out = dumps("fp16")
    r = opcheck("-i", out / "ait_dump", *args)
    want = expected_ids(out, keep)
    assert want and set(r.results()) == want, (args, r.stdout)
    assert r.counts["checked"] == len(want) and r.counts["passed"] == len(want)


def test_filters_that_match_nothing_or_bad_ids_exit_2(dumps, opcheck):
    out = dumps("fp16")
    r = opcheck("-i", out / "ait_dump", "-ids", "7_1", rc=2)
    assert "no operation matches -ids/-opname" in r.stderr
    r = opcheck("-i", out / "ait_dump", "-ids", "1", "-opname", "gather", rc=2)
    assert "no operation matches" in r.stderr
    for bad in ("1_a", "1__2", "3-1", "1;2", "_1"):
        r = opcheck("-i", out / "ait_dump", "-ids", bad, rc=2)
        assert "-ids" in r.stderr and "not an operation id" in r.stderr, (bad, r.stderr)
        assert r.csv is None


# ---------------------------------------------------------------------------------------------
# -c: the dump's operation CSV.

def test_operation_csv_checks_the_same_cases_as_the_folder_walk(dumps, opcheck):
    out = dumps("fp16", tokens=2)
    proc = process_dir(out)
    for token in ("0", "1"):
        walk = opcheck("-i", proc / token)
        from_token = opcheck("-c", op_csv(out, token), "-i", proc / token)
        from_root = opcheck("-c", op_csv(out, token), "-i", out / "ait_dump")
        assert walk.results() and set(k[0] for k in walk.results()) == {token}
        for r in (from_token, from_root):
            assert r.rc == 0 and r.results() == walk.results(), r.stdout
            assert r.counts["base"] == str(proc / token)
            # The params come from the CSV's OpParam cells: the same objects as op_param.json.
            for row in r.rows:
                folder = pathlib.Path(row["tensor_path"]).parent
                assert json.loads(row["op_param"]) == json.loads((folder / "op_param.json").read_text())
        # With a filter too.
        r = opcheck("-c", op_csv(out, token), "-i", out / "ait_dump", "-ids", "2", "-opname", "linear")
        assert set(r.results()) == {(token, f"2_{n}") for n in (1, 2, 3, 6, 9, 10, 13)}


def test_operation_csv_row_without_a_folder_fails_that_case(dumps, opcheck, tmp_path):
    out = dumps("fp16")
    lines = op_csv(out).read_text().splitlines()
    header, row = lines[0], next(l for l in lines[1:] if "|LinearOperation_1_6|" in l)
    text = "\n".join([header, row, row.replace("LinearOperation_1_6", "LinearOperation_1_99")]) + "\n"
    csv_file = tmp_path / "operation_tensors_0.csv"
    csv_file.write_text(text)
    r = opcheck("-c", csv_file, "-i", out / "ait_dump", rc=1)
    assert r.results() == {("0", "1_6"): "PASS", ("0", "1_99"): "FAILED"}
    (missing,) = [row for row in r.rows if row["op_id"] == "1_99"]
    assert "does not exist" in missing["fail_reason"]


@pytest.mark.parametrize("text,says", [
    ("", "is empty"),
    ("CaseNum|CaseName|OpName|InNum\n1|x|LinearOperation_1_6|2\n", "no OpName and OpParam"),
    ("CaseNum|CaseName|OpName|OpParam|InNum\n1|x|LinearOperation_1_6\n", "line 2: 3 cells where the header has 5"),
    ("CaseNum|CaseName|OpName|OpParam|InNum\n1|x|Linear-1-6|{}|2\n", "OpName 'Linear-1-6'"),
    ("CaseNum|CaseName|OpName|OpParam|InNum\n1|x|LinearOperation_|{}|2\n", "OpName 'LinearOperation_'"),
], ids=["empty", "no-param-column", "short-row", "bad-name", "no-id"])
def test_malformed_operation_csv_exits_2_naming_the_file(dumps, opcheck, tmp_path, text, says):
    out = dumps("fp16")
    csv_file = tmp_path / "operation_tensors_0.csv"
    csv_file.write_text(text)
    r = opcheck("-c", csv_file, "-i", process_dir(out) / "0", rc=2)
    assert str(csv_file) in r.stderr and says in r.stderr, r.stderr


def test_operation_csv_token_from_the_file_name(dumps, opcheck, tmp_path):
    out = dumps("fp16")
    other = tmp_path / "ops.csv"
    shutil.copy(op_csv(out), other)
    r = opcheck("-c", other, "-i", out / "ait_dump", rc=2)
    assert "does not say which token" in r.stderr and str(other) in r.stderr
    renamed = tmp_path / "operation_tensors_5.csv"
    shutil.copy(op_csv(out), renamed)
    r = opcheck("-c", renamed, "-i", out / "ait_dump", rc=2)
    assert "has no token folder 5" in r.stderr
    # Given the token folder, the file's name does not matter.
    r = opcheck("-c", other, "-i", process_dir(out) / "0")
    assert r.counts["failed"] == 0 and r.counts["passed"] == len(leaf_operations(process_dir(out) / "0")[0])


# ---------------------------------------------------------------------------------------------
# -metric and the reports.

@pytest.mark.parametrize("metrics,extra", [
    (["kl", "abs", "cos_sim"], ["abs_precision_rate(%)", "max_abs_error", "cosine_similarity", "kl_divergence"]),
    (["cos_sim", "abs"], ["abs_precision_rate(%)", "max_abs_error", "cosine_similarity"]),
    (["kl"], ["kl_divergence"]),
    (["cos_sim", "cos_sim"], ["cosine_similarity"]),
])
def test_metrics_add_columns_in_the_documented_order(dumps, opcheck, metrics, extra):
    out = dumps("fp16")
    r = opcheck("-i", out / "ait_dump", "-metric", *metrics)
    assert r.columns == BASE_COLUMNS + extra + TAIL_COLUMNS
    for row in r.rows:
        if "cosine_similarity" in row:
            assert re.fullmatch(r"\d\.\d{10}", row["cosine_similarity"]), row
            assert float(row["cosine_similarity"]) > 0.99999, row
        if "kl_divergence" in row:
            assert row["kl_divergence"] == "NaN" or 0 <= float(row["kl_divergence"]) < 1e-3, row
        if "max_abs_error" in row:
            assert 0 <= float(row["max_abs_error"]) < 0.01, row
            assert 0 <= float(row["abs_precision_rate(%)"]) <= 100, row


def test_metrics_show_the_fault(dumps, opcheck):
    out = dumps("fp16", perturb="LinearOperation_1_6=scale:1.01")
    r = opcheck("-i", out / "ait_dump", "-metric", "abs", "cos_sim", rc=1)
    (row,) = [row for row in r.rows if row["op_id"] == "1_6"]
    # A scale keeps the direction: cosine ~1 while the relative rate fails.
    assert float(row["cosine_similarity"]) > 0.9999 and float(row["rel_precision_rate(%)"]) < 5


def check_xlsx_matches_csv(xlsx, csv_path):
    import openpyxl
    wb = openpyxl.load_workbook(xlsx, read_only=True)
    sheet = wb.worksheets[0]
    x_rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    wb.close()
    with open(csv_path, newline="") as f:
        c_rows = list(csv.reader(f))
    assert len(x_rows) == len(c_rows) and len(c_rows) > 1
    header = c_rows[0]
    assert x_rows[0] == header
    digits = {"out_tensor_id": 0, "cosine_similarity": 10}
    numeric = {"out_tensor_id", "rel_precision_rate(%)", "max_rel_error", "abs_precision_rate(%)", "max_abs_error",
               "cosine_similarity", "kl_divergence"}
    for x_row, c_row in zip(x_rows[1:], c_rows[1:]):
        assert len(c_row) == len(header)
        x_row = x_row + [None] * (len(header) - len(x_row))
        for name, x, c in zip(header, x_row, c_row):
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                assert name in numeric, (name, x, c)
                d = digits.get(name, 16)
                assert re.fullmatch(r"-?\d+" + (rf"\.\d{{{d}}}" if d else ""), c), (name, c)
                assert format(x, f".{d}f") == c, (name, x, c)
            elif name in numeric:  # a missing number: the text NaN (or inf) in both
                assert x == c and c in ("NaN", "inf", "-inf"), (name, x, c)
            else:
                assert (x or "") == c, (name, x, c)
    return header, c_rows[1:]


def test_reports_xlsx_and_csv_hold_the_same_rows(dumps, opcheck, tmp_path):
    out = dumps("bf16", perturb="ActivationOperation_2_11=nan:0.01")
    dump = tmp_path / "dump"
    shutil.copytree(out / "ait_dump", dump / "ait_dump")
    token = process_dir(dump) / "0"
    shutil.copytree(token / "3_RmsNormOperation", token / "9_FooOperation")  # addition failed: last row
    (token / "1_LlamaLayer" / "1_LinearOperation" / "op_param.json").write_text("{,}")  # FAILED, no outputs

    r = opcheck("-i", dump / "ait_dump", "-metric", "kl", "cos_sim", "abs", rc=1)
    assert r.xlsx and r.csv and r.xlsx.stem == r.csv.stem
    assert re.fullmatch(r"opcheck_result_\d{8}_\d{6}", r.csv.stem)
    assert str(r.xlsx) in r.stdout and str(r.csv) in r.stdout
    header, rows = check_xlsx_matches_csv(r.xlsx, r.csv)
    assert header == BASE_COLUMNS + ["abs_precision_rate(%)", "max_abs_error", "cosine_similarity",
                                     "kl_divergence"] + TAIL_COLUMNS
    col = {name: i for i, name in enumerate(header)}
    assert len(rows) == len(r.rows)
    assert rows[-1][:2] == ["9", "FooOperation"] and rows[-1][col["precision_result"]] == "addition failed"
    assert "FooOperation" in rows[-1][col["fail_reason"]]
    by_id = {row[0]: row for row in rows}
    for op_id in ("9", "1_1"):  # no scores: NaN in every number column
        row = by_id[op_id]
        assert [row[col[c]] for c in header if c in ("out_tensor_id", "rel_precision_rate(%)", "max_rel_error",
                                                      "abs_precision_rate(%)", "max_abs_error",
                                                      "cosine_similarity", "kl_divergence")] == ["NaN"] * 7
        assert row[col["precision_standard"]] == "NaN" and row[col["worst_element"]] == ""
    assert by_id["1_1"][col["precision_result"]] == "FAILED"
    assert "not valid JSON" in by_id["1_1"][col["fail_reason"]] and by_id["1_1"][col["op_param"]] == "{,}"
    nan_row = by_id["2_11"]
    assert nan_row[col["precision_result"]] == "FAILED" and nan_row[col["max_rel_error"]] == "inf"
    assert nan_row[col["worst_element"]].startswith("[0, 0]: nan (reference ")
    assert {row[col["precision_result"]] for row in rows[:-1] if row[0] not in ("1_1", "2_11")} == {"PASS"}

    # -rerun scores the rerun (the engine's output has no NaN) and compares the dump with it.
    r = opcheck("-i", dump / "ait_dump", "-metric", "cos_sim", "-rerun", rc=1)
    header, rows = check_xlsx_matches_csv(r.xlsx, r.csv)
    assert header == BASE_COLUMNS + ["cosine_similarity"] + TAIL_COLUMNS + ["rerun_vs_dump"]
    col = {name: i for i, name in enumerate(header)}
    by_id = {row[0]: row for row in rows}
    assert by_id["2_11"][col["precision_result"]] == "PASS"
    assert re.fullmatch(r"output 0 differs: element 0 is \S+ in the rerun, nan in the dump",
                        by_id["2_11"][col["rerun_vs_dump"]]), by_id["2_11"]
    assert by_id["1_1"][col["precision_result"]] == "FAILED" and by_id["1_1"][col["rerun_vs_dump"]] == ""
    assert {row[col["rerun_vs_dump"]] for row in rows if row[0] not in ("1_1", "2_11", "9")} == {"identical"}
    assert "-rerun: 1 operation gave other outputs than the dump" in r.stdout
    assert "token 0 op 2_11 ActivationOperation: output 0 differs" in r.stdout


def test_reports_plain_columns(dumps, opcheck):
    out = dumps("fp32")
    r = opcheck("-i", out / "ait_dump")
    header, rows = check_xlsx_matches_csv(r.xlsx, r.csv)
    assert header == BASE_COLUMNS + TAIL_COLUMNS
    by_id = {row[0]: row for row in rows}
    assert json.loads(by_id["1_6"][2]) == {"hasBias": False, "transposeA": False, "transposeB": True}
    assert all(row[header.index("token")] == "0" for row in rows)


# ---------------------------------------------------------------------------------------------
# Types without a reference; a dump without graphs.

def test_unknown_type_is_addition_failed_and_counted(dumps, opcheck, tmp_path):
    out = dumps("fp16")
    dump = tmp_path / "dump"
    shutil.copytree(out / "ait_dump", dump / "ait_dump")
    token = process_dir(dump) / "0"
    shutil.copytree(token / "1_LlamaLayer" / "6_LinearOperation", token / "99_FooOperation")
    shutil.copytree(token / "2_LlamaLayer" / "0_RmsNormOperation", token / "2_LlamaLayer" / "20_BarOperation")
    leaves, graphs = leaf_operations(token)
    r = opcheck("-i", dump / "ait_dump")
    assert r.rc == 0 and r.counts == {"checked": len(leaves), "base": str(token.parent), "passed": len(leaves) - 2,
                                      "failed": 0, "unsupported": 2, "graphs": graphs}, r.stdout
    results = r.results()
    assert results[("0", "99")] == results[("0", "2_20")] == "addition failed"
    section = r.stdout.split("Not checked (addition failed):", 1)[1]
    assert "token 0 op 99 FooOperation: no float64 reference for FooOperation" in section
    assert "token 0 op 2_20 BarOperation: no float64 reference for BarOperation" in section
    assert [row["precision_result"] for row in r.rows[-2:]] == ["addition failed"] * 2
    # With a failure besides, the status is 1 and both are listed.
    (token / "1_LlamaLayer" / "6_LinearOperation" / "op_param.json").write_text('{"hasBias": true}')
    r = opcheck("-i", dump / "ait_dump", rc=1)
    assert r.counts["failed"] == 1 and r.counts["unsupported"] == 2


def test_graphless_dump(dumps, opcheck, tmp_path):
    out = dumps("fp16")
    token = process_dir(out) / "0"
    fake = tmp_path / "ait_dump" / "tensors" / "0_4242" / "0"
    fake.mkdir(parents=True)
    shutil.copytree(token / "0_GatherOperation", fake / "0_GatherOperation")
    shutil.copytree(token / "3_RmsNormOperation", fake / "1_RmsNormOperation")
    shutil.copytree(token / "4_LinearOperation", fake / "2_QuuxOperation")
    r = opcheck("-i", tmp_path)
    assert r.rc == 0 and r.counts == {"checked": 3, "base": str(fake.parent), "passed": 2, "failed": 0,
                                      "unsupported": 1, "graphs": 0}, r.stdout
    assert "graph operations" not in r.stdout
    assert r.results() == {("0", "0"): "PASS", ("0", "1"): "PASS", ("0", "2"): "addition failed"}
    # Only unsupported: still exit 0.
    r = opcheck("-i", fake / "2_QuuxOperation")
    assert r.rc == 0 and r.counts["unsupported"] == 1 and r.counts["checked"] == 1


# ---------------------------------------------------------------------------------------------
# Collective operations: a two-rank dump by hand.

def write_rank(root, tensor_io, rank, x, out, param=None, pid_base=100):
    op = root / "ait_dump" / "tensors" / f"{rank}_{pid_base + rank}" / "0" / "0_AllReduceOperation"
    (op / "after").mkdir(parents=True)
    p = {"rank": rank, "rankSize": 2, "rankRoot": 0, "allReduceType": "sum"}
    p.update(param or {})
    (op / "op_param.json").write_text(json.dumps(p) + "\n")
    tensor_io.write_bin(op / "after" / "intensor0.bin", x)
    tensor_io.write_bin(op / "after" / "outtensor0.bin", out)
    return op.parent.parent


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_collective_all_reduce_checked_with_every_rank(opcheck, tensor_io, tmp_path, dtype):
    rng = np.random.default_rng(3)
    x0, x1 = (rng.standard_normal((4, 8)).astype(dtype) for _ in range(2))
    good = (x0.astype(np.float64) + x1.astype(np.float64)).astype(dtype)
    bad = good.copy()
    bad[1, 2] = bad[1, 2] * 2 + 1

    root = tmp_path / "good"
    rank0 = write_rank(root, tensor_io, 0, x0, good)
    rank1 = write_rank(root, tensor_io, 1, x1, good)
    for proc in (rank0, rank1):
        r = opcheck("-i", proc)
        assert r.rc == 0 and r.results() == {("0", "0"): "PASS"}, r.stdout
    # Two process folders under tensors/: the user names one.
    r = opcheck("-i", root / "ait_dump", rc=2)
    assert "process folders" in r.stderr and "name one of them" in r.stderr

    root = tmp_path / "bad"
    rank0 = write_rank(root, tensor_io, 0, x0, bad)
    write_rank(root, tensor_io, 1, x1, good)
    r = opcheck("-i", rank0, rc=1)
    assert r.results() == {("0", "0"): "FAILED"}
    (row,) = r.rows
    assert row["worst_element"].startswith("[1, 2]: ")

    root = tmp_path / "alone"
    rank0 = write_rank(root, tensor_io, 0, x0, good)
    r = opcheck("-i", rank0)
    assert r.rc == 0 and r.counts["unsupported"] == 1 and r.counts["failed"] == 0
    (row,) = r.rows
    assert row["precision_result"] == "addition failed"
    assert "not checkable" in row["fail_reason"] and "rank 1" in row["fail_reason"]

    # A rank that is not one of the group: a failed case with the reason, not a crash.
    root = tmp_path / "outside"
    rank0 = write_rank(root, tensor_io, 0, x0, good, param={"rank": 5})
    r = opcheck("-i", rank0, rc=1)
    (row,) = r.rows
    assert row["precision_result"] == "FAILED" and "rank" in row["fail_reason"]


# ---------------------------------------------------------------------------------------------
# Malformed params and tensor files: FAILED rows with reasons; the rest still checked.

def test_malformed_params_and_tensors_fail_their_cases_only(dumps, opcheck, tmp_path):
    out = dumps("fp16")
    dump = tmp_path / "dump"
    shutil.copytree(out / "ait_dump", dump / "ait_dump")
    token = process_dir(dump) / "0"
    layer = token / "1_LlamaLayer"
    ops = {p.name.split("_")[0]: p for p in layer.iterdir() if p.is_dir() and "_" in p.name}
    (ops["1"] / "op_param.json").write_text('{"transposeB": tru')
    (ops["2"] / "op_param.json").write_text('[1, 2]')
    (ops["3"] / "op_param.json").write_text('{"a":' * 200 + "1" + "}" * 200)
    (ops["6"] / "after" / "intensor1.bin").unlink()
    data = (ops["9"] / "after" / "outtensor0.bin").read_bytes()
    (ops["9"] / "after" / "outtensor0.bin").write_bytes(data[: len(data) - 64])
    (ops["10"] / "after" / "outtensor0.bin").unlink()
    data = (ops["13"] / "after" / "intensor0.bin").read_bytes()
    (ops["13"] / "after" / "intensor0.bin").write_bytes(data[:40])
    # Empty: an operation without params, so the defaults (epsilon 1e-5, not the dump's 1e-6): the
    # small embedding rows make that a precision failure.
    (ops["0"] / "op_param.json").write_text("")
    (ops["11"] / "after" / "intensor3.bin").write_bytes(b"")  # a gap: no intensor1..2
    reasons = {
        "1_0": "relative pass rate", "1_1": "not valid JSON", "1_2": "not a JSON object",
        "1_3": "nests deeper than", "1_6": "input", "1_9": "outtensor0.bin", "1_10": "0 outputs",
        "1_13": "intensor0.bin", "1_11": "has no intensor1.bin",
    }
    leaves, _ = leaf_operations(token)
    r = opcheck("-i", dump / "ait_dump", rc=1)
    assert r.counts == {"checked": len(leaves), "base": str(token.parent), "passed": len(leaves) - len(reasons),
                        "failed": len(reasons), "unsupported": 0, "graphs": 2}, r.stdout
    assert r.results() == {("0", i): "FAILED" if i in reasons else "PASS" for i in leaves}
    for op_id, says in reasons.items():
        (row,) = r.cases()[("0", op_id)]
        assert row["precision_result"] == "FAILED" and says in row["fail_reason"], (op_id, row)
        assert f"token 0 op {op_id} " in r.stdout
    # The unreadable param is shown as found; a parsed one as JSON.
    assert r.cases()[("0", "1_1")][0]["op_param"] == '{"transposeB": tru'
    assert r.cases()[("0", "1_0")][0]["op_param"] == "{}"


# ---------------------------------------------------------------------------------------------
# -rerun.

@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_rerun_of_a_clean_dump_is_identical(dumps, opcheck, dtype):
    out = dumps(dtype)
    r = opcheck("-i", out / "ait_dump", "-rerun")
    leaves, _ = leaf_operations(process_dir(out) / "0")
    assert r.rc == 0 and r.counts["passed"] == len(leaves) and r.counts["failed"] == 0, r.stdout
    assert r.columns == BASE_COLUMNS + TAIL_COLUMNS + ["rerun_vs_dump"]
    assert {row["rerun_vs_dump"] for row in r.rows} == {"identical"}
    assert "-rerun:" not in r.stdout


def test_rerun_with_a_missing_engine_library_exits_2(dumps, opcheck, tmp_path):
    out = dumps("fp16")
    r = opcheck("-i", out / "ait_dump", "-rerun", rc=2, env={"AIT_OPCHECK_LIB_PATH": tmp_path / "nope.so"})
    assert "AIT_OPCHECK_LIB_PATH" in r.stderr and "nope.so" in r.stderr
    assert r.csv is None


# ---------------------------------------------------------------------------------------------
# Input errors and narrow inputs.

def test_not_a_dump_exits_2(opcheck, tmp_path):
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    r = opcheck("-i", tmp_path / "plain", rc=2)
    assert "is not a folder of an ATB tensor dump" in r.stderr and str(tmp_path / "plain") in r.stderr
    r = opcheck("-i", tmp_path / "missing", rc=2)
    assert "does not exist" in r.stderr


def test_dump_without_after_tensors_names_the_flag(dumps, opcheck):
    out = dumps("fp16", time_="0")
    r = opcheck("-i", out / "ait_dump", rc=2)
    assert "nothing to check" in r.stderr and "-time 2" in r.stderr and "no after/" in r.stderr


def test_torch_dump_is_refused(opcheck, tmp_path):
    (tmp_path / "ait_dump" / "torch_tensors" / "cpu_1" / "0").mkdir(parents=True)
    r = opcheck("-i", tmp_path, rc=2)
    assert "torch dump" in r.stderr


def test_input_at_an_operation_or_graph_folder(dumps, opcheck, layers):
    out = dumps("fp16")
    token = process_dir(out) / "0"
    r = opcheck("-i", token / "1_LlamaLayer" / "6_LinearOperation")
    assert r.results() == {("0", "1_6"): "PASS"} and r.counts["base"] == str(token)
    r = opcheck("-i", token / "2_LlamaLayer")
    assert set(r.results()) == {("0", f"2_{n}") for n in range(15)}
    r = opcheck("-i", token / "2_LlamaLayer" / "5_SelfAttentionOperation" / "after", rc=2)
    assert "is not a folder of an ATB tensor dump" in r.stderr
    r = opcheck("-i", token / "0_GatherOperation", "-opname", "linear", rc=2)
    assert "no operation matches" in r.stderr


# ---------------------------------------------------------------------------------------------
# The Python API.

def test_python_api_matches_the_cli(dumps, opcheck, ait_llm_package, tmp_path):
    for out, rc in ((dumps("bf16", tokens=2), 0), (dumps("bf16", perturb="RopeOperation_2_4=noise:0.01"), 1)):
        cli = opcheck("-i", out / "ait_dump", "-metric", "cos_sim", rc=rc)
        api = ait_llm_package.opcheck(out / "ait_dump", output=tmp_path / "api", metrics=["cos_sim"], threads=2)
        assert {k: api[k] for k in ("passed", "failed", "unsupported", "graphs")} == \
            {k: cli.counts[k] for k in ("passed", "failed", "unsupported", "graphs")}
        assert api["exit_status"] == rc and pathlib.Path(api["xlsx"]).is_file() and pathlib.Path(api["csv"]).is_file()
        assert {(c["token"], c["op_id"]): c["precision_result"] for c in api["cases"]} == cli.results()
        assert api["summary"].splitlines()[0] == cli.stdout.splitlines()[0]
        for c in api["cases"]:
            for o in c["outputs"]:
                assert o["cosine_similarity"] is not None and o["max_rel_error"] is not None
    # Filters and no reports.
    api = ait_llm_package.opcheck(out / "ait_dump", ids="2_4, 1_6", names=["rope", "linear"])
    assert [(c["op_id"], c["precision_result"]) for c in api["cases"]] == [("1_6", "PASS"), ("2_4", "FAILED")]
    assert api["xlsx"] is None and api["csv"] is None and api["failed"] == 1


def test_python_api_raises_for_a_non_dump(ait_llm_package, tensor_io, tmp_path):
    AitError = tensor_io.AitError
    (tmp_path / "plain").mkdir()
    with pytest.raises(AitError, match="is not a folder of an ATB tensor dump"):
        ait_llm_package.opcheck(tmp_path / "plain")
    with pytest.raises(AitError, match="-ids"):
        ait_llm_package.opcheck(tmp_path / "plain", ids="x")
    with pytest.raises(AitError, match="-metric"):
        ait_llm_package.opcheck(tmp_path / "plain", metrics=["l2"])


def test_python_api_callable_whatever_was_imported_first(ait_llm_package):
    # `import ait_llm.opcheck_run` (for METRICS or reference) must not change what
    # `from ait_llm import opcheck` gives: the function.
    import subprocess
    import sys
    from conftest import BUILD
    code = ("import ait_llm.opcheck_run\n"
            "from ait_llm import opcheck\n"
            "import ait_llm\n"
            "assert callable(opcheck), type(opcheck)\n"
            "assert callable(ait_llm.opcheck), type(ait_llm.opcheck)\n"
            "assert ait_llm.opcheck.__module__ == 'ait_llm.opcheck_run'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(BUILD / "python")})
    assert r.returncode == 0, r.stderr
