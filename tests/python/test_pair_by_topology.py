"""Topology pairing on real dumps: the reference engine dumped by `ait llm dump` (fp32 and
w8a16) and the Hugging Face golden dumped by ait_llm.register_hook (twice). The pairing
itself is checked by the DISABLED_RealDumps.* cases of the C++ unit tests (tests/unit/
pair_by_topology_test.cc), which read the dumps named by AIT_TOPO_* and score every paired
tensor: fp32 engine vs fp32 Hugging Face must agree pair by pair (cosine >= 0.9999), which
only holds if every operation met its true counterpart.

Run with the project venv: AIT_BUILD_DIR=$PWD/build .venv/bin/python -m pytest tests/python/test_pair_by_topology.py
"""
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import REPO, build_program, run_checked

PROMPT = "1,17,42,99"
STEPS = 3  # forward steps: the prefill and two decode steps

TORCH_DUMP = """
import sys
import torch
import hf_llama
from ait_llm import DumpConfig, register_hook

model = hf_llama.load_model(sys.argv[1])
handle = register_hook(model, DumpConfig(dump_path=sys.argv[2], token_range=list(range({steps}))))
ids, past = torch.tensor([[{prompt}]]), None
with torch.no_grad():
    for _ in range({steps}):
        out = model(input_ids=ids, past_key_values=past, use_cache=True)
        past, ids = out.past_key_values, out.logits[:, -1:].argmax(-1)
handle.remove()
""".format(steps=STEPS, prompt=PROMPT)


def torch_dump(ckpt, out, script=TORCH_DUMP, *extra):
    """Runs `script` (default: the Hugging Face model dumped by register_hook) with the checkpoint,
    the output folder and `extra` as its arguments."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'python'}:{REPO / 'python' / 'golden'}", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", script, str(ckpt), str(out), *map(str, extra)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def engine_dump(ait, engine, ckpt, out, *extra):
    cmd = f"{engine} run --model {ckpt} --input-ids {PROMPT} --max-new-tokens {STEPS} {' '.join(extra)}"
    run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "model", "layer", "tensor", "-er", f"0,{STEPS - 1}",
                "-o", out, timeout=300)
    return out


@pytest.fixture(scope="module")
def dumps(ait, ait_engine, tiny, tmp_path_factory):
    base = tmp_path_factory.mktemp("topo")
    return {
        "AIT_TOPO_ENGINE": engine_dump(ait, ait_engine, tiny, base / "engine"),
        "AIT_TOPO_QUANT": engine_dump(ait, ait_engine, tiny, base / "quant", "--quant", "w8a16"),
        "AIT_TOPO_TORCH": torch_dump(tiny, base / "torch"),
        "AIT_TOPO_TORCH2": torch_dump(tiny, base / "torch2"),
    }


def run_gtest(case, env):
    tests = build_program("ait_unit_tests")
    r = subprocess.run([tests, "--gtest_also_run_disabled_tests", f"--gtest_filter=DISABLED_RealDumps.{case}"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, **{k: str(v) for k, v in env.items()}})
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "[  PASSED  ] 1 test." in r.stdout and "SKIPPED" not in r.stdout, r.stdout[-3000:]


def test_dumps_have_the_layouts_the_pairing_reads(dumps, layers):
    torch_proc = next((dumps["AIT_TOPO_TORCH"] / "ait_dump" / "torch_tensors").iterdir())
    assert (torch_proc / "model_tree.json").is_file()
    assert sorted(p.name for p in torch_proc.iterdir() if p.is_dir()) == [str(t) for t in range(STEPS)]
    assert (torch_proc / "1" / "module_order.json").is_file()
    engine = dumps["AIT_TOPO_ENGINE"] / "ait_dump"
    assert len(list((engine / "model").glob("*/*.json"))) == 1
    proc = next((engine / "tensors").iterdir())
    assert sorted(p.name for p in proc.iterdir()) == [str(t) for t in range(STEPS)]
    assert len(list((proc / "0").glob("*_LlamaLayer"))) == layers


def test_engine_against_hugging_face_pairs_every_counterpart(dumps, layers):
    run_gtest("EngineAgainstHuggingFacePairsEveryModuleWithACounterpart",
              {**dumps, "AIT_TOPO_LAYERS": layers})


def test_float_against_quantized_engine(dumps, layers):
    run_gtest("FloatAgainstQuantizedEngine", {**dumps, "AIT_TOPO_LAYERS": layers})


def test_torch_against_torch(dumps):
    run_gtest("TorchAgainstTorch", dumps)
