"""Our .npy and safetensors readers against files made by numpy itself and by a few lines
of Python that follow the safetensors spec (the `safetensors` package is not needed)."""
import json
import struct

import numpy as np
import pytest

NUMPY_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
                "uint8", "uint16", "uint32", "uint64", "bool"]


def sample(dtype, shape=(2, 3)):
    """An array of `shape` that exercises the dtype's extremes (inf, nan, tiny, min, max)."""
    n = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(n) % 3 == 0).reshape(shape)
    if np.dtype(dtype).kind == "f":
        info = np.finfo(dtype)
        special = [np.inf, np.nan, float(info.tiny), -float(info.max), -0.0]
        values = np.linspace(-1000, 1000, n)
        values[:min(n, len(special))] = special[:n]
        return values.astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    special = [info.min, info.max, 0, 1, info.max // 3, (info.min or info.max) // 7]
    return np.array([special[i % len(special)] for i in range(n)], dtype=dtype).reshape(shape)


def expect_same(got, array, name=""):
    """`got` (one tensor_json entry) holds exactly `array`'s dtype, shape and values."""
    assert got["dtype"] == array.dtype.name, name
    assert got["shape"] == list(array.shape), name
    if array.dtype.kind == "c":
        assert got["values"] == []  # complex is readable but not convertible
    else:
        np.testing.assert_array_equal(np.array(got["values"], dtype=np.float64),
                                      array.astype(np.float64).ravel(order="C"), err_msg=name)


def only(result):
    assert list(result) == [""]
    return result[""]


# ---------------------------------------------------------------- .npy


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + ["complex64"])
def test_npy_reads_every_dtype_np_save_writes(tmp_path, tensor_json, dtype):
    a = sample(dtype) if dtype != "complex64" else (np.arange(6) + 1j).astype("c8").reshape(2, 3)
    np.save(tmp_path / "a.npy", a)
    expect_same(only(tensor_json(tmp_path / "a.npy")), a)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int16", "int64", "uint32", "uint64"])
def test_npy_reads_big_endian_arrays(tmp_path, tensor_json, dtype):
    a = sample(dtype, (3, 4)).astype(np.dtype(dtype).newbyteorder(">"))
    np.save(tmp_path / "b.npy", a)
    assert b"'descr': '>" in (tmp_path / "b.npy").read_bytes()[:128]
    expect_same(only(tensor_json(tmp_path / "b.npy")), a.astype(dtype))


@pytest.mark.parametrize("dtype", ["float32", "int8", "uint16", "float64"])
def test_npy_reads_fortran_order_arrays_in_c_order(tmp_path, tensor_json, dtype):
    a = np.asfortranarray(sample(dtype, (2, 3, 4)))
    np.save(tmp_path / "f.npy", a)
    assert b"'fortran_order': True" in (tmp_path / "f.npy").read_bytes()[:128]
    expect_same(only(tensor_json(tmp_path / "f.npy")), a)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8"])
@pytest.mark.parametrize("shape", [(70, 45), (1, 33), (33, 1), (32, 64)])
def test_npy_reads_fortran_order_matrices_in_c_order(tmp_path, tensor_json, dtype, shape):
    """A transposed tensor saved as it is (torchair's FX dump of a `t` node): the tiled transpose."""
    a = np.asfortranarray(sample(dtype, shape))
    np.save(tmp_path / "m.npy", a)
    assert b"'fortran_order': True" in (tmp_path / "m.npy").read_bytes()[:128] or 1 in shape
    expect_same(only(tensor_json(tmp_path / "m.npy")), a)


def test_npy_reads_big_endian_fortran_order(tmp_path, tensor_json):
    a = np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4) / 7)
    np.save(tmp_path / "bf.npy", a)
    expect_same(only(tensor_json(tmp_path / "bf.npy")), a.astype("<f8"))


@pytest.mark.parametrize("array", [np.array(3.25, dtype="f4"), np.array(-7, dtype="i8"),
                                   np.zeros((0, 3), dtype="f2"), np.zeros((4, 0, 2), dtype="i4")],
                         ids=["scalar_f4", "scalar_i8", "empty_0x3", "empty_4x0x2"])
def test_npy_reads_zero_dim_and_empty_arrays(tmp_path, tensor_json, array):
    np.save(tmp_path / "s.npy", array)
    expect_same(only(tensor_json(tmp_path / "s.npy")), array)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_reads_every_format_version(tmp_path, tensor_json, version):
    a = sample("float32", (5, 2))
    with open(tmp_path / "v.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=version)
    assert (tmp_path / "v.npy").read_bytes()[6:8] == bytes(version)
    expect_same(only(tensor_json(tmp_path / "v.npy")), a)


def test_npy_errors_name_the_file_and_the_reason(tmp_path, tensor_json_error):
    np.save(tmp_path / "strings.npy", np.array(["ab", "cd"]))
    np.save(tmp_path / "structured.npy", np.zeros(3, dtype=[("a", "<f4")]))
    np.save(tmp_path / "longdouble.npy", np.zeros(3, dtype=np.longdouble))
    np.save(tmp_path / "cut.npy", np.arange(10, dtype="f4"))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-4])
    (tmp_path / "text.npy").write_text("not numpy at all\n")
    expected = {
        "strings.npy": "unsupported descr '<U2'",
        "structured.npy": "structured dtypes",
        "longdouble.npy": "unsupported descr '<f16'",
        "cut.npy": "data holds 36 bytes but shape (10,) of float32 needs 40 bytes",
        "text.npy": "not a .npy file",
    }
    for name, reason in expected.items():
        message = tensor_json_error(tmp_path / name)
        assert message.startswith(f"{tmp_path / name}: "), message
        assert reason in message, message


# ---------------------------------------------------------------- safetensors

ST_NAMES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
            "float16": "F16", "int32": "I32", "uint32": "U32", "float32": "F32", "float64": "F64",
            "int64": "I64", "uint64": "U64", "complex64": "C64"}


def write_safetensors(path, tensors, metadata=None, data_order=None):
    """A safetensors file per the spec: `tensors` maps name -> (dtype name, shape, raw bytes).
    Data is laid out in `data_order` (default: header order)."""
    offsets, blob = {}, b""
    for name in data_order or tensors:
        raw = tensors[name][2]
        offsets[name] = [len(blob), len(blob) + len(raw)]
        blob += raw
    header = {name: {"dtype": d, "shape": list(s), "data_offsets": offsets[name]}
              for name, (d, s, _) in tensors.items()}
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob)


def entry(array):
    return ST_NAMES[array.dtype.name], array.shape, array.astype(array.dtype.newbyteorder("<")).tobytes(order="C")


def test_safetensors_reads_every_dtype_with_hf_names(tmp_path, tensor_json):
    arrays = {f"model.layers.{i}.mlp.{dtype}.weight": sample(dtype, (3, 2)) for i, dtype in enumerate(NUMPY_DTYPES)}
    arrays["model.norm.scalar"] = np.array(1.5, dtype="f4")
    arrays["model.empty"] = np.zeros((0, 4), dtype="i8")
    arrays["model.complex"] = (np.arange(4) + 2j).astype("c8")
    write_safetensors(tmp_path / "m.safetensors", {k: entry(v) for k, v in arrays.items()},
                      metadata={"format": "pt"})
    got = tensor_json(tmp_path / "m.safetensors")
    assert list(got) == list(arrays)
    for name, array in arrays.items():
        expect_same(got[name], array, name)


def test_safetensors_lists_tensors_in_data_order(tmp_path, tensor_json):
    arrays = {"b": np.arange(3, dtype="f4"), "a": np.arange(5, dtype="i2"), "c": np.ones((2, 2), dtype="f8")}
    write_safetensors(tmp_path / "o.safetensors", {k: entry(v) for k, v in arrays.items()},
                      data_order=["c", "a", "b"])
    got = tensor_json(tmp_path / "o.safetensors")
    assert list(got) == ["c", "a", "b"]
    for name, array in arrays.items():
        expect_same(got[name], array, name)


def test_safetensors_reads_unaligned_data(tmp_path, tensor_json):
    a = np.arange(7, dtype="f8") / 3
    text = json.dumps({"x": {"dtype": "F64", "shape": [7], "data_offsets": [0, 56]}}).encode() + b"   "
    assert (8 + len(text)) % 8 != 0
    (tmp_path / "u.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + a.tobytes())
    expect_same(tensor_json(tmp_path / "u.safetensors")["x"], a)


def test_safetensors_reads_bfloat16(tmp_path, tensor_json):
    import torch
    t = torch.linspace(-3, 3, 10).to(torch.bfloat16)
    raw = t.view(torch.int16).numpy().tobytes()
    write_safetensors(tmp_path / "bf.safetensors", {"w": ("BF16", [2, 5], raw)})
    got = tensor_json(tmp_path / "bf.safetensors")["w"]
    assert got["dtype"] == "bfloat16" and got["shape"] == [2, 5]
    assert got["values"] == t.float().tolist()


def test_safetensors_errors_name_the_file_and_the_reason(tmp_path, tensor_json_error):
    f4 = entry(np.arange(4, dtype="f4"))
    write_safetensors(tmp_path / "f8.safetensors", {"q": ("F8_E4M3", [4], b"\0" * 4)})
    write_safetensors(tmp_path / "size.safetensors", {"w": ("F32", [5], f4[2])})
    write_safetensors(tmp_path / "cut.safetensors", {"w": f4})
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "cut.safetensors").read_bytes()[:-1])
    text = b'{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}'
    (tmp_path / "overlap.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * 4)
    (tmp_path / "json.safetensors").write_bytes(struct.pack("<Q", 9) + b"{not json")
    (tmp_path / "len.safetensors").write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    expected = {
        "f8.safetensors": "tensor 'q': unsupported dtype 'F8_E4M3'",
        "size.safetensors": "span 16 bytes but shape [5] of F32 needs 20 bytes",
        "cut.safetensors": "run past the 15-byte data buffer",
        "overlap.safetensors": "tensor 'b' (bytes 2..4) overlaps tensor 'a'",
        "json.safetensors": "header is not valid JSON",
        "len.safetensors": "exceeds the 100000000-byte limit",
    }
    for name, reason in expected.items():
        message = tensor_json_error(tmp_path / name)
        assert message.startswith(f"{tmp_path / name}: "), message
        assert reason in message, message
