"""The Python extension ait_llm._ait_core and its wrappers (ait_llm.tensor_io, ait_llm.compare,
ait_llm.common.json_fitter) give the same answers as numpy/torch and as the `ait` CLI: values
read equal numpy.load / torch.load, compare results equal the CSV rows of `ait llm compare`
field by field, and ONNX bytes equal what `ait llm onnx` writes."""
import concurrent.futures
import csv
import importlib
import json
import math
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import warnings

import numpy as np
import onnx
import pytest
import torch

from conftest import BUILD, build_program, run_checked

METRICS = ["cosine_similarity", "max_relative_error", "mean_relative_error", "max_absolute_error",
           "mean_absolute_error", "kl_divergence", "relative_euclidean_distance"]
OPERATION_COLUMNS = {"my_op_name", "my_op_type", "golden_op_name", "golden_op_type", "match"}
TEXT_COLUMNS = {"token_id", "data_id", "golden_data_path", "golden_dtype", "golden_shape", "my_data_path", "my_dtype",
                "my_shape", "cmp_fail_reason", "my_op_name", "my_op_type", "golden_op_name", "golden_op_type", "match",
                "op_verdict", "root_cause"}
NUMPY_DTYPES = ["float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "bool", "complex64"]
TORCH_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int8, torch.int16, torch.int32,
                torch.int64, torch.uint8, torch.bool]
ATB_CODES = {"float32": 0, "float16": 1, "int8": 2, "int32": 3, "uint8": 4, "int16": 6, "uint16": 7, "uint32": 8,
             "int64": 9, "uint64": 10, "float64": 11, "bool": 12, "complex64": 16, "bfloat16": 27}
ST_NAMES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16", "float16": "F16",
            "bfloat16": "BF16", "int32": "I32", "uint32": "U32", "float32": "F32", "float64": "F64", "int64": "I64",
            "uint64": "U64"}


@pytest.fixture(scope="session")
def core():
    """The ait_llm package from $AIT_BUILD_DIR/python, with its Python API modules."""
    folder = BUILD / "python"
    if not any((folder / "ait_llm").glob("_ait_core*.so")):
        pytest.fail(f"{folder}/ait_llm/_ait_core*.so is missing: run 'make build' first (or set AIT_BUILD_DIR)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    import ait_llm  # noqa: PLC0415

    assert pathlib.Path(ait_llm.__file__).parent == folder / "ait_llm", ait_llm.__file__

    class Core:
        ext = importlib.import_module("ait_llm._ait_core")
        io = importlib.import_module("ait_llm.tensor_io")
        cmp = importlib.import_module("ait_llm.compare")
        fitter = importlib.import_module("ait_llm.common.json_fitter")
        AitError = ext.AitError

    return Core


# ---------------------------------------------------------------- data


def sample(dtype, shape=(3, 4), seed=0, extremes=True):
    """Random values of a numpy dtype name (or a torch dtype), numpy floats with extremes
    (tiny, -max, -0.0) unless `extremes` is false."""
    if isinstance(dtype, torch.dtype):
        g = torch.Generator().manual_seed(seed)
        if dtype.is_floating_point:
            return (torch.randn(shape, generator=g) * 3).to(dtype)
        if dtype == torch.bool:
            return torch.rand(shape, generator=g) > 0.5
        low, high = (0, 256) if dtype == torch.uint8 else (-100, 100)
        return torch.randint(low, high, shape, generator=g).to(dtype)
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype == "complex64":
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype("c8").reshape(shape)
    if np.dtype(dtype).kind == "f":
        values = rng.standard_normal(n) * 3
        if extremes:
            values[:3] = [float(np.finfo(dtype).tiny), -float(np.finfo(dtype).max), -0.0]
        return values.astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    values[:2] = [info.min, info.max]
    return values.reshape(shape)


def atb_bytes(dtype_name, shape, payload, fmt=2, description_only=False):
    """An ATB .bin file as the probe writes it (FORMATS.md 1.1)."""
    n = 0 if description_only else len(payload)
    header = (f"$Version=1.0\n$Object.Count={0 if description_only else 1}\n$Object.Length={n}\n"
              f"format={fmt}\ndtype={ATB_CODES[dtype_name]}\ndims={','.join(map(str, shape))}\n")
    if not description_only:
        header += f"$Object.data=0,{n}\n"
    return (header + "$End=1\n").encode() + (b"" if description_only else payload)


def reference_bin(path):
    """The original reader (FORMATS.md 1.2, `TensorBinFile`): header up to $End=1, then the payload as
    (dtype name, dims, payload bytes, format)."""
    raw = pathlib.Path(path).read_bytes()
    pos, fields = 0, {}
    while True:
        end = raw.index(b"\n", pos)
        name, value = raw[pos:end].decode().split("=")[:2]
        pos = end + 1
        if name == "$End":
            break
        fields[name] = value
    codes = {v: k for k, v in ATB_CODES.items()}
    dims = [int(d) for d in fields["dims"].split(",")] if fields["dims"] else []
    return codes[int(fields["dtype"])], dims, raw[pos:], int(fields.get("format", 2)), fields.get("$Object.Count")


def from_bytes(dtype_name, shape, payload):
    """numpy array (or torch tensor for bfloat16) for raw little-endian bytes."""
    if dtype_name == "bfloat16":
        return torch.from_numpy(np.frombuffer(payload, dtype="<i2").copy()).view(torch.bfloat16).reshape(shape)
    return np.frombuffer(payload, dtype=np.dtype(dtype_name).newbyteorder("<")).reshape(shape)


def write_safetensors(path, tensors):
    """A safetensors file per its spec; `tensors` maps name -> numpy array or torch tensor."""
    blob, header = b"", {}
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor):
            dtype, raw = str(t.dtype).split(".")[1], t.contiguous().view(torch.uint8).numpy().tobytes()
        else:
            dtype, raw = t.dtype.name, t.astype(t.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": ST_NAMES[dtype], "shape": list(t.shape),
                        "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(text)) + text + blob)


def assert_same_values(got, expected):
    """`got` (from our reader) equals `expected` (numpy.load / torch.load): type, dtype, shape, bits."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, torch.Tensor), type(got)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert torch.equal(got.view(torch.int16) if got.dtype == torch.bfloat16 else got,
                           expected.view(torch.int16) if expected.dtype == torch.bfloat16 else expected)
        return
    assert isinstance(got, np.ndarray), type(got)
    assert got.dtype == expected.dtype.newbyteorder("=") and got.shape == expected.shape
    assert got.flags.c_contiguous and got.flags.writeable and got.flags.owndata
    np.testing.assert_array_equal(got, expected)  # NaN == NaN here


def torch_value(t):
    """What our reader returns for a tensor torch.load gives: numpy, except bfloat16 (torch)."""
    return t if t.dtype == torch.bfloat16 else t.numpy()


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_npy_values_equal_numpy_load(core, tmp_path, dtype):
    a = sample(dtype)
    np.save(tmp_path / "a.npy", a)
    assert_same_values(core.io.read_tensor(tmp_path / "a.npy"), np.load(tmp_path / "a.npy"))


@pytest.mark.parametrize("case", ["big_endian", "fortran", "scalar", "empty", "5d"])
def test_npy_layouts_equal_numpy_load(core, tmp_path, case):
    a = {"big_endian": sample("float32").astype(">f4"), "fortran": np.asfortranarray(sample("int16", (3, 5))),
         "scalar": np.float16(2.5) * np.ones((), np.float16), "empty": np.zeros((0, 4), np.int64),
         "5d": sample("float64", (2, 1, 3, 1, 2))}[case]
    np.save(tmp_path / "a.npy", a)
    got = core.io.read_tensor(str(tmp_path / "a.npy"))
    assert_same_values(got, np.load(tmp_path / "a.npy"))
    assert got.dtype.isnative


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_pth_values_equal_torch_load(core, tmp_path, dtype):
    torch.save(sample(dtype), tmp_path / "t.pth")
    assert_same_values(core.io.read_tensor(tmp_path / "t.pth"), torch_value(torch.load(tmp_path / "t.pth")))


def test_pth_containers_by_name_and_views(core, tmp_path):
    base = sample(torch.float32, (4, 6))
    state = {"w": base, "view": base[1:, ::2], "t": base.t(), "h": sample(torch.bfloat16, (2, 3)),
             "i": torch.arange(5), "flag": torch.tensor(True)}
    torch.save(state, tmp_path / "sd.pt")
    loaded = torch.load(tmp_path / "sd.pt")
    got = core.io.read_tensors(tmp_path / "sd.pt")
    assert list(got) == list(loaded)
    for name, t in loaded.items():
        assert_same_values(got[name], torch_value(t.contiguous()))
        assert_same_values(core.io.read_tensor(tmp_path / "sd.pt", name), torch_value(t.contiguous()))


@pytest.mark.parametrize("dtype", list(ST_NAMES))
def test_safetensors_values_by_name(core, tmp_path, dtype):
    t = sample(torch.bfloat16, (3, 2)) if dtype == "bfloat16" else sample(dtype, (3, 2))
    write_safetensors(tmp_path / "m.safetensors", {"model.norm.weight": sample("float32", (4,)), "model.x": t})
    assert_same_values(core.io.read_tensor(tmp_path / "m.safetensors", "model.x"), t)
    got = core.io.read_tensors(tmp_path / "m.safetensors")
    assert list(got) == ["model.norm.weight", "model.x"]
    assert_same_values(got["model.norm.weight"], sample("float32", (4,)))


@pytest.mark.parametrize("dtype", list(ATB_CODES))
def test_atb_bin_values_equal_the_original_reader(core, tmp_path, dtype):
    t = sample(torch.bfloat16, (2, 3, 4)) if dtype == "bfloat16" else sample(dtype, (2, 3, 4))
    raw = t.view(torch.int16).numpy().tobytes() if dtype == "bfloat16" else t.tobytes()
    (tmp_path / "t.bin").write_bytes(atb_bytes(dtype, t.shape, raw, fmt=29))
    name, dims, payload, fmt, _ = reference_bin(tmp_path / "t.bin")
    assert_same_values(core.io.read_tensor(tmp_path / "t.bin"), from_bytes(name, dims, payload))


def test_real_dump_bins_equal_the_original_reader(core, dumps):
    files = sorted((dumps["golden"]).rglob("*.bin")) + sorted((dumps["my"]).rglob("*.bin"))
    dtypes = set()
    assert len(files) > 50
    for path in files[::7]:
        name, dims, payload, _, _ = reference_bin(path)
        dtypes.add(name)
        assert_same_values(core.io.read_tensor(path), from_bytes(name, dims, payload))
    assert {"float32", "bfloat16", "int32"} <= dtypes


def test_bfloat16_without_torch_is_float32_with_a_warning(core, tmp_path, monkeypatch):
    t = sample(torch.bfloat16, (5, 3))
    torch.save(t, tmp_path / "b.pt")
    monkeypatch.setattr(core.io, "_torch", lambda: None)
    with pytest.warns(core.io.BFloat16Warning, match="torch is not importable"):
        got = core.io.read_tensor(tmp_path / "b.pt")
    assert got.dtype == np.float32 and got.shape == (5, 3)
    np.testing.assert_array_equal(got, t.float().numpy())


def test_description_only_bin(core, tmp_path):
    (tmp_path / "d.bin").write_bytes(atb_bytes("float16", [3, 64], b"", fmt=29, description_only=True))
    assert core.io.read_tensor(tmp_path / "d.bin") == core.io.TensorDescription("float16", (3, 64), 29)
    core.io.write_bin(tmp_path / "w.bin", core.io.TensorDescription("bfloat16", (2, 0, 5), 2))
    assert reference_bin(tmp_path / "w.bin") == ("bfloat16", [2, 0, 5], b"", 2, "0")
    assert core.io.read_tensors(tmp_path / "w.bin") == {"": core.io.TensorDescription("bfloat16", (2, 0, 5), 2)}


def test_real_description_only_dump(core, ait, ait_engine, tiny, tmp_path):
    run_checked(ait, "llm", "dump", "--exec", f"{ait_engine} run --model {tiny} --input-ids 1,2,3 --max-new-tokens 1",
                "-sd", "-ids", "0", "-o", tmp_path)
    (path,) = (tmp_path / "ait_dump" / "tensors").glob("*/0/0_GatherOperation/after/outtensor0.bin")
    got = core.io.read_tensor(path)
    assert isinstance(got, core.io.TensorDescription) and got.shape == (3, 64) and got.dtype == "float32"


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("dtype", list(ATB_CODES))
def test_write_bin_is_what_the_original_reader_expects(core, tmp_path, dtype):
    t = sample(torch.bfloat16, (3, 5)) if dtype == "bfloat16" else sample(dtype, (3, 5))
    core.io.write_bin(tmp_path / "out.bin", t, atb_format=29)
    raw = t.view(torch.int16).numpy().tobytes() if dtype == "bfloat16" else t.tobytes()
    assert (tmp_path / "out.bin").read_bytes() == atb_bytes(dtype, (3, 5), raw, fmt=29)
    assert_same_values(core.io.read_tensor(tmp_path / "out.bin"), t)


def test_write_npy_and_safetensors(core, tmp_path):
    a = sample("int32", (2, 3))
    core.io.write_tensor(tmp_path / "a.npy", a.T)  # a non-contiguous view is written in C order
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a.T)
    core.io.write_tensor(tmp_path / "b.npy", torch.arange(4, dtype=torch.int64).reshape(2, 2).t())
    np.testing.assert_array_equal(np.load(tmp_path / "b.npy"), [[0, 2], [1, 3]])
    tensors = {"a": sample("float16", (4,)), "b": sample(torch.bfloat16, (2, 2)), "c": np.array(True)}
    core.io.write_tensors(tmp_path / "w.safetensors", tensors)
    got = core.io.read_tensors(tmp_path / "w.safetensors")
    assert sorted(got) == ["a", "b", "c"]
    for name, t in tensors.items():
        assert_same_values(got[name], t)
    with pytest.raises(core.AitError, match=r"x\.pth: writing pth files is not supported"):
        core.io.write_tensor(tmp_path / "x.pth", a)
    with pytest.raises(core.AitError, match=r"y\.bin: an ATB \.bin file holds exactly one tensor, got 2"):
        core.io.write_tensors(tmp_path / "y.bin", {"a": a, "b": a})


# ---------------------------------------------------------------- reading errors


def test_read_errors_name_the_file(core, tmp_path):
    assert issubclass(core.AitError, RuntimeError)
    np.save(tmp_path / "good.npy", np.zeros(3, np.float32))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:-4])
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01 not a header")
    (tmp_path / "junk.pth").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "short.bin").write_bytes(atb_bytes("float32", [2, 2], b"\0" * 12))
    write_safetensors(tmp_path / "two.safetensors", {"a": np.zeros(2, "f4"), "b": np.ones(2, "f4")})
    (tmp_path / "x.txt").write_text("x")
    cases = [(tmp_path / "missing.npy", {}, "cannot open"), (tmp_path / "cut.npy", {}, "bytes"),
             (tmp_path / "junk.bin", {}, "not an ATB tensor file"), (tmp_path / "junk.pth", {}, ""),
             (tmp_path / "short.bin", {}, "payload holds 12 bytes"),
             (tmp_path / "two.safetensors", {}, "holds 2 tensors (a, b); expected exactly one"),
             (tmp_path / "two.safetensors", {"name": "c"}, "no tensor named 'c' (the file holds: a, b)"),
             (tmp_path / "x.txt", {}, "unknown tensor file type")]
    for path, kwargs, reason in cases:
        with pytest.raises(core.AitError) as e:
            core.io.read_tensor(path, **kwargs)
        assert str(e.value).startswith(f"{path}: ") and reason in str(e.value), str(e.value)
    with pytest.raises(core.AitError, match="cannot open"):
        core.io.read_tensors(tmp_path / "missing.pt")


def test_a_random_bytes_file_raises_the_clis_reason_with_its_bytes_escaped(core, tmp_path):
    # A terminal title sequence, BEL, NUL and invalid UTF-8 on the first line, then noise.
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path = tmp_path / "random.bin"
    path.write_bytes(b"\x1b]0;owned\x07\x00\xc3(\xff tail\n" + noise)
    good = tmp_path / "good.bin"
    core.io.write_tensor(good, np.ones(4, np.float32))
    with pytest.raises(core.AitError) as e:
        core.io.read_tensor(path)
    reason = f"{path}: header line '\\x1b]0;owned\\x07\\x00\\xc3(\\xff tail' has no '=': not an ATB tensor file"
    assert str(e.value) == reason
    cli = subprocess.run([build_program("ait"), "llm", "compare", "-gp", good, "-mp", path, "-o", tmp_path / "out"],
                         capture_output=True, timeout=60)
    assert cli.returncode == 1
    assert cli.stderr.decode("ascii").splitlines() == [f"[error] {reason}"]


# ---------------------------------------------------------------- compare against the CLI's CSV


def read_report(folder):
    (report,) = pathlib.Path(folder).glob("ait_cmp_report_*.csv")
    with open(report, newline="") as f:
        return list(csv.DictReader(f))


def same_cell(value, cell):
    """Whether a result value is what the CSV cell holds (text as is, numbers as float(cell))."""
    if cell == "":
        return value is None
    if not isinstance(value, float):
        return False
    expected = float(cell)
    return (math.isnan(value) and math.isnan(expected)) or value == expected


# A folder compare's rows carry the analysis of their operation; a two-file compare has none.
ANALYSIS_COLUMNS = {"op_verdict", "local_error", "expected_local_error", "root_cause"}


def assert_row_equal(result, row, columns=None):
    keys = set(row) - {"token_id", "data_id"} - ANALYSIS_COLUMNS if columns is None else columns
    if "golden_data_path" not in result:
        keys -= {"golden_data_path", "my_data_path"}
    assert keys <= set(result)
    for key in sorted(keys):
        if key in TEXT_COLUMNS:
            assert result[key] == row[key], (key, result[key], row[key])
        else:
            assert same_cell(result[key], row[key]), (key, result[key], row[key])


def cli_row(ait, golden, my, out):
    r = subprocess.run([ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    (row,) = read_report(out)
    return row


def write_any(path, value):
    """Writes `value` (numpy or torch) in the format `path`'s extension names, with numpy/torch."""
    path = pathlib.Path(path)
    if path.suffix == ".npy":
        np.save(path, value)
    elif path.suffix in (".pth", ".pt"):
        torch.save(value, path)
    elif path.suffix == ".safetensors":
        write_safetensors(path, {"t": value})
    else:  # .bin, as the probe
        if isinstance(value, torch.Tensor):
            dtype = str(value.dtype).split(".")[1]
            raw = value.contiguous().view(torch.uint8).numpy().tobytes()
        else:
            dtype, raw = value.dtype.name, value.tobytes()
        path.write_bytes(atb_bytes(dtype, value.shape, raw))
    return path


def load_any(path):
    """The tensor in `path`, loaded by numpy / torch / the reference .bin reader."""
    path = pathlib.Path(path)
    if path.suffix == ".npy":
        return np.load(path)
    if path.suffix in (".pth", ".pt"):
        return torch.load(path)
    if path.suffix == ".safetensors":
        return None
    name, dims, payload, _, _ = reference_bin(path)
    return from_bytes(name, dims, payload)


def pair_cases():
    g32 = sample("float32", (4, 16), seed=1, extremes=False)
    noisy = g32 + sample("float32", (4, 16), seed=2, extremes=False) * np.float32(0.01)
    with_nan = noisy.copy()
    with_nan[1, 3] = np.nan
    with_inf = g32.copy()
    with_inf[0, 0] = -np.inf
    return {
        "fp32_npy_vs_fp32_npy": ("g.npy", g32, "m.npy", noisy),
        "fp32_npy_vs_fp16_bin": ("g.npy", g32, "m.bin", noisy.astype(np.float16)),
        "fp32_pth_vs_bf16_pth": ("g.pth", torch.from_numpy(g32), "m.pth", torch.from_numpy(noisy).bfloat16()),
        "bf16_bin_vs_fp16_safetensors": ("g.bin", torch.from_numpy(g32).bfloat16(), "m.safetensors",
                                         noisy.astype(np.float16)),
        "fp64_npy_vs_fp32_pt": ("g.npy", g32.astype(np.float64), "m.pt", torch.from_numpy(noisy)),
        "int32_npy_vs_int64_pth": ("g.npy", np.arange(-30, 34, dtype=np.int32), "m.pth",
                                   torch.arange(-30, 34) * 2),
        "int8_bin_vs_int8_npy": ("g.bin", sample("int8", (8, 8)), "m.npy", sample("int8", (8, 8), seed=5)),
        "bool_vs_uint8": ("g.npy", sample("bool", (3, 3)), "m.npy", sample("uint8", (3, 3))),
        "all_zeros": ("g.npy", np.zeros((2, 2), np.float32), "m.npy", np.zeros((2, 2), np.float16)),
        "one_side_zero": ("g.npy", g32, "m.npy", np.zeros_like(g32)),
        "same_count_other_shape": ("g.npy", g32, "m.npy", noisy.reshape(8, 8)),
        "nan_in_my": ("g.npy", g32, "m.bin", with_nan.astype(np.float16)),
        "inf_in_golden_nan_in_my": ("g.pth", torch.from_numpy(with_inf), "m.npy", with_nan),
        "shape_mismatch": ("g.npy", g32, "m.npy", noisy[:3]),
        "zero_dim": ("g.npy", np.zeros((0, 3), np.float32), "m.npy", np.zeros((0, 3), np.float16)),
        "zero_dim_other_shape": ("g.npy", np.zeros((0, 3), np.float32), "m.npy", np.zeros((0, 4), np.float32)),
        "complex": ("g.npy", sample("complex64", (2, 2)), "m.npy", sample("complex64", (2, 2))),
        "scalar": ("g.npy", np.array(3.5, np.float32), "m.pt", torch.tensor(3.25)),
    }


EXPECTED_REASONS = {"nan_in_my": "my_data includes NAN or inf.",
                    "inf_in_golden_nan_in_my": "golden_data includes NAN or inf. my_data includes NAN or inf.",
                    "shape_mismatch": "data shape doesn't match.",
                    "zero_dim_other_shape": "empty tensor (a dimension is 0).",
                    "complex": "golden_data: dtype torch.complex64 cannot be compared. "
                               "my_data: dtype torch.complex64 cannot be compared."}


@pytest.mark.parametrize("case", list(pair_cases()))
def test_compare_equals_the_cli_csv_row(core, ait, tmp_path, case):
    g_name, g_value, m_name, m_value = pair_cases()[case]
    (tmp_path / "golden").mkdir()
    (tmp_path / "my").mkdir()
    golden = write_any(tmp_path / "golden" / g_name, g_value)
    my = write_any(tmp_path / "my" / m_name, m_value)
    row = cli_row(ait, golden, my, tmp_path / "out")
    result = core.cmp.compare_files(golden, my)
    assert set(result) == set(row) - {"token_id", "data_id"}
    assert_row_equal(result, row)
    assert result["cmp_fail_reason"] == EXPECTED_REASONS.get(case, "")
    assert (result["cosine_similarity"] is None) == (case in EXPECTED_REASONS)
    # The same tensors handed over in memory, as numpy.load / torch.load give them.
    g_loaded = load_any(golden)
    m_loaded = load_any(my)
    g_loaded = g_value if g_loaded is None else g_loaded
    m_loaded = m_value if m_loaded is None else m_loaded
    in_memory = core.cmp.compare_tensors(g_loaded, m_loaded)
    assert set(in_memory) == set(result) - {"golden_data_path", "my_data_path"}
    assert_row_equal(in_memory, row)
    # ... and converted to the other kind (numpy <-> torch) where numpy has the dtype.
    flip = lambda v: v if isinstance(v, torch.Tensor) and v.dtype == torch.bfloat16 else (  # noqa: E731
        torch.from_numpy(v.copy()) if isinstance(v, np.ndarray) and v.dtype != np.uint16
        and v.dtype.kind != "c" else v.numpy() if isinstance(v, torch.Tensor) else v)
    assert_row_equal(core.cmp.compare_tensors(flip(g_loaded), flip(m_loaded)), row)


def test_metrics_are_the_csv_values_not_more_precise(core, ait, tmp_path):
    g = sample("float32", (64,), seed=3, extremes=False)
    m = g * np.float32(1.001) + np.float32(0.003)
    row = cli_row(ait, write_any(tmp_path / "g.npy", g), write_any(tmp_path / "m.npy", m), tmp_path / "o")
    r = core.cmp.compare_tensors(g, m)
    for key in METRICS[1:] + ["golden_max_value", "my_mean_value"]:
        assert r[key] == float(np.float32(r[key])), key  # float32 results, as the original's
        assert repr(r[key]) == row[key], key
    assert repr(r["cosine_similarity"]) == row["cosine_similarity"]
    assert r["cosine_similarity"] == round(r["cosine_similarity"], 10)


def test_mixed_int8_pairs_are_returned_though_the_csv_drops_them(core, ait, tmp_path):
    golden = write_any(tmp_path / "g.npy", sample("int8", (4,)))
    my = write_any(tmp_path / "m.npy", sample("float32", (4,)))
    subprocess.run([ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", tmp_path / "o"], check=True,
                   capture_output=True, timeout=120)
    assert read_report(tmp_path / "o") == []
    r = core.cmp.compare_files(golden, my)
    assert r["golden_dtype"] == "torch.int8" and r["my_dtype"] == "torch.float32" and r["cmp_fail_reason"] == ""


def test_inputs_numpy_and_torch_views_agree(core):
    base = torch.randn(6, 8, generator=torch.Generator().manual_seed(7))
    other = base + 0.01 * torch.randn(6, 8, generator=torch.Generator().manual_seed(8))
    expect = core.cmp.compare_tensors(base.t().contiguous(), other.t().contiguous())
    assert expect["golden_shape"] == "[8, 6]" and expect["cmp_fail_reason"] == ""
    assert core.cmp.compare_tensors(base.t(), other.t()) == expect  # non-contiguous torch views
    assert core.cmp.compare_tensors(base.numpy().T, other.numpy().T) == expect  # non-contiguous numpy views
    be = base.numpy().T.astype(">f4")
    assert core.cmp.compare_tensors(be, other.numpy().T) == expect  # big-endian arrays
    assert core.cmp.compare_tensors(base.t().tolist(), other.t().numpy()) != expect  # lists become float64
    assert core.cmp.compare_tensors(base.t().tolist(), other.t().numpy())["golden_dtype"] == "torch.float64"
    neg = -base
    assert core.cmp.compare_tensors(neg.t(), other.t()) == core.cmp.compare_tensors(neg.t().numpy(), other.t())
    assert core.cmp.compare_tensors(base, other.requires_grad_()) == core.cmp.compare_tensors(base, other.detach())


def test_broadcast_option_is_the_folder_modes_batch_rule(core):
    g = sample("float32", (1, 2, 8), seed=1, extremes=False)
    m = np.concatenate([g, g + 0.5], axis=0)
    assert core.cmp.compare_tensors(g, m)["cmp_fail_reason"] == "data shape doesn't match."
    r = core.cmp.compare_tensors(g, m, broadcast=True)
    assert r["cmp_fail_reason"] == "" and r["golden_shape"] == "[1, 2, 8]" and r["my_shape"] == "[2, 2, 8]"
    tiled = core.cmp.compare_tensors(np.concatenate([g, g]), m)
    del tiled["golden_shape"], r["golden_shape"]
    assert tiled == r  # tiling is what the batch rule does
    bad = core.cmp.compare_tensors(np.concatenate([g, g, g]), m, broadcast=True)
    assert bad["cmp_fail_reason"] == "shapes [3, 2, 8] and [2, 2, 8] neither broadcast nor tile along dim 0."


def test_compare_inputs_that_are_not_tensors(core, tmp_path):
    with pytest.raises(TypeError, match="not supported"):
        core.cmp.compare_tensors(np.array(["a", "b"]), np.zeros(2))
    with pytest.raises(TypeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "ComplexHalf support is experimental"
        core.cmp.compare_tensors(torch.zeros(2, dtype=torch.complex32), torch.zeros(2))
    r = core.cmp.compare_files(tmp_path / "nope.npy", tmp_path / "nope2.npy")
    assert r["cmp_fail_reason"] == f"golden_data_path: {tmp_path / 'nope.npy'} is not a file."
    assert r["golden_dtype"] == "" and r["golden_max_value"] is None and r["cosine_similarity"] is None
    np.save(tmp_path / "ok.npy", np.ones(3, np.float32))
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    r = core.cmp.compare_files(tmp_path / "ok.npy", tmp_path / "bad.npy")
    assert r["cmp_fail_reason"].startswith(f"{tmp_path / 'bad.npy'}: ")
    assert r["golden_dtype"] == "torch.float32" and r["my_dtype"] == ""


def test_threads_get_the_same_answers(core, tmp_path):
    pairs = []
    for i in range(8):
        g, m = sample("float32", (256, 64), seed=i), sample("float16", (256, 64), seed=i + 100)
        pairs.append((write_any(tmp_path / f"g{i}.npy", g), write_any(tmp_path / f"m{i}.bin", m)))
    expect = [core.cmp.compare_files(g, m) for g, m in pairs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            assert list(pool.map(lambda p: core.cmp.compare_files(*p), pairs)) == expect
            got = pool.map(lambda p: core.cmp.compare_tensors(core.io.read_tensor(p[0]), core.io.read_tensor(p[1])),
                           pairs)
            for r, e in zip(got, expect):
                assert r == {k: v for k, v in e.items() if not k.endswith("_data_path")}


def test_reading_releases_the_gil(tmp_path):
    """read_tensor blocks in open() on a FIFO until a writer comes; the writer is this process's
    main thread, which can only run if the reading thread released the GIL (else: a hang)."""
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    script = f"""
import os, sys, threading, time
sys.path.insert(0, {str(BUILD / "python")!r})
from ait_llm.tensor_io import read_tensor, AitError
errors = []
def read():
    try:
        read_tensor({str(fifo)!r})
    except AitError as e:
        errors.append(str(e))
t = threading.Thread(target=read)
t.start()
deadline = time.monotonic() + 20
while True:  # succeeds once the reader sits in open()
    try:
        fd = os.open({str(fifo)!r}, os.O_WRONLY | os.O_NONBLOCK)
        break
    except OSError:
        assert time.monotonic() < deadline
        time.sleep(0.01)
os.close(fd)
t.join()
print(errors[0])
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{fifo}: not a regular file"


# ---------------------------------------------------------------- real dumps: folder mode, every row


@pytest.fixture(scope="session")
def dumps(ait, ait_engine, tiny, layers, tmp_path_factory):
    """Two dumps of the tiny model: golden in fp32, mine in bf16 with batch 2 and NaN out of the
    last layer's down projection; topology JSON (model and layer) in the golden one."""
    out = tmp_path_factory.mktemp("dumps")
    engine = f"{ait_engine} run --model {tiny} --input-ids 1,2,3 --max-new-tokens 1"
    run_checked(ait, "llm", "dump", "--exec", engine, "--type", "tensor", "model", "layer", "-o", out / "golden",
                timeout=300)
    run_checked(ait, "llm", "dump", "--exec", f"{engine} --dtype bf16 --batch 2 --perturb LlamaLayer_{layers}=nan",
                "-o", out / "my", timeout=300)
    roots = {}
    for side in ("golden", "my"):
        (root,) = (out / side / "ait_dump" / "tensors").iterdir()
        roots[side] = root
    return {**roots, "json": out / "golden" / "ait_dump"}


def test_real_dumps_every_csv_row_equals_compare_files(core, ait, dumps, tmp_path):
    r = subprocess.run([ait, "llm", "compare", "-gp", dumps["golden"], "-mp", dumps["my"], "-o", tmp_path],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    rows = read_report(tmp_path)
    assert len(rows) > 50
    reasons, dtypes = set(), set()
    for row in rows:
        result = core.cmp.compare_files(row["golden_data_path"], row["my_data_path"], broadcast=True)
        # The operation and analysis columns come from the pairing; the file-level API leaves them empty.
        assert all(result[c] == "" for c in OPERATION_COLUMNS | {"op_verdict", "root_cause"})
        assert result["local_error"] is None and result["expected_local_error"] is None
        assert_row_equal(result, row, columns=set(row) - OPERATION_COLUMNS - ANALYSIS_COLUMNS - {"token_id", "data_id"})
        reasons.add(row["cmp_fail_reason"])
        dtypes.add((row["golden_dtype"], row["my_dtype"]))
    assert {"", "my_data includes NAN or inf."} <= reasons
    assert ("torch.float32", "torch.bfloat16") in dtypes
    # batch 1 against batch 2: scored through the batch rule
    assert any(r["golden_shape"] != r["my_shape"] and r["cmp_fail_reason"] == "" for r in rows)
    # In memory, read through the extension (bfloat16 as torch tensors), with the batch rule.
    for row in rows[::5]:
        g = core.io.read_tensor(row["golden_data_path"])
        m = core.io.read_tensor(row["my_data_path"])
        assert_row_equal(core.cmp.compare_tensors(g, m, broadcast=True), row,
                         columns=set(row) - OPERATION_COLUMNS - ANALYSIS_COLUMNS - {"token_id", "data_id", "golden_data_path",
                                                                                  "my_data_path"})


# ---------------------------------------------------------------- ONNX


def topology_files(dumps):
    files = sorted((dumps["json"] / "layer").rglob("*.json")) + sorted((dumps["json"] / "model").rglob("*.json"))
    assert any("LlamaModel" in f.name for f in files) and any("LlamaLayer_1" in f.name for f in files)
    return files


@pytest.mark.parametrize("level", [-1, 0, 1, 2, 3])
def test_onnx_equals_the_cli_byte_for_byte(core, ait, dumps, tmp_path, level):
    files = topology_files(dumps)
    for src in files[:2] + files[-1:]:
        py_json = tmp_path / "py" / src.name
        cli_json = tmp_path / "cli" / src.name
        for dst in (py_json, cli_json):
            dst.parent.mkdir(exist_ok=True)
            shutil.copy(src, dst)
        written = core.fitter.atb_json_to_onnx(str(py_json), target_level=level)
        assert written == str(py_json)[:-5] + ".onnx"
        run_checked(ait, "llm", "onnx", "--level", level, cli_json)
        data = pathlib.Path(written).read_bytes()
        assert data == cli_json.with_suffix(".onnx").read_bytes()
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
        if level == 0:
            assert len(model.graph.node) == 1
        assert core.fitter.atb_json_to_onnx_bytes(src, level) == data
        assert core.fitter.atb_json_to_onnx_bytes(json.loads(src.read_text()), level, source=src) == data


def test_onnx_levels_pick_nodes(core, dumps, layers):
    model_json = next(f for f in topology_files(dumps) if "LlamaModel" in f.name)
    topo = json.loads(model_json.read_text())
    nodes = lambda level: onnx.load_from_string(core.fitter.atb_json_to_onnx_bytes(topo, level)).graph.node  # noqa
    assert [n.name for n in nodes(1)] == [n["opName"] for n in topo["nodes"]]
    assert len(nodes(-1)) == len(nodes(2)) == 3 + layers * 15
    assert {n.domain for n in nodes(-1)} == {"ait.atb"}


def test_onnx_errors(core, tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(core.AitError, match=f"^{missing}: cannot open"):
        core.fitter.atb_json_to_onnx(str(missing))
    (tmp_path / "bad.json").write_text('{"opName": "x", ')
    with pytest.raises(core.AitError, match=f"^{tmp_path / 'bad.json'}: not valid JSON"):
        core.fitter.atb_json_to_onnx(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(core.AitError, match=f"^{tmp_path / 'list.json'}: the top level must be a JSON object"):
        core.fitter.atb_json_to_onnx(tmp_path / "list.json")
    assert not list(tmp_path.glob("*.onnx"))
    with pytest.raises(ValueError, match=r"expected an ATB topology JSON file"):
        core.fitter.atb_json_to_onnx(str(tmp_path / "x.txt"))
    with pytest.raises(ValueError, match="got -2"):
        core.fitter.atb_json_to_onnx(str(tmp_path / "bad.json"), -2)
    with pytest.raises(TypeError, match="target_level must be an int"):
        core.fitter.atb_json_to_onnx(str(tmp_path / "bad.json"), "1")
    with pytest.raises(core.AitError, match="^<topology>: "):
        core.fitter.atb_json_to_onnx_bytes({"opName": "x"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        onnx.checker.check_model(onnx.load_from_string(core.fitter.atb_json_to_onnx_bytes(
            {"opName": "L", "opType": "T", "param": {"eps": float("nan")}, "inTensors": ["a"], "outTensors": ["b"]})))


def test_original_import_path(core):
    from ait_llm.common.json_fitter import atb_json_to_onnx  # noqa: PLC0415

    assert atb_json_to_onnx is core.fitter.atb_json_to_onnx
    assert core.ext.__version__


def test_the_raw_extension_refuses_what_it_cannot_hold_safely(core, tmp_path):
    """The private module's entry points: a non-array payload is refused (a converted temporary
    would be freed under the C++ view), and JSON nested deeper than the file reader allows is an
    error naming the source, not a stack overflow later."""
    import ait_llm._ait_core as raw
    with pytest.raises(TypeError, match="numpy array"):
        raw.write_tensors(str(tmp_path / "x.safetensors"), [("", [1, 2], None, [], 2)], "safetensors")
    deep = '{"param": ' + "[" * 100000 + "]" * 100000 + "}"
    with pytest.raises(core.io.AitError, match="deep.json: JSON nested more than 128 levels deep"):
        raw.atb_json_text_to_onnx_bytes(deep, -1, "deep.json")
