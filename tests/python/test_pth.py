"""Our .pth reader against torch 1.13's torch.save: every dtype, views, containers,
state dicts, the torch 2.x layout (see torch2_layout.py), and hostile files that must be
refused without running anything."""
import collections
import io
import os
import pickle
import struct
import sys
import time
import zipfile

import pytest

import torch  # noqa: E402  (a hard requirement: a missing torch must fail, not skip)

sys.path.insert(0, os.path.dirname(__file__))
import torch2_layout  # noqa: E402

DTYPE_NAMES = {
    torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
    torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
    torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool",
}


def sample(dtype, shape=(3, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    low, high = (0, 256) if dtype == torch.uint8 else (-100, 100)
    return torch.randint(low, high, shape, generator=g).to(dtype)


def check(got, expected):
    """`got` (tensor_json output) holds exactly `expected` ({name: tensor}), in order."""
    assert list(got) == list(expected)
    for name, t in expected.items():
        assert got[name]["dtype"] == DTYPE_NAMES[t.dtype], name
        assert got[name]["shape"] == list(t.shape), name
        assert got[name]["values"] == t.detach().to(torch.float64).flatten().tolist(), name


def save(obj, path, **kwargs):
    torch.save(obj, str(path), **kwargs)
    return path


# --- Files written by torch ---

@pytest.mark.parametrize("dtype", list(DTYPE_NAMES), ids=lambda d: DTYPE_NAMES[d])
def test_contiguous_tensor_of_each_dtype(tmp_path, tensor_json, dtype):
    t = sample(dtype)
    check(tensor_json(save(t, tmp_path / "t.pth")), {"": t})


def test_scalar_and_empty_tensors(tmp_path, tensor_json):
    check(tensor_json(save(torch.tensor(2.5), tmp_path / "s.pt")), {"": torch.tensor(2.5)})
    empty = torch.zeros(0, 3, dtype=torch.float16)
    check(tensor_json(save(empty, tmp_path / "e.pt")), {"": empty})


VIEWS = {
    "transpose": lambda b: b.t(),
    "step_slice": lambda b: b[::2, 1::3],
    "narrow_offset": lambda b: b.narrow(0, 3, 2),
    "expand": lambda b: b[1:2, :].expand(5, 6),
    "permute_3d": lambda b: b.reshape(2, 3, 6).permute(2, 0, 1),
    "column": lambda b: b[:, 4],
}


@pytest.mark.parametrize("view", list(VIEWS))
def test_views_are_read_in_c_order(tmp_path, tensor_json, view):
    base = torch.arange(36, dtype=torch.float32).reshape(6, 6)
    v = VIEWS[view](base)
    check(tensor_json(save(v, tmp_path / "v.pth")), {"": v})


def test_containers_name_tensors_by_path(tmp_path, tensor_json):
    a, b, c, d = (sample(torch.float32, (2,), seed=i) for i in range(4))
    obj = {"a": a, "b": (b, [c, 3, "text", None]), "nested": {"d": d, "n": 1.5}}
    check(tensor_json(save(obj, tmp_path / "c.pth")), {"a": a, "b.0": b, "b.1.0": c, "nested.d": d})
    check(tensor_json(save([a, b], tmp_path / "l.pth")), {"0": a, "1": b})


def test_state_dict_and_parameters(tmp_path, tensor_json):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    state = model.state_dict()
    assert isinstance(state, collections.OrderedDict)
    check(tensor_json(save(state, tmp_path / "sd.pth")), dict(state))
    # Parameters themselves go through torch._utils._rebuild_parameter.
    path = save(dict(model.named_parameters()), tmp_path / "p.pth")
    with zipfile.ZipFile(path) as z:
        assert b"_rebuild_parameter" in z.read("p/data.pkl")
    check(tensor_json(path), dict(model.named_parameters()))


def test_top_folder_is_the_stem_at_save_time(tmp_path, tensor_json):
    t = sample(torch.float16)
    renamed = tmp_path / "renamed.pt"
    os.rename(save(t, tmp_path / "original.pth"), renamed)
    with zipfile.ZipFile(renamed) as z:
        assert z.namelist()[0].startswith("original/")
    check(tensor_json(renamed), {"": t})


def test_tensors_sharing_one_storage(tmp_path, tensor_json):
    base = torch.arange(10, dtype=torch.int64)
    obj = {"head": base[:4], "tail": base[4:], "all": base, "again": base}
    path = save(obj, tmp_path / "shared.pth")
    with zipfile.ZipFile(path) as z:
        assert [n for n in z.namelist() if "/data/" in n] == ["shared/data/0"]
    check(tensor_json(path), obj)


def test_deflated_storages_are_inflated(tmp_path, tensor_json):
    t = sample(torch.float64, (8, 8))
    src = save({"t": t}, tmp_path / "src.pth")
    dst = tmp_path / "deflated.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            zout.writestr(name, zin.read(name))
    check(tensor_json(dst), {"t": t})


# --- torch 2.x layout ---

@pytest.mark.parametrize("byteorder", ["little", "big"])
def test_torch2_layout(tmp_path, tensor_json, byteorder):
    obj = {dtype_name: sample(dtype, seed=i) for i, (dtype, dtype_name) in enumerate(DTYPE_NAMES.items())}
    obj["view"] = obj["float32"].t()
    src = save(obj, tmp_path / "src.pth")
    dst = tmp_path / f"{byteorder}.pth"
    torch2_layout.convert(src, dst, byteorder)
    with zipfile.ZipFile(dst) as z:
        names = z.namelist()
        assert names[0] == "archive/data.pkl"
        assert z.read("archive/byteorder") == byteorder.encode()
        assert {"archive/.data/version", "archive/.format_version", "archive/.storage_alignment"} <= set(names)
    offsets = torch2_layout.data_offsets(dst)
    assert all(offset % 64 == 0 for offset in offsets.values())
    if byteorder == "little":  # the converted file is one torch itself can load
        loaded = torch.load(dst)
        assert all(torch.equal(loaded[k], v) for k, v in obj.items())
    check(tensor_json(dst), obj)


# --- Hostile files ---

def write_archive(path, data_pkl, storages=None, top="archive", compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr(f"{top}/data.pkl", data_pkl)
        for key, data in (storages or {}).items():
            z.writestr(f"{top}/data/{key}", data)
        z.writestr(f"{top}/version", "3\n")
    return path


class FakeStorage:
    def __init__(self, key, numel, storage_type=torch.FloatStorage):
        self.key, self.numel, self.storage_type = key, numel, storage_type


class FakeTensor:
    """Pickles exactly as torch pickles a tensor, with whatever view we ask for."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_type, obj.key, "cpu", obj.numel)
        return None


def torch_like_pickle(obj):
    buf = io.BytesIO()
    TorchLikePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def test_os_system_is_refused_and_never_runs(tmp_path, tensor_json_error):
    marker = tmp_path / "pwned"
    command = f"touch {marker}".encode()
    data_pkl = (b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R.")
    path = write_archive(tmp_path / "evil.pth", data_pkl)
    err = tensor_json_error(path)
    assert "evil.pth" in err and "refusing to unpickle global 'os.system'" in err
    assert not marker.exists()
    torch.load(path)  # the payload is live: a plain unpickler runs it
    assert marker.exists()


class Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def test_reduce_payloads_are_refused(tmp_path, tensor_json_error):
    marker = tmp_path / "pwned"
    # A class's __reduce__, pickled by Python itself (os.system lives in module posix).
    path = write_archive(tmp_path / "reduce.pth", pickle.dumps(Evil(os.system, f"touch {marker}"), protocol=2))
    assert "refusing to unpickle global 'posix.system'" in tensor_json_error(path)
    # Protocol 4: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL.
    path = write_archive(tmp_path / "eval.pth", pickle.dumps(Evil(eval, f"open('{marker}', 'w')"), protocol=4))
    err = tensor_json_error(path)
    assert "eval.pth" in err and "refusing to unpickle global 'builtins.eval'" in err
    assert not marker.exists()


def test_unknown_opcode_and_truncated_pickle(tmp_path, tensor_json_error):
    err = tensor_json_error(write_archive(tmp_path / "op.pth", b"\x80\x02\xff."))
    assert "op.pth" in err and "unsupported pickle opcode 0xff" in err
    with zipfile.ZipFile(save(torch.ones(3), tmp_path / "good.pth")) as z:
        data_pkl = z.read("good/data.pkl")
    for cut in (1, len(data_pkl) // 2, len(data_pkl) - 1):
        err = tensor_json_error(write_archive(tmp_path / "cut.pth", data_pkl[:cut]))
        assert "cut.pth" in err and "truncated" in err, err


def test_missing_storage_entry(tmp_path, tensor_json_error):
    data_pkl = torch_like_pickle({"w": FakeTensor(FakeStorage("7", 4), 0, [4], [1])})
    err = tensor_json_error(write_archive(tmp_path / "missing.pth", data_pkl, {"0": bytes(16)}))
    assert "missing.pth" in err and "storage '7' is missing" in err


@pytest.mark.parametrize("offset,size,stride", [
    (0, [5], [1]),          # one element too many
    (3, [2], [1]),          # the offset pushes it out
    (0, [2, 2], [3, 1]),    # strides reach element 4
    (0, [2], [2**62]),      # overflows 64 bits
])
def test_views_beyond_their_storage(tmp_path, tensor_json_error, offset, size, stride):
    data_pkl = torch_like_pickle({"w": FakeTensor(FakeStorage("0", 4), offset, size, stride)})
    err = tensor_json_error(write_archive(tmp_path / "oob.pth", data_pkl, {"0": bytes(16)}))
    assert "oob.pth: tensor 'w'" in err and "beyond its storage" in err


def test_zip_bomb_is_not_inflated(tmp_path, tensor_json_error):
    data_pkl = torch_like_pickle(FakeTensor(FakeStorage("0", 4), 0, [4], [1]))
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w") as z:  # the storage entry inflates to 512 MiB of zeros
        z.writestr("archive/data.pkl", data_pkl)
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(512):
                f.write(chunk)
    assert path.stat().st_size < 2 << 20
    start = time.monotonic()
    err = tensor_json_error(path)
    assert time.monotonic() - start < 5
    assert "bomb.pth" in err and "holds 536870912 bytes but the pickle declares 16 bytes" in err


def test_size_claims_beyond_deflate_ratio_are_refused(tmp_path, tensor_json_error):
    """A header that claims 2 GiB from a few KiB of deflate data is refused before allocating."""
    numel = 1 << 29  # float32: 2 GiB
    data_pkl = torch_like_pickle(FakeTensor(FakeStorage("0", numel), 0, [numel], [1]))
    path = write_archive(tmp_path / "liar.pth", data_pkl, {"0": bytes(1 << 20)}, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("archive/data/0")
        central = z.start_dir
    raw = bytearray(path.read_bytes())
    claimed = struct.pack("<I", numel * 4)
    raw[info.header_offset + 22:info.header_offset + 26] = claimed  # local header's size field
    record = raw.index(b"PK\x01\x02", central)
    while raw[record + 46:record + 46 + len(info.filename)] != info.filename.encode():
        record = raw.index(b"PK\x01\x02", record + 4)
    raw[record + 24:record + 28] = claimed  # central directory's size field
    path.write_bytes(bytes(raw))
    err = tensor_json_error(path)
    assert "liar.pth" in err and "maximum ratio" in err


def test_legacy_and_non_zip_files(tmp_path, tensor_json_error):
    legacy = save(torch.ones(2), tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    assert "legacy torch.save format (torch < 1.6) is not supported" in tensor_json_error(legacy)
    (tmp_path / "text.pt").write_bytes(b"not a checkpoint")
    assert "text.pt: not a torch.save file" in tensor_json_error(tmp_path / "text.pt")


def test_shared_reference_fanout_is_refused_quickly(tmp_path, tensor_json_error):
    # 12 KB of pickle whose shared lists expand to 8.4 million tensor paths.
    inner = [torch.ones(1)] * 2900
    torch.save([inner] * 2900, tmp_path / "fanout.pth")
    start = time.monotonic()
    message = tensor_json_error(tmp_path / "fanout.pth")
    assert "shared references expand to more than 1048576" in message
    assert str(tmp_path / "fanout.pth") in message
    assert time.monotonic() - start < 10


def test_expanded_view_copy_is_bounded(tmp_path, tensor_json_error):
    # A 750-byte file whose stride-0 view would need 1 GiB once materialized.
    torch.save(torch.ones(1).expand(16384, 16384), tmp_path / "expand.pth")
    message = tensor_json_error(tmp_path / "expand.pth")
    assert "copying this strided view needs 1073741824 bytes" in message
