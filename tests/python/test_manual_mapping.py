"""Manual mapping end to end: golden tensors of a real torch model saved with
ait_llm.dump_data (FORMATS.md 6), "my" tensors of a perturbed copy written as .npy, .bin and
.pth, then `ait llm compare -gp <dump_data output> -mp <anything>` and
ait_llm.compare.compare_folders: the rows metadata.json records, in its order, with its
token_id and data_id (FORMATS.md 7.2), scored, and the perturbed module named as the root cause."""
import copy
import csv
import json
import os
import pathlib
import subprocess

import pytest

from conftest import run_checked

torch = pytest.importorskip("torch")

# Module index -> data_id: numbers whose text sorts differently ("10" < "8"), so the file's
# order (the order dump_data recorded them) is what the report must follow.
DATA_IDS = [8, 9, 10, 11, 12]
# How "my" side saves each module's output.
MY_FORMATS = [".npy", ".bin", ".pth", ".npy", ".bin"]
PERTURBED = 2  # the module whose weights differ on my side
TOKENS = 2


@pytest.fixture(scope="module")
def pkg(ait_llm_package):
    import ait_llm.compare  # noqa: F401
    import ait_llm.dump.manual_dump  # noqa: F401
    import ait_llm.tensor_io  # noqa: F401
    return ait_llm_package


def model_pair():
    torch.manual_seed(0)
    golden = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 32),
                                 torch.nn.LayerNorm(32), torch.nn.Linear(32, 8)).eval()
    my = copy.deepcopy(golden)
    with torch.no_grad():
        my[PERTURBED].weight.add_(0.5 * torch.randn_like(my[PERTURBED].weight))
    return golden, my


def write_my(pkg, path, tensor):
    if path.suffix == ".pth":
        torch.save(tensor.detach().clone(), path)
    else:
        pkg.tensor_io.write_tensor(path, tensor.detach())


@pytest.fixture(scope="module")
def dumps(pkg, tmp_path_factory):
    """{"golden": dump_data's output folder, "my": my tensor files, "proc": {pid}_-1 folder,
    "expected": [(token, data_id, module index)] in metadata order}."""
    base = tmp_path_factory.mktemp("manual")
    golden_out, my_dir = base / "golden", base / "my"
    my_dir.mkdir()
    golden, my = model_pair()
    torch.manual_seed(1)
    inputs = [torch.randn(3, 16) for _ in range(TOKENS)]
    token = {"id": 0}
    my_outputs = {}

    def my_hook(index):
        def hook(module, args, output):
            my_outputs[(token["id"], index)] = output
        return hook

    def golden_hook(index):
        def hook(module, args, output):
            t = token["id"]
            my_file = my_dir / f"token{t}_module{index}{MY_FORMATS[index]}"
            write_my(pkg, my_file, my_outputs[(t, index)])
            written = pkg.dump_data(t, DATA_IDS[index], output, str(my_file), output_path=str(golden_out))
            assert written == str(golden_out / "ait_dump" / f"{os.getpid()}_-1" / "golden_tensor" / str(t)
                                  / f"{DATA_IDS[index]}_tensor.pth")
        return hook

    for i in range(len(golden)):
        my[i].register_forward_hook(my_hook(i))
        golden[i].register_forward_hook(golden_hook(i))
    with torch.no_grad():
        for t in range(TOKENS):
            token["id"] = t
            my(inputs[t])
            golden(inputs[t])
    expected = [(str(t), str(DATA_IDS[i]), i) for i in range(len(golden)) for t in range(TOKENS)]
    return {"golden": golden_out, "my": my_dir, "proc": golden_out / "ait_dump" / f"{os.getpid()}_-1",
            "expected": expected}


def read_csv(folder):
    (report,) = pathlib.Path(folder).glob("ait_cmp_report_*.csv")
    with open(report, newline="") as f:
        return list(csv.DictReader(f))


def test_dump_data_writes_the_originals_layout(dumps):
    folder = dumps["proc"] / "golden_tensor"
    metadata = json.loads((folder / "metadata.json").read_text())
    # One data_id per module, in the order they were recorded, each with every token.
    assert list(metadata) == [str(d) for d in DATA_IDS]
    for data_id in DATA_IDS:
        assert list(metadata[str(data_id)]) == [str(t) for t in range(TOKENS)]
        for t in range(TOKENS):
            golden, my = metadata[str(data_id)][str(t)]
            assert golden == str(folder / str(t) / f"{data_id}_tensor.pth")
            assert os.path.isabs(my) and os.path.exists(my)
            assert isinstance(torch.load(golden), torch.Tensor)
    leftovers = [p.name for p in folder.rglob(".*")]
    assert leftovers == []  # no temporary files


def test_dump_data_updates_and_validates(pkg, tmp_path):
    dump = pkg.dump.manual_dump.dump_data
    x = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    first = dump(0, 1, x, "a.npy", output_path=tmp_path)
    folder = pathlib.Path(first).parents[1]
    assert folder == tmp_path / "ait_dump" / f"{os.getpid()}_-1" / "golden_tensor"
    assert torch.equal(torch.load(first), x)
    dump(1, 1, x * 2, "b.npy", output_path=tmp_path)
    dump("0", 1, x * 3, pathlib.Path("c.npy"), output_path=tmp_path)  # replaces token 0 of data_id 1
    dump(0, 0, x, "d.npy", output_path=tmp_path)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert list(metadata) == ["1", "0"]
    assert list(metadata["1"]) == ["0", "1"]
    assert metadata["1"]["0"] == [first, os.path.abspath("c.npy")]
    assert torch.equal(torch.load(first), x * 3)
    assert torch.load(first).dtype == torch.float16

    for args, error, match in [
        ((-1, 0, x, "m.npy"), ValueError, "token_id must be a non-negative integer"),
        ((0, "x", x, "m.npy"), ValueError, "data_id must be a non-negative integer"),
        ((True, 0, x, "m.npy"), TypeError, "token_id .* bool"),
        ((0.5, 0, x, "m.npy"), TypeError, "token_id .* float"),
        ((0, 0, x.numpy(), "m.npy"), TypeError, "golden_data must be a torch.Tensor"),
        ((0, 0, x, 3), TypeError, "my_path must be a str path"),
        ((0, 0, x, b"m.npy"), TypeError, "my_path must be a str path"),
        ((0, 0, x, ""), ValueError, "my_path must not be empty"),
        ((0, 0, torch.empty(2, device="meta"), "m.npy"), ValueError, "meta device"),
    ]:
        with pytest.raises(error, match=match):
            dump(*args, output_path=tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        dump(0, 0, x, "m.npy", output_path=tmp_path / "file")
    (folder / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an object"):
        dump(0, 0, x, "m.npy", output_path=tmp_path)
    assert (folder / "metadata.json").read_text() == "[1, 2]"  # left as it was


def test_exported_from_the_package(pkg):
    assert pkg.dump_data is pkg.dump.manual_dump.dump_data
    assert "dump_data" in dir(pkg)


def test_cli_compares_the_recorded_pairs(ait, dumps, tmp_path):
    r = run_checked(ait, "llm", "compare", "-gp", dumps["golden"], "-mp", dumps["my"], "-o", tmp_path, timeout=300)
    assert "[manual-mapping" in r.stderr
    rows = read_csv(tmp_path)
    assert [(row["token_id"], row["data_id"]) for row in rows] == [(t, d) for t, d, _ in dumps["expected"]]
    for row, (t, d, index) in zip(rows, dumps["expected"]):
        assert row["golden_data_path"].endswith(f"/golden_tensor/{t}/{d}_tensor.pth")
        assert row["my_data_path"].endswith(f"token{t}_module{index}{MY_FORMATS[index]}")
        assert row["my_op_name"] == row["golden_op_name"] == f"data_{d}"
        assert row["match"] == "manual"
        assert row["cmp_fail_reason"] == ""
        cosine = float(row["cosine_similarity"])
        if index < PERTURBED:
            assert cosine == 1.0 and float(row["max_absolute_error"]) == 0.0
        elif index == PERTURBED:
            assert cosine < 0.99
    assert "root cause #1: data_10 (token 0)" in r.stdout
    (summary,) = tmp_path.glob("ait_cmp_summary_*.json")
    assert json.loads(summary.read_text())["strategy"].startswith("manual mapping")


@pytest.mark.parametrize("level", ["golden", "ait_dump", "proc", "golden_tensor"])
def test_compare_folders_at_every_level(pkg, ait, dumps, level):
    named = {"golden": dumps["golden"], "ait_dump": dumps["golden"] / "ait_dump", "proc": dumps["proc"],
             "golden_tensor": dumps["proc"] / "golden_tensor"}[level]
    result = pkg.compare.compare_folders(named, dumps["my"])
    assert result["strategy"] == "manual-mapping"
    # Only the torchair strategies are asked before it (no GE graph text here).
    assert [(d["strategy"], d["blocked"]) for d in result["declined"]] == [("ge-fused", False), ("ge-fx", False)]
    assert [(row["token_id"], row["data_id"]) for row in result["rows"]] == [(t, d) for t, d, _ in dumps["expected"]]
    for row, (_, _, index) in zip(result["rows"], dumps["expected"]):
        if index < PERTURBED:
            assert row["cosine_similarity"] == 1.0
        elif index == PERTURBED:
            assert row["cosine_similarity"] < 0.99
    summary = result["summary"]
    assert summary["strategy"].startswith("manual mapping")
    causes = summary["root_causes"]
    # No inputs to compare: the first off pair in execution order (token 0) is the one root
    # cause; the same pair in token 1 and everything after it only carry the error.
    assert len(causes) == 1
    assert causes[0]["my_name"] == f"data_{DATA_IDS[PERTURBED]}"
    assert causes[0]["token_id"] == "0"
    assert summary["verdicts"]["introducing"] == 1
    assert summary["verdicts"]["clean"] >= PERTURBED * TOKENS


def test_the_my_path_is_not_used(pkg, dumps, tmp_path):
    result = pkg.compare.compare_folders(dumps["golden"], tmp_path)  # an empty folder
    assert len(result["rows"]) == len(dumps["expected"])


def test_metadata_in_the_originals_form(pkg, ait, tmp_path):
    """As the original's dump_data wrote it with output_path './': paths relative to the folder
    it ran in, integer-looking keys; compare from that folder (the original's way) and from
    elsewhere (the output folder is tried next)."""
    folder = tmp_path / "ait_dump" / "77_-1" / "golden_tensor"
    (folder / "0").mkdir(parents=True)
    (tmp_path / "my").mkdir()
    torch.manual_seed(0)
    g = torch.linspace(-1, 1, 24).reshape(4, 6)
    torch.save(g, folder / "0" / "3_tensor.pth")
    pkg.tensor_io.write_tensor(tmp_path / "my" / "out.npy", g.numpy())
    pkg.tensor_io.write_tensor(tmp_path / "my" / "bad.bin", (g + 0.3 * torch.randn(4, 6)).half())
    (folder / "metadata.json").write_text(json.dumps({
        "3": {"0": ["./ait_dump/77_-1/golden_tensor/0/3_tensor.pth", "my/out.npy"]},
        "4": {"0": ["./ait_dump/77_-1/golden_tensor/0/3_tensor.pth", "my/bad.bin"]},
        "5": {"0": ["./ait_dump/77_-1/golden_tensor/0/3_tensor.pth"]},
        "6": "nope",
    }))
    for cwd in (tmp_path, tmp_path / "my"):
        r = subprocess.run([ait, "llm", "compare", "-gp", str(tmp_path / "ait_dump" / "77_-1"), "-mp",
                            str(tmp_path / "my"), "-o", str(tmp_path / f"out_{cwd.name}")],
                           cwd=cwd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        rows = read_csv(tmp_path / f"out_{cwd.name}")
        assert [(row["token_id"], row["data_id"]) for row in rows] == [("0", "3"), ("0", "4")]
        assert float(rows[0]["cosine_similarity"]) == 1.0
        assert rows[1]["my_dtype"] == "torch.float16" and float(rows[1]["cosine_similarity"]) < 0.99
        assert 'data_id "5", token_id "0": a list of 1 element(s)' in r.stderr
        assert 'data_id "6": a string' in r.stderr


def test_malformed_metadata_is_an_error_naming_it(ait, tmp_path):
    folder = tmp_path / "out" / "ait_dump" / "1_-1" / "golden_tensor"
    folder.mkdir(parents=True)
    (tmp_path / "my").mkdir()
    (folder / "metadata.json").write_text('{"1": {"0": ["a", ')
    r = run_checked(ait, "llm", "compare", "-gp", tmp_path / "out", "-mp", tmp_path / "my", "-o", tmp_path, rc=1)
    assert f"{folder / 'metadata.json'}: the dump_data metadata is not valid JSON" in r.stderr
    (folder / "metadata.json").write_text('{"1": {"0": ["only one"]}}')
    r = run_checked(ait, "llm", "compare", "-gp", tmp_path / "out", "-mp", tmp_path / "my", "-o", tmp_path, rc=1)
    assert "none of its 1 entries is a usable pair" in r.stderr
