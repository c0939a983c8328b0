"""python/ait_llm/dump/ggml_dump/gguf_convert.py: a Hugging Face Llama -> GGUF, checked by
running the file with the real llama.cpp (llama-cpp-python's low-level API) against transformers
(python/golden/hf_llama.py) on the same token ids. One tiny checkpoint (seed 7) per module,
converted once to each output type; each file is run once.

- F32: llama.cpp's logits equal transformers' fp32 logits to float32 rounding, argmax everywhere;
  the file holds the checkpoint's weights bit for bit (q/k permuted for llama.cpp's rope).
- F16, Q8_0, Q4_0: close but not identical, worse in that order; the Q4_0 distance is the
  weights' rounding (transformers run with the file's dequantized weights agrees with llama.cpp);
  tensor types as asked, 172-wide rows (ffn_down) fall back to F16, norms stay F32.
- llama.cpp loads the stand-in vocabulary with no error and no warning about it.
- errors: one `error: ...` line and exit status 2, and no file left behind, even when the disk
  fills in the middle of the write.

Run with the project venv:
  AIT_BUILD_DIR=$PWD/build PYTHONPATH=$PWD/python .venv/bin/python -m pytest tests/python/test_gguf_convert.py
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import BUILD, REPO

sys.path.insert(0, str(REPO / "python" / "golden"))
sys.path.insert(0, str(BUILD / "python"))  # the package as built (tests/python/conftest.py: ait_llm_package)
import hf_llama  # noqa: E402

import gguf  # noqa: E402
import torch  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

from ait_llm.dump.ggml_dump import llama_run  # noqa: E402
from ait_llm.dump.ggml_dump.gguf_convert import convert_hf_to_gguf, main  # noqa: E402
from ait_llm.dump.ggml_dump.llama_run import llama_cpp_logits  # noqa: E402

SEED = 7
IDS = [1, 17, 42, 99, 200, 5, 7, 9]
OUTTYPES = ("f32", "f16", "q8_0", "q4_0")
HEADS, KV_HEADS, LAYERS, VOCAB = 4, 2, 2, 256
FALLBACKS = ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"]  # 172 inputs: not a multiple of 32

# Distances of llama.cpp (CPU, 2 threads, F32 KV cache, no flash attention) from transformers'
# fp32 eager logits on IDS, measured on an x86-64 AVX-512 CPU (identical with 1, 2, 4, 8 threads):
#   f32  max |diff| 2.15e-06   min cosine 0.9999999   argmax 8/8
#   f16  max |diff| 3.61e-03   min cosine 0.9999992   argmax 8/8
#   q8_0 max |diff| 6.27e-02   min cosine 0.99961     argmax 8/8 (smallest top-2 gap in HF: 0.06)
#   q4_0 max |diff| 1.26       min cosine 0.905       argmax 5/8
# The bounds are a few times the measurements: room for another CPU's SIMD sums, none for a
# wrong permutation (F32 without the q/k permute: 1.9) or a wrong quantization.
F32_ATOL = 1e-5
BOUNDS = {  # outtype: (max |diff| below, min cosine above)
    "f16": (1e-2, 0.99999),
    "q8_0": (0.15, 0.999),
    "q4_0": (2.5, 0.85),
}
# transformers with the file's own (dequantized) weights vs llama.cpp on that file, measured:
# f16 2.8e-03, q8_0 5.4e-02, q4_0 5.0e-02 (llama.cpp also rounds activations: to F16 for F16
# weights, to Q8_0 blocks for Q8_0/Q4_0 weights).
SAME_WEIGHTS_ATOL = 0.1


def cosines(a, b):
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def unpermute(w, n_head):
    """Inverse of LlamaModel.permute (llama.cpp's convert_hf_to_gguf.py)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def field(reader, key):
    return reader.fields[key].contents()


def read_tensors(path):
    """{gguf name: (ggml type, float32 array in numpy order)} of a GGUF file, dequantized."""
    out = {}
    for t in gguf.GGUFReader(str(path)).tensors:
        values = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type)
        out[t.name] = (t.tensor_type, values.reshape([int(n) for n in reversed(t.shape)]).astype(np.float32))
    return out


def hf_state_dict(tensors):
    """Hugging Face names and layout for the tensors of one of our GGUF files."""
    w = {name: values for name, (_, values) in tensors.items()}
    sd = {"model.embed_tokens.weight": w["token_embd.weight"], "model.norm.weight": w["output_norm.weight"],
          "lm_head.weight": w["output.weight"]}
    for i in range(LAYERS):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        sd.update({
            p + "input_layernorm.weight": w[b + "attn_norm.weight"],
            p + "self_attn.q_proj.weight": unpermute(w[b + "attn_q.weight"], HEADS),
            p + "self_attn.k_proj.weight": unpermute(w[b + "attn_k.weight"], KV_HEADS),
            p + "self_attn.v_proj.weight": w[b + "attn_v.weight"],
            p + "self_attn.o_proj.weight": w[b + "attn_output.weight"],
            p + "post_attention_layernorm.weight": w[b + "ffn_norm.weight"],
            p + "mlp.gate_proj.weight": w[b + "ffn_gate.weight"],
            p + "mlp.up_proj.weight": w[b + "ffn_up.weight"],
            p + "mlp.down_proj.weight": w[b + "ffn_down.weight"],
        })
    return sd


# ---------------------------------------------------------------------------------------------
# module fixtures: one checkpoint, one conversion and one llama.cpp run per output type
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return hf_llama.init_checkpoint(tmp_path_factory.mktemp("hf-tiny"), SEED)


@pytest.fixture(scope="module")
def hf_logits(checkpoint):
    return hf_llama.score_logits(hf_llama.load_model(checkpoint, "fp32"), IDS)


@pytest.fixture(scope="module")
def converted(checkpoint, tmp_path_factory):
    """{outtype: summary} of the four conversions."""
    out = tmp_path_factory.mktemp("gguf")
    return {t: convert_hf_to_gguf(checkpoint, out / f"tiny-{t}.gguf", outtype=t) for t in OUTTYPES}


@pytest.fixture(scope="module")
def llama_runs(converted):
    """{outtype: (logits [len(IDS), vocab], llama.cpp's log lines)}."""
    runs = {}
    for t, summary in converted.items():
        log = []
        runs[t] = (llama_cpp_logits(summary["path"], IDS, n_threads=2, log=log), log)
    return runs


# ---------------------------------------------------------------------------------------------
# the files
# ---------------------------------------------------------------------------------------------

def test_summary_and_tensor_types_follow_the_outtype(converted):
    expected = {  # outtype: (types, fallbacks, general.file_type)
        "f32": ({"F32": 21}, [], gguf.LlamaFileType.ALL_F32),
        "f16": ({"F16": 16, "F32": 5}, [], gguf.LlamaFileType.MOSTLY_F16),
        "q8_0": ({"Q8_0": 14, "F16": 2, "F32": 5}, FALLBACKS, gguf.LlamaFileType.MOSTLY_Q8_0),
        "q4_0": ({"Q4_0": 14, "F16": 2, "F32": 5}, FALLBACKS, gguf.LlamaFileType.MOSTLY_Q4_0),
    }
    for t, (types, fallbacks, file_type) in expected.items():
        s = converted[t]
        assert (s["outtype"], s["tensors"], s["types"], s["fallbacks"]) == (t, 21, types, fallbacks), t
        reader = gguf.GGUFReader(s["path"])
        assert field(reader, "general.file_type") == file_type
        found = {}
        for tensor in reader.tensors:
            found[tensor.tensor_type.name] = found.get(tensor.tensor_type.name, 0) + 1
        assert found == types, t
    q4 = {t.name: t.tensor_type for t in gguf.GGUFReader(converted["q4_0"]["path"]).tensors}
    assert q4["blk.0.attn_q.weight"] == q4["token_embd.weight"] == q4["output.weight"] == Q.Q4_0
    assert q4["blk.0.ffn_gate.weight"] == q4["blk.1.attn_output.weight"] == Q.Q4_0
    assert q4["blk.0.ffn_down.weight"] == q4["blk.1.ffn_down.weight"] == Q.F16
    assert q4["blk.0.attn_norm.weight"] == q4["blk.1.ffn_norm.weight"] == q4["output_norm.weight"] == Q.F32
    assert not [p for p in os.listdir(os.path.dirname(converted["f32"]["path"])) if p.endswith(".tmp")]


def test_metadata_and_vocabulary(converted):
    r = gguf.GGUFReader(converted["f32"]["path"])
    assert field(r, "general.architecture") == "llama"
    assert {k: field(r, f"llama.{k}") for k in (
        "context_length", "embedding_length", "block_count", "feed_forward_length", "attention.head_count",
        "attention.head_count_kv", "rope.dimension_count", "vocab_size")} == {
        "context_length": 128, "embedding_length": 64, "block_count": 2, "feed_forward_length": 172,
        "attention.head_count": 4, "attention.head_count_kv": 2, "rope.dimension_count": 16, "vocab_size": 256}
    assert field(r, "llama.attention.layer_norm_rms_epsilon") == pytest.approx(1e-6)
    assert field(r, "llama.rope.freq_base") == 10000.0
    assert field(r, "tokenizer.ggml.model") == "llama"
    tokens, types = field(r, "tokenizer.ggml.tokens"), field(r, "tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == len(field(r, "tokenizer.ggml.scores")) == VOCAB
    assert tokens[:5] == ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>"] and tokens[-1] == "<0xFC>"
    assert types[:4] == [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL, gguf.TokenType.BYTE]
    assert set(types[3:]) == {gguf.TokenType.BYTE}
    assert [field(r, f"tokenizer.ggml.{k}_token_id") for k in ("unknown", "bos", "eos")] == [0, 1, 2]


def test_f32_file_holds_the_checkpoint_weights_with_q_and_k_permuted(checkpoint, converted):
    source = load_file(str(checkpoint / "model.safetensors"))
    tensors = read_tensors(converted["f32"]["path"])
    assert len(tensors) == len(source) == 21
    for name, values in hf_state_dict(tensors).items():
        assert np.array_equal(values, source[name]), name
    q = tensors["blk.0.attn_q.weight"][1]
    assert not np.array_equal(q, source["model.layers.0.self_attn.q_proj.weight"])  # the permute happened
    # head 0's rows 0..7 pair with 8..15 in HF's rotate_half; llama.cpp wants them adjacent
    assert np.array_equal(q[1], source["model.layers.0.self_attn.q_proj.weight"][8])


# ---------------------------------------------------------------------------------------------
# llama.cpp against transformers
# ---------------------------------------------------------------------------------------------

def test_llama_cpp_loads_the_vocabulary_without_errors_or_warnings(llama_runs):
    for t, (logits, log) in llama_runs.items():
        assert logits.shape == (len(IDS), VOCAB), t
        text = "".join(line for _, line in log)
        assert "vocab type            = SPM" in text and "n_vocab               = 256" in text, t
        assert "EOS token             = 2 '</s>'" in text and "LF token              = 13 '<0x0A>'" in text
        level, problems = None, []
        for lv, line in log:
            level = level if lv == llama_run.LOG_CONT else lv
            if level in (llama_run.LOG_WARN, llama_run.LOG_ERROR) and line.strip():
                problems.append(line.strip())
        # the one warning is about our context (llama.cpp pads n_ctx to 256 > the config's 128)
        assert [p for p in problems if "n_ctx_train" not in p] == [], t


def test_f32_logits_match_transformers(llama_runs, hf_logits):
    logits, _ = llama_runs["f32"]
    diff = float(np.abs(logits - hf_logits).max())
    assert diff < F32_ATOL, f"max |llama.cpp - transformers| = {diff:.3g} (measured 2.15e-06)"
    assert np.array_equal(logits.argmax(axis=1), hf_logits.argmax(axis=1))


def test_lower_precision_logits_are_close_but_not_identical_and_ordered(llama_runs, hf_logits):
    diffs, mean_cos = {}, {}
    for t, (atol, min_cos) in BOUNDS.items():
        logits, _ = llama_runs[t]
        diffs[t] = float(np.abs(logits - hf_logits).max())
        cos = cosines(logits, hf_logits)
        mean_cos[t] = float(cos.mean())
        assert 0 < diffs[t] < atol, f"{t}: max |diff| {diffs[t]:.3g}"
        assert cos.min() > min_cos, f"{t}: min cosine {cos.min():.6f}"
    assert diffs["f16"] < diffs["q8_0"] < diffs["q4_0"], diffs
    assert mean_cos["f16"] > mean_cos["q8_0"] > mean_cos["q4_0"], mean_cos
    assert np.array_equal(llama_runs["f16"][0].argmax(axis=1), hf_logits.argmax(axis=1))


def test_the_distance_is_the_rounding_of_the_weights(checkpoint, converted, llama_runs, hf_logits):
    """transformers run with the weights read back from each file (dequantized, q/k un-permuted)
    lands next to llama.cpp; for Q4_0 twenty times nearer than to the original fp32 model."""
    for t in ("f16", "q8_0", "q4_0"):
        model = hf_llama.load_model(checkpoint, "fp32")
        sd = hf_state_dict(read_tensors(converted[t]["path"]))
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
        same_weights = hf_llama.score_logits(model, IDS)
        logits, _ = llama_runs[t]
        near = float(np.abs(logits - same_weights).max())
        assert near < SAME_WEIGHTS_ATOL, f"{t}: {near:.3g}"
        if t == "q4_0":
            assert near * 10 < np.abs(logits - hf_logits).max()


# ---------------------------------------------------------------------------------------------
# command line and errors
# ---------------------------------------------------------------------------------------------

def test_cli_writes_the_file_and_names_the_fallbacks(checkpoint, tmp_path, capsys):
    out = tmp_path / "cli.gguf"
    assert main(["--model", str(checkpoint), "--out", str(out), "--outtype", "q4_0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"wrote {out}: 21 tensors")
    assert lines[1].startswith("2 tensor(s) written as F16 instead of q4_0") and FALLBACKS[0] in lines[1]
    assert sorted(os.listdir(tmp_path)) == ["cli.gguf"]
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--outtype" in text and "q4_0" in text and "multiple of 32" in text


def broken(checkpoint, tmp_path, how):
    """A copy of the checkpoint broken in one way; returns (folder, expected message part)."""
    d = tmp_path / "model"
    shutil.copytree(checkpoint, d)
    if how == "no-config":
        (d / "config.json").unlink()
        return d, "config.json: missing"
    if how == "no-weights":
        (d / "model.safetensors").unlink()
        return d, "model.safetensors: missing"
    if how == "gpt2":
        config = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
        return d, "model_type is 'gpt2', only 'llama' is supported"
    weights = load_file(str(d / "model.safetensors"))
    if how == "missing-weight":
        del weights["model.norm.weight"]
        message = "weight 'model.norm.weight' is missing"
    else:  # misshapen
        name = "model.layers.1.self_attn.k_proj.weight"
        weights[name] = np.ascontiguousarray(weights[name].T)
        message = f"weight '{name}' has shape [64, 32], expected [32, 64]"
    save_file(weights, str(d / "model.safetensors"))
    return d, message


@pytest.mark.parametrize("how,error", [("no-config", FileNotFoundError), ("no-weights", FileNotFoundError),
                                       ("gpt2", ValueError), ("missing-weight", ValueError),
                                       ("misshapen", ValueError)])
def test_a_bad_checkpoint_is_one_error_line_and_no_file(checkpoint, tmp_path, capsys, how, error):
    model, message = broken(checkpoint, tmp_path, how)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        convert_hf_to_gguf(model, out / "m.gguf", "q8_0")
    assert main(["--model", str(model), "--out", str(out / "m.gguf")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert captured.err.startswith("error: ") and message in captured.err and "Traceback" not in captured.err
    assert os.listdir(out) == []


def test_an_unknown_outtype_is_one_error_line(checkpoint, tmp_path, capsys):
    assert main(["--model", str(checkpoint), "--out", str(tmp_path / "m.gguf"), "--outtype", "q5_k"]) == 2
    captured = capsys.readouterr()
    assert captured.err == "error: unknown outtype 'q5_k' (have: f32, f16, q8_0, q4_0)\n"
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="unknown outtype 'bf16'"):
        convert_hf_to_gguf(checkpoint, tmp_path / "m.gguf", "bf16")


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(checkpoint, tmp_path):
    """A real failure in the middle of the write: the converter runs with a 100 kB file size
    limit (RLIMIT_FSIZE; the F32 file is ~500 kB), so writing fails with EFBIG."""
    out = tmp_path / "m.gguf"
    out.write_bytes(b"the previous file")
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
            "from ait_llm.dump.ggml_dump.gguf_convert import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "--model", str(checkpoint), "--out", str(out)],
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO / "python")})
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: {out}: writing failed, left unchanged: ") and r.stderr.count("\n") == 1
    assert out.read_bytes() == b"the previous file"
    assert os.listdir(tmp_path) == ["m.gguf"]
