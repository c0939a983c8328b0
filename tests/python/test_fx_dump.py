"""`python -m ait_llm.dump.fx_dump`: FX and GE-layout dumps of the tiny Llama, made without an
NPU (docs/TORCHAIR.md, FORMATS.md 9). The dumps are made once per module with the CLI and read
back here with the protoc modules, numpy and torch: file names, header sizes, graph text,
values against torch's own run of the traced graph, fusion, the FRACTAL_NZ / NC1HWC0 layouts,
fault injection and argument errors.

Run with the project venv: AIT_BUILD_DIR=$PWD/build .venv/bin/python -m pytest tests/python/test_fx_dump.py
"""
import glob
import os
import pathlib
import re
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import BUILD

torch = pytest.importorskip("torch")
import torch.fx  # noqa: E402

IDS = [1, 2, 3, 4, 5]
STEPS = 2
FUSED_OPS = 15  # fused operators per iteration on the tiny Llama (docs/TORCHAIR.md)
PERTURBED = "MatMul_4"  # mm_4, layer 0's gate projection
ELEMENTWISE = {"Add", "Sub", "Mul", "RealDiv", "Neg", "Rsqrt", "Sqrt", "Pow", "Exp", "Log", "Swish", "Sigmoid",
               "Relu", "Tanh", "Cast", "Cos", "Sin"}
FX_NAME = re.compile(r"^(?P<node>[A-Za-z0-9_]+)-(?P<target>aten\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+)\."
                     r"(?P<kind>INPUT|OUTPUT)\.(?P<index>\d+(?:\.\d+)?)\.(?P<ts>\d{20})\.npy$")
GE_NAME = re.compile(r"^(?P<type>[A-Za-z0-9]+)\.(?P<name>[A-Za-z0-9_]+)\.(?P<task>\d+)\.6\.(?P<ts>\d{16})$")
NP_TYPES = {1: np.float32, 2: np.float16, 7: np.int32, 8: np.int64, 11: np.bool_}


# ---------------------------------------------------------------------------------------------
# readers written here, independent of the package
# ---------------------------------------------------------------------------------------------

def nz_reference(a):
    """FRACTAL_NZ by the index rule, element by element: (m, n) -> [..., n//16, m//16, m%16, n%16]."""
    a = np.asarray(a)
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    *batch, m, n = a2.shape
    out = np.zeros((*batch, -(-n // 16), -(-m // 16), 16, 16), a.dtype)
    for idx in np.ndindex(*a2.shape):
        *b, i, j = idx
        out[(*b, j // 16, i // 16, i % 16, j % 16)] = a2[idx]
    return out


def nc1hwc0_reference(a, c0):
    n, c, h, w = a.shape
    out = np.zeros((n, -(-c // c0), h, w, c0), a.dtype)
    for (i, j, k, l) in np.ndindex(*a.shape):
        out[i, j // c0, k, l, j % c0] = a[i, j, k, l]
    return out


def nz_to_nd(stored, shape):
    shape = tuple(shape)
    nd = shape if len(shape) >= 2 else (1,) + shape
    *batch, m, n = nd
    out = np.zeros(nd, stored.dtype)
    for idx in np.ndindex(*nd):
        *b, i, j = idx
        out[idx] = stored[(*b, j // 16, i // 16, i % 16, j % 16)]
    return out.reshape(shape)


def read_ge(path):
    """(DumpData header, [inputs], [outputs]) of a GE dump file, FRACTAL_NZ converted to ND;
    asserts the file size is exactly 8 + header + the tensors' sizes."""
    from ait_llm.dump.ge_proto import ge_dump_data_pb2
    raw = pathlib.Path(path).read_bytes()
    (head,) = struct.unpack("<Q", raw[:8])
    header = ge_dump_data_pb2.DumpData()
    header.ParseFromString(raw[8:8 + head])
    offset = 8 + head
    tensors = []
    for entry in list(header.input) + list(header.output):
        dtype = NP_TYPES[entry.data_type]
        shape = list(entry.shape.dim)
        assert entry.size == int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize, path
        a = np.frombuffer(raw[offset:offset + entry.size], dtype).reshape(shape)
        offset += entry.size
        if entry.format == 29:
            a = nz_to_nd(a, entry.original_shape.dim)
        else:
            assert entry.format == 2, path
        tensors.append(a)
    assert offset == len(raw), f"{path}: header accounts for {offset} bytes, file has {len(raw)}"
    n = len(header.input)
    return header, tensors[:n], tensors[n:]


def ge_folder(root, fused=True):
    dumps = glob.glob(os.path.join(root, "ge" if fused else "ge_nofusion", "dump_*"))
    assert len(dumps) == 1, dumps
    return dumps[0]


def ge_iteration_files(dump, iteration):
    """{op_name: path} of one iteration, in timestamp order."""
    (folder,) = glob.glob(os.path.join(dump, "[0-9]" * 14, "0", "graph_1", "1", str(iteration)))
    paths = sorted(os.listdir(folder), key=lambda f: int(f.rsplit(".", 1)[1]))
    return {GE_NAME.match(f).group("name"): os.path.join(folder, f) for f in paths}


def fx_groups(folder):
    """FORMATS 9.4 grouping: key -> {"input": [paths], "output": [paths]} in lexicographic order."""
    groups = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.npy"))):
        name = os.path.basename(path)
        cut = ".INPUT." if ".INPUT." in name else ".OUTPUT."
        side = "input" if cut == ".INPUT." else "output"
        groups.setdefault(name.split(cut)[0], {"input": [], "output": []})[side].append(path)
    return groups


def graph_of(dump):
    from google.protobuf import text_format
    from ait_llm.dump.ge_proto import ge_ir_pb2
    (path,) = glob.glob(os.path.join(dump, "dynamo_original_graph_1_rank_0_pid_*_ts_*.txt"))
    return text_format.Parse(pathlib.Path(path).read_text(), ge_ir_pb2.GraphDef())


def fx_node_of(op):
    return op.output_desc[0].attr["_fx_tensor_name"].s.decode().split("-", 1)[0]


def find_longest_name(name, graph_map, dump_a, dump_b):
    """FORMATS 9.8, as the original writes it."""
    if name in graph_map:
        return name
    for k in range(1, len(name)):
        candidate = name[:-k]
        if candidate in graph_map:
            return candidate
        if candidate in dump_a or candidate in dump_b:
            return None
    return None


def split_fused(name, graph_map, dump_a, dump_b):
    members = []
    while name:
        member = find_longest_name(name, graph_map, dump_a, dump_b)
        if member is None:
            return None
        members.append(member)
        name = name[len(member):]
    return members


def fp16(t):
    """Saturating float16 rounding, kept as float32 (the rule of docs/TORCHAIR.md)."""
    t = t.float()
    return torch.where(torch.isfinite(t), t.clamp(-65504, 65504), t).half().float()


def as_torch(a):
    a = np.array(a)
    return torch.from_numpy(a.astype(np.float32) if a.dtype == np.float16 else a)


def call_with_ge_inputs(node, ge_inputs, produced=None):
    """Runs `node`'s aten target with its positional arguments rebuilt from GE inputs in order
    (tensors, then a Const for each number / number list, None skipped), except node arguments
    found in `produced` (a fused operator's internal edges). Returns the flat output tensors."""
    items = iter(ge_inputs)

    def rebuild(arg):
        if isinstance(arg, torch.fx.Node):
            return produced[arg.name] if produced and arg.name in produced else as_torch(next(items))
        if isinstance(arg, (list, tuple)) and any(isinstance(a, torch.fx.Node) for a in arg):
            return [rebuild(a) for a in arg]
        if isinstance(arg, (bool, int, float)) or (
                isinstance(arg, (list, tuple)) and all(isinstance(a, (bool, int, float)) for a in arg)):
            const = next(items)
            assert np.array_equal(const, np.array(arg, dtype=const.dtype)), (node.name, arg, const)
            return arg
        return arg

    args = [rebuild(a) for a in node.args]
    assert next(items, None) is None, f"{node.name}: more GE inputs than arguments"
    with torch.no_grad():
        if node.target == torch.ops.aten._reshape_alias.default:  # GE's Reshape ignores the eager strides
            out = args[0].reshape(args[1])
        else:
            out = node.target(*args, **node.kwargs)
    return list(out) if isinstance(out, (list, tuple)) else [out]


# ---------------------------------------------------------------------------------------------
# the dumps, made once
# ---------------------------------------------------------------------------------------------

def child_env():
    return {**os.environ, "PYTHONPATH": str(BUILD / "python"), "OMP_NUM_THREADS": "1"}


def run_cli(*args, rc=0):
    r = subprocess.run([sys.executable, "-m", "ait_llm.dump.fx_dump", *map(str, args)], capture_output=True,
                       text=True, env=child_env(), timeout=300)
    assert r.returncode == rc, f"rc={r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return r


@pytest.fixture(scope="module")
def fxd(ait_llm_package):
    from ait_llm.dump import fx_dump
    return fx_dump


@pytest.fixture(scope="module")
def plain(tiny, tmp_path_factory, ait_llm_package):
    """`--mode all --steps 2` with the defaults (old FX layout, ND): (folder, seconds, CLI result)."""
    out = tmp_path_factory.mktemp("plain")
    start = time.monotonic()
    r = run_cli("--model", tiny, "--output", out, "--input-ids", ",".join(map(str, IDS)), "--steps", STEPS)
    return out, time.monotonic() - start, r


@pytest.fixture(scope="module")
def plain_dir(plain):
    return plain[0]


@pytest.fixture(scope="module")
def faulty(tiny, tmp_path_factory, ait_llm_package):
    """The same with --nz, --fx-layout new and a fault planted in MatMul_4."""
    out = tmp_path_factory.mktemp("faulty")
    run_cli("--model", tiny, "--output", out, "--steps", STEPS, "--nz", "--fx-layout", "new",
            "--perturb", f"{PERTURBED}=noise:0.5")
    return out


@pytest.fixture(scope="module")
def model(tiny, fxd):
    return fxd.load_model(tiny)


@pytest.fixture(scope="module")
def traced(model, fxd):
    """(gm, step inputs): the graph the CLI traced (node names are deterministic)."""
    inputs = fxd.step_inputs(IDS, STEPS, model.config.vocab_size)
    return fxd.trace_causal_lm(model, inputs[0][0]), inputs


@pytest.fixture(scope="module")
def reference(traced):
    """Per step: {node name: (cloned args, cloned flat outputs)} of torch's own run of the graph."""
    gm, inputs = traced
    steps = []
    for args in inputs:
        seen = {}

        class Recorder(torch.fx.Interpreter):
            def run_node(self, n):
                if n.op != "call_function":
                    return super().run_node(n)
                a, kw = self.fetch_args_kwargs_from_env(n)
                before = [x.clone() if isinstance(x, torch.Tensor) else
                          [y.clone() for y in x] if isinstance(x, (list, tuple)) and x and
                          isinstance(x[0], torch.Tensor) else x for x in a]
                result = super().run_node(n)
                outs = list(result) if isinstance(result, (list, tuple)) else [result]
                seen[n.name] = (before, [o.clone() for o in outs if isinstance(o, torch.Tensor)])
                return result

        with torch.no_grad():
            logits = Recorder(gm).run(*args)
        steps.append((seen, logits))
    return steps


def aten_nodes(gm):
    return [n for n in gm.graph.nodes if n.op == "call_function" and isinstance(n.target, torch._ops.OpOverload)]


# ---------------------------------------------------------------------------------------------
# FX dump
# ---------------------------------------------------------------------------------------------

def test_cli_is_fast_and_says_where_each_dump_went(plain):
    out, seconds, r = plain
    assert seconds < 30, f"--mode all --steps 2 took {seconds:.1f} s"
    last = r.stdout.strip().splitlines()[-1]
    assert last == (f"fx_dump: wrote fx dump in {out}/fx; ge dump in {ge_folder(out)}; "
                    f"ge-nofusion dump in {ge_folder(out, fused=False)}")
    assert f"257 aten nodes -> 257 GE operators" in r.stderr and f"{FUSED_OPS} fused" in r.stderr


def test_fx_file_names_steps_and_timestamps(plain, traced):
    out, _, _ = plain
    gm, _ = traced
    nodes = aten_nodes(gm)
    assert len(nodes) == 257
    data_dump = out / "fx" / "data_dump"
    assert sorted(os.listdir(data_dump)) == [str(s) for s in range(1, STEPS + 1)]
    last_stamp = ""
    gm_dirs = set()
    for step in range(1, STEPS + 1):
        (gm_dir,) = os.listdir(data_dump / str(step))
        assert re.fullmatch(r"gm_\d{20}_dump", gm_dir)
        gm_dirs.add(gm_dir)
        folder = data_dump / str(step) / gm_dir
        stamps, counts = {}, {}
        for name in os.listdir(folder):
            m = FX_NAME.match(name)
            assert m, name
            key = (m["node"], m["target"])
            stamps.setdefault(key, set()).add(m["ts"])
            if m["kind"] == "OUTPUT":
                counts[key] = counts.get(key, 0) + 1
        # every aten node, one stamp per node call, in execution order, one OUTPUT per output
        assert list(stamps) and {k for k in stamps} == {(n.name, str(n.target)) for n in nodes}
        for n in nodes:
            (stamp,) = stamps[(n.name, str(n.target))]
            assert stamp > last_stamp, n.name
            last_stamp = stamp
            assert counts[(n.name, str(n.target))] == 1
    assert len(gm_dirs) == 1  # one graph, one gm_<ts>_dump name


def test_fx_values_are_torch_values(plain, traced, reference, model):
    out, _, _ = plain
    gm, inputs = traced
    for step, (seen, logits) in enumerate(reference, start=1):
        (folder,) = glob.glob(str(out / "fx" / "data_dump" / str(step) / "gm_*_dump"))
        groups = fx_groups(folder)
        for n in aten_nodes(gm):
            args, outs = seen[n.name]
            files = groups[f"{n.name}-{n.target}"]
            assert len(files["output"]) == len(outs)
            for path, value in zip(files["output"], outs):
                assert np.array_equal(np.load(path), value.numpy(), equal_nan=True), path
            expected = {}
            for i, arg in enumerate(args):
                if isinstance(arg, torch.Tensor):
                    expected[f"{i}"] = arg.numpy()
                elif isinstance(arg, list) and arg and isinstance(arg[0], torch.Tensor):
                    expected.update({f"{i}.{j}": t.numpy() for j, t in enumerate(arg)})
                elif isinstance(arg, (bool, int, float)) or (isinstance(arg, (list, tuple)) and arg):
                    expected[f"{i}"] = np.array(arg)
            got = {FX_NAME.match(os.path.basename(p))["index"]: np.load(p) for p in files["input"]}
            assert sorted(got) == sorted(expected), n.name
            for k in got:
                assert got[k].dtype == expected[k].dtype and np.array_equal(got[k], expected[k]), (n.name, k)
        # the graph's final node output is the model's logits
        with torch.no_grad():
            want = model(input_ids=inputs[step - 1][0], use_cache=False).logits
        last = aten_nodes(gm)[-1]
        np.testing.assert_array_equal(np.load(groups[f"{last.name}-{last.target}"]["output"][0]), want.numpy())
        assert torch.equal(logits, want)


def test_fx_new_layout_counts_steps_from_zero(faulty, plain_dir):
    root = faulty / "fx" / "data_dump"
    assert os.listdir(root) == ["worldsize1_global_rank0"]
    (gm_dir,) = os.listdir(root / "worldsize1_global_rank0")
    assert re.fullmatch(r"gm_\d{20}_dump", gm_dir)
    assert sorted(os.listdir(root / "worldsize1_global_rank0" / gm_dir)) == [str(s) for s in range(STEPS)]


# ---------------------------------------------------------------------------------------------
# GE dump files and graph text
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fused", [True, False], ids=["fused", "nofusion"])
def test_ge_files_parse_with_exact_sizes(plain, fused):
    out, _, _ = plain
    dump = ge_folder(out, fused)
    assert re.fullmatch(r"dump_\d{8}_\d{6}", os.path.basename(dump))
    (time_dir,) = [d for d in os.listdir(dump) if os.path.isdir(os.path.join(dump, d))]
    assert re.fullmatch(r"\d{14}", time_dir)
    assert os.listdir(os.path.join(dump, time_dir)) == ["0"]
    model_dir = os.path.join(dump, time_dir, "0", "graph_1", "1")
    assert sorted(os.listdir(model_dir)) == [str(i) for i in range(STEPS)]
    last_stamp = 0
    counts = []
    for iteration in range(STEPS):
        names = os.listdir(os.path.join(model_dir, str(iteration)))
        counts.append(len(names))
        parsed = sorted((GE_NAME.match(f) for f in names), key=lambda m: int(m["ts"]))
        assert all(parsed)
        assert [int(m["task"]) for m in parsed] == list(range(1, len(parsed) + 1))  # execution order
        for m in parsed:
            assert int(m["ts"]) > last_stamp
            last_stamp = int(m["ts"])
            header, ins, outs = read_ge(os.path.join(model_dir, str(iteration), m.string))
            assert header.op_name == m["name"] and header.dump_time == int(m["ts"]) and header.version
            assert len(outs) >= 1 and len(ins) >= 1
            for a in ins + outs:
                assert a.dtype != np.float32 or a.ndim == 0  # float tensors are fp16; only number Consts are fp32
            if not fused:
                assert m["type"] != "AutomaticBufferFusionOp"
    assert counts == [257 - (_fused_saving(out) if fused else 0)] * STEPS


def _fused_saving(out):
    """How many files fusion saves: sum over fused operators of (members - 1)."""
    files = ge_iteration_files(ge_folder(out), 0)
    graph = {op.name for op in graph_of(ge_folder(out)).op}
    return sum(len(split_fused(name, graph, files, {})) - 1 for name, path in files.items()
               if os.path.basename(path).startswith("AutomaticBufferFusionOp."))


def test_graph_text_links_every_operator_to_the_fx_dump(plain):
    out, _, _ = plain
    for fused in (True, False):
        graph = graph_of(ge_folder(out, fused))
        ops = {op.name: op for op in graph.op}
        assert len(ops) == len(graph.op)
        types = {}
        for op in graph.op:
            types[op.type] = types.get(op.type, 0) + 1
            for edge, desc in zip(op.input, op.input_desc):
                producer, index = edge.rsplit(":", 1)
                assert producer in ops and int(index) < len(ops[producer].output_desc)
                assert desc == _without_attrs(ops[producer].output_desc[int(index)])
            assert len(op.input) == len(op.input_desc)
        assert types["Data"] == 1 and types["NetOutput"] == 1
        assert sum(types.values()) - types["Data"] - types["Const"] - types["NetOutput"] == 257
        (fx_dir,) = glob.glob(str(out / "fx" / "data_dump" / "1" / "gm_*_dump"))
        fx = fx_groups(fx_dir)
        files = ge_iteration_files(ge_folder(out, False), 0)
        for op in graph.op:
            names = [d.attr["_fx_tensor_name"].s.decode() for d in op.output_desc if "_fx_tensor_name" in d.attr]
            if op.type in ("Data", "Const", "NetOutput"):
                assert not names and op.name not in files
                continue
            assert len(names) == len(op.output_desc) and all(d.layout == "ND" for d in op.output_desc)
            for k, name in enumerate(names):
                key, tail = name.rsplit(".OUTPUT.", 1)
                assert int(tail) == k and len(fx[key]["output"]) > k
            assert op.name in files  # every compute operator has its unfused file


def _without_attrs(desc):
    copy = type(desc)()
    copy.CopyFrom(desc)
    copy.ClearField("attr")
    return copy


def test_ge_edges_carry_the_producers_outputs(plain, traced):
    """Every unfused operator's input k is its producer's dumped output (or the fp16 weight)."""
    out, _, _ = plain
    gm, _ = traced
    dump = ge_folder(out, fused=False)
    graph = graph_of(dump)
    ops = {op.name: op for op in graph.op}
    files = ge_iteration_files(dump, 0)
    dumped = {name: read_ge(path) for name, path in files.items()}
    weights = {n.name: getattr(gm, n.target) for n in gm.graph.nodes if n.op == "get_attr"}
    consts = [n.name for n in gm.graph.nodes if n.op == "get_attr"]
    const_ops = [op.name for op in graph.op if op.type == "Const" and op.output_desc[0].shape.dim
                 and len(op.output_desc[0].shape.dim) >= 1 and op.output_desc[0].dtype == 2]
    checked = 0
    for name, (_, ins, _) in dumped.items():
        for k, edge in enumerate(ops[name].input):
            producer, index = edge.rsplit(":", 1)
            if producer in dumped:
                np.testing.assert_array_equal(ins[k], dumped[producer][2][int(index)], err_msg=f"{name} {k}")
                checked += 1
    assert checked > 250
    # weights: the float16 of the parameters, in get_attr order
    assert len(const_ops) == len(consts)
    for op_name, node_name in zip(const_ops, consts):
        consumer = next(op for op in graph.op if f"{op_name}:0" in op.input)
        k = list(consumer.input).index(f"{op_name}:0")
        np.testing.assert_array_equal(dumped[consumer.name][1][k], fp16(weights[node_name].detach()).half().numpy())


def test_ge_unfused_outputs_are_the_fp16_computation_of_their_inputs(plain, traced):
    out, _, _ = plain
    gm, _ = traced
    nodes = {n.name: n for n in gm.graph.nodes}
    dump = ge_folder(out, fused=False)
    graph = {op.name: op for op in graph_of(dump).op}
    for iteration in range(STEPS):
        for name, path in ge_iteration_files(dump, iteration).items():
            _, ins, outs = read_ge(path)
            got = call_with_ge_inputs(nodes[fx_node_of(graph[name])], ins)
            assert len(got) == len(outs)
            for g, o in zip(got, outs):
                want = fp16(g).half().numpy() if g.dtype.is_floating_point else g.numpy()
                assert want.dtype == o.dtype and want.shape == o.shape, name
                assert np.array_equal(want, o, equal_nan=True), f"{name} iteration {iteration}"


def test_ge_unfused_outputs_are_fx_outputs_within_fp16_error(plain):
    out, _, _ = plain
    dump = ge_folder(out, fused=False)
    graph = {op.name: op for op in graph_of(dump).op}
    worst = 0.0
    for iteration in range(STEPS):
        (fx_dir,) = glob.glob(str(out / "fx" / "data_dump" / str(iteration + 1) / "gm_*_dump"))
        fx = fx_groups(fx_dir)
        for name, path in ge_iteration_files(dump, iteration).items():
            _, _, outs = read_ge(path)
            key = graph[name].output_desc[0].attr["_fx_tensor_name"].s.decode().rsplit(".OUTPUT.", 1)[0]
            for o, fx_path in zip(outs, fx[key]["output"]):
                golden = np.load(fx_path)
                assert o.shape == golden.shape, name
                if o.dtype == np.float16:
                    g = golden.astype(np.float64)
                    m = o.astype(np.float64)
                    inside = np.abs(g) <= 65504  # the causal mask's float32-min fill saturates at -65504
                    np.testing.assert_array_equal(m[~inside], np.sign(g[~inside]) * 65504)
                    scale = max(np.abs(g[inside]).max(initial=0), 1e-3)
                    worst = max(worst, np.abs(m - g)[inside].max(initial=0) / scale)
                else:
                    np.testing.assert_array_equal(o, golden)
    assert 0 < worst < 0.01, worst


# ---------------------------------------------------------------------------------------------
# fusion
# ---------------------------------------------------------------------------------------------

def test_fused_names_split_into_chains_of_graph_members(plain):
    out, _, _ = plain
    dump = ge_folder(out)
    graph = {op.name: op for op in graph_of(dump).op}
    consumers = {}
    for op in graph.values():
        for edge in op.input:
            consumers.setdefault(edge.rsplit(":", 1)[0], []).append(op.name)
    fused_files = ge_iteration_files(dump, 0)
    unfused_files = ge_iteration_files(ge_folder(out, False), 0)
    fused = [n for n, p in fused_files.items() if os.path.basename(p).startswith("AutomaticBufferFusionOp.")]
    assert len(fused) == FUSED_OPS
    members_seen = set()
    for name in fused:
        members = split_fused(name, graph, fused_files, unfused_files)
        assert members and "".join(members) == name and 2 <= len(members) <= 3, name
        for a, b in zip(members, members[1:]):
            assert set(consumers[a]) == {b}, (name, a)  # the only consumer is the next member
        for m in members:
            assert graph[m].type in ELEMENTWISE and m not in fused_files and m not in members_seen
        members_seen.update(members)
    assert set(fused_files) - set(fused) == set(unfused_files) - members_seen


def test_fused_operators_compute_without_intermediate_rounding(plain, traced):
    out, _, _ = plain
    gm, _ = traced
    nodes = {n.name: n for n in gm.graph.nodes}
    dump = ge_folder(out)
    graph = {op.name: op for op in graph_of(dump).op}
    unfused = ge_iteration_files(ge_folder(out, False), 0)
    files = ge_iteration_files(dump, 0)
    differs = 0
    first = True
    for name, path in files.items():  # timestamp order
        if not os.path.basename(path).startswith("AutomaticBufferFusionOp."):
            continue
        members = split_fused(name, graph, files, unfused)
        _, ins, outs = read_ge(path)
        member_nodes = [nodes[fx_node_of(graph[m])] for m in members]
        # external inputs, member by member, as many as each member's non-member inputs
        externals = []
        at = 0
        for m in members:
            n_ext = sum(1 for e in graph[m].input if e.rsplit(":", 1)[0] not in members)
            externals.append(ins[at:at + n_ext])
            at += n_ext
        assert at == len(ins), name
        exact, rounded = {}, {}
        for node, ext in zip(member_nodes, externals):
            (exact[node.name],) = call_with_ge_inputs(node, ext, exact)
            (r,) = call_with_ge_inputs(node, ext, rounded)
            rounded[node.name] = fp16(r)
        last = member_nodes[-1].name
        np.testing.assert_array_equal(outs[0], fp16(exact[last]).half().numpy(), err_msg=name)
        if not np.array_equal(outs[0], rounded[last].half().numpy()):
            differs += 1
        if first:  # nothing upstream of the first fused operator differs from the unfused run
            unfused_ins = []
            for m in members:
                _, m_ins, m_outs = read_ge(unfused[m])
                unfused_ins += [a for a, e in zip(m_ins, graph[m].input) if e.rsplit(":", 1)[0] not in members]
            for a, b in zip(ins, unfused_ins):
                np.testing.assert_array_equal(a, b)
            assert len(ins) == len(unfused_ins)
            first = False
    assert differs >= 3, "fusion should change some outputs (no rounding between members)"


def test_fused_run_differs_from_unfused_only_at_rounding_level(plain):
    out, _, _ = plain
    fused_dump, unfused_dump = ge_folder(out), ge_folder(out, False)
    graph = {op.name: op for op in graph_of(fused_dump).op}
    for iteration in range(STEPS):
        fused = ge_iteration_files(fused_dump, iteration)
        unfused = ge_iteration_files(unfused_dump, iteration)
        changed, worst = 0, 0.0
        for name, path in fused.items():
            last = split_fused(name, graph, fused, unfused)[-1]
            _, _, a = read_ge(path)
            _, _, b = read_ge(unfused[last])
            for x, y in zip(a, b):
                if x.dtype == np.float16:
                    x64, y64 = x.astype(np.float64), y.astype(np.float64)
                    changed += not np.array_equal(x, y)
                    worst = max(worst, np.abs(x64 - y64).max() / max(np.abs(y64).max(), 1e-3))
        assert changed > 10 and worst < 0.02, (changed, worst)


# ---------------------------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 64), (40,), (3, 17, 33), (2, 1, 16, 16), (1, 1)])
def test_fractal_nz_round_trip(fxd, shape):
    a = (np.arange(int(np.prod(shape))) % 251 + 1).astype(np.float16).reshape(shape)
    stored = fxd.nd_to_fractal_nz(a)
    np.testing.assert_array_equal(stored, nz_reference(a))
    assert stored.astype(np.float64).sum() == a.astype(np.float64).sum()  # the padding is zero
    np.testing.assert_array_equal(fxd.fractal_nz_to_nd(stored, shape), a)


@pytest.mark.parametrize("dtype, c0", [(np.float16, 16), (np.int8, 32), (np.float32, 8), (np.int32, 8)])
@pytest.mark.parametrize("channels", [1, 5, 17, 33])
def test_nc1hwc0_round_trip(fxd, dtype, c0, channels):
    a = (np.arange(2 * channels * 3 * 2) % 100 + 1).astype(dtype).reshape(2, channels, 3, 2)
    stored = fxd.nchw_to_nc1hwc0(a)
    assert stored.shape == (2, -(-channels // c0), 3, 2, c0)
    np.testing.assert_array_equal(stored, nc1hwc0_reference(a, c0))
    assert stored.astype(np.int64).sum() == a.astype(np.int64).sum()
    np.testing.assert_array_equal(fxd.nc1hwc0_to_nchw(stored, a.shape), a)


def test_nc1hwc0_refuses_8_byte_types_and_non_4d(fxd):
    with pytest.raises(ValueError, match="no C0"):
        fxd.nchw_to_nc1hwc0(np.zeros((1, 2, 2, 2), np.int64))
    with pytest.raises(ValueError, match="4-D"):
        fxd.nchw_to_nc1hwc0(np.zeros((2, 2, 2), np.float16))


def test_written_layouts_read_by_the_cpp_reader(fxd, tmp_path, tensor_json):
    """The package's NZ / NC1HWC0 files decode to the ND arrays in ait's C++ reader too."""
    x = np.arange(2 * 20 * 3 * 3, dtype=np.float16).reshape(2, 20, 3, 3) / 7
    w = (np.arange(37 * 21, dtype=np.float32).reshape(37, 21) - 300) / 9
    ids = np.arange(6, dtype=np.int64).reshape(2, 3)
    path = tmp_path / "Conv2D.conv_1.7.6.1700000000000001"
    fxd.write_dump_file(path, "conv_1", [fxd.GeTensor(x, "NC1HWC0"), fxd.GeTensor(w, "FRACTAL_NZ"), ids],
                        [fxd.GeTensor(w[:1], "FRACTAL_NZ"), np.float32(2.5)])
    got = tensor_json(path)
    assert [got[k]["shape"] for k in ("inputs,0", "inputs,1", "inputs,2", "outputs,0")] == \
        [[2, 20, 3, 3], [37, 21], [2, 3], [1, 21]]
    np.testing.assert_array_equal(np.array(got["inputs,0"]["values"], np.float16), x.reshape(-1))
    np.testing.assert_array_equal(np.array(got["inputs,1"]["values"], np.float32), w.reshape(-1))
    np.testing.assert_array_equal(np.array(got["inputs,2"]["values"]), ids.reshape(-1))
    np.testing.assert_array_equal(np.array(got["outputs,0"]["values"], np.float32), w[0])
    assert got["outputs,1"]["values"] == [2.5]


def test_nz_run_writes_matmuls_in_fractal_nz(faulty, plain_dir, tensor_json):
    dump = ge_folder(faulty, fused=False)
    files = ge_iteration_files(dump, 0)
    reference = ge_iteration_files(ge_folder(plain_dir, fused=False), 0)
    from ait_llm.dump.ge_proto import ge_dump_data_pb2
    matmuls = [n for n in files if n.startswith(("MatMul", "BatchMatMul"))]
    assert len(matmuls) == 15 + 5  # mm and bmm nodes
    for name in matmuls:
        raw = pathlib.Path(files[name]).read_bytes()
        header = ge_dump_data_pb2.DumpData()
        header.ParseFromString(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
        _, ins, outs = read_ge(files[name])  # converts NZ back to ND
        for entry, array in zip(list(header.input) + list(header.output), ins + outs):
            assert entry.format == 29 and list(entry.original_shape.dim) == list(array.shape)
            nd = array.shape if array.ndim >= 2 else (1,) + array.shape
            assert list(entry.shape.dim) == [*nd[:-2], -(-nd[-1] // 16), -(-nd[-2] // 16), 16, 16]
        if name in ("MatMul", "MatMul_1", "MatMul_2", "MatMul_3", "BatchMatMul"):  # upstream of the fault
            _, ref_ins, ref_outs = read_ge(reference[name])
            for a, b in zip(ins + outs, ref_ins + ref_outs):
                np.testing.assert_array_equal(a, b)
    got = tensor_json(files["MatMul_1"])
    _, ins, _ = read_ge(files["MatMul_1"])
    np.testing.assert_array_equal(np.array(got["inputs,1"]["values"], np.float16), ins[1].reshape(-1))


# ---------------------------------------------------------------------------------------------
# fault injection
# ---------------------------------------------------------------------------------------------

def _downstream(graph, start):
    users = {}
    for op in graph.op:
        for edge in op.input:
            users.setdefault(edge.rsplit(":", 1)[0], set()).add(op.name)
    seen, todo = set(), [start]
    while todo:
        for u in users.get(todo.pop(), ()):
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return seen


def test_perturb_changes_the_operator_and_what_follows_only(plain_dir, faulty):
    graph = graph_of(ge_folder(plain_dir, False))
    below = _downstream(graph, PERTURBED)
    assert len(below) > 50
    for iteration in range(STEPS):
        clean = ge_iteration_files(ge_folder(plain_dir, False), iteration)
        bad = ge_iteration_files(ge_folder(faulty, False), iteration)
        assert set(clean) == set(bad)
        changed = set()
        for name in clean:
            _, a_in, a_out = read_ge(clean[name])
            _, b_in, b_out = read_ge(bad[name])
            if name == PERTURBED:
                for x, y in zip(a_in, b_in):
                    np.testing.assert_array_equal(x, y)  # its inputs are clean
            if not all(np.array_equal(x, y) for x, y in zip(a_out, b_out)):
                changed.add(name)
        assert PERTURBED in changed and changed - {PERTURBED} <= below, changed - below
        assert "Reshape_57" in changed  # the logits
    # in the fused run, the same: the fault shows in MatMul_4 and later
    clean = ge_iteration_files(ge_folder(plain_dir), 0)
    bad = ge_iteration_files(ge_folder(faulty), 0)
    for name in clean:
        _, _, a = read_ge(clean[name])
        _, _, b = read_ge(bad[name])
        same = all(np.array_equal(x, y) for x, y in zip(a, b))
        members = split_fused(name, {op.name: op for op in graph.op}, clean, {})
        if not any(m == PERTURBED or m in below for m in members):
            assert same, name
    _, a, _ = read_ge(clean["SwishMul_12"])
    _, b, _ = read_ge(bad["SwishMul_12"])
    assert not np.array_equal(a[0], b[0])  # Swish reads MatMul_4


def test_perturb_leaves_the_fx_dump_alone(plain_dir, faulty):
    for step in range(STEPS):
        (clean_dir,) = glob.glob(str(plain_dir / "fx" / "data_dump" / str(step + 1) / "gm_*_dump"))
        (bad_dir,) = glob.glob(str(faulty / "fx" / "data_dump" / "worldsize1_global_rank0" / "gm_*_dump" / str(step)))
        clean, bad = fx_groups(clean_dir), fx_groups(bad_dir)
        assert set(clean) == set(bad)
        for key in clean:
            for side in ("input", "output"):
                assert len(clean[key][side]) == len(bad[key][side])
                for p, q in zip(clean[key][side], bad[key][side]):
                    np.testing.assert_array_equal(np.load(p), np.load(q))


def test_perturb_noise_is_reproducible_and_lands_inside_fused_operators(fxd, traced, faulty, plain_dir, tmp_path):
    gm, inputs = traced
    # the same spec through the API gives the same faulty output
    paths = fxd.dump(gm, inputs[:1], tmp_path / "again", mode="ge-nofusion", perturb=[f"{PERTURBED}=noise:0.5"])
    _, _, a = read_ge(ge_iteration_files(paths["ge_nofusion"], 0)[PERTURBED])
    _, _, b = read_ge(ge_iteration_files(ge_folder(faulty, False), 0)[PERTURBED])
    np.testing.assert_array_equal(a[0], b[0])
    # a fused member: its fused operator's inputs stay clean, its output moves by the bias
    paths = fxd.dump(gm, inputs[:1], tmp_path / "member", mode="ge", perturb=["Rsqrt_1=bias:1"])
    files = ge_iteration_files(paths["ge"], 0)
    clean = ge_iteration_files(ge_folder(plain_dir), 0)
    _, bad_in, bad_out = read_ge(files["Add_5Rsqrt_1Mul_10"])
    _, ok_in, ok_out = read_ge(clean["Add_5Rsqrt_1Mul_10"])
    for x, y in zip(bad_in, ok_in):
        np.testing.assert_array_equal(x, y)
    hidden = ok_in[2].astype(np.float32)  # Mul_10 = add_4 * rsqrt_1: its external input
    np.testing.assert_allclose(bad_out[0].astype(np.float32) - ok_out[0].astype(np.float32), hidden,
                               rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("spec, message", [
    ("MatMul_4", "no '='"),
    ("=zero", "empty PATTERN"),
    ("MatMul_4=wobble", "unknown KIND 'wobble'"),
    ("MatMul_4=zero:1", "KIND zero takes no MAG"),
    ("MatMul_4=scale:x", "MAG 'x' is not a finite number"),
    ("MatMul_4=nan:2", "nan MAG is the fraction of elements"),
    ("MatMul_4=noise:-1", "noise MAG must be >= 0"),
    ("Mat[Mul=zero", "has a '[' without its ']'"),
])
def test_perturb_syntax_errors(fxd, spec, message):
    from ait_llm.dump.fx_dump import perturb
    with pytest.raises(perturb.PerturbError, match=re.escape(message)):
        perturb.parse(spec)


def test_perturb_glob_and_defaults(fxd):
    from ait_llm.dump.fx_dump import perturb
    p = perturb.parse("a=b=MatMul_[0-3]=scale")  # split at the last '='
    assert (p.pattern, p.kind, p.magnitude) == ("a=b=MatMul_[0-3]", "scale", 2.0)
    m = perturb.parse("MatMul_[!4]*=nan")
    assert m.matches("MatMul_1") and m.matches("MatMul_10") and not m.matches("MatMul_4")
    assert not m.matches("MatMul") and perturb.parse(r"Mul\*=zero").matches("Mul*")
    v = np.arange(250, dtype=np.float32)
    assert np.isnan(m.apply(v, 1)).nonzero()[0].tolist() == [0, 100, 200]
    noise = perturb.parse("x=noise").apply(v, 7)
    assert np.array_equal(noise, perturb.parse("x=noise").apply(v, 7)) and not np.array_equal(noise, v)
    rms = np.sqrt(np.mean(v.astype(np.float64) ** 2))
    assert 0.05 * rms < np.std(noise - v) < 0.15 * rms


# ---------------------------------------------------------------------------------------------
# command line and backend
# ---------------------------------------------------------------------------------------------

def test_help_explains_every_flag():
    r = run_cli("--help")
    for flag in ("--model", "--output", "--input-ids", "--steps", "--mode", "--fx-layout", "--nz", "--perturb"):
        assert flag in r.stdout
    assert "FRACTAL_NZ" in r.stdout and "fp16-saturate" in r.stdout


def test_bad_arguments_exit_2_naming_the_argument(fxd, tiny, plain_dir, tmp_path, capsys):
    from ait_llm.dump.fx_dump import cli
    a_file = tmp_path / "file"
    a_file.write_text("x")
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((tiny / "config.json").read_text())
    model = ["--model", str(tiny)]
    out = ["--output", str(tmp_path / "out")]
    cases = [
        (model + out + ["--steps", "0"], "argument --steps: expected a whole number >= 1, got '0'"),
        (model + out + ["--input-ids", "1,x"], "argument --input-ids: expected comma-separated integers"),
        (model + out + ["--input-ids", "1,999"], "argument --input-ids: ids must be below the vocabulary size 256"),
        (model + out + ["--mode", "npu"], "argument --mode: invalid choice: 'npu'"),
        (model + out + ["--fx-layout", "newest"], "argument --fx-layout: invalid choice: 'newest'"),
        (model + out + ["--perturb", "MatMul_4"], "argument --perturb: 'MatMul_4': no '='"),
        (model + out + ["--perturb", "Conv*=zero"],
         "argument --perturb: 'Conv*=zero': PATTERN 'Conv*' matches no GE operator (257 operators, e.g. GatherV2, "
         "Range, Unsqueeze, Fill, Triu"),
        (["--model", str(tmp_path)] + out, f"argument --model: {tmp_path} is not a model folder (no config.json)"),
        (model + ["--output", str(a_file)], f"argument --output: {a_file} is not a folder"),
        (["--model", str(no_weights)] + out, f"argument --model: cannot load {no_weights}: "),
        (model + ["--output", str(plain_dir)], f"argument --output: {plain_dir}/fx already holds a dump"),
        (out, "the following arguments are required: --model"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not (tmp_path / "out").exists()
    # and as a program: exit status 2, the message on stderr
    r = run_cli(*model, *out, "--perturb", "Mul_4=scale:inf", rc=2)
    assert "argument --perturb: 'Mul_4=scale:inf': MAG 'inf' is not a finite number" in r.stderr


def test_backend_dumps_each_call(fxd, traced, reference, tmp_path):
    gm, inputs = traced
    compiled = fxd.backend(output=tmp_path / "b", mode="all")(gm, list(inputs[0]))
    for (args,), (_, logits) in zip(inputs, reference):
        assert torch.equal(compiled(args), logits)
    root = tmp_path / "b" / "graph_1"
    assert sorted(os.listdir(root / "fx" / "data_dump")) == ["1", "2"]
    assert len(ge_iteration_files(ge_folder(root), 1)) == 257 - _fused_saving(root)
    with pytest.raises(ValueError, match="dynamic shapes"):
        compiled(torch.tensor([[1, 2, 3]]))

    class Small(torch.nn.Module):  # a torch-level graph, as dynamo hands it: re-traced to aten
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.relu(self.lin(x)) * 2

    small = Small()
    fn = fxd.backend(output=tmp_path / "s", mode="fx")(torch.fx.symbolic_trace(small), [torch.ones(2, 4)])
    x = torch.arange(8.0).reshape(2, 4)
    with torch.no_grad():
        assert torch.allclose(fn(x), small(x))
    (folder,) = glob.glob(str(tmp_path / "s" / "graph_1" / "fx" / "data_dump" / "1" / "gm_*_dump"))
    assert {FX_NAME.match(f)["target"] for f in os.listdir(folder)} >= {"aten.relu.default", "aten.mul.Tensor"}
