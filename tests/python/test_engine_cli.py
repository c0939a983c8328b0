"""`ait-engine`, the reference engine's runner: init writes a checkpoint, run greedy-decodes
and saves logits [steps, batch, vocab], op runs one operation on tensor files (checked
against numpy), and bad arguments exit 2 with a clear message."""
import json

import numpy as np
import pytest

from conftest import run_checked as run


@pytest.fixture(scope="session")
def engine(ait_engine):
    return ait_engine


@pytest.fixture(scope="session")
def tiny(engine, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    run(engine, "init", "--preset", "tiny", "--seed", 3, "--out", out)
    return out


def test_init_writes_hf_layout(tiny):
    config = json.loads((tiny / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["torch_dtype"] == "float32"
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (64, 2, 256)
    assert (tiny / "model.safetensors").stat().st_size > 4 * 64 * 256


def test_init_is_deterministic(engine, tiny, tmp_path):
    run(engine, "init", "--preset", "tiny", "--seed", 3, "--out", tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == (tiny / "model.safetensors").read_bytes()


def test_run_prints_ids_and_saves_logits(engine, tiny, tmp_path):
    logits = tmp_path / "logits.npy"
    r = run(engine, "run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", 4, "--batch", 2,
            "--save-logits", logits)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]
    ids = [int(x) for x in lines[0].split(",")]
    assert len(ids) == 4 and all(0 <= i < 256 for i in ids)
    a = np.load(logits)
    assert a.dtype == np.float32 and a.shape == (4, 2, 256)
    # Greedy: each step's argmax is the id generated there.
    assert list(a[:, 0].argmax(-1)) == ids
    assert "logits" in r.stderr and str(logits) in r.stderr


def test_run_dtypes_and_quant_differ(engine, tiny, tmp_path):
    base = tmp_path / "fp32.npy"
    run(engine, "run", "--model", tiny, "--input-ids", "7", "--max-new-tokens", 1, "--save-logits", base)
    for extra in (["--dtype", "bf16"], ["--quant", "w8a8"], ["--threads", "1", "--device-id", "3"]):
        out = tmp_path / "x.npy"
        run(engine, "run", "--model", tiny, "--input-ids", "7", "--max-new-tokens", 1, "--save-logits", out, *extra)
        a, b = np.load(base)[0, 0], np.load(out)[0, 0]
        cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        assert cos > 0.99, extra
        if "--threads" in extra:
            np.testing.assert_allclose(a, b, atol=1e-6)
        else:
            assert not np.array_equal(a, b), extra


def test_op_linear_matches_numpy(engine, tmp_path, tensor_json):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 16)).astype(np.float32)
    w = rng.standard_normal((8, 16)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    for name, arr in (("x", x), ("w", w), ("b", b)):
        np.save(tmp_path / f"{name}.npy", arr)
    out = tmp_path / "out"
    run(engine, "op", "--type", "LinearOperation", "--param", '{"transposeB": true, "hasBias": true}',
        "--in", tmp_path / "x.npy", "--in", tmp_path / "w.npy", "--in", tmp_path / "b.npy", "--out-dir", out)
    got = tensor_json(out / "outtensor0.bin")[""]
    assert got["dtype"] == "float32" and got["shape"] == [3, 8]
    np.testing.assert_allclose(np.array(got["values"]).reshape(3, 8), x @ w.T + b, rtol=1e-5, atol=1e-5)


def test_op_rmsnorm_matches_numpy_with_param_file(engine, tmp_path, tensor_json):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 32)).astype(np.float32)
    g = rng.standard_normal(32).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "g.npy", g)
    param = tmp_path / "op_param.json"
    param.write_text('{"layerType": 1, "normParam": {"epsilon": 1e-3}}\n')
    run(engine, "op", "--type", "RmsNormOperation", "--param", param, "--in", tmp_path / "x.npy",
        "--in", tmp_path / "g.npy", "--out-dir", tmp_path / "out")
    got = np.array(tensor_json(tmp_path / "out" / "outtensor0.bin")[""]["values"]).reshape(4, 32)
    expected = x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + 1e-3) * g
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (["run", "--model", "{tiny}", "--input-ids", "1,x"], "--input-ids: 'x' is not a non-negative integer"),
    (["run", "--model", "{tiny}", "--input-ids", "1,999"], "token id 999 is out of range for vocab_size 256"),
    (["run", "--model", "{tiny}", "--input-ids", "1", "--dtype", "fp8"], "--dtype: 'fp8' is not one of"),
    (["run", "--model", "{tiny}", "--input-ids", "1", "--quant", "int4"], "--quant"),
    (["run", "--model", "{tiny}", "--input-ids", "1", "--max-new-tokens", "0"], "--max-new-tokens"),
    (["run", "--model", "{tiny}", "--input-ids", "1", "--max-new-tokens", "500"], "exceeds max_position_embeddings"),
    (["run", "--model", "{tiny}", "--input-ids", "1", "--save-logits", "l.txt"], "--save-logits"),
    (["run", "--model", "/nonexistent", "--input-ids", "1"], "--model"),
    (["run", "--input-ids", "1"], "--model is required"),
    (["init", "--preset", "huge", "--out", "x"], "--preset"),
    (["op", "--type", "NoSuchOperation", "--out-dir", "x"], "unknown operation type 'NoSuchOperation'"),
    (["op", "--type", "LinearOperation", "--param", "{bad", "--out-dir", "x"], "--param: not a JSON object"),
    ([], "A subcommand is required"),
])
def test_bad_arguments_exit_2(engine, tiny, args, message):
    r = run(engine, *[a.replace("{tiny}", str(tiny)) for a in args], rc=2)
    assert message in r.stderr, r.stderr


def test_runtime_errors_exit_1(engine, tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 64}')
    r = run(engine, "run", "--model", tmp_path, "--input-ids", "1", rc=1)
    assert "config.json: key 'intermediate_size' is missing" in r.stderr
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    r = run(engine, "op", "--type", "LinearOperation", "--in", tmp_path / "x.npy", "--out-dir", tmp_path / "o", rc=1)
    assert "LinearOperation: expected 3 input tensors, found 1" in r.stderr
