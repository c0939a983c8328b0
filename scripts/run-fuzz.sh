#!/usr/bin/env bash
# Runs every libFuzzer target of an -DAIT_FUZZ=ON build for SECONDS each, one at a time.
#   usage: scripts/run-fuzz.sh BUILD_DIR [SECONDS=15]
# Seeds are generated here at run time (python3 + numpy + torch when present, else
# handcrafted bytes); nothing binary is committed. The growing corpus, the logs and any
# crashing input stay under BUILD_DIR/fuzz/. Prints one line per target; on a crash,
# timeout, OOM or sanitizer report prints the input's path and the log's tail and exits 1.
# SECONDS=0 only replays the seeds and the saved corpus (a quick regression check).
# Environment: FUZZ_TARGETS="npy pth" runs a subset; FUZZ_FRESH=1 ignores the saved corpus.
# See docs/FUZZING.md.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$1
seconds=${2:-15}
case $seconds in '' | *[!0-9]*) echo "run-fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
targets=${FUZZ_TARGETS:-atb_bin npy pth safetensors atb_onnx pair_topology}
out=$build/fuzz
work=$(mktemp -d "${TMPDIR:-/tmp}/ait-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/corpus" "$out/crashes" "$out/logs" "$work/scratch" "$work/seeds" "$work/dict" || exit 2

# Largest input per target. All stay below MappedFile's 256 KiB mmap threshold, so the
# file lands in an exact-size heap buffer and ASan sees any read past its end. atb_bin
# goes past the reader's 64 KiB header cap.
declare -A max_len=([atb_bin]=72000 [npy]=16384 [pth]=32768 [safetensors]=16384 [atb_onnx]=16384)

# ---------------------------------------------------------------------------------------
# Seeds.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "run-fuzz: python3 not found (needed to write the seed corpus)" >&2
  exit 2
fi
if ! "$python" - "$work/seeds" >"$work/seeds.log" 2>&1 <<'PYTHON'
import io, json, os, struct, sys, zipfile

root = sys.argv[1]
counter = {}

def seed(target, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    n = counter.get(target, 0)
    counter[target] = n + 1
    with open(os.path.join(d, "seed%03d" % n), "wb") as f:
        f.write(data)

# --- ATB .bin: name=value header lines up to $End=1, then the payload.
def atb(code, dims, payload, count=1, extra=b"", data_field=True):
    h = b"$Version=1.0\n$Object.Count=%d\n$Object.Length=%d\n" % (count, len(payload))
    h += b"format=2\ndtype=%d\ndims=%s\n" % (code, b",".join(b"%d" % d for d in dims))
    if data_field and count:
        h += b"$Object.data=0,%d\n" % len(payload)
    return h + extra + b"$End=1\n" + (payload if count else b"")

seed("atb_bin", atb(0, [2, 3], struct.pack("<6f", *range(6))))
seed("atb_bin", atb(1, [4], struct.pack("<4e", 1, -2, 0.5, 65504)))
seed("atb_bin", atb(27, [1, 2], b"\x80\x3f\x00\x40"))
seed("atb_bin", atb(9, [2], struct.pack("<2q", -1, 1 << 40), data_field=False))
seed("atb_bin", atb(12, [3], b"\x00\x01\x01"))
seed("atb_bin", atb(16, [1], struct.pack("<2f", 1, -1), extra=b"format=29\n"))
seed("atb_bin", atb(3, [0, 5], b""))
seed("atb_bin", atb(11, [], struct.pack("<d", 3.25)))
seed("atb_bin", atb(1, [8, 16, 2], b"", count=0))

# --- safetensors: u64 header length, JSON header, data buffer.
def st(entries, data, meta=None, pad=0):
    header = dict(entries)
    if meta is not None:
        header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":")).encode() + b" " * pad
    return struct.pack("<Q", len(text)) + text + data

seed("safetensors", st({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}},
                       struct.pack("<4f", 1, 2, 3, 4)))
seed("safetensors", st({"w": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]},
                        "b": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [6, 8]},
                        "i": {"dtype": "I64", "shape": [], "data_offsets": [8, 16]}},
                       bytes(range(16)), meta={"format": "pt"}, pad=5))
seed("safetensors", st({"e": {"dtype": "U8", "shape": [0, 4], "data_offsets": [0, 0]},
                        "m": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]},
                        "c": {"dtype": "C64", "shape": [1], "data_offsets": [2, 10]}},
                       b"\x01\x00" + struct.pack("<2f", 1, 2)))
seed("safetensors", st({}, b"", meta={}))
for dt, size in [("I8", 1), ("I16", 2), ("U16", 2), ("I32", 4), ("U32", 4), ("F64", 8), ("U64", 8)]:
    seed("safetensors", st({"x": {"dtype": dt, "shape": [2], "data_offsets": [0, 2 * size]}}, bytes(2 * size)))

# --- ATB topology JSON (FORMATS.md 5.1/5.2) for fuzz_atb_onnx: a layer with nested
# children, a merged model, in-place writes, odd params, and a few broken shapes.
def topo(obj, compact=True):
    seed("atb_onnx", json.dumps(obj, separators=(",", ":") if compact else None).encode() + b"\n")

L = "Bloom7bCommonLayer_3"
layer = {"opName": L, "opType": "BloomLayer", "param": {"headNum": 32, "rmsNormEps": 1e-5},
         "inTensors": [L + "_input_%d" % i for i in range(3)], "outTensors": [L + "_output_0"],
         "internalTensors": [L + "_internal_%d" % i for i in range(3)],
         "nodes": [
             {"opName": "LayerNormOperation_3_0", "opType": "LayerNormOperation",
              "param": {"layerType": 1,
                        "normParam": {"epsilon": 1e-5, "beginNormAxis": 2, "quant": {"scale": [0.5, 1]}}},
              "inTensors": [L + "_input_0", L + "_input_1"], "outTensors": [L + "_internal_0"]},
             {"opName": "LinearOperation_3_1", "opType": "LinearOperation",
              "param": {"hasBias": True, "transposeA": False, "transposeB": False},
              "inTensors": [L + "_internal_0", L + "_input_2"], "outTensors": [L + "_internal_1"]},
             {"opName": "SelfAttention_3_2", "opType": "GraphOperation", "param": {},
              "inTensors": [L + "_internal_1"], "outTensors": [L + "_internal_2"],
              "internalTensors": ["SelfAttention_3_2_internal_0"],
              "nodes": [{"opName": "ReshapeAndCache_3_2_0", "opType": "ReshapeAndCacheOperation", "param": None,
                         "inTensors": [L + "_internal_1", L + "_input_2"], "outTensors": [L + "_input_2"]},
                        {"opName": "Elewise_3_2_1", "opType": "ElewiseOperation",
                         "param": {"elewiseType": "ELEWISE_ADD", "mixed": [1, "a", None, [2]]},
                         "inTensors": [L + "_input_2", ""], "outTensors": [L + "_internal_2"]}]},
             {"opName": "Elewise_3_3", "opType": "ElewiseOperation", "param": "ELEWISE_MULS",
              "inTensors": [L + "_internal_2", L + "_input_0"], "outTensors": [L + "_output_0"]}]}
topo(layer)
topo(layer, compact=False)
M = "BloomModel"
model = {"inTensors": [M + "_input_0"], "internalTensors": [M + "_internal_0"],
         "kCacheTensors": [M + "_kCache_0"], "modelName": M,
         "nodes": [{"inTensors": [M + "_input_0", M + "_weight_0", M + "_kCache_0"], "opName": L,
                    "outTensors": [M + "_internal_0"], "opType": "BloomLayer",
                    "internalTensors": [L + "_internal_0"], "nodes": layer["nodes"][:2]},
                   {"inTensors": [M + "_internal_0", M + "_weight_1"], "opName": "LmHead_4",
                    "outTensors": [M + "_output_0"], "opType": "LmHead"}],
         "outTensors": [M + "_output_0"], "vCacheTensors": [M + "_vCache_0"],
         "weightTensors": [M + "_weight_0", M + "_weight_1"]}
topo(model)
topo({"opName": "LinearOperation_0", "opType": "LinearOperation", "inTensors": ["x", "w"], "outTensors": ["y"]})
topo({"modelName": "Empty"})
topo({"opName": "L", "opType": "T", "nodes": [{"opName": "C", "opType": "U", "inTensors": [1]}]})
topo({"opName": "L", "opType": "T", "nodes": [[]], "param": {"a": {"b": {"c": {"d": [[[1]]]}}}}})

# --- .npy: handcrafted (always), numpy's own writer (when numpy is there).
def npy(header, payload, version=1):
    text = header.encode()
    prefix = 10 if version == 1 else 12
    pad = 64 - (prefix + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    fmt = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, len(text)) + text + payload

seed("npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", struct.pack("<6f", *range(6))))
seed("npy", npy("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 2), }", struct.pack(">4h", 1, 2, 3, 4)))
seed("npy", npy('{"descr": "|b1", "fortran_order": False, "shape": (3L,)}', b"\x00\x01\x00", version=2))
seed("npy", npy("{'descr': '<c8', 'fortran_order': False, 'shape': (), }", struct.pack("<2f", 1, 2), version=3))

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
        seed("npy", b.getvalue())
    b = io.BytesIO()
    np.lib.format.write_array(b, np.arange(5, dtype="<u2"), version=(2, 0))
    seed("npy", b.getvalue())
except ImportError:
    print("numpy missing: handcrafted .npy seeds only")

# --- .pth: torch.save archives (used as is) and the structured mode of fuzz_pth.cc:
# a first byte 0, 1 or 2 (no / "little" / "big" byteorder entry), data.pkl, then
# "#AIT" + storage for keys 0, 1, ...
def pth_seeds(raw, flags=(0,)):
    seed("pth", raw)
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
        seed("pth", bytes([flag]) + b"#AIT".join(parts))

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
    seed("pth", d.getvalue())
    # The legacy (torch < 1.6) format, which the reader refuses.
    b = io.BytesIO()
    torch.save(t, b, _use_new_zipfile_serialization=False)
    seed("pth", b.getvalue())
except ImportError:
    print("torch missing: handcrafted .pth seed only")
    pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00storageq\x01ctorch\n"
           b"FloatStorage\nq\x02X\x01\x00\x00\x000q\x03X\x03\x00\x00\x00cpuq\x04K\x02tq\x05QK\x00K\x02\x85q\x06"
           b"K\x01\x85q\x07\x89ccollections\nOrderedDict\nq\x08)Rq\ttq\nRq\x0b.")
    seed("pth", b"\x00" + pkl + b"#AIT" + struct.pack("<2f", 1, 2))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as w:
        w.writestr("archive/data.pkl", pkl)
        w.writestr("archive/data/0", struct.pack("<2f", 1, 2))
        w.writestr("archive/version", "3\n")
    seed("pth", z.getvalue())
PYTHON
then
  echo "run-fuzz: writing the seed corpus failed:" >&2
  cat "$work/seeds.log" >&2
  exit 2
fi

# ---------------------------------------------------------------------------------------
# Dictionaries (libFuzzer -dict syntax).
cat >"$work/dict/atb_bin" <<'EOF'
"$End=1\x0a"
"$Version=1.0\x0a"
"$Object.Count="
"$Object.Length="
"$Object.data="
"dtype="
"dims="
"format="
"\x0a"
","
"-1"
"18446744073709551615"
"9223372036854775807"
"4294967296"
EOF
cat >"$work/dict/npy" <<'EOF'
"\x93NUMPY"
"\x01\x00"
"\x02\x00"
"\x03\x00"
"'descr'"
"'fortran_order'"
"'shape'"
"\"descr\""
"True"
"False"
"'<f4'"
"'>f8'"
"'|b1'"
"'<c8'"
"'=u2'"
"()"
"(0,)"
"L"
", "
"9223372036854775807"
"18446744073709551616"
EOF
cat >"$work/dict/safetensors" <<'EOF'
"\"dtype\""
"\"shape\""
"\"data_offsets\""
"\"__metadata__\""
"\"F32\""
"\"F16\""
"\"BF16\""
"\"BOOL\""
"\"C64\""
"\"U64\""
"[]"
"{}"
"[0,0]"
"18446744073709551615"
"9223372036854775807"
"-1"
"1e3"
"\\u0000"
"\x00\x00\x00\x00\x00\x00\x00\x00"
EOF
cat >"$work/dict/atb_onnx" <<'EOF'
"\"opName\""
"\"opType\""
"\"modelName\""
"\"param\""
"\"nodes\""
"\"inTensors\""
"\"outTensors\""
"\"internalTensors\""
"\"weightTensors\""
"\"kCacheTensors\""
"\"x\""
"\"\""
"[]"
"{}"
"null"
"true"
"false"
"1e39"
"-1e400"
"18446744073709551615"
"\\u0000"
":"
","
EOF
{ cat "$work/dict/atb_onnx"; cat <<'EOF'
"\x0a--tree--\x0a"
"\x0a--order--\x0a"
"\"name\""
"\"type\""
"\"children\""
"\"root\""
"\"root.model.layers.0\""
"\"LlamaDecoderLayer\""
"\"Linear\""
"\"LinearOperation\""
EOF
}  >"$work/dict/pair_topology"
cat >"$work/dict/pth" <<'EOF'
"#AIT"
"PK\x03\x04"
"PK\x01\x02"
"PK\x05\x06"
"PK\x06\x06"
"PK\x06\x07"
"\x01\x00\x10\x00"
"\xff\xff\xff\xff"
"archive/data.pkl"
"archive/data/"
"archive/byteorder"
"\x80\x02"
"\x80\x04\x95"
"ctorch._utils\x0a_rebuild_tensor_v2\x0a"
"ctorch._utils\x0a_rebuild_tensor_v3\x0a"
"ctorch._utils\x0a_rebuild_parameter\x0a"
"ccollections\x0aOrderedDict\x0a"
"ctorch\x0aFloatStorage\x0a"
"ctorch\x0aHalfStorage\x0a"
"ctorch\x0aUntypedStorage\x0a"
"ctorch\x0abfloat16\x0a"
"\x8c\x05torch\x8c\x0cUntypedStorage\x93"
"X\x07\x00\x00\x00storage"
"X\x03\x00\x00\x00cpu"
"X\x01\x00\x00\x000"
"X\x01\x00\x00\x001"
"h\x02"
"q\x00"
"Q"
"R"
"b"
"s"
"u"
"e"
"t"
"("
")"
"}"
"]"
"\x85"
"\x86"
"\x87"
"\x88"
"\x89"
"."
"J\xff\xff\xff\xff"
"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"
EOF

# ---------------------------------------------------------------------------------------
# Run.
export AIT_FUZZ_DIR=$work/scratch
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}allocator_may_return_null=0:handle_abort=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}print_stacktrace=1:halt_on_error=1
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null; then
  [ -x /usr/bin/llvm-symbolizer-14 ] && export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

failed=0
for target in $targets; do
  name=fuzz_$target
  exe=$build/bin/$name
  if [ ! -x "$exe" ]; then
    echo "$name: FAILED: $exe is missing (configure with -DAIT_FUZZ=ON and build it)"
    failed=1
    continue
  fi
  corpus=$out/corpus/$name
  [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
  mkdir -p "$corpus"
  seeds=$work/seeds/$target
  mkdir -p "$seeds"
  if [ "$target" = pair_topology ]; then  # its seed: the synthetic dumps' own topology files
    AIT_FUZZ_SEED_OUT="$seeds/seed000" "$exe" -runs=1 >/dev/null 2>&1 || true
  fi
  log=$out/logs/$name.log
  len=${max_len[$target]:-16384}
  limit=-max_total_time=$seconds
  [ "$seconds" -eq 0 ] && limit=-runs=0  # libFuzzer reads max_total_time=0 as "no limit"
  "$exe" "$limit" -timeout=10 -rss_limit_mb=2048 -max_len="$len" \
    -dict="$work/dict/$target" -artifact_prefix="$out/crashes/$name-" -print_final_stats=1 \
    "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  units=$(find "$corpus" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "$name: FAILED (exit $rc) after ${execs:-?} execs; crashing input: ${input:-none saved}"
    [ -n "$input" ] && echo "  reproduce: $exe $input"
    echo "  log: $log; the error and the log's tail:"
    grep -m 6 -E "terminate called|what\(\):|ERROR: |runtime error:|SUMMARY: |ait fuzz:" "$log" | sed 's/^/  ! /'
    tail -n 30 "$log" | sed 's/^/  | /'
    failed=1
  else
    echo "$name: ${execs:-?} execs in ${seconds}s (${rate:-?}/s), ${cov:-cov: ?}, corpus $units inputs"
  fi
done
exit $failed
