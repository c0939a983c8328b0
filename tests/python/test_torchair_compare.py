"""torchair compare scenarios (FORMATS.md 9.5-9.8) on small dumps written here with numpy, the
core's GE file writer and protobuf's text format, where every row can be worked out by hand:
GE (my) vs FX (golden), fused GE vs unfused GE, tokens, Cast rows, notes and errors."""
import pathlib

import numpy as np
import pytest

from conftest import build_program, run_checked

TS = "20240125031118787351"
GRAPH = """name: "graph_1"
op { name: "arg0_1" type: "Data" output_desc { name: "y" dtype: DT_FLOAT16 } }
op {
  name: "Add_1"
  type: "Add"
  input: "arg0_1:0"
  input: "arg0_1:0"
  output_desc { name: "y" attr { key: "_fx_tensor_name" value { s: "add-aten.add.Tensor.OUTPUT.0" } } }
}
op {
  name: "Mul"
  type: "Mul"
  input: "Add_1:0"
  input: "arg0_1:0"
  input: "Add_1:-1"
  output_desc { name: "y" attr { key: "_fx_tensor_name" value { s: "mul-aten.mul.Tensor.OUTPUT.0" } } }
}
"""


@pytest.fixture(scope="module")
def tio(ait_llm_package):
    from ait_llm import tensor_io
    return tensor_io


def _ge(tio, folder, name, inputs, outputs):
    folder.mkdir(parents=True, exist_ok=True)
    items = {f"inputs,{k}": a for k, a in enumerate(inputs)}
    items.update({f"outputs,{k}": a for k, a in enumerate(outputs)})
    tio.write_tensors(folder / name, items)


def _values(token):
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4) + token
    add = x + x
    return x, add, add * x


def _fx(root, tokens, bad_mul=None):
    """The FX dump, older torchair layout: data_dump/{step from 1}/gm_{ts}_dump/."""
    for token in tokens:
        x, add, mul = _values(token)
        d = root / "data_dump" / str(token + 1) / "gm_1_dump"
        d.mkdir(parents=True)
        for name, arrays in (("add-aten.add.Tensor.INPUT", [x, x]), ("add-aten.add.Tensor.OUTPUT", [add]),
                             ("mul-aten.mul.Tensor.INPUT", [add, x]), ("mul-aten.mul.Tensor.OUTPUT", [mul])):
            for k, a in enumerate(arrays):
                np.save(d / f"{name}.{k}.{TS}.npy", a)


def _ge_dump(tio, root, tokens, fused=False, mul_scale=1.0, extra=()):
    """A GE dump (fp16): graph text at the top, operator files per iteration."""
    root.mkdir(parents=True)
    (root / "dynamo_original_graph_1_rank_0_pid_1_ts_2.txt").write_text(GRAPH)
    for token in tokens:
        x, add, mul = (a.astype(np.float16) for a in _values(token))
        mul = (mul.astype(np.float32) * mul_scale).astype(np.float16)
        d = root / "20240101120000" / "0" / "graph_1" / "1" / str(token)
        if fused:
            _ge(tio, d, "AutomaticBufferFusionOp.Add_1Mul.3.6.1700000000000100", [x, x, x], [mul])
        else:
            _ge(tio, d, "Add.Add_1.1.6.1700000000000100", [x, x], [add])
            _ge(tio, d, "Mul.Mul.2.6.1700000000000200", [add, x], [mul])
        for name, inputs, outputs in extra:
            _ge(tio, d, name, inputs, outputs)
    return root


def _compare(golden, my, out=None):
    from ait_llm import compare_folders
    return compare_folders(golden, my, output=out)


def test_ge_vs_fx_pairs_operators_by_fx_tensor_name(tio, tmp_path):
    _fx(tmp_path / "fx", [0, 1])
    _ge_dump(tio, tmp_path / "ge" / "dump_20240101_120000", [0, 1])
    r = _compare(tmp_path / "fx", tmp_path / "ge")
    assert r["strategy"] == "ge-fx"
    rows = r["rows"]
    assert len(rows) == 12  # 2 tokens x (Add: 2 inputs + 1 output, Mul: 2 inputs + 1 output)
    assert [row["token_id"] for row in rows] == ["0"] * 6 + ["1"] * 6
    first = rows[0]
    assert first["my_data_path"].endswith("Add.Add_1.1.6.1700000000000100,inputs,0")
    assert first["golden_data_path"].endswith(f"add-aten.add.Tensor.INPUT.0.{TS}.npy")
    assert first["my_op_name"] == "Add_1" and first["golden_op_name"] == "add-aten.add.Tensor"
    # Each row's metrics are numpy's on the same arrays.
    for row in rows:
        g = np.load(row["golden_data_path"]).astype(np.float64).ravel()
        m = tio.read_tensor(row["my_data_path"]).astype(np.float64).ravel()
        assert row["cosine_similarity"] == pytest.approx(g @ m / np.linalg.norm(g) / np.linalg.norm(m), abs=2e-6)
        assert row["max_absolute_error"] == pytest.approx(np.abs(g - m).max(), rel=1e-5, abs=1e-7)
    assert r["summary"]["root_causes"] == []
    ops = [(o["token_id"], o["my_name"]) for o in r["summary"]["operations"]]
    assert ops == [("0", "Add_1"), ("0", "Mul"), ("1", "Add_1"), ("1", "Mul")]


def test_a_fault_in_one_ge_operator_is_its_root_cause(tio, tmp_path):
    _fx(tmp_path / "fx", [0])
    _ge_dump(tio, tmp_path / "ge", [0], mul_scale=1.5)
    r = _compare(tmp_path / "fx", tmp_path / "ge", tmp_path / "report")
    causes = r["summary"]["root_causes"]
    assert [c["my_name"] for c in causes] == ["Mul"], causes
    assert sorted(p.rsplit(".", 1)[-1] for p in map(str, r["reports"].values())) == ["csv", "html", "json"]


def test_fused_ge_vs_unfused_ge_splits_the_fused_operator(tio, tmp_path):
    golden = _ge_dump(tio, tmp_path / "nofusion", [0])
    my = _ge_dump(tio, tmp_path / "fused", [0], fused=True)
    r = _compare(golden, my)
    assert r["strategy"] == "ge-fused"
    rows = r["rows"]
    # External inputs of Add_1 (arg0_1, arg0_1) and of Mul (arg0_1; Add_1:0 is internal, the
    # control edge carries no tensor), then Mul's output.
    assert [row["my_data_path"].rsplit(",", 2)[-2:] for row in rows] == [
        ["inputs", "0"], ["inputs", "1"], ["inputs", "2"], ["outputs", "0"]]
    assert rows[0]["golden_data_path"].endswith("Add.Add_1.1.6.1700000000000100,inputs,0")
    assert rows[2]["golden_data_path"].endswith("Mul.Mul.2.6.1700000000000200,inputs,1")
    assert rows[3]["golden_data_path"].endswith("Mul.Mul.2.6.1700000000000200,outputs,0")
    assert rows[0]["match"] == "fused" and rows[0]["golden_op_name"] == "Add_1+Mul"
    assert all(row["cosine_similarity"] == pytest.approx(1.0) for row in rows)
    assert r["summary"]["root_causes"] == []
    # A fault in the fused operator's output is named.
    bad = _ge_dump(tio, tmp_path / "fused_bad", [0], fused=True, mul_scale=1.5)
    causes = _compare(golden, bad)["summary"]["root_causes"]
    assert [c["my_name"] for c in causes] == ["Add_1Mul"], causes


def test_one_sided_tokens_cast_rows_and_notes(tio, tmp_path, capfd):
    _fx(tmp_path / "fx", [0, 1])
    x = np.ones((2, 2), np.float16)
    _ge_dump(tio, tmp_path / "ge", [0, 2], extra=[
        ("Cast.Cast_77.9.6.1700000000000300", [x], [x.astype(np.float32)]),  # inserted by GE: own input
        ("Relu.Relu_5.8.6.1700000000000250", [x], [x]),                      # in no graph: noted
    ])
    out = tmp_path / "report"
    proc = run_checked(build_program("ait"), "llm", "compare", "-gp", tmp_path / "fx", "-mp", tmp_path / "ge",
                       "-o", out)
    log = proc.stdout + proc.stderr
    assert "tokens only in my dump, not compared: 2" in log
    assert "tokens only in the golden dump, not compared: 1" in log
    assert "1 GE operator(s) are not in the graph text" in log and "Relu_5" in log
    r = _compare(tmp_path / "fx", tmp_path / "ge")
    cast = [row for row in r["rows"] if "Cast_77" in row["my_data_path"]]
    assert len(cast) == 1
    assert cast[0]["golden_data_path"].endswith("Cast.Cast_77.9.6.1700000000000300,inputs,0")
    assert cast[0]["my_data_path"].endswith("Cast.Cast_77.9.6.1700000000000300,outputs,0")
    assert cast[0]["cosine_similarity"] == pytest.approx(1.0)


def test_nothing_pairs_gives_a_clear_error(tio, tmp_path):
    (tmp_path / "fx").mkdir()
    np.save(tmp_path / "fx" / "unrelated.npy", np.zeros(3))
    _ge_dump(tio, tmp_path / "ge", [0])
    from ait_llm.tensor_io import AitError
    with pytest.raises(AitError, match="no GE operator found its FX node"):
        _compare(tmp_path / "fx", tmp_path / "ge")
    (tmp_path / "ge" / "dynamo_original_graph_1_rank_0_pid_1_ts_2.txt").write_text("op { name: ")
    with pytest.raises(AitError, match="dynamo_original_graph_1_rank_0_pid_1_ts_2.txt: not a GE graph text"):
        _compare(tmp_path / "fx", tmp_path / "ge")


# --- the tiny Hugging Face Llama, dumped by the stand-in for torchair/GE (ait_llm.dump.fx_dump) ---

# Faults planted in one GE operator, each a realistic 2-5 % error or a fault inside a fused
# operator: (spec, the operator the compare must name first).
FAULTS = [
    ("MatMul_5=scale:1.03", "MatMul_5"),                # a projection 3 % too large
    ("SoftmaxV2_1=noise:0.05", "SoftmaxV2_1"),          # noise behind a masked input
    ("Rsqrt_2=scale:1.05", "Add_7Rsqrt_2Mul_13"),       # inside a fused RMSNorm
]


@pytest.fixture(scope="module")
def llama_dumps(ait_llm_package, tiny, tmp_path_factory):
    """Clean FX + fused GE + unfused GE dumps of 2 steps, and for each fault a fused GE run."""
    from ait_llm.dump import fx_dump
    root = tmp_path_factory.mktemp("llama_torchair")
    paths = lambda made: {k: pathlib.Path(v) for k, v in made.items()}  # noqa: E731
    dumps = {"clean": paths(fx_dump.dump_model(tiny, root / "clean", steps=2, mode="all"))}
    for spec, _ in FAULTS:
        dumps[spec] = paths(fx_dump.dump_model(tiny, root / spec.split("=")[0], steps=2, mode="ge", perturb=[spec]))
    return dumps


def _graph_members(ge_dir):
    """{GE operator name: its outputs' FX node keys} from the graph text, with protobuf's parser."""
    from google.protobuf import text_format
    from ait_llm.dump.ge_proto import ge_ir_pb2
    (text,) = ge_dir.glob("dynamo_original_graph_*.txt")
    graph = text_format.Parse(text.read_text(), ge_ir_pb2.GraphDef())
    out = {}
    for op in graph.op:
        names = [d.attr["_fx_tensor_name"].s.decode() for d in op.output_desc if "_fx_tensor_name" in d.attr]
        if names:
            out[op.name] = [n.rsplit(".", 2)[0] for n in names]
    return out


def test_llama_ge_vs_fx_pairs_every_node_and_scores_like_numpy(tio, llama_dumps, tmp_path):
    dumps = llama_dumps["clean"]
    r = _compare(dumps["fx"], dumps["ge"], tmp_path / "report")
    assert r["strategy"] == "ge-fx"
    ops = r["summary"]["operations"]
    ge_files = {t: sorted(p.name for p in (next(dumps["ge"].glob(f"*/0/graph_1/1/{t}"))).iterdir()) for t in "01"}
    # Every GE operator file of both tokens is one operation of the analysis.
    for token in "01":
        assert sorted(o["my_name"] for o in ops if o["token_id"] == token) == \
            sorted(f.split(".")[1] for f in ge_files[token])
    # Every FX node is paired: as a plain operator's node, or as a member of a fused operator
    # (split into the graph's operators by the longest-prefix rule).
    members = _graph_members(dumps["ge"])
    fx_nodes = {p.name.split(".INPUT.")[0].split(".OUTPUT.")[0] for p in next(dumps["fx"].glob("data_dump/1/gm_*")).iterdir()}
    covered = set()
    for o in (o for o in ops if o["token_id"] == "0"):
        name = o["my_name"]
        while name:
            member = max((m for m in members if name.startswith(m)), key=len)
            covered.update(members[member])
            name = name[len(member):]
    assert covered == fx_nodes and len(fx_nodes) == 257
    assert sum(o["my_type"] == "AutomaticBufferFusionOp" for o in ops) == 2 * 15
    # Rows: metrics are numpy's on the same arrays.
    checked = 0
    for row in r["rows"]:
        if row["cmp_fail_reason"] or row["golden_dtype"] in ("torch.int64", "torch.bool"):
            continue
        g = np.load(row["golden_data_path"]).astype(np.float64).ravel()
        m = tio.read_tensor(row["my_data_path"]).astype(np.float64).ravel()
        if not g.size or np.abs(g).max() > 65504:
            continue  # the causal mask: float32's minimum against float16's
        assert row["max_absolute_error"] == pytest.approx(np.abs(g - m).max(), rel=1e-5, abs=1e-9), row["my_data_path"]
        if np.linalg.norm(g) and np.linalg.norm(m):
            cosine = g @ m / np.linalg.norm(g) / np.linalg.norm(m)
            assert row["cosine_similarity"] == pytest.approx(cosine, abs=1e-6), row["my_data_path"]
        checked += 1
    assert checked > 900  # of 1622 rows: the float ones without the mask
    # fp16 against fp32: no root cause.
    assert r["summary"]["root_causes"] == []


def test_llama_fused_vs_unfused_splits_and_matches_every_fused_operator(llama_dumps):
    dumps = llama_dumps["clean"]
    r = _compare(dumps["ge_nofusion"], dumps["ge"])
    assert r["strategy"] == "ge-fused"
    fused = [o for o in r["summary"]["operations"] if o["my_type"] == "AutomaticBufferFusionOp"]
    assert len(fused) == 2 * 15
    for o in fused:
        assert o["golden_name"].replace("+", "") == o["my_name"]  # split into its members, in order
    rows = [row for row in r["rows"] if row["match"] == "fused"]
    assert rows and all(row["cmp_fail_reason"] == "" for row in rows)
    assert min(row["cosine_similarity"] for row in rows) > 0.999
    assert r["summary"]["root_causes"] == []


@pytest.mark.parametrize("spec,named", FAULTS)
def test_llama_planted_fault_is_the_root_cause_in_both_scenarios(llama_dumps, spec, named):
    clean, bad = llama_dumps["clean"], llama_dumps[spec]
    for golden in (clean["fx"], clean["ge_nofusion"]):  # ge-fx, then ge-fused
        causes = _compare(golden, bad["ge"])["summary"]["root_causes"]
        assert causes and causes[0]["my_name"] == named, (golden, [c["my_name"] for c in causes])
        assert causes[0]["token_id"] == "0"


def test_llama_nz_dump_reads_as_nd(tio, tiny, llama_dumps, tmp_path):
    """MatMul tensors written in FRACTAL_NZ compare exactly as the ND ones."""
    from ait_llm.dump import fx_dump
    nz = pathlib.Path(fx_dump.dump_model(tiny, tmp_path / "nz", steps=1, mode="ge", nz=True)["ge"])
    plain = llama_dumps["clean"]["ge"]
    for f in next(nz.glob("*/0/graph_1/1/0")).iterdir():
        if not f.name.startswith("MatMul."):
            continue
        (twin,) = next(plain.glob("*/0/graph_1/1/0")).glob(f"MatMul.{f.name.split('.')[1]}.*")
        a, b = tio.read_tensors(f), tio.read_tensors(twin)
        assert list(a) == list(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
