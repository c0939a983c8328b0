"""Rewrites a torch-1.x torch.save file into the torch 2.x zip layout, for tests that
must not install torch 2.x: top folder `archive/`, `byteorder`, `.data/version`,
`.data/serialization_id`, `.format_version`, `.storage_alignment`, and every record's
data aligned to 64 bytes with an "FB" padding extra field, as PyTorchStreamWriter
(caffe2/serialize/inline_container.cc) writes it. With byteorder="big" the storages are
byte-swapped, as a big-endian machine would have saved them."""
import collections
import io
import pickle
import struct
import zipfile

ALIGNMENT = 64
ITEMSIZE = {
    "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
    "ByteStorage": 1, "BoolStorage": 1,
}


class _StorageScan(pickle.Unpickler):
    """Finds each storage key's element size; globals resolve to inert stand-ins, so
    nothing in the pickle runs."""

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.itemsizes = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in ITEMSIZE:
            return name
        return lambda *args: None

    def persistent_load(self, pid):
        _, storage_type, key, _location, _numel = pid
        self.itemsizes[key] = ITEMSIZE[storage_type]


def storage_itemsizes(data_pkl):
    scan = _StorageScan(data_pkl)
    scan.load()
    return scan.itemsizes


def _byteswap(data, itemsize):
    out = bytearray(data)
    for i in range(itemsize):
        out[i::itemsize] = data[itemsize - 1 - i::itemsize]
    return bytes(out)


def convert(src, dst, byteorder="little"):
    """Writes `dst`: the tensors of torch-1.x file `src` in the torch 2.x layout."""
    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        top = names[0].split("/")[0]
        records = {n[len(top) + 1:]: zin.read(n) for n in names}
    if byteorder == "big":
        for key, itemsize in storage_itemsizes(records["data.pkl"]).items():
            records[f"data/{key}"] = _byteswap(records[f"data/{key}"], itemsize)
    storages = sorted((n for n in records if n.startswith("data/")), key=lambda n: int(n[5:]))
    ordered = [
        ("data.pkl", records["data.pkl"]),
        (".format_version", b"1"),
        (".storage_alignment", str(ALIGNMENT).encode()),
        ("byteorder", byteorder.encode()),
        *((n, records[n]) for n in storages),
        ("version", b"3\n"),
        (".data/version", b"3\n"),
        (".data/serialization_id", b"0" * 40),
    ]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for name, data in ordered:
            info = zipfile.ZipInfo("archive/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            # Local header (30 bytes) + name + the FB field's own 4 bytes, then padding.
            start = zout.fp.tell() + 30 + len(info.filename.encode()) + 4
            pad = -start % ALIGNMENT
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            zout.writestr(info, data)


def data_offsets(path):
    """{entry name: offset of its data in the file}, read from the local headers."""
    offsets = {}
    with open(path, "rb") as f, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            f.seek(info.header_offset)
            header = f.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            offsets[info.filename] = info.header_offset + 30 + name_len + extra_len
    return offsets
