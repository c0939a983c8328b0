"""`ait llm compare -cl/--cmp-level` and `-alg/--custom-algorithms`, the flags msit's scripts
pass, on real dumps: the reference engine (`ait llm dump`), the Hugging Face golden dumped by
ait_llm.register_hook in module mode, and two API-mode torch dumps (fp32 and bf16); and the
same through ait_llm.compare_folders(cmp_level=..., custom_algorithms=...).

Run with the project venv (the torch dumps need transformers):
AIT_BUILD_DIR=$PWD/build .venv/bin/python -m pytest tests/python/test_compare_flags.py
"""
import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, run_checked
from test_pair_by_topology import PROMPT, STEPS, engine_dump, torch_dump

API_DUMP = """
import sys
import torch
import hf_llama
from ait_llm import DumpConfig, register_hook

model = hf_llama.load_model(sys.argv[1])
if sys.argv[3] == "bf16":
    model = model.to(torch.bfloat16)
handle = register_hook(model, DumpConfig(dump_path=sys.argv[2], token_range=list(range({steps})), mode=["module", "api"]))
ids, past = torch.tensor([[{prompt}]]), None
with torch.no_grad():
    for _ in range({steps}):
        out = model(input_ids=ids, past_key_values=past, use_cache=True)
        past, ids = out.past_key_values, out.logits[:, -1:].argmax(-1)
handle.remove()
""".format(steps=STEPS, prompt=PROMPT)

LAST_LOGITS_DUMP = API_DUMP.replace('mode=["module", "api"]', "dump_last_logits=True")

METRICS_PY = '''"""Custom metrics for ait llm compare -alg (a test file)."""
import numpy as np


def l1_distance(golden, my):
    g = golden.astype(np.float64)
    m = my.astype(np.float64)
    return float(np.abs(g.ravel() - m.ravel()).sum()), f"{golden.dtype}/{my.dtype} {golden.shape}"


def always_fails(golden, my):
    raise ValueError(f"cannot score {golden.size} elements")


def one_parameter(golden):
    return 0, ""


NOT_A_FUNCTION = 3
'''


def api_dump(ckpt, out, dtype, script=API_DUMP):
    return torch_dump(ckpt, out, script, dtype)


@pytest.fixture(scope="module")
def dumps(ait, ait_engine, tiny, tmp_path_factory):
    base = tmp_path_factory.mktemp("compare_flags")
    return {
        "engine": engine_dump(ait, ait_engine, tiny, base / "engine"),
        "torch": torch_dump(tiny, base / "torch"),
        "api": api_dump(tiny, base / "api", "fp32"),
        "api_bf16": api_dump(tiny, base / "api_bf16", "bf16"),
    }


@pytest.fixture(scope="module")
def metrics_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("algorithms") / "flag_metrics.py"
    path.write_text(METRICS_PY)
    return path


def compare(ait, golden, my, out, *flags, rc=0):
    return run_checked(ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out, *flags, rc=rc, timeout=300)


def read_csv(folder):
    (report,) = pathlib.Path(folder).glob("ait_cmp_report_*.csv")
    with open(report, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def module_names(dump):
    """Folder names of the modules of a torch dump's model_tree.json."""
    (tree,) = pathlib.Path(dump).glob("ait_dump/torch_tensors/*/model_tree.json")
    names, todo = set(), [json.loads(tree.read_text())]
    while todo:
        node = todo.pop()
        names.add(node["name"])
        todo.extend(node["children"])
    return names


def folder(path):
    return pathlib.Path(path).parent.name


def load(path):
    """A tensor file as numpy, as the custom metrics receive it (bfloat16 as float32)."""
    if path.endswith(".pth"):
        t = torch.load(path)
        return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    import ait_llm.tensor_io
    return np.asarray(ait_llm.tensor_io.read_tensor(path))


# --- -cl / --cmp-level -----------------------------------------------------------------------

@pytest.mark.parametrize("level", ["layer", "token"])
def test_layer_and_token_compare_everything_paired(ait, dumps, tmp_path, level):
    compare(ait, dumps["torch"], dumps["engine"], tmp_path / "all")
    r = compare(ait, dumps["torch"], dumps["engine"], tmp_path / level, "-cl", level)
    assert "[atb-torch" in r.stderr
    assert read_csv(tmp_path / level) == read_csv(tmp_path / "all")


def test_token_level_on_the_originals_token_workflow(ait, ait_engine, tiny, layers, tmp_path):
    """The original's `-cl token` scenario: the torch side dumped with dump_last_logits, the ATB
    side with only its last operation (-ids <lm_head> -child False -stp 1), both named at their
    {dev}_{pid} folders. The pairing finds the level itself."""
    golden = api_dump(tiny, tmp_path / "torch", "fp32", LAST_LOGITS_DUMP)
    cmd = f"{ait_engine} run --model {tiny} --input-ids {PROMPT} --max-new-tokens {STEPS}"
    lm_head = layers + 2  # 0 Gather, the layers, the final RmsNorm, the lm_head Linear
    run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "model", "tensor", "-ids", lm_head, "-child", "False",
                "-stp", "1", "-er", f"0,{STEPS - 1}", "-o", tmp_path / "engine", timeout=300)
    (g,) = (golden / "ait_dump" / "torch_tensors").iterdir()
    (m,) = (tmp_path / "engine" / "ait_dump" / "tensors").iterdir()
    for level in ("token", "layer", "logits"):
        compare(ait, g, m, tmp_path / level, "-cl", level)
        _, rows = read_csv(tmp_path / level)
        assert [row["token_id"] for row in rows] == [str(t) for t in range(STEPS)], level
        for row in rows:
            assert row["golden_data_path"].endswith("/root.lm_head/output.pth")
            assert row["my_data_path"].endswith(f"/{lm_head}_LinearOperation/after/outtensor0.bin")
            assert float(row["cosine_similarity"]) > 0.9999


def test_module_level_on_engine_vs_hugging_face_keeps_every_module_pair(ait, dumps, tmp_path):
    compare(ait, dumps["torch"], dumps["engine"], tmp_path / "all")
    compare(ait, dumps["torch"], dumps["engine"], tmp_path / "module", "--cmp-level", "module")
    _, rows = read_csv(tmp_path / "module")
    assert rows == read_csv(tmp_path / "all")[1]
    modules = module_names(dumps["torch"])
    assert all(folder(row["golden_data_path"]) in modules for row in rows)


@pytest.mark.parametrize("golden, my", [("torch", "engine"), ("engine", "torch")])
def test_logits_level_compares_the_final_output_of_each_token(ait, dumps, tmp_path, golden, my):
    r = compare(ait, dumps[golden], dumps[my], tmp_path, "-cl", "logits")
    assert f"compare level logits: {STEPS} of" in r.stderr
    _, rows = read_csv(tmp_path)
    assert [row["token_id"] for row in rows] == [str(t) for t in range(STEPS)]
    assert [row["data_id"] for row in rows] == [str(t) for t in range(STEPS)]
    torch_side, engine_side = ("golden", "my") if golden == "torch" else ("my", "golden")
    for row in rows:
        assert row[f"{torch_side}_data_path"].endswith("/root.lm_head/output.pth")
        assert row[f"{engine_side}_data_path"].endswith("_LinearOperation/after/outtensor0.bin")
        assert row[f"{torch_side}_shape"].endswith(", 256]")  # the vocabulary
        assert float(row["cosine_similarity"]) > 0.9999  # fp32 engine vs fp32 Hugging Face


def test_api_and_module_levels_split_an_api_mode_dump(ait, dumps, tmp_path):
    r = compare(ait, dumps["api"], dumps["api_bf16"], tmp_path / "all")
    assert "[path" in r.stderr  # torch-torch declines API dumps
    compare(ait, dumps["api"], dumps["api_bf16"], tmp_path / "api", "-cl", "api")
    compare(ait, dumps["api"], dumps["api_bf16"], tmp_path / "module", "-cl", "module")
    _, every = read_csv(tmp_path / "all")
    _, api = read_csv(tmp_path / "api")
    _, module = read_csv(tmp_path / "module")
    modules = module_names(dumps["api"])
    api_folders = {folder(row["golden_data_path"]) for row in api}
    assert api and not api_folders & modules
    assert {"root.model.layers.0.mlp.act_fn.silu", "root.model.layers.0.self_attn.matmul",
            "root.model.layers.0.self_attn.matmul.1", "root.model.layers.0.self_attn.softmax"} <= api_folders
    assert all(folder(row["golden_data_path"]) in modules for row in module)
    key = lambda row: (row["golden_data_path"], row["my_data_path"])  # noqa: E731
    assert sorted(map(key, api + module)) == sorted(map(key, every))
    for rows in (api, module):
        assert [row["data_id"] for row in rows] == [str(i) for i in range(len(rows))]
    # The same pair scores the same whatever the level.
    by_key = {key(row): row for row in every}
    for row in api[:5]:
        assert row["cosine_similarity"] == by_key[key(row)]["cosine_similarity"]


def test_levels_that_the_dumps_lack_are_errors(ait, dumps, tmp_path):
    r = compare(ait, dumps["torch"], dumps["engine"], tmp_path / "a", "-cl", "api", rc=1)
    assert "-cl api: none of the" in r.stderr and "API-mode folders" in r.stderr
    r = compare(ait, dumps["engine"], dumps["engine"], tmp_path / "b", "-cl", "module", rc=1)
    assert "-cl module" in r.stderr and "neither dump is one" in r.stderr
    assert not list(tmp_path.glob("*/ait_cmp_report_*.csv"))


def test_an_unknown_level_is_a_usage_error(ait, dumps, tmp_path):
    r = compare(ait, dumps["torch"], dumps["engine"], tmp_path, "-cl", "layers", rc=2)
    assert "--cmp-level: 'layers' is not one of layer, token, module, api, logits" in r.stderr


def test_compare_folders_takes_the_level(ait_llm_package, ait, dumps, tmp_path):
    from ait_llm.compare import compare_folders
    compare(ait, dumps["api"], dumps["api_bf16"], tmp_path / "cli", "-cl", "api")
    result = compare_folders(dumps["api"], dumps["api_bf16"], cmp_level="api")
    _, rows = read_csv(tmp_path / "cli")
    assert [r["golden_data_path"] for r in result["rows"]] == [r["golden_data_path"] for r in rows]
    with pytest.raises(ValueError, match="cmp_level"):
        compare_folders(dumps["api"], dumps["api_bf16"], cmp_level="tokens")
    with pytest.raises(ait_llm_package.compare.AitError, match="-cl api"):
        compare_folders(dumps["torch"], dumps["engine"], cmp_level="api")


# --- -alg / --custom-algorithms --------------------------------------------------------------

def test_custom_algorithms_add_two_columns_each(ait, dumps, metrics_file, tmp_path):
    r = compare(ait, dumps["torch"], dumps["engine"], tmp_path, "-alg", f"{metrics_file}:l1_distance",
                f"{metrics_file}:always_fails")
    header, rows = read_csv(tmp_path)
    assert header[-4:] == ["l1_distance", "l1_distance_message", "always_fails", "always_fails_message"]
    assert header[-5] == "root_cause"  # after every other column
    assert rows and all(row["cmp_fail_reason"] == "" for row in rows)
    for row in rows[:: max(1, len(rows) // 6)]:
        g, m = load(row["golden_data_path"]), load(row["my_data_path"])
        want = np.abs(g.astype(np.float64).ravel() - m.astype(np.float64).ravel()).sum()
        assert float(row["l1_distance"]) == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert row["l1_distance_message"] == f"{g.dtype}/{m.dtype} {g.shape}"
        assert row["always_fails"] == ""
        assert row["always_fails_message"] == f"ValueError: cannot score {g.size} elements"
    assert "Report:" in r.stdout


def test_custom_algorithms_see_bfloat16_as_float32(ait, dumps, metrics_file, tmp_path):
    compare(ait, dumps["api"], dumps["api_bf16"], tmp_path, "-cl", "logits", "-alg", f"{metrics_file}:l1_distance")
    _, rows = read_csv(tmp_path)
    assert len(rows) == STEPS
    for row in rows:
        assert row["my_dtype"] == "torch.bfloat16"
        assert row["l1_distance_message"].startswith("float32/float32 (")
        g, m = load(row["golden_data_path"]), load(row["my_data_path"])
        assert float(row["l1_distance"]) == pytest.approx(np.abs(g.astype(np.float64) - m).sum(), rel=1e-12)


def test_custom_algorithms_on_two_files(ait, metrics_file, tmp_path):
    g, m = np.arange(6, dtype=np.float16).reshape(2, 3), np.arange(6, dtype=np.float16).reshape(2, 3) + 1
    np.save(tmp_path / "g.npy", g)
    np.save(tmp_path / "m.npy", m)
    r = compare(ait, tmp_path / "g.npy", tmp_path / "m.npy", tmp_path / "out", "-alg", f"{metrics_file}:l1_distance")
    assert "l1_distance                  6.0" in r.stdout
    _, (row,) = read_csv(tmp_path / "out")
    assert row["l1_distance"] == "6.0" and row["l1_distance_message"] == "float16/float16 (2, 3)"


@pytest.mark.parametrize("spec, message", [
    ("{f}", "is not FILE.py:FUNCTION (split on ':' it gives 1 part, not 2)"),
    ("{f}:l1_distance:x", "gives 3 parts, not 2"),
    ("{d}/missing.py:f", "missing.py does not exist"),
    ("{d}:f", "is not a file"),
    ("{d}/notes.txt:f", "is not a .py file"),
    ("{f}:no_such", "has no attribute 'no_such'"),
    ("{f}:one_parameter", "one_parameter takes 1 parameters, not 2 (golden, my)"),
    ("{f}:NOT_A_FUNCTION", "NOT_A_FUNCTION is not a function"),
    ("{d}/broken.py:f", "cannot import broken"),
])
def test_bad_custom_algorithms_are_usage_errors(ait, dumps, metrics_file, tmp_path, spec, message):
    d = metrics_file.parent
    (d / "notes.txt").write_text("")
    (d / "broken.py").write_text("raise ImportError('broken on purpose')\n")
    spec = spec.format(f=metrics_file, d=d)
    r = compare(ait, dumps["torch"], dumps["engine"], tmp_path, "-alg", spec, rc=2)
    assert "--custom-algorithms: '" + spec + "'" in r.stderr and message in r.stderr, r.stderr
    assert not list(tmp_path.glob("ait_cmp_report_*.csv"))


def test_custom_algorithm_names_must_not_repeat_a_column(ait, dumps, metrics_file, tmp_path):
    r = compare(ait, dumps["torch"], dumps["engine"], tmp_path, "-alg", f"{metrics_file}:l1_distance",
                f"{metrics_file}:l1_distance", rc=2)
    assert "--custom-algorithms:" in r.stderr and "already has a column 'l1_distance'" in r.stderr


def test_tilde_is_expanded(ait, dumps, metrics_file, tmp_path):
    env = {"HOME": str(metrics_file.parent)}
    r = run_checked(ait, "llm", "compare", "-gp", dumps["torch"], "-mp", dumps["engine"], "-o", tmp_path, "-cl",
                    "logits", "-alg", "~/flag_metrics.py:l1_distance", env=env, timeout=300)
    header, _ = read_csv(tmp_path)
    assert "l1_distance" in header, r.stderr


def test_compare_folders_takes_callables_and_files(ait_llm_package, dumps, metrics_file, tmp_path):
    from ait_llm.compare import compare_folders
    calls = []

    def max_abs(golden, my):
        calls.append(golden.shape)
        return float(np.abs(golden - my).max()), "ok"

    result = compare_folders(dumps["torch"], dumps["engine"], output=tmp_path, cmp_level="logits",
                             custom_algorithms=[max_abs, f"{metrics_file}:always_fails", lambda g, m: ("x", None)])
    assert len(result["rows"]) == STEPS and len(calls) >= STEPS
    header, rows = read_csv(tmp_path)
    assert header[-6:] == ["max_abs", "max_abs_message", "always_fails", "always_fails_message", "<lambda>",
                           "<lambda>_message"]
    for row, cells in zip(result["rows"], rows):
        g, m = load(cells["golden_data_path"]), load(cells["my_data_path"])
        assert row["max_abs"] == float(np.abs(g - m).max()) == float(cells["max_abs"])
        assert row["max_abs_message"] == cells["max_abs_message"] == "ok"
        assert row["always_fails"] is None
        assert row["always_fails_message"].startswith("ValueError: cannot score")
        assert row["<lambda>"] == "x" and row["<lambda>_message"] == ""
    with pytest.raises(ValueError, match="custom_algorithms: 'nope.py:f': nope.py does not exist"):
        compare_folders(dumps["torch"], dumps["engine"], custom_algorithms=["nope.py:f"])
    with pytest.raises(ValueError, match="already has a column 'max_abs'"):
        compare_folders(dumps["torch"], dumps["engine"], custom_algorithms=[max_abs, max_abs])
    with pytest.raises(TypeError, match="custom_algorithms"):
        compare_folders(dumps["torch"], dumps["engine"], custom_algorithms=[3])


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="needs the tests to run in a virtual environment (.venv)")
def test_the_embedded_python_sees_the_virtual_environment(ait, tmp_path):
    """Debian's python3 is embedded; with VIRTUAL_ENV set (as `activate` does) the venv's
    site-packages come first on sys.path, so what only the venv has (transformers) imports."""
    (tmp_path / "venv_probe.py").write_text(
        "import sys\n\n\ndef where(golden, my):\n"
        "    import transformers\n"
        "    return sys.prefix, transformers.__file__\n")
    np.save(tmp_path / "g.npy", np.ones(3, np.float32))
    alg = f"{tmp_path / 'venv_probe.py'}:where"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    r = subprocess.run([ait, "llm", "compare", "-gp", tmp_path / "g.npy", "-mp", tmp_path / "g.npy", "-o", tmp_path / "a",
                        "-alg", alg], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    _, (row,) = read_csv(tmp_path / "a")
    assert row["where"] == "" and row["where_message"].startswith("ModuleNotFoundError: No module named 'transformers'")
    run_checked(ait, "llm", "compare", "-gp", tmp_path / "g.npy", "-mp", tmp_path / "g.npy", "-o", tmp_path / "b",
                "-alg", alg, env={"VIRTUAL_ENV": sys.prefix}, timeout=300)
    _, (row,) = read_csv(tmp_path / "b")
    assert row["where"] == "/usr"  # Debian's interpreter
    assert row["where_message"].startswith(sys.prefix), row
