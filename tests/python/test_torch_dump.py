"""ait_llm's torch dump (DumpConfig + register_hook) on a real Hugging Face Llama.

DumpConfig is a process singleton, so every dump runs in a child process:
torch_dump_scenarios.py runs the scenarios (one process for most, one for the memory
check) and `hf_llama.py run --dump-path` covers the golden's CLI in fp32 and bf16; the
four children run side by side. Each dump is checked against tensors captured
independently (plain torch forward hooks, the model's own return values).

Run with the project venv: AIT_BUILD_DIR=$PWD/build .venv/bin/python -m pytest tests/python/test_torch_dump.py
"""
import json
import os
import pathlib
import stat
import subprocess
import sys

import pytest

from conftest import BUILD, REPO

HERE = pathlib.Path(__file__).resolve().parent
GOLDEN = REPO / "python" / "golden"
sys.path.insert(0, str(GOLDEN))
try:
    import torch
    import hf_llama
except ImportError as e:
    raise ImportError(f"{e}: run the tests with the project venv (.venv/bin/python -m pytest), "
                      "made by scripts/install-deps.sh") from e

MAIN_SCENARIOS = ["full", "api", "api_only", "linear_outputs", "layer_inputs", "layer_proj",
                  "cpu_device_id", "meta_device_id", "last_logits", "weights", "removal"]
CLI_PROMPT = "1,17,42,99,200"


def child_env():
    """ait_llm from the build folder, hf_llama from python/golden; one thread each, the
    children share the machine."""
    return {**os.environ, "PYTHONPATH": f"{BUILD / 'python'}:{GOLDEN}", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def runs(tmp_path_factory, ait_llm_package):
    """Runs every child process once, in parallel. Returns the output folder."""
    out = tmp_path_factory.mktemp("torch_dump")
    ckpt = hf_llama.init_checkpoint(out / "tiny", seed=3)
    scenarios = HERE / "torch_dump_scenarios.py"
    commands = {
        "main": [sys.executable, scenarios, ckpt, out, *MAIN_SCENARIOS],
        "memory": [sys.executable, scenarios, ckpt, out, "memory"],
    }
    for dtype in ("fp32", "bf16"):
        commands["cli_" + dtype] = [
            sys.executable, GOLDEN / "hf_llama.py", "run", "--model", ckpt, "--input-ids",
            CLI_PROMPT, "--max-new-tokens", "3", "--dtype", dtype, "--dump-path",
            out / f"cli_{dtype}", "--token-range", "0,2", "--save-logits", out / f"{dtype}.npy"]
    procs = {name: subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env=child_env())
             for name, cmd in commands.items()}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: rc={proc.returncode}\n{stdout}\n{stderr}"
        (out / f"{name}.log").write_text(stdout + stderr)
    return out


class Scenario:
    def __init__(self, folder):
        self.folder = folder
        self.facts = json.loads((folder / "facts.json").read_text())
        assert "error" not in self.facts, self.facts["error"]
        self.refs = torch.load(folder / "ref.pt")
        dump_dir = self.facts.get("dump_dir")
        self.dump_dir = pathlib.Path(dump_dir) if dump_dir else None

    def files(self, sub=""):
        root = self.dump_dir / sub
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def folders(self, token):
        return sorted(p.name for p in (self.dump_dir / str(token)).iterdir() if p.is_dir())

    def load(self, rel):
        return torch.load(self.dump_dir / rel)


@pytest.fixture(scope="session")
def scenario(runs):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = Scenario(runs / name)
        return cache[name]
    return get


def assert_same(actual, expected, what):
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    assert torch.equal(actual, expected), f"{what}: values differ"


# ---- layout, names, values --------------------------------------------------------------

def test_layout_follows_the_original(scenario):
    s = scenario("full")
    assert s.dump_dir.name == f"cpu_{s.facts['pid']}"
    assert s.dump_dir.parent.parts[-2:] == ("ait_dump", "torch_tensors")
    assert s.dump_dir.parent.parent.parent == s.folder / "dump"
    assert sorted(os.listdir(s.dump_dir)) == ["0", "1", "2", "model_tree.json"]
    for token in range(3):
        ran = {entry["name"] for entry in s.facts["order"][str(token)]}
        assert set(s.folders(token)) == ran  # every module that ran, nothing else
    files = s.files()
    assert not [f for f in files if not f.endswith((".pth", ".json"))], "leftover temporary files"
    assert "0/root.lm_head/input_0.pth" in files and "0/root.lm_head/output.pth" in files
    assert "0/root.model.layers.0/output_0.pth" in files  # a decoder layer returns a tuple
    assert "0/root.model.layers.0.mlp.down_proj/output.pth" in files


def test_saved_tensors_equal_plain_hook_captures(scenario):
    """Positional inputs (input_<i>) and outputs (output, output_<i>, nested) of every module,
    ModelOutput and cache included, equal what ordinary forward hooks saw."""
    s = scenario("full")
    expected = s.refs["files"]
    dumped_tokens = {k: v for k, v in expected.items() if k.split("/")[0] in ("0", "1", "2")}
    assert len(dumped_tokens) > 150
    for rel, tensor in dumped_tokens.items():
        assert (s.dump_dir / rel).is_file(), f"{rel} missing"
        assert_same(s.load(rel), tensor, rel)
    assert not (s.dump_dir / "3").exists()  # token 3 ran but is outside token_range


def test_keyword_arguments_model_output_and_cache_are_saved(scenario):
    s = scenario("full")
    layers = s.facts["layers"]
    after, cache = s.refs["after"], s.refs["cache"]
    attn = "root.model.layers.{}.self_attn"
    for token in range(3):
        t = str(token)
        # LlamaForCausalLM returns CausalLMOutputWithPast: to_tuple() = (logits, cache)
        assert_same(s.load(f"{t}/root/output_0.pth"), after[token], "logits")
        for layer in range(layers):
            for kv in (0, 1):
                assert_same(s.load(f"{t}/root/output_1_{layer}_{kv}.pth"), cache[token][layer][kv],
                            f"token {t} cache layer {layer} {kv}")
        # the attention is called with keyword arguments only
        assert_same(s.load(f"{t}/{attn.format(1)}/input_hidden_states.pth"),
                    s.load(f"{t}/root.model.layers.1.input_layernorm/output.pth"), "hidden_states")
        for i in (0, 1):
            assert_same(s.load(f"{t}/{attn.format(0)}/input_position_embeddings_{i}.pth"),
                        s.load(f"{t}/root.model.rotary_emb/output_{i}.pth"), "position_embeddings")
        names = os.listdir(s.dump_dir / t / attn.format(0))
        assert {"input_attention_mask.pth", "input_position_ids.pth", "input_cache_position.pth",
                "output_0.pth", "output_1.pth"} <= set(names)
        assert all(n.endswith(".pth") for n in names)
    assert (s.dump_dir / "0/root/input_input_ids.pth").is_file()
    # From token 1 on the cache comes in: whole at the root, one layer per attention
    # (its own, before this step's update), not at all in the decoder layers.
    for layer in range(layers):
        for kv in (0, 1):
            assert_same(s.load(f"1/root/input_past_key_values_{layer}_{kv}.pth"), cache[0][layer][kv],
                        "root cache input")
            assert_same(s.load(f"2/{attn.format(layer)}/input_past_key_value_{layer}_{kv}.pth"),
                        cache[1][layer][kv], "attention cache input")
        cache_files = [n for n in os.listdir(s.dump_dir / "1" / attn.format(layer)) if "past_key" in n]
        assert sorted(cache_files) == [f"input_past_key_value_{layer}_0.pth",
                                       f"input_past_key_value_{layer}_1.pth"]
        assert not [n for n in os.listdir(s.dump_dir / f"1/root.model.layers.{layer}") if "past" in n]


def test_files_are_plain_contiguous_cpu_tensors_with_private_modes(scenario):
    s = scenario("full")
    # lm_head's input is a slice view of the hidden states: the file holds only the slice
    t = s.load("0/root.lm_head/input_0.pth")
    assert t.is_contiguous() and t.device.type == "cpu" and type(t) is torch.Tensor
    assert t.storage().size() == t.numel()
    assert stat.S_IMODE(os.stat(s.dump_dir).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(s.dump_dir / "0").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(s.dump_dir / "0" / "root.lm_head").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(s.dump_dir / "0/root.lm_head/output.pth").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(s.dump_dir / "model_tree.json").st_mode) == 0o640


def test_model_tree_json_is_the_named_children_structure(scenario):
    s = scenario("full")
    raw = (s.dump_dir / "model_tree.json").read_text()
    tree = json.loads(raw)
    assert raw == json.dumps(tree)  # json.dump defaults: one line, no trailing newline
    expected = s.facts["expected_tree"]

    def check(node):
        assert list(node) == ["name", "type", "children"]
        want = expected[node["name"]]
        assert node["type"] == want["type"]
        assert [c["name"] for c in node["children"]] == want["children"]
        return 1 + sum(check(c) for c in node["children"])

    assert tree["name"] == "root" and tree["type"] == "LlamaForCausalLM"
    assert check(tree) == len(expected)


def test_module_order_is_the_completion_order_per_token(scenario):
    s = scenario("full")
    for token in range(3):
        order = json.loads((s.dump_dir / str(token) / "module_order.json").read_text())
        assert order == s.facts["order"][str(token)]
        assert order[0] == {"name": "root.model.embed_tokens", "type": "Embedding"}
        assert order[-1] == {"name": "root", "type": "LlamaForCausalLM"}


def test_model_outputs_unchanged_by_the_hooks(scenario):
    s = scenario("full")
    for before, after in zip(s.refs["before"], s.refs["after"]):
        assert torch.equal(before, after)


# ---- selection options ------------------------------------------------------------------

def test_token_range_counts_root_forwards_prefill_first(scenario):
    s = scenario("full")
    assert s.load("0/root/input_input_ids.pth").tolist() == [[1, 17, 42, 99, 200]]
    assert s.load("1/root/input_input_ids.pth").shape == (1, 1)  # one decode step
    assert s.load("2/root/input_past_key_values_0_0.pth").shape[2] == 6  # prompt + 1


def test_api_mode_dumps_torch_functions_under_their_module(scenario):
    s = scenario("api")
    folders = s.folders(0)
    attn = "root.model.layers.0.self_attn"
    for name in (f"{attn}.matmul", f"{attn}.matmul.1", f"{attn}.softmax",
                 "root.model.layers.0.mlp.act_fn.silu", "root.model.norm.rsqrt", attn):
        assert name in folders
    silu = f"0/root.model.layers.1.mlp.act_fn.silu"
    assert_same(s.load(f"{silu}/output.pth"), s.load("0/root.model.layers.1.mlp.act_fn/output.pth"),
                "F.silu output")
    assert_same(s.load(f"{silu}/input_0.pth"), s.load("0/root.model.layers.1.mlp.gate_proj/output.pth"),
                "F.silu input")
    scores = f"0/{attn}.matmul"
    assert torch.allclose(s.load(f"{scores}/output.pth"),
                          torch.matmul(s.load(f"{scores}/input_0.pth"), s.load(f"{scores}/input_1.pth")))
    assert sorted(os.listdir(s.dump_dir / f"0/{attn}.softmax")) == ["input_0.pth", "output.pth"]


def test_api_only_with_api_list(scenario):
    s = scenario("api_only")
    assert s.facts["wrapped"] == [True, True, False]
    assert s.facts["restored"] == [True, True, True]
    assert sorted(os.listdir(s.dump_dir)) == ["1", "model_tree.json"]
    folders = s.folders(1)
    assert folders and all(f.endswith((".matmul", ".matmul.1", ".silu")) for f in folders)
    assert len(folders) == 2 * 3  # per layer: two matmuls in the attention, one silu
    assert not (s.dump_dir / "1" / "module_order.json").exists()


def test_module_list_and_outputs_only(scenario):
    s = scenario("linear_outputs")
    assert sorted(os.listdir(s.dump_dir)) == ["1", "model_tree.json", ]
    assert s.folders(1) == s.facts["linears"]
    for folder in s.folders(1):
        assert os.listdir(s.dump_dir / "1" / folder) == ["output.pth"]


def test_layer_name_glob_and_inputs_only(scenario):
    s = scenario("layer_inputs")
    folders = s.folders(0)
    assert "root.model.layers.1.self_attn" in folders and "root.model.layers.1.mlp.down_proj" in folders
    assert all(f.startswith("root.model.layers.1.") for f in folders)  # not layers.1 itself
    assert all(os.path.basename(f).startswith("input") for f in s.files("0") if f.endswith(".pth"))
    assert s.folders(0) and not [f for f in s.files("0") if "output" in f]


def test_layer_name_leading_wildcard(scenario):
    s = scenario("layer_proj")
    assert s.folders(0) == s.facts["projs"]
    assert len(s.facts["projs"]) == 14


def test_device_id_is_ignored_on_cpu(scenario):
    s = scenario("cpu_device_id")
    assert s.folders(0) == ["root.lm_head"]


def test_device_id_mismatch_dumps_nothing(scenario):
    s = scenario("meta_device_id")
    assert s.dump_dir.name.startswith("meta_")
    assert not (s.folder / "dump").exists()


def test_device_filter_rule(ait_llm_package):
    from ait_llm.dump.torch_dump.dump_hook import device_selected
    assert device_selected("cpu", 5)
    assert device_selected("cuda0", None)
    assert device_selected("cuda1", 1) and device_selected("npu12", 12)
    assert not device_selected("cuda0", 1) and not device_selected("npu1", 11)


def test_dump_last_logits(scenario):
    s = scenario("last_logits")
    assert sorted(os.listdir(s.dump_dir)) == ["0", "2", "model_tree.json"]
    for token in (0, 2):
        assert os.listdir(s.dump_dir / str(token)) == ["root.lm_head"]  # one folder, no order file
        assert os.listdir(s.dump_dir / str(token) / "root.lm_head") == ["output.pth"]
        assert_same(s.load(f"{token}/root.lm_head/output.pth"), s.refs["logits"][token], "logits")


def test_dump_weight_filtered_by_layer_name(scenario):
    s = scenario("weights")
    assert sorted(os.listdir(s.dump_dir)) == ["model_tree.json", "weights"]
    names = sorted(os.listdir(s.dump_dir / "weights"))
    state = s.refs["state"]
    want = sorted(k + ".pth" for k in state if k.startswith("root.model.layers.0"))
    assert names == want and len(names) == 9
    for name in names:
        assert_same(s.load(f"weights/{name}"), state[name[:-4]], name)


# ---- removal, re-registration, singleton, memory -----------------------------------------

def test_hook_removal_restores_everything(scenario):
    s = scenario("removal")
    f = s.facts
    assert f["hooked_modules"] == f["modules"]
    assert f["instance_forwards_left"] == 0 and f["matmul_restored"] and f["removed"]
    assert f["same_handle"]
    assert f["files_after_remove"] == f["files_later"]  # decoding after remove() writes nothing
    assert any(p.startswith("ait_dump/torch_tensors/") and "/1/" in p for p in f["files_after_remove"])
    for before, after in zip(s.refs["reference"], s.refs["after"]):
        assert torch.equal(before, after)


def test_register_again_after_removal_and_reset(scenario):
    f = scenario("removal").facts
    assert f["second_is_new_config"]
    assert [p.split("/", 3)[3] for p in f["second_files"]] == [
        "0/module_order.json", "0/root.lm_head/input_0.pth", "0/root.lm_head/output.pth",
        "model_tree.json"]


def test_dump_config_first_construction_wins(scenario):
    f = scenario("removal").facts
    assert f["singleton_same_object"]
    assert f["singleton_dump_path"].endswith("/first")


def test_memory_stays_flat_over_50_tokens(scenario):
    s = scenario("memory")
    at10, at50 = s.facts["samples"]["10"], s.facts["samples"]["50"]
    assert at50["cache_len"] == at10["cache_len"] + 40
    # one tensor kept per token would add 40; the KV cache is replaced, not accumulated
    assert at50["tensors"] - at10["tensors"] <= 4, (at10, at50)
    # the cache itself grows by ~40 KB here; RSS may move a little with the allocator
    assert at50["rss"] - at10["rss"] < 16 << 20, (at10, at50)
    assert len(os.listdir(s.dump_dir)) == 51  # 50 tokens + model_tree.json


# ---- the golden's CLI -------------------------------------------------------------------

def test_cli_dump_fp32_and_bf16_have_the_same_files(runs):
    dumps = {}
    for dtype in ("fp32", "bf16"):
        (dump_dir,) = (runs / f"cli_{dtype}" / "ait_dump" / "torch_tensors").iterdir()
        dumps[dtype] = dump_dir
    files = {d: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
             for d, root in dumps.items()}
    assert files["fp32"] == files["bf16"]
    assert {f.split("/")[0] for f in files["fp32"]} == {"0", "2", "model_tree.json"}
    assert torch.load(dumps["fp32"] / "2/root.lm_head/output.pth").dtype == torch.float32
    assert torch.load(dumps["bf16"] / "2/root.lm_head/output.pth").dtype == torch.bfloat16
    assert "torch dump in" in (runs / "cli_fp32.log").read_text()


# ---- arguments --------------------------------------------------------------------------

BAD_CONFIGS = [
    (dict(tensor_part=3), ValueError, "tensor_part"),
    (dict(tensor_part=True), ValueError, "tensor_part"),
    (dict(token_range=5), TypeError, "token_range"),
    (dict(token_range=[0, -1]), ValueError, "token_range"),
    (dict(token_range=["0"]), ValueError, "token_range"),
    (dict(module_list=[len]), TypeError, "module_list"),
    (dict(module_list="Linear"), TypeError, "module_list"),
    (dict(api_list=[1]), TypeError, "api_list"),
    (dict(mode="layer"), ValueError, "mode"),
    (dict(mode=[]), TypeError, "mode"),
    (dict(device_id=-1), ValueError, "device_id"),
    (dict(device_id="0"), TypeError, "device_id"),
    (dict(api_list=[lambda x: x]), ValueError, "api_list: cannot hook"),
    (dict(dump_last_logits=1), TypeError, "dump_last_logits"),
    (dict(dump_weight="yes"), TypeError, "dump_weight"),
    (dict(layer_name=3), TypeError, "layer_name"),
    (dict(dump_path="/tmp/with space"), ValueError, "dump_path"),
    (dict(dump_path=""), ValueError, "dump_path"),
    (dict(dump_path=7), TypeError, "dump_path"),
    (dict(dump_path="/etc/passwd"), ValueError, "not a folder"),
]


@pytest.mark.parametrize("kwargs,error,words", BAD_CONFIGS, ids=[
    "-".join(f"{k}={v!r}" for k, v in c[0].items()) for c in BAD_CONFIGS])
def test_bad_dump_config_arguments(ait_llm_package, kwargs, error, words):
    config_cls = ait_llm_package.DumpConfig
    config_cls.reset()
    with pytest.raises(error, match=words):
        config_cls(**kwargs)
    assert config_cls._instance is None  # a failed construction is not the singleton


def test_bad_register_hook_arguments(ait_llm_package, tmp_path):
    ait = ait_llm_package
    ait.DumpConfig.reset()
    config = ait.DumpConfig(dump_path=str(tmp_path))
    try:
        with pytest.raises(TypeError, match="torch.nn.Module"):
            ait.register_hook(object(), config)
        with pytest.raises(TypeError, match="DumpConfig"):
            ait.register_hook(torch.nn.Linear(2, 2), {"dump_path": "."})
        with pytest.raises(ValueError, match="hook_type"):
            ait.register_hook(torch.nn.Linear(2, 2), config, hook_type="overflow")
    finally:
        ait.DumpConfig.reset()
    assert not os.listdir(tmp_path)


def test_import_needs_neither_torch_nor_the_extension():
    code = ("import sys, ait_llm; assert 'torch' not in sys.modules; "
            "assert {'DumpConfig', 'register_hook', 'remove_hook', 'atb_json_to_onnx'} <= set(dir(ait_llm)); "
            "from ait_llm import DumpConfig; assert 'torch' in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(),
                       timeout=120)
    assert r.returncode == 0, r.stderr


def test_file_naming_rules(ait_llm_package):
    from ait_llm.dump.torch_dump.tensor_files import flatten_inputs, flatten_outputs
    t = torch.zeros(1)
    names = [n for n, _ in flatten_inputs(
        (t, None, (t, [t, 3])), {"mask": t, "pair": (t, t), "flag": True, "a/b": t, "d": {"k": t, "../x": t}})]
    assert names == ["input_0", "input_2_0", "input_2_1_0", "input_mask", "input_pair_0", "input_pair_1",
                     "input_d_k"]
    assert [n for n, _ in flatten_outputs(t)] == ["output"]
    assert [n for n, _ in flatten_outputs((t,))] == ["output_0"]
    loop = []
    loop.append(loop)
    assert flatten_outputs(loop) == []  # self-containing values end at the depth limit


def test_remove_inside_a_forward_stops_writing(ait_llm_package, tmp_path):
    ait = ait_llm_package
    ait.DumpConfig.reset()
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())
    try:
        handle = ait.register_hook(model, ait.DumpConfig(dump_path=str(tmp_path)))
        model[1].register_forward_hook(lambda *args: handle.remove())
        model(torch.ones(1, 2))
    finally:
        ait.remove_hook()
        ait.DumpConfig.reset()
    assert handle.removed and "forward" not in vars(model)
    token = pathlib.Path(handle.dump_dir) / "0"
    assert sorted(p.name for p in token.iterdir()) == ["root", "root.0", "root.1"]
    assert os.listdir(token / "root") == ["input_0.pth"]  # the root never finished hooked
