"""Fuzz seeds from third-party writers: numpy's np.save / np.savez and torch's torch.save.

    python3 tests/fuzz/third_party_seeds.py OUT_DIR   -> OUT_DIR/{npy,npz}/numpyNNN, OUT_DIR/pth/torchNNN

scripts/run-fuzz.sh runs it after build/bin/ait_fuzz_seeds (tests/fuzz/write_seeds.cc), which
writes the seeds that come from the project's own writers. Files written by other programs are
what the readers meet in practice, so they are seeds too. A missing numpy or torch only skips its
seeds (and says so). See docs/FUZZING.md.
"""
import io
import os
import sys
import zipfile

root = sys.argv[1]
counter = {}


def seed(target, source, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    n = counter.get((target, source), 0)
    counter[(target, source)] = n + 1
    with open(os.path.join(d, "%s%03d" % (source, n)), "wb") as f:
        f.write(data)


# --- .npy from numpy: several dtypes, byte orders, Fortran order, 0-d, empty, version 2.
try:
    import numpy as np
    arrays = [
        np.arange(6, dtype="<f4").reshape(2, 3),
        np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4)),
        np.array(7, dtype="<i8"),
        np.zeros((0, 3), dtype="<f2"),
        np.arange(4, dtype=">u4"),
        np.array([True, False]),
        np.arange(3, dtype=np.complex64),
        np.arange(24, dtype=np.int16).reshape(2, 3, 4).transpose(2, 0, 1),
    ]
    for a in arrays:
        b = io.BytesIO()
        np.save(b, a)
        seed("npy", "numpy", b.getvalue())
    b = io.BytesIO()
    np.lib.format.write_array(b, np.arange(5, dtype="<u2"), version=(2, 0))
    seed("npy", "numpy", b.getvalue())
    # .npz: the pre-converted GE dump form (stacked inputs / outputs) and plain archives,
    # stored and deflated.
    for save in (np.savez, np.savez_compressed):
        b = io.BytesIO()
        save(b, inputs=np.arange(12, dtype=np.float16).reshape(2, 2, 3), outputs=np.ones((1, 3), np.float32))
        seed("npz", "numpy", b.getvalue())
        b = io.BytesIO()
        save(b, a=np.arange(3, dtype=">i4"), b=np.array(2.5), c=np.zeros((0,), np.int8))
        seed("npz", "numpy", b.getvalue())
    b = io.BytesIO()
    np.savez(b, inputs=np.array(1.0), outputs=np.arange(4, dtype=np.int64))
    seed("npz", "numpy", b.getvalue())
except ImportError:
    print("numpy missing: no numpy .npy / .npz seeds")


# --- .pth from torch.save: each archive as is, and in the structured mode of fuzz_pth.cc
# (a first byte 0, 1 or 2 for no / "little" / "big" byteorder entry, data.pkl, then "#AIT" +
# storage for keys 0, 1, ...).
def pth_seeds(raw, flags=(0,)):
    seed("pth", "torch", raw)
    z = zipfile.ZipFile(io.BytesIO(raw))
    names = z.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl")][0]
    top = pkl[: -len("/data.pkl")]
    parts = [z.read(pkl)]
    k = 0
    while top + "/data/%d" % k in names:
        parts.append(z.read(top + "/data/%d" % k))
        k += 1
    for flag in flags:
        seed("pth", "torch", bytes([flag]) + b"#AIT".join(parts))


try:
    import collections
    import torch
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    lin = torch.nn.Linear(3, 2)
    objects = [
        t,
        t.t(),                                        # a non-contiguous view
        t[1:, 1:],                                    # a view with a storage offset
        {"w": t, "wt": t.t(), "h": torch.ones(3, dtype=torch.float16)},
        collections.OrderedDict(lin.state_dict()),
        [torch.tensor(3.5, dtype=torch.float64), torch.zeros(0, 4), torch.tensor([True, False])],
        {"nested": {"a": (torch.arange(4, dtype=torch.int64),), "n": 3, "s": "x", "f": 1.5, "none": None}},
        torch.tensor([1, -2], dtype=torch.int8),
        torch.ones(2, 2, dtype=torch.bfloat16),
        torch.tensor([1 + 2j], dtype=torch.complex64),
        torch.nn.Parameter(torch.ones(2)),
        torch.arange(3, dtype=torch.int32).expand(4, 3),  # stride 0
    ]
    for i, obj in enumerate(objects):
        b = io.BytesIO()
        torch.save(obj, b)
        pth_seeds(b.getvalue(), flags=(0, 2) if i % 3 == 0 else (0,))
    # Protocol 4 pickles: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE.
    for obj in objects[3:5]:
        b = io.BytesIO()
        torch.save(obj, b, pickle_protocol=4)
        pth_seeds(b.getvalue())
    # The same archive with deflated entries (libzip inflates those).
    b = io.BytesIO()
    torch.save({"w": t}, b)
    src = zipfile.ZipFile(io.BytesIO(b.getvalue()))
    d = io.BytesIO()
    with zipfile.ZipFile(d, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    seed("pth", "torch", d.getvalue())
    # The legacy (torch < 1.6) format, which the reader refuses.
    b = io.BytesIO()
    torch.save(t, b, _use_new_zipfile_serialization=False)
    seed("pth", "torch", b.getvalue())
except ImportError:
    print("torch missing: no torch .pth seeds")

for (target, source), n in sorted(counter.items()):
    print("%s: %d seeds from %s" % (target, n, source))
