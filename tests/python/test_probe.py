"""libait_probe preloaded into the reference engine (`ait-engine run`), driven by the ATB_*
environment exactly as `ait llm dump` / `errcheck` set it (FORMATS.md 3.4): which tensor
files it writes for each selector, their bytes, the topology JSON, IO CSVs, statistics,
tiling, overflow report, concurrent processes, kills and signals, and the old string ABI."""
import json
import os
import pathlib
import re
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import build_program, run_checked as run

BIN_DTYPES = {0: np.float32, 1: np.float16, 2: np.int8, 3: np.int32, 9: np.int64, 12: np.bool_}
HEADER_KEYS = ["$Version", "$Object.Count", "$Object.Length", "format", "dtype", "dims"]
PROMPT = "1,2,3"


@pytest.fixture(scope="module")
def probe():
    return build_program("libait_probe_abi1.so", folder="lib")


@pytest.fixture(scope="module")
def config(tiny):
    return json.loads((tiny / "config.json").read_text())


def read_bin(path):
    """(header dict, array or None for a description-only file); asserts the file is whole
    and laid out as FORMATS.md 1.1 says."""
    raw = path.read_bytes()
    end = raw.index(b"$End=1\n") + len(b"$End=1\n")
    lines = raw[:end].decode().splitlines()
    header = dict(line.split("=", 1) for line in lines)
    payload = raw[end:]
    assert [line.split("=", 1)[0] for line in lines[:6]] == HEADER_KEYS, path
    assert header["$Version"] == "1.0"
    assert int(header["$Object.Length"]) == len(payload), path
    dims = [int(d) for d in header["dims"].split(",")] if header["dims"] else []
    if header["$Object.Count"] == "0":
        assert lines[6:] == ["$End=1"] and not payload, path
        return header, None
    assert header["$Object.Count"] == "1" and header["$Object.data"] == f"0,{len(payload)}", path
    assert lines[7:] == ["$End=1"], path
    dtype = BIN_DTYPES[int(header["dtype"])]
    assert len(payload) == int(np.prod(dims, dtype=np.int64)) * np.dtype(dtype).itemsize, path
    return header, np.frombuffer(payload, dtype=dtype).reshape(dims)


def dump_env(out, **overrides):
    """The environment `ait llm dump` sets with its defaults (-o OUT --type tensor)."""
    env = {"ATB_OUTPUT_DIR": f"{out}/", "ATB_DUMP_TYPE": "tensor", "ATB_SAVE_TENSOR": "1",
           "ATB_SAVE_TENSOR_TIME": "1", "ATB_SAVE_TENSOR_RANGE": "0,0", "ATB_SAVE_CHILD": "1",
           "ATB_SAVE_TENSOR_PART": "2", "ATB_SAVE_TILING": "0", "ATB_AIT_LOG_LEVEL": "1"}
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Dump:
    def __init__(self, out, result):
        self.out = out
        self.root = out / "ait_dump"
        self.result = result
        tensors = self.root / "tensors"
        self.runs = sorted(p.name for p in tensors.iterdir()) if tensors.exists() else []

    @property
    def run_dir(self):
        assert len(self.runs) == 1, self.runs
        return self.root / "tensors" / self.runs[0]

    @property
    def pid(self):
        return self.run_dir.name.split("_", 1)[1]

    def files(self):
        """Every file of the single run, relative to its {dev}_{pid} folder."""
        if not self.runs:
            return set()
        return {str(p.relative_to(self.run_dir)) for p in self.run_dir.rglob("*") if p.is_file()}


def dump(engine, probe, tiny, out, tokens=2, extra=(), rc=0, probe_env=None, **env):
    out.mkdir(parents=True, exist_ok=True)
    full_env = {"LD_PRELOAD": probe, **(probe_env if probe_env is not None else dump_env(out, **env))}
    r = run(engine, "run", "--model", tiny, "--input-ids", PROMPT, "--max-new-tokens", tokens, "--device-id", 3,
            *extra, rc=rc, env=full_env)
    return Dump(out, r)


# --- Selection: the exact set of files --------------------------------------------------------


def is_kernel(segment_type):
    return not (segment_type.endswith("Operation") or segment_type == "LlamaLayer")


def parse(rel):
    """'1/1_LlamaLayer/5_SelfAttentionOperation/2_Softmax/after/outtensor0.bin' ->
    (count, ids, optype, time, file name, is a kernel); time is None for op_param.json."""
    parts = rel.split("/")
    segs = parts[1:-1] if parts[-1] == "op_param.json" else parts[1:-2]
    time_dir = None if parts[-1] == "op_param.json" else parts[-2]
    ids = [int(s.split("_", 1)[0]) for s in segs]
    types = [s.split("_", 1)[1] for s in segs]
    kernel = is_kernel(types[-1])
    optype = types[-2] if kernel else types[-1]  # kernels carry their op's name
    return int(parts[0]), ids, optype, time_dir, parts[-1], kernel


def selected(rel, ids=None, child=True, runners=None, ranges=((0, 100),), time=2, part=2):
    """FORMATS.md 3.3 restated, as the oracle for the probe's choices."""
    count, op_ids, optype, time_dir, name, _ = parse(rel)
    query = "_".join(map(str, op_ids))
    if ids is None and runners is None:
        need = True
    else:
        need = any(query == e or (child and query.startswith(e + "_")) for e in ids or []) or any(
            optype.lower().startswith(r) for r in runners or [])
    if not need or not any(lo <= count <= hi for lo, hi in ranges):
        return False
    if name == "op_param.json":
        return True
    if time_dir == "before" and time not in (0, 2) or time_dir == "after" and time not in (1, 2):
        return False
    return ("intensor" in name and part in (0, 2)) or ("outtensor" in name and part in (1, 2))


@pytest.fixture(scope="module")
def everything(ait_engine, probe, tiny, tmp_path_factory):
    """Every file of 3 tokens: no ids, no names, all counts, before and after, in and out."""
    d = dump(ait_engine, probe, tiny, tmp_path_factory.mktemp("everything"), tokens=3,
             ATB_SAVE_TENSOR_RANGE="0,100", ATB_SAVE_TENSOR_TIME=2)
    return d.files()


def test_everything_covers_every_operation_kernel_and_token(everything, config):
    layers = config["num_hidden_layers"]
    assert {rel.split("/")[0] for rel in everything} == {"0", "1", "2"}
    for rel in ("0/0_GatherOperation/before/intensor1.bin", "0/0_GatherOperation/0_Gather/after/outtensor0.bin",
                "2/1_LlamaLayer/before/intensor0.bin", "1/1_LlamaLayer/5_SelfAttentionOperation/2_Softmax/after/outtensor0.bin",
                "0/1_LlamaLayer/1_LinearOperation/op_param.json", f"2/{layers + 2}_LinearOperation/after/outtensor0.bin",
                f"0/{layers}_LlamaLayer/14_ElewiseOperation/0_Add/before/intensor1.bin"):
        assert rel in everything, rel
    # 3 + 16 per layer operations, each with before and after.
    ops = {tuple(parse(rel)[1]) for rel in everything if not parse(rel)[5]}
    assert len(ops) == 3 + 16 * layers
    assert all(rel.endswith(".bin") or rel.endswith("op_param.json") for rel in everything)


SELECTIONS = [
    # (ATB_* overrides, oracle arguments)
    ({"ATB_SAVE_TENSOR_IDS": "1_5", "ATB_SAVE_CHILD": 1}, dict(ids=["1_5"], child=True)),
    ({"ATB_SAVE_TENSOR_IDS": "1_5", "ATB_SAVE_CHILD": 0}, dict(ids=["1_5"], child=False)),
    ({"ATB_SAVE_TENSOR_IDS": "0, 2_1", "ATB_SAVE_CHILD": 1, "ATB_SAVE_TENSOR_TIME": 0},
     dict(ids=["0", "2_1"], child=True, time=0)),
    ({"ATB_SAVE_TENSOR_IDS": "2", "ATB_SAVE_CHILD": 0, "ATB_SAVE_TENSOR_PART": 0}, dict(ids=["2"], child=False, part=0)),
    # -opname is lower-cased by the CLI; the probe matches prefixes of the lower-cased type.
    ({"ATB_SAVE_TENSOR_RUNNER": "self,rmsnorm"}, dict(runners=["self", "rmsnorm"])),
    ({"ATB_SAVE_TENSOR_RUNNER": "SELF"}, dict(runners=["SELF"])),  # not lower-cased: selects nothing
    ({"ATB_SAVE_TENSOR_IDS": "3", "ATB_SAVE_TENSOR_RUNNER": "gather", "ATB_SAVE_TENSOR_PART": 1},
     dict(ids=["3"], runners=["gather"], part=1)),
    ({"ATB_SAVE_TENSOR_RANGE": "1,1", "ATB_SAVE_TENSOR_TIME": 2}, dict(ranges=[(1, 1)], time=2)),
    ({"ATB_SAVE_TENSOR_RANGE": "0,0,2,2,7", "ATB_SAVE_TENSOR_RUNNER": "linear"},
     dict(ranges=[(0, 0), (2, 2)], runners=["linear"])),
    ({"ATB_SAVE_TENSOR_RANGE": "0,0", "ATB_SAVE_TENSOR_TIME": 1, "ATB_SAVE_TENSOR_PART": 2},
     dict(ranges=[(0, 0)], time=1)),
    ({"ATB_SAVE_TENSOR_RANGE": "garbage"}, dict(ranges=[])),
]


@pytest.mark.parametrize("env, oracle", SELECTIONS, ids=[json.dumps(e) for e, _ in SELECTIONS])
def test_selection_writes_exactly_the_expected_files(ait_engine, probe, tiny, tmp_path, everything, env, oracle):
    env = {"ATB_SAVE_TENSOR_RANGE": "0,100", "ATB_SAVE_TENSOR_TIME": 2, **env}  # as `everything`, unless overridden
    d = dump(ait_engine, probe, tiny, tmp_path, tokens=3, **env)
    expected = {rel for rel in everything if selected(rel, **oracle)}
    got = d.files()
    assert got == expected, f"missing {sorted(expected - got)[:5]}, extra {sorted(got - expected)[:5]}"
    for rel in got:
        if rel.endswith(".bin"):
            read_bin(d.run_dir / rel)


def test_selection_examples_by_name(ait_engine, probe, tiny, tmp_path):
    # -ids 1_5 -child False: the attention op's own before/after files, no kernels, no parent.
    d = dump(ait_engine, probe, tiny, tmp_path, ATB_SAVE_TENSOR_IDS="1_5", ATB_SAVE_CHILD=0, ATB_SAVE_TENSOR_TIME=2,
             ATB_SAVE_TENSOR_PART=1)
    assert d.files() == {"0/1_LlamaLayer/5_SelfAttentionOperation/op_param.json",
                         "0/1_LlamaLayer/5_SelfAttentionOperation/before/outtensor0.bin",
                         "0/1_LlamaLayer/5_SelfAttentionOperation/after/outtensor0.bin"}
    assert d.runs == [f"3_{d.pid}"]  # {device id}_{pid}


def test_description_only_writes_headers_for_the_same_files(ait_engine, probe, tiny, tmp_path, everything):
    d = dump(ait_engine, probe, tiny, tmp_path, tokens=3, ATB_SAVE_TENSOR=2, ATB_SAVE_TENSOR_RANGE="0,100",
             ATB_SAVE_TENSOR_TIME=2)
    assert d.files() == everything
    header, data = read_bin(d.run_dir / "0/1_LlamaLayer/0_RmsNormOperation/after/outtensor0.bin")
    assert data is None and header["dims"] == "3,64" and header["dtype"] == "0" and header["format"] == "2"


def test_device_filter_keeps_the_params_only(ait_engine, probe, tiny, tmp_path):
    same = dump(ait_engine, probe, tiny, tmp_path / "same", ATB_DEVICE_ID=3)
    other = dump(ait_engine, probe, tiny, tmp_path / "other", ATB_DEVICE_ID=1)
    assert any(rel.endswith(".bin") for rel in same.files())
    # ATB_DEVICE_ID filters tensors by their {dev}_ folder; op_param.json is not filtered.
    assert other.files() and all(rel.endswith("op_param.json") for rel in other.files())
    assert other.files() == {rel for rel in same.files() if rel.endswith("op_param.json")}


def test_unknown_dump_type_writes_nothing(ait_engine, probe, tiny, tmp_path):
    dump(ait_engine, probe, tiny, tmp_path, ATB_DUMP_TYPE="layer_only")
    assert not (tmp_path / "ait_dump").exists()


# --- Values ------------------------------------------------------------------------------------


def test_saved_tensors_hold_the_engines_values(ait_engine, probe, tiny, tmp_path, config, tensor_json):
    lm_head = config["num_hidden_layers"] + 2
    d = dump(ait_engine, probe, tiny, tmp_path, tokens=3, extra=("--save-logits", tmp_path / "logits.npy"),
             ATB_SAVE_TENSOR_RANGE="0,2", ATB_SAVE_TENSOR_IDS=str(lm_head), ATB_SAVE_CHILD=0)
    logits = np.load(tmp_path / "logits.npy")  # [steps, batch, vocab], last position
    assert logits.shape == (3, 1, config["vocab_size"])
    for k in range(3):
        header, out = read_bin(d.run_dir / f"{k}/{lm_head}_LinearOperation/after/outtensor0.bin")
        assert out.shape == (3 if k == 0 else 1, config["vocab_size"])  # prefill, then one token per step
        np.testing.assert_array_equal(out[-1], logits[k, 0])
    # The toolkit's own reader reads the probe's file to the same values.
    path = d.run_dir / f"1/{lm_head}_LinearOperation/after/outtensor0.bin"
    t = next(iter(tensor_json(path).values()))
    assert t["shape"] == [1, config["vocab_size"]]
    np.testing.assert_array_equal(np.array(t["values"], dtype=np.float32), logits[1, 0])
    # The probe observes; it changes nothing.
    plain = run(ait_engine, "run", "--model", tiny, "--input-ids", PROMPT, "--max-new-tokens", 3)
    assert d.result.stdout == plain.stdout


def test_inputs_saved_before_equal_the_producers_outputs(ait_engine, probe, tiny, tmp_path):
    d = dump(ait_engine, probe, tiny, tmp_path, ATB_SAVE_TENSOR_TIME=2)
    layer = d.run_dir / "0/1_LlamaLayer"
    _, norm_out = read_bin(layer / "0_RmsNormOperation/after/outtensor0.bin")
    _, q_in = read_bin(layer / "1_LinearOperation/before/intensor0.bin")
    _, kernel_in = read_bin(layer / "1_LinearOperation/0_MatMul/before/intensor0.bin")
    np.testing.assert_array_equal(norm_out, q_in)
    np.testing.assert_array_equal(q_in, kernel_in)
    params = json.loads((layer / "1_LinearOperation/op_param.json").read_text())
    assert params == {"hasBias": False, "transposeA": False, "transposeB": True}
    assert (layer / "1_LinearOperation/op_param.json").read_text().count("\n") == 1


# --- Topology ----------------------------------------------------------------------------------


def expected_layer(g):
    """FORMATS.md 5.1 restated."""
    name = g["opName"]
    out = {"opName": name, "opType": g["opType"]}
    if "param" in g:
        out["param"] = g["param"]
    names = []
    for kind, key, n in (("input", "inTensors", g["inTensorNum"]), ("output", "outTensors", g["outTensorNum"]),
                         ("internal", "internalTensors", g.get("internalTensorNum", 0))):
        listed = [f"{name}_{kind}_{i}" for i in range(n)]
        if listed:
            out[key] = listed
        names += listed
    kids = [expected_child(n, names) for n in g.get("nodes", [])]
    if kids:
        out["nodes"] = kids
    return out


def expected_child(n, parent):
    c = {k: n[k] for k in ("opName", "opType", "param") if k in n}
    own = []
    for ids, key in (("inTensorIds", "inTensors"), ("outTensorIds", "outTensors")):
        listed = [parent[i] for i in n.get(ids, [])]
        if listed:
            c[key] = listed
        own += listed
    internal = [f"{c['opName']}_internal_{i}" for i in range(n.get("internalTensorNum", 0))]
    if internal:
        c["internalTensors"] = internal
    kids = [expected_child(k, own + internal) for k in n.get("nodes", [])]
    if kids:
        c["nodes"] = kids
    return c


def expected_model(model, graphs):
    """FORMATS.md 5.2 restated."""
    for n, node in enumerate(model["nodes"]):
        node["opType"] = node["opName"]
        node["opName"] = name = f"{node['opName']}_{n}"
        if name in graphs:
            g = graphs[name]
            internal = [f"{name}_internal_{i}" for i in range(g.get("internalTensorNum", 0))]
            if internal:
                node["internalTensors"] = internal
            node["nodes"] = [expected_child(c, node["inTensors"] + node["outTensors"] + internal) for c in g["nodes"]]
    return model


@pytest.fixture(scope="module")
def reported(ait_engine, tiny, tmp_path_factory):
    """The graphs and model topology the engine hands a probe (via the recording probe)."""
    folder = tmp_path_factory.mktemp("reported")
    run(ait_engine, "run", "--model", tiny, "--input-ids", PROMPT, "--max-new-tokens", 2,
        env={"LD_PRELOAD": build_program("libait_recording_probe.so", folder="lib"), "AIT_RECORDING_PROBE_DIR": folder})
    graphs, models = {}, {}
    for line in (folder / "calls.txt").read_text().splitlines():
        kind, rest = line.split("|", 1)
        if kind in ("graph", "model"):
            name, text = rest.split("|", 1)
            (graphs if kind == "graph" else models)[name] = json.loads(text)
    return graphs, models


def test_layer_and_model_json(ait_engine, probe, tiny, tmp_path, reported, config):
    graphs, models = reported
    info = tmp_path / "cli_pid"
    info.mkdir()
    d = dump(ait_engine, probe, tiny, tmp_path / "out", ATB_DUMP_TYPE="model|onnx",
             ATB_DUMP_SUB_PROC_INFO_SAVE_PATH=info)
    assert not (d.root / "tensors").exists()
    pids = [p.name for p in (d.root / "layer").iterdir()]
    assert len(pids) == 1
    layer_dir, model_file = d.root / "layer" / pids[0], d.root / "model" / pids[0] / "LlamaModel.json"
    layers = config["num_hidden_layers"]
    assert sorted(p.name for p in layer_dir.iterdir()) == sorted(f"LlamaLayer_{i}.json" for i in range(1, layers + 1))
    for name, graph in graphs.items():
        text = (layer_dir / f"{name}.json").read_text()
        assert text.endswith("\n") and text.count("\n") == 1
        assert json.dumps(json.loads(text)) == json.dumps(expected_layer(graph))  # keys in order too
    layer1 = json.loads((layer_dir / "LlamaLayer_1.json").read_text())
    assert list(layer1) == ["opName", "opType", "param", "inTensors", "outTensors", "internalTensors", "nodes"]
    assert layer1["nodes"][5]["opName"] == "SelfAttentionOperation_1_5"

    model = json.loads(model_file.read_text())
    assert json.dumps(model) == json.dumps(expected_model(models["LlamaModel"], graphs))
    assert [n["opName"] for n in model["nodes"]] == ["GatherOperation_0"] + [
        f"LlamaLayer_{i}" for i in range(1, layers + 1)] + [f"RmsNormOperation_{layers + 1}",
                                                             f"LinearOperation_{layers + 2}"]
    assert list(model["nodes"][1]) == ["inTensors", "opName", "outTensors", "opType", "internalTensors", "nodes"]
    # With `onnx`, each JSON written is listed for the CLI's conversion.
    listed = (info / "subprocess_info.txt").read_text().splitlines()
    assert sorted(listed) == sorted([str(layer_dir / f"LlamaLayer_{i}.json") for i in range(1, layers + 1)] +
                                    [str(model_file)])


def test_layer_type_alone_writes_no_model(ait_engine, probe, tiny, tmp_path):
    d = dump(ait_engine, probe, tiny, tmp_path, ATB_DUMP_TYPE="layer")
    assert (d.root / "layer").exists() and not (d.root / "model").exists()


# --- IO CSVs, statistics, tiling ---------------------------------------------------------------


def csv_rows(path):
    lines = path.read_text().splitlines()
    header = lines[0].split("|")
    assert len(header) == 21 and header[0] == "CaseNum" and header[-1] == "ExpectedError"
    rows = [dict(zip(header, line.split("|"))) for line in lines[1:]]
    assert all(len(line.split("|")) == 21 for line in lines)
    return rows


def test_operation_and_kernel_csv(ait_engine, probe, tiny, tmp_path, config):
    d = dump(ait_engine, probe, tiny, tmp_path, ATB_DUMP_TYPE="tensor|op|kernel")
    pid = d.pid
    layers = config["num_hidden_layers"]
    tensor_root = f"{tmp_path}/ait_dump/tensors/"
    for count in (0, 1):
        rows = csv_rows(d.root / f"operation_io_tensors/{pid}/operation_tensors_{count}.csv")
        assert len(rows) == 3 + 15 * layers  # every leaf operation, every execution
        assert [r["CaseNum"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
        assert all(r["CaseName"] == r["OpName"] + r["CaseNum"] for r in rows)
        q = next(r for r in rows if r["OpName"] == "LinearOperation_1_1")
        assert json.loads(q["OpParam"]) == {"hasBias": False, "transposeA": False, "transposeB": True}
        assert q["InNum"] == "2" and q["InDType"] == "float;float" and q["InFormat"] == "nd;nd"
        rows_in = 3 if count == 0 else 1
        assert q["InShape"] == f"{rows_in},{config['hidden_size']};{config['hidden_size']},{config['hidden_size']}"
        assert q["DataGenType"] == "customize" and q["DataGenRange"] == " " and q["ExpectedError"] == "NO_ERROR"
        assert [q[k] for k in ("TestType", "TestLevel", "FromModel", "SocVersion")] == [" "] * 4
        # Every path absolute (probe-ait-late), after/ since before-saving is off.
        paths = q["InTensorFile"].split(";") + q["OutTensorFile"].split(";")
        assert paths == [f"{tensor_root}3_{pid}/{count}/1_LlamaLayer/1_LinearOperation/after/{f}"
                         for f in ("intensor0.bin", "intensor1.bin", "outtensor0.bin")]
        # Token 0 is dumped (range 0,0): each listed path is a file.
        if count == 0:
            for r in rows:
                for p in r["InTensorFile"].split(";") + r["OutTensorFile"].split(";"):
                    read_bin(pathlib.Path(p))
    kernels = csv_rows(d.root / f"kernel_io_tensors/{pid}/kernel_tensors_0.csv")
    assert {r["OpName"] for r in kernels} >= {"Gather", "MatMul", "RmsNorm", "Softmax", "Add"}
    assert [r["CaseNum"] for r in kernels] == [str(i) for i in range(1, len(kernels) + 1)]


def test_cpu_profiling_lines(ait_engine, probe, tiny, tmp_path, config):
    d = dump(ait_engine, probe, tiny, tmp_path, ATB_DUMP_TYPE="cpu_profiling")
    folder = d.root / "cpu_profiling"
    (run,) = [p.name for p in folder.iterdir()]  # {YYYYmmddHHMMSS}: one folder per process run
    assert re.fullmatch(r"\d{14}", run)
    assert sorted(p.name for p in (folder / run).iterdir()) == ["operation_statistic_0.txt",
                                                                "operation_statistic_1.txt", "pid.txt"]
    pid = (folder / run / "pid.txt").read_text()
    assert pid.endswith("\n") and int(pid) > 0
    lines = (folder / run / "operation_statistic_0.txt").read_text().splitlines()
    ops = 3 + 16 * config["num_hidden_layers"]
    assert len(lines) == 2 * ops  # a setup and an execute line per operation
    parsed = [re.fullmatch(r"\[([A-Za-z0-9_]*)\]:(.*)", line) for line in lines]
    assert all(parsed), lines[:3]
    names = [m.group(1) for m in parsed]
    assert names[0] == names[1] == "GatherOperation_0"
    assert "runnerSetupTime:" in parsed[0].group(2) and "kernelExecuteTime:" in parsed[1].group(2)
    assert names.count("LinearOperation_1_1") == 2


def test_tiling_files(ait_engine, probe, tiny, tmp_path, config):
    d = dump(ait_engine, probe, tiny, tmp_path, ATB_SAVE_TILING=1, ATB_SAVE_TENSOR_IDS="1_1")
    hidden = config["hidden_size"]
    # FORMATS.md policy 9: ait_dump/tiling/{dev}_{pid}/... (probe-ait wrote beside ait_dump/).
    tiling = d.root / f"tiling/3_{d.pid}/0/1_LlamaLayer/1_LinearOperation/0_MatMul/kernel_tilingdata.bin"
    words = np.frombuffer(tiling.read_bytes(), dtype="<u8").tolist()
    # [n_in, n_out, then dtype code, rank, dims... per tensor]: x [3, h], w [h, h] -> y [3, h]
    assert words == [2, 1, 0, 2, 3, hidden, 0, 2, hidden, hidden, 0, 2, 3, hidden]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("kernel_tilingdata.bin")) == [
        str(tiling.relative_to(tmp_path))]
    dump(ait_engine, probe, tiny, tmp_path / "off", ATB_SAVE_TILING=0)
    assert not list((tmp_path / "off").rglob("kernel_tilingdata.bin"))


# --- Overflow (errcheck) -----------------------------------------------------------------------

PERTURB = ("--perturb", "LinearOperation_1_2=scale:1e6", "--perturb", "LinearOperation_1_2=fp16-saturate")


def errcheck_env(out, stop):
    # errcheck: abspath(-o), no trailing '/'.
    return {"ATB_OUTPUT_DIR": str(out), "ATB_CHECK_TYPE": "1", "ATB_EXIT": "1" if stop else "0"}


def overflow_reports(out):
    return sorted(out.glob("ait_overflow_res_*.txt"))


def test_overflow_report_names_the_kernel(ait_engine, probe, tiny, tmp_path):
    d = dump(ait_engine, probe, tiny, tmp_path, extra=PERTURB, probe_env=errcheck_env(tmp_path, stop=False))
    (report,) = overflow_reports(tmp_path)
    lines = report.read_text().splitlines()
    # The planted kernel first, with its token and what its outputs held (the engine announces
    # the counts through ait_probe_overflow_values), then those downstream that carry the inf
    # on; the run goes on.
    assert re.fullmatch(r"Overflow detected! Operator name: LinearOperation_1_2:MatMul, execute count 0, "
                        r"kind inf \(0 NaN, [1-9]\d* inf of [1-9]\d* output values\)", lines[0]), lines[0]
    assert len(lines) > 1 and all(line.startswith("Overflow detected! Operator name: ") for line in lines)
    assert all(re.search(r", kind (NaN|inf|NaN\+inf) \(\d+ NaN, \d+ inf of \d+ output values\)$", line)
               for line in lines)
    assert d.result.stdout.strip()


def test_overflow_stop_exits_nonzero_after_the_first_report(ait_engine, probe, tiny, tmp_path):
    r = dump(ait_engine, probe, tiny, tmp_path, extra=PERTURB, rc=1, probe_env=errcheck_env(tmp_path, stop=True))
    (report,) = overflow_reports(tmp_path)
    (line,) = report.read_text().splitlines(keepends=True)
    assert line.startswith("Overflow detected! Operator name: LinearOperation_1_2:MatMul, execute count 0, kind inf (")
    assert line.endswith(" output values)\n")
    assert "LinearOperation_1_2:MatMul" in r.result.stderr and "inf in an output" in r.result.stderr


def test_overflow_report_names_a_nan_and_stops_at_it(ait_engine, probe, tiny, tmp_path):
    nan = ("--perturb", "RmsNormOperation_1_8=nan")
    dump(ait_engine, probe, tiny, tmp_path / "go", extra=nan, probe_env=errcheck_env(tmp_path / "go", stop=False))
    (report,) = overflow_reports(tmp_path / "go")
    lines = report.read_text().splitlines()
    assert re.fullmatch(r"Overflow detected! Operator name: RmsNormOperation_1_8:\w+, execute count 0, "
                        r"kind NaN \([1-9]\d* NaN, 0 inf of [1-9]\d* output values\)", lines[0]), lines[0]
    assert len(lines) > 1
    r = dump(ait_engine, probe, tiny, tmp_path / "stop", extra=nan, rc=1,
             probe_env=errcheck_env(tmp_path / "stop", stop=True))
    (report,) = overflow_reports(tmp_path / "stop")
    assert report.read_text().splitlines() == lines[:1]
    assert "RmsNormOperation_1_8:" in r.result.stderr and "NaN in an output" in r.result.stderr


def test_a_host_without_the_extension_gets_the_line_without_a_kind(tmp_path):
    # The fake old-ABI "ATB" reports its kernel through ReportOverflowKernel alone, as real ATB does.
    host = build_program("fake_atb_host_abi0")
    abi0 = build_program("libait_probe_abi0.so", folder="lib")
    r = run(host, env={"LD_PRELOAD": abi0, **errcheck_env(tmp_path, stop=False)})
    assert r.stdout == "not saved\n"
    (report,) = overflow_reports(tmp_path)
    assert report.read_text() == "Overflow detected! Operator name: FakeOperation_0:FakeKernel, execute count 0\n"


def test_clean_run_writes_no_overflow_report(ait_engine, probe, tiny, tmp_path):
    # A one-token prompt: with a longer one the engine's QKMatmul kernel writes -inf at
    # causally masked positions, which its overflow scan (any ±inf in an output) reports.
    run(ait_engine, "run", "--model", tiny, "--input-ids", "1", "--max-new-tokens", 3,
        env={"LD_PRELOAD": probe, **errcheck_env(tmp_path, stop=True)})
    assert overflow_reports(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


# --- Processes, kills, signals, errors ---------------------------------------------------------


def engine_cmd(engine, tiny, tokens, *extra):
    return [engine, "run", "--model", str(tiny), "--input-ids", PROMPT, "--max-new-tokens", str(tokens),
            "--device-id", "3", *map(str, extra)]


def temp_files(folder):
    return [p for p in folder.rglob("*") if ".tmp." in p.name or ".lnk." in p.name]


def test_two_processes_dump_into_one_folder(ait_engine, probe, tiny, tmp_path):
    env = {**os.environ, "LD_PRELOAD": probe,
           **dump_env(tmp_path, ATB_DUMP_TYPE="tensor|model|op", ATB_SAVE_TENSOR_RANGE="0,1", ATB_SAVE_TENSOR_TIME=2)}
    procs = [subprocess.Popen(engine_cmd(ait_engine, tiny, 2), env=env, stdout=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs[0] == outs[1]
    runs = sorted((tmp_path / "ait_dump/tensors").iterdir())
    assert len(runs) == 2
    files = [{str(p.relative_to(r)) for p in r.rglob("*") if p.is_file()} for r in runs]
    assert files[0] == files[1] and len(files[0]) > 500
    for rel in files[0]:  # same model, same inputs: the same bytes in each process's folder
        assert (runs[0] / rel).read_bytes() == (runs[1] / rel).read_bytes(), rel
    for kind in ("layer", "model", "operation_io_tensors"):
        assert len(list((tmp_path / "ait_dump" / kind).iterdir())) == 2, kind
    assert temp_files(tmp_path) == []


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_sigkill_mid_dump_leaves_no_torn_file(ait_engine, probe, tiny, tmp_path):
    # A slow disk (each file waits 5 ms between its temporary copy and its rename), so the
    # kill lands while files are being written.
    env = {**os.environ, "LD_PRELOAD": probe, "AIT_PROBE_TEST_WRITE_DELAY_MS": "5",
           **dump_env(tmp_path, ATB_SAVE_TENSOR_RANGE="0,100", ATB_SAVE_TENSOR_TIME=2)}
    p = subprocess.Popen(engine_cmd(ait_engine, tiny, 5), env=env, stdout=subprocess.DEVNULL)
    bins = lambda: [f for f in (tmp_path / "ait_dump").rglob("*.bin")] if (tmp_path / "ait_dump").exists() else []
    assert wait_for(lambda: len(bins()) >= 50)
    p.kill()
    assert p.wait(timeout=30) == -signal.SIGKILL
    temps = temp_files(tmp_path)
    assert temps, "the kill was meant to land mid-write"
    assert all(t.name.startswith(".") for t in temps)  # hidden: no *.bin glob picks them up
    finished = bins()
    assert len(finished) >= 50
    for f in finished:
        read_bin(f)  # whole: header and payload agree


def test_sigterm_flushes_what_was_queued(ait_engine, probe, tiny, tmp_path):
    log = tmp_path / "stdout.txt"
    out = tmp_path / "dump"
    out.mkdir()
    env = {**os.environ, "LD_PRELOAD": probe, "AIT_PROBE_TEST_WRITE_DELAY_MS": "2",
           **dump_env(out, ATB_SAVE_TENSOR_RANGE="0,1", ATB_SAVE_TENSOR_TIME=2, ATB_AIT_LOG_LEVEL=0)}
    with open(log, "w") as f:
        p = subprocess.Popen(engine_cmd(ait_engine, tiny, 2), env=env, stdout=f)
        queued = lambda: re.findall(r"queued (\S+) \(", log.read_text())
        assert wait_for(lambda: len(queued()) >= 50)
        written_before = len(list(out.rglob("*.bin")))
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == -signal.SIGTERM  # the default action, re-raised
    paths = queued()
    written = [p for p in out.rglob("*.bin")]
    # At the signal fewer files had been written than queued (2 ms each); the handler waited
    # for all of them.
    assert written_before < len(paths) and len(written) == len(set(paths))
    for path in paths:
        read_bin(pathlib.Path(path))
    assert temp_files(out) == []


def test_unwritable_output_is_reported_once_and_the_run_goes_on(ait_engine, probe, tiny, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = run(ait_engine, *engine_cmd(ait_engine, tiny, 2)[1:],
            env={"LD_PRELOAD": probe, **dump_env(blocker, ATB_DUMP_TYPE="tensor|layer|op|cpu_profiling")})
    plain = run(ait_engine, *engine_cmd(ait_engine, tiny, 2)[1:])
    assert r.stdout == plain.stdout
    problems = [line for line in r.stderr.splitlines() if line.startswith("ait_probe:")]
    assert len(problems) == 1, r.stderr
    assert str(blocker) in problems[0] and "Not a directory" in problems[0]


# --- The old string ABI ------------------------------------------------------------------------


def test_old_abi_host_needs_the_abi0_probe(tmp_path):
    host = build_program("fake_atb_host_abi0")
    abi0, abi1 = build_program("libait_probe_abi0.so", folder="lib"), build_program("libait_probe_abi1.so", folder="lib")
    env = dump_env(tmp_path / "a", ATB_DUMP_TYPE="tensor|op")
    r = run(host, env={"LD_PRELOAD": abi0, **env})
    assert r.stdout == "saved\n"
    (run_dir,) = (tmp_path / "a/ait_dump/tensors").iterdir()
    _, out = read_bin(run_dir / "0/0_FakeOperation/after/outtensor0.bin")
    np.testing.assert_array_equal(out, np.array([[0.5, 1.5, 2.5], [-1.0, 0.0, 65504.0]], dtype=np.float32))
    assert (run_dir / "0/0_FakeOperation/op_param.json").read_text() == '{"fake":true}\n'
    (csv,) = (tmp_path / "a/ait_dump/operation_io_tensors").rglob("*.csv")
    assert csv_rows(csv)[0]["OpName"] == "FakeOperation_0"

    # The new-ABI probe's std::string functions have other mangled names: the host's stubs
    # answer, and nothing is written.
    env = dump_env(tmp_path / "b", ATB_DUMP_TYPE="tensor|op")
    assert run(host, env={"LD_PRELOAD": abi1, **env}).stdout == "not saved\n"
    assert run(host, env=env).stdout == "not saved\n"
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").rglob("*.bin"))


def test_new_abi_engine_ignores_the_abi0_probe(ait_engine, tiny, tmp_path):
    abi0 = build_program("libait_probe_abi0.so", folder="lib")
    dump(ait_engine, abi0, tiny, tmp_path)
    assert not (tmp_path / "ait_dump").exists()


def defined_symbols(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    return [line.split()[-1] for line in out.splitlines()]


def test_exports_are_the_probe_abi_only():
    abi0 = defined_symbols(build_program("libait_probe_abi0.so", folder="lib"))
    abi1 = defined_symbols(build_program("libait_probe_abi1.so", folder="lib"))
    for syms in (abi0, abi1):
        # 28 atb::Probe functions + 2 atb_speed::SpeedProbe, and ait's one extension (a C name,
        # the same in both flavours: include/ait/ait_probe_ext.h).
        assert len(syms) == 31
        assert "ait_probe_overflow_values" in syms
        assert all(s.startswith(("_ZN3atb5Probe", "_ZN9atb_speed10SpeedProbe")) for s in syms
                   if s != "ait_probe_overflow_values"), syms
    assert not any("__cxx11" in s for s in abi0)
    assert any("__cxx11" in s for s in abi1)
    # The abi0 flavour does not even use anything of the new ABI (no ait_core, no compiled fmt).
    undefined = subprocess.run(["nm", "-D", "--undefined-only", build_program("libait_probe_abi0.so", folder="lib")],
                               capture_output=True, text=True, check=True).stdout
    assert "__cxx11" not in undefined
    assert "_ZN3atb5Probe16IsTensorNeedSaveERKSt6vectorIlSaIlEERKSs" in abi0  # old-ABI std::string = Ss
    assert ("_ZN3atb5Probe16IsTensorNeedSaveERKSt6vectorIlSaIlEERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"
            in abi1)
