"""End-to-end tests of `ait llm onnx`: layer and model topology JSON shaped as the probe
writes them (FORMATS.md 5.1/5.2), converted, loaded with python3-onnx and checked with
onnx.checker; node selection by level, attributes, graph inputs/outputs; malformed input."""
import copy
import json
import pathlib
import random
import subprocess

import numpy as np
import onnx
import pytest
from onnx import helper

DOMAIN = "ait.atb"
L = "Bloom7bCommonLayer_3"
M = "BloomModel"


def run(ait, *args, cwd=None):
    return subprocess.run([ait, "llm", "onnx", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def write_topology(path, obj):
    """As the probe: one line of compact JSON and a newline."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, separators=(",", ":")) + "\n")
    return path


def child(name, op_type, param, ins, outs, **extra):
    """A child node, keys in the probe's order (5.1)."""
    return {"opName": name, "opType": op_type, "param": param, "inTensors": ins, "outTensors": outs, **extra}


def bloom_children(layer, ins, outs, internals):
    """The operations of one Bloom-like layer; `ins` are the layer's inputs: hidden, ln weight,
    qkv weight, dense weight, k cache, v cache."""
    hidden, ln_w, qkv_w, dense_w, k_cache, v_cache = ins
    i = layer.rsplit("_", 1)[1]
    t = internals
    return [
        child(f"LayerNormOperation_{i}_0", "LayerNormOperation",
              {"layerType": 1, "normParam": {"beginNormAxis": 2, "epsilon": 1e-5, "quantType": "QUANT_UNDEFINED"}},
              [hidden, ln_w], [t[0]]),
        child(f"LinearOperation_{i}_1", "LinearOperation", {"hasBias": True, "transposeA": False, "transposeB": False},
              [t[0], qkv_w], [t[1]]),
        child(f"ReshapeAndCacheOperation_{i}_2", "ReshapeAndCacheOperation", {},
              [t[1], k_cache, v_cache], [k_cache, v_cache]),  # in place, as ATB writes caches
        child(f"SelfAttentionOperation_{i}_3", "SelfAttentionOperation",
              {"headNum": 32, "qScale": 0.125, "kvHeadNum": 32, "maskType": "MASK_TYPE_NORM",
               "batchRunStatusEnable": False, "coderType": [0, 1], "mixed": [1, "two", None, [3]]},
              [t[1], k_cache, v_cache], [t[2]]),
        child(f"LinearOperation_{i}_4", "LinearOperation", {"hasBias": False, "transposeA": False, "transposeB": True},
              [t[2], dense_w], [t[3]]),
        child(f"ElewiseOperation_{i}_5", "ElewiseOperation",
              {"elewiseType": "ELEWISE_ADD", "mulsParam": {"varAttr": 0}}, [t[3], hidden], outs),
    ]


def layer_json():
    """A layer JSON as ReportOperationGraph writes it (5.1)."""
    ins = [f"{L}_input_{i}" for i in range(6)]
    outs = [f"{L}_output_0"]
    internals = [f"{L}_internal_{i}" for i in range(4)]
    return {"opName": L, "opType": "BloomLayer", "param": {"headNum": 32, "layerId": 3, "rmsNormEps": 1e-5},
            "inTensors": ins, "outTensors": outs, "internalTensors": internals,
            "nodes": bloom_children(L, ins, outs, internals)}


def model_json(layers=2):
    """A merged model JSON (5.2): an embedding, `layers` Bloom layers with their children, a head."""
    t = lambda kind, i: f"{M}_{kind}_{i}"  # noqa: E731
    nodes = [{"inTensors": [t("weight", 0), t("input", 0)], "opName": "WordEmbedding_0",
              "outTensors": [t("internal", 0)], "opType": "WordEmbedding"}]
    for n in range(layers):
        name = f"Bloom7bCommonLayer_{n + 1}"
        ins = [t("internal", n), t("weight", 3 * n + 1), t("weight", 3 * n + 2), t("weight", 3 * n + 3),
               t("kCache", n), t("vCache", n)]
        outs = [t("internal", n + 1)]
        internals = [f"{name}_internal_{i}" for i in range(4)]
        nodes.append({"inTensors": ins, "opName": name, "outTensors": outs, "opType": "BloomLayer",
                      "internalTensors": internals, "nodes": bloom_children(name, ins, outs, internals)})
    nodes.append({"inTensors": [t("internal", layers), t("weight", 3 * layers + 1)], "opName": f"LmHead_{layers + 1}",
                  "outTensors": [t("output", 0)], "opType": "LmHead"})
    return {"inTensors": [t("input", 0), t("input", 1)],
            "internalTensors": [t("internal", i) for i in range(layers + 1)],
            "kCacheTensors": [t("kCache", i) for i in range(layers)], "modelName": M, "nodes": nodes,
            "outTensors": [t("output", 0)], "vCacheTensors": [t("vCache", i) for i in range(layers)],
            "weightTensors": [t("weight", i) for i in range(3 * layers + 2)]}


def select(root, level):
    """FORMATS.md 5.4's node selection, written independently."""
    if level == 0 or not root.get("nodes"):
        return [root]
    out = []

    def visit(node, depth):
        if not node.get("nodes") or (level != -1 and depth >= level):
            out.append(node)
        else:
            for c in node["nodes"]:
                visit(c, depth + 1)

    for c in root["nodes"]:
        visit(c, 1)
    return out


def expected_graph(root, level):
    """(graph input names, [(inputs, outputs)] per node, graph output names) with the SSA
    renaming and added inputs the converter promises."""
    used, latest, version = set(), {}, {}

    def define(t):
        name = t
        while name in used:
            version[t] = version.get(t, 0) + 1
            name = f"{t}#{version[t]}"
        used.add(name)
        latest[t] = name
        return name

    inputs = []
    for t in root.get("inTensors", []):
        if t and t not in latest:
            inputs.append(define(t))
    nodes = []
    for node in select(root, level):
        ins = []
        for t in node.get("inTensors", []):
            if t and t not in latest:
                inputs.append(define(t))
            ins.append(latest[t] if t else "")
        outs = [define(t) if t else "" for t in node.get("outTensors", [])]
        nodes.append((ins, outs))
    outputs = [latest.get(t, t) for t in root.get("outTensors", []) if t]
    return inputs, nodes, outputs


def expected_attributes(param):
    """name -> ("FLOATS", [float32...]) or ("STRINGS", [bytes...])."""
    out = {}

    def add(name, v):
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                add(f"{name}.{k}", sub)
        elif isinstance(v, dict):
            out[name] = ("STRINGS", [b"{}"])
        elif isinstance(v, list):
            if all(isinstance(e, (bool, int, float)) for e in v):
                out[name] = ("FLOATS", [float(np.float32(e)) for e in v])
            else:
                out[name] = ("STRINGS", [(e if isinstance(e, str) else json.dumps(e, separators=(",", ":"))).encode()
                                         for e in v])
        elif isinstance(v, str):
            out[name] = ("STRINGS", [v.encode()])
        elif v is None:
            out[name] = ("FLOATS", [])
        else:
            out[name] = ("FLOATS", [float(np.float32(v))])

    if isinstance(param, dict):
        for k, v in param.items():
            add(k, v)
    elif param is not None:
        add("param", param)
    return out


def actual_attributes(node):
    out = {}
    for a in node.attribute:
        kind = onnx.AttributeProto.AttributeType.Name(a.type)
        value = helper.get_attribute_value(a)
        out[a.name] = (kind, [float(x) for x in value] if kind == "FLOATS" else list(value))
    return out


def load_checked(path):
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    onnx.checker.check_model(model, full_check=True)  # also runs shape inference
    return model


def assert_matches(model, root, level):
    g = model.graph
    assert model.ir_version == 7
    assert {(o.domain, o.version) for o in model.opset_import} == {("", 13), (DOMAIN, 1)}
    assert g.name == (root.get("opName") or root["modelName"])
    selected = select(root, level)
    assert [n.name for n in g.node] == [s.get("opName", root.get("modelName")) for s in selected]
    assert [n.op_type for n in g.node] == [s.get("opType", root.get("modelName")) for s in selected]
    assert all(n.domain == DOMAIN for n in g.node)
    inputs, nodes, outputs = expected_graph(root, level)
    assert [v.name for v in g.input] == inputs
    assert [(list(n.input), list(n.output)) for n in g.node] == nodes
    assert [v.name for v in g.output] == outputs
    for v in list(g.input) + list(g.output):
        assert v.type.tensor_type.elem_type == onnx.TensorProto.UNDEFINED
    for n, s in zip(g.node, selected):
        assert actual_attributes(n) == expected_attributes(s.get("param")), n.name


@pytest.mark.parametrize("level", [-1, 0, 1, 2])
def test_layer_json_converts_and_checks(ait, tmp_path, level):
    root = layer_json()
    path = write_topology(tmp_path / "ait_dump" / "layer" / "4242" / f"{L}.json", root)
    args = [path] if level == -1 else [path, "--level", level]
    r = run(ait, *args)
    assert r.returncode == 0, r.stderr
    onnx_path = path.with_suffix(".onnx")
    assert r.stdout.splitlines() == [str(onnx_path)]
    model = load_checked(onnx_path)
    assert_matches(model, root, level)
    if level in (-1, 1, 2):  # a layer has one level of children: all three are its leaves
        assert [n.name for n in model.graph.node][:2] == ["LayerNormOperation_3_0", "LinearOperation_3_1"]
        cache_write = model.graph.node[2]
        assert list(cache_write.output) == [f"{L}_input_4#1", f"{L}_input_5#1"]
        assert list(model.graph.node[3].input)[1:] == [f"{L}_input_4#1", f"{L}_input_5#1"]
    else:
        assert [n.name for n in model.graph.node] == [L]


@pytest.mark.parametrize("level", [-1, 0, 1, 2, 3])
def test_model_json_converts_and_checks(ait, tmp_path, level):
    root = model_json()
    path = write_topology(tmp_path / "ait_dump" / "model" / "4242" / f"{M}.json", root)
    r = run(ait, path, "-l", "error", "--level", level)
    assert r.returncode == 0, r.stderr
    model = load_checked(path.with_suffix(".onnx"))
    assert_matches(model, root, level)
    names = [n.name for n in model.graph.node]
    if level == 1:
        assert names == ["WordEmbedding_0", "Bloom7bCommonLayer_1", "Bloom7bCommonLayer_2", "LmHead_3"]
    if level in (-1, 2, 3):
        assert names[0] == "WordEmbedding_0" and names[1] == "LayerNormOperation_1_0" and len(names) == 2 + 2 * 6
    # Weights and caches are read, never listed as model inputs: they become graph inputs.
    inputs = [v.name for v in model.graph.input]
    assert inputs[:2] == [f"{M}_input_0", f"{M}_input_1"]
    if level != 0:
        assert f"{M}_weight_0" in inputs and f"{M}_kCache_1" in inputs
        added = [v for v in model.graph.input if v.name == f"{M}_weight_0"][0]
        assert "not an input of the ATB graph" in added.doc_string


def test_folder_converts_every_topology_json(ait, tmp_path):
    dump = tmp_path / "ait_dump"
    layer = write_topology(dump / "layer" / "7" / f"{L}.json", layer_json())
    model = write_topology(dump / "model" / "7" / f"{M}.json", model_json(layers=1))
    (dump / "tensors" / "0_7" / "0" / "0_Bloom7bCommonLayer").mkdir(parents=True)
    (dump / "tensors" / "0_7" / "0" / "0_Bloom7bCommonLayer" / "op_param.json").write_text('{"headNum": 32}')
    r = run(ait, dump)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.splitlines()) == sorted([str(layer.with_suffix(".onnx")), str(model.with_suffix(".onnx"))])
    assert "skipped 1 JSON file" in r.stderr
    assert not (dump / "tensors" / "0_7" / "0" / "0_Bloom7bCommonLayer" / "op_param.onnx").exists()
    for p in (layer, model):
        load_checked(p.with_suffix(".onnx"))


def test_help_and_bad_arguments(ait, tmp_path):
    r = run(ait, "--help")
    assert r.returncode == 0 and "--level" in r.stdout and "-l, --log-level" in r.stdout
    assert "onnx" in subprocess.run([ait, "llm", "--help"], capture_output=True, text=True).stdout
    path = write_topology(tmp_path / "a.json", layer_json())
    for args in ([], [path, "--level", "-2"], [path, "--level", "x"], [tmp_path / "missing.json"],
                 [path, "-l", "loud"], [path, "--bogus"]):
        r = run(ait, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert not path.with_suffix(".onnx").exists()
    r = run(ait, path, "--lev", "1")  # unique prefixes, as argparse
    assert r.returncode == 0, r.stderr


MALFORMED = {
    "empty.json": "",
    "truncated.json": '{"opName": "L", "opType": "T", "nodes": [',
    "array.json": "[1, 2]",
    "string.json": '"Bloom"',
    "no_name.json": '{"opType": "T", "nodes": []}',
    "name_type.json": '{"opName": 7, "opType": "T"}',
    "nodes_type.json": '{"opName": "L", "opType": "T", "nodes": {"a": 1}}',
    "node_type.json": '{"opName": "L", "opType": "T", "nodes": [3]}',
    "child_no_type.json": '{"opName": "L", "opType": "T", "nodes": [{"opName": "C"}]}',
    "in_type.json": '{"opName": "L", "opType": "T", "inTensors": "x"}',
    "in_elem.json": '{"opName": "L", "opType": "T", "nodes": [{"opName": "C", "opType": "U", "inTensors": [null]}]}',
    "nan.json": '{"opName": "L", "opType": "T", "param": {"eps": NaN}}',
    "overflow.json": '{"opName": "L", "opType": "T", "param": {"eps": 1e999}}',
    "deep.json": "[" * 5000 + "]" * 5000,
    "deep_nodes.json": '{"opName": "L", "opType": "T", "nodes": [' * 60 + "]}" * 60,
    "deep_param.json": '{"opName": "L", "opType": "T", "param": ' + '{"p": ' * 40 + "1" + "}" * 41,
    "bad_utf8.json": b'{"opName": "L\xff", "opType": "T"}',
    "trailing.json": '{"opName": "L", "opType": "T"} x',
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_json_fails_cleanly(ait, tmp_path, name):
    path = tmp_path / name
    content = MALFORMED[name]
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    r = run(ait, path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert str(path) in r.stderr and "[error]" in r.stderr
    assert r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no .onnx, no temporary


def test_mutated_json_never_crashes(ait, tmp_path):
    """Random byte edits and type swaps of real topologies: each file either converts to a
    model the checker accepts or fails with an error naming it; nothing half-written."""
    rng = random.Random(20240601)
    texts = [json.dumps(layer_json(), separators=(",", ":")), json.dumps(model_json(1), separators=(",", ":"))]
    swaps = [5, "s", None, True, [], {}, [1], [None], {"nodes": 1}, -1e300]
    files = []
    for i in range(300):
        text = rng.choice(texts)
        if i % 3 == 0:  # byte-level edits
            data = bytearray(text.encode())
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(data))
                op = rng.randrange(3)
                if op == 0:
                    data[pos] = rng.choice(b'{}[]",:0123456789aenrtx\\ ')
                elif op == 1:
                    del data[pos:pos + rng.randint(1, 40)]
                else:
                    data[pos:pos] = rng.choice([b"[", b"{", b'"', b",", b"null", b'"nodes":[]'])
            content = bytes(data)
        else:  # structure-level edits: a value anywhere replaced with a wrong type
            obj = json.loads(text)
            for _ in range(rng.randint(1, 3)):
                parent, key = obj, None
                while True:
                    items = list(parent.items()) if isinstance(parent, dict) else list(enumerate(parent))
                    if not items:
                        break
                    key, value = rng.choice(items)
                    if not isinstance(value, (dict, list)) or not value or rng.random() < 0.3:
                        break
                    parent = value
                if key is not None:
                    parent[key] = copy.deepcopy(rng.choice(swaps))
            content = json.dumps(obj).encode()
        path = tmp_path / f"m{i:03d}.json"
        path.write_bytes(content)
        files.append(path)
    r = run(ait, "-l", "error", *files)
    assert r.returncode in (0, 1), r.stderr
    written = set(r.stdout.splitlines())
    converted = 0
    for path in files:
        onnx_path = path.with_suffix(".onnx")
        if onnx_path.exists():
            assert str(onnx_path) in written
            load_checked(onnx_path)
            converted += 1
        else:
            assert f"{path}:" in r.stderr, path
    assert 0 < converted < len(files)
    assert not [p for p in tmp_path.iterdir() if p.suffix not in (".json", ".onnx")]  # no temporaries
