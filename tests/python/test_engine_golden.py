"""The reference engine's correctness oracle: `ait-engine run` against Hugging Face
transformers (python/golden/hf_llama.py), the PyTorch golden our users have.

Both checkpoint writers are covered: transformers' save_pretrained (`hf_llama.py init`) and
`ait-engine init`. fp32 must match HF fp32 to 1e-4 with the same greedy ids; fp16, bf16,
w8a16 and w8a8 must stay close (cosine > 0.99 per step against HF fp32 teacher-forced on the
engine's own tokens) without being bit-identical to the engine's fp32 run.

The golden itself is checked first against a float64 numpy re-implementation of Llama
(NumpyLlama below), which also localises a disagreement when the engine test fails.

Run with the project venv (transformers lives there): .venv/bin/python -m pytest tests/python
"""
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HF_LLAMA = REPO / "python" / "golden" / "hf_llama.py"
sys.path.insert(0, str(HF_LLAMA.parent))
try:
    import torch
    from safetensors.torch import load_file
    import hf_llama
except ImportError as e:  # fail loudly: a skipped oracle is a silent hole
    raise ImportError(f"{e}: run the tests with the project venv (.venv/bin/python -m pytest), "
                      "made by scripts/install-deps.sh") from e

SEED = 7
PROMPT = [1, 17, 42, 99, 200]
STEPS = 6              # forward steps = new tokens (step 0 is the prefill)
FP32_ATOL = 1e-4       # engine fp32 vs HF fp32, max abs over all logits of a step
GOLDEN_ATOL = 2e-5     # HF fp32 vs float64 numpy reference
COSINE_MIN = 0.99
LOW_PRECISION = {
    "fp16": ["--dtype", "fp16"],
    "bf16": ["--dtype", "bf16"],
    "w8a16": ["--quant", "w8a16"],
    "w8a8": ["--quant", "w8a8"],
}


# ----------------------------------------------------------------------------------------
# float64 numpy Llama (HF semantics: RMSNorm, rotate-half RoPE, GQA, SwiGLU MLP)

class NumpyLlama:
    def __init__(self, model_dir):
        model_dir = pathlib.Path(model_dir)
        self.cfg = json.loads((model_dir / "config.json").read_text())
        self.w = {k: v.double().numpy()
                  for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        c = self.cfg
        assert c.get("rope_scaling") is None, "NumpyLlama: rope_scaling not implemented"
        self.layers = c["num_hidden_layers"]
        self.heads = c["num_attention_heads"]
        self.kv_heads = c.get("num_key_value_heads", self.heads)
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.heads
        self.eps = c["rms_norm_eps"]
        self.theta = c.get("rope_theta", 10000.0)
        self.lm_head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])

    def rms_norm(self, x, gamma):
        return gamma * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps))

    def rope(self, x, positions):  # x [T, heads, hd]
        hd = self.head_dim
        inv_freq = 1.0 / (self.theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        freqs = np.outer(positions, inv_freq)
        emb = np.concatenate([freqs, freqs], axis=-1)[:, None, :]
        rotated = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], axis=-1)
        return x * np.cos(emb) + rotated * np.sin(emb)

    def logits(self, ids, skip_layers=False, unit_norms=False):
        """float64 logits [len(ids), vocab] of one causal forward over ids."""
        w, T, hd = self.w, len(ids), self.head_dim
        norm = (lambda name: 1.0) if unit_norms else (lambda name: w[name])
        x = w["model.embed_tokens.weight"][np.asarray(ids)]
        pos = np.arange(T, dtype=np.float64)
        causal = np.triu(np.full((T, T), -np.inf), k=1)
        for i in range(0 if skip_layers else self.layers):
            p = f"model.layers.{i}."
            h = self.rms_norm(x, norm(p + "input_layernorm.weight"))
            q = (h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, self.heads, hd)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, self.kv_heads, hd)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, self.kv_heads, hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            group = self.heads // self.kv_heads
            out = np.empty((T, self.heads, hd))
            for hh in range(self.heads):
                s = q[:, hh] @ k[:, hh // group].T / np.sqrt(hd) + causal
                s = np.exp(s - s.max(axis=-1, keepdims=True))
                out[:, hh] = (s / s.sum(axis=-1, keepdims=True)) @ v[:, hh // group]
            x = x + out.reshape(T, -1) @ w[p + "self_attn.o_proj.weight"].T
            h = self.rms_norm(x, norm(p + "post_attention_layernorm.weight"))
            g = h @ w[p + "mlp.gate_proj.weight"].T
            u = h @ w[p + "mlp.up_proj.weight"].T
            x = x + (g / (1.0 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
        return self.rms_norm(x, norm("model.norm.weight")) @ self.lm_head.T

    def step_logits(self, generated):
        """The [steps, vocab] last-position logits a greedy decode that produced `generated`
        after PROMPT saw (teacher forcing on those tokens)."""
        seq = PROMPT + list(generated[:-1])
        return self.logits(seq)[len(PROMPT) - 1:]


def cosine(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def per_step(a, b):
    """max abs difference per step of two [steps, (1,) vocab] arrays."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return d.reshape(d.shape[0], -1).max(axis=1)


def fmt(values):
    return "[" + ", ".join(f"{v:.3g}" for v in values) + "]"


# ----------------------------------------------------------------------------------------
# cached results (HF model loads and engine runs are the slow part)

_models, _golden, _engine_fp32 = {}, {}, {}


def hf_model(model_dir):
    key = str(model_dir)
    if key not in _models:
        _models[key] = hf_llama.load_model(model_dir, "fp32")
    return _models[key]


def hf_golden(model_dir):
    """(generated ids, float32 logits [STEPS, 1, vocab]) of HF fp32 greedy with KV cache."""
    key = str(model_dir)
    if key not in _golden:
        _golden[key] = hf_llama.greedy_decode(hf_model(model_dir), PROMPT, STEPS)
    return _golden[key]


def int_runs(text):
    return [int(t) for t in re.findall(r"-?\d+", text)]


def contains_run(haystack, needle):
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def engine_run(exe, model_dir, out_dir, flags=()):
    """(generated ids, float32 logits [STEPS, 1, vocab]) of `ait-engine run`."""
    out = pathlib.Path(out_dir) / ("engine-" + ("-".join(f.strip("-") for f in flags) or "fp32")
                                   + ".npy")
    cmd = [exe, "run", "--model", str(model_dir), "--input-ids", ",".join(map(str, PROMPT)),
           "--max-new-tokens", str(STEPS), *flags, "--save-logits", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{' '.join(cmd)}: rc={r.returncode}\n{r.stderr[-3000:]}"
    logits = np.load(out)
    vocab = hf_model(model_dir).config.vocab_size
    assert logits.dtype == np.float32 and logits.shape == (STEPS, 1, vocab), \
        f"{' '.join(cmd)}: logits {logits.dtype}{list(logits.shape)}, want float32[{STEPS},1,{vocab}]"
    assert np.isfinite(logits).all(), f"{' '.join(cmd)}: non-finite logits"
    ids = [int(i) for i in logits[:, 0].argmax(axis=-1)]
    assert contains_run(int_runs(r.stdout), ids), \
        f"{' '.join(cmd)}: printed ids {r.stdout.strip()!r} are not the logits' argmax {ids}"
    return ids, logits


def engine_fp32(exe, model_dir, out_dir):
    key = str(model_dir)
    if key not in _engine_fp32:
        _engine_fp32[key] = engine_run(exe, model_dir, out_dir)
    return _engine_fp32[key]


def diagnose(model_dir, got_ids, got, want_ids, want):
    """Where the engine leaves HF: per-step differences, and which side the float64
    reference takes at each step."""
    ref = NumpyLlama(model_dir)
    ref_got = ref.step_logits(got_ids)
    ref_want = ref.step_logits(want_ids)
    first = next((i for i, (a, b) in enumerate(zip(got_ids, want_ids)) if a != b), None)
    worst = per_step(got, want)
    step = int(worst.argmax())
    top = np.argsort(-np.abs(got[step, 0] - want[step, 0]))[:5]
    return (f"\n  engine ids {got_ids}\n  HF ids     {want_ids} (first differing step: {first})"
            f"\n  per-step max|engine - HF|       {fmt(worst)}"
            f"\n  per-step max|engine - float64|  {fmt(per_step(got[:, 0], ref_got))}"
            f"\n  per-step max|HF - float64|      {fmt(per_step(want[:, 0], ref_want))}"
            f"\n  step {step} worst vocab ids {top.tolist()}: engine "
            f"{got[step, 0, top].tolist()} HF {want[step, 0, top].tolist()}")


# ----------------------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory):
    return hf_llama.init_checkpoint(tmp_path_factory.mktemp("hf-init"), SEED)


@pytest.fixture(scope="module", params=["hf-init", "engine-init"])
def checkpoint(request, tmp_path_factory):
    """A tiny Llama written by transformers' save_pretrained or by `ait-engine init`."""
    if request.param == "hf-init":
        return request.getfixturevalue("hf_checkpoint")
    exe = request.getfixturevalue("ait_engine")
    out = tmp_path_factory.mktemp("engine-init")
    cmd = [exe, "init", "--preset", "tiny", "--seed", str(SEED), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{' '.join(cmd)}: rc={r.returncode}\n{r.stderr[-3000:]}"
    for f in ("config.json", "model.safetensors"):
        assert (out / f).is_file(), f"{' '.join(cmd)} wrote no {f}"
    return out


# ----------------------------------------------------------------------------------------
# the golden itself

def test_hf_init_writes_the_tiny_preset(hf_checkpoint, tmp_path):
    cfg = json.loads((hf_checkpoint / "config.json").read_text())
    for k, v in dict(model_type="llama", hidden_size=64, intermediate_size=172,
                     num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                     vocab_size=256, max_position_embeddings=128, rms_norm_eps=1e-6,
                     rope_theta=10000.0, tie_word_embeddings=False).items():
        assert cfg[k] == v, k
    w = load_file(str(hf_checkpoint / "model.safetensors"))
    want = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    for i in range(2):
        want |= {f"model.layers.{i}.{n}.weight" for n in (
            "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
            "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
            "mlp.down_proj")}
    assert set(w) == want
    assert all(t.dtype == torch.float32 for t in w.values())
    assert w["model.layers.0.self_attn.k_proj.weight"].shape == (32, 64)  # GQA: 2 kv heads
    for name, t in w.items():
        if name.endswith("norm.weight"):
            assert float((t - 1).abs().mean()) > 0.05, f"{name} too close to 1.0"
    # deterministic per seed, different across seeds
    again = hf_llama.init_checkpoint(tmp_path / "again", SEED)
    assert (again / "model.safetensors").read_bytes() == \
        (hf_checkpoint / "model.safetensors").read_bytes()
    other = load_file(str(hf_llama.init_checkpoint(tmp_path / "other", SEED + 1)
                          / "model.safetensors"))
    assert not torch.equal(other["lm_head.weight"], w["lm_head.weight"])


def test_hf_decode_matches_float64_reference(hf_checkpoint):
    ids, logits = hf_golden(hf_checkpoint)
    ref = NumpyLlama(hf_checkpoint).step_logits(ids)
    diff = per_step(logits[:, 0], ref)
    assert diff.max() <= GOLDEN_ATOL, f"HF fp32 vs float64 per step: {fmt(diff)}"
    assert ids == [int(i) for i in ref.argmax(axis=-1)]
    # the prompt-level margins are wide enough that greedy ids are a stable comparison
    top2 = np.sort(ref, axis=-1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0]).min() > 100 * FP32_ATOL


def test_hf_kv_cache_matches_full_forward(hf_checkpoint):
    ids, logits = hf_golden(hf_checkpoint)
    full = hf_llama.score_logits(hf_model(hf_checkpoint), PROMPT + ids[:-1])[len(PROMPT) - 1:]
    assert per_step(logits[:, 0], full).max() <= 1e-5


def test_every_block_matters(hf_checkpoint):
    """The oracle has teeth: dropping the decoder layers or the norm gammas moves the logits
    far beyond the fp32 tolerance, so a kernel that mishandles them cannot pass."""
    ref = NumpyLlama(hf_checkpoint)
    seq = PROMPT + hf_golden(hf_checkpoint)[0][:-1]
    base = ref.logits(seq)
    assert np.abs(ref.logits(seq, skip_layers=True) - base).max() > 1.0
    assert np.abs(ref.logits(seq, unit_norms=True) - base).max() > 0.1
    assert base.std() > 0.3  # logits are not flat


def test_hf_cli_round_trip(tmp_path):
    model = tmp_path / "m"
    run = [sys.executable, str(HF_LLAMA)]
    r = subprocess.run(run + ["init", "--preset", "tiny", "--seed", str(SEED), "--out",
                              str(model)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    npy = tmp_path / "hf.npy"
    r = subprocess.run(run + ["run", "--model", str(model), "--input-ids",
                              ",".join(map(str, PROMPT)), "--max-new-tokens", str(STEPS),
                              "--save-logits", str(npy)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    ids, logits = hf_llama.greedy_decode(hf_llama.load_model(model), PROMPT, STEPS)
    assert r.stdout.strip().splitlines()[-1] == ",".join(map(str, ids))
    got = np.load(npy)
    assert got.dtype == np.float32 and got.shape == (STEPS, 1, 256)
    np.testing.assert_array_equal(got, logits)  # deterministic, bit for bit
    r = subprocess.run(run + ["run", "--model", str(tmp_path / "missing"), "--input-ids", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "hf_llama: error" in r.stderr


def test_hf_bf16_is_close_but_not_identical(hf_checkpoint):
    """The cosine threshold is one a real low-precision run of the golden meets."""
    ids, logits = hf_golden(hf_checkpoint)
    bf_ids, bf = hf_llama.greedy_decode(hf_llama.load_model(hf_checkpoint, "bf16"), PROMPT, STEPS)
    ref = hf_llama.score_logits(hf_model(hf_checkpoint), PROMPT + bf_ids[:-1])[len(PROMPT) - 1:]
    assert min(cosine(bf[s, 0], ref[s]) for s in range(STEPS)) > COSINE_MIN
    assert not np.array_equal(bf, logits)


# ----------------------------------------------------------------------------------------
# the engine against the golden

def test_engine_checkpoint_loads_in_transformers(checkpoint):
    """Either writer's checkpoint is a complete LlamaForCausalLM (load_model refuses missing
    or unexpected weights) and HF agrees with the float64 reference on it."""
    ids, logits = hf_golden(checkpoint)
    diff = per_step(logits[:, 0], NumpyLlama(checkpoint).step_logits(ids))
    assert diff.max() <= GOLDEN_ATOL, f"HF fp32 vs float64 per step: {fmt(diff)}"


def test_engine_fp32_matches_hf(ait_engine, checkpoint, tmp_path):
    want_ids, want = hf_golden(checkpoint)
    got_ids, got = engine_fp32(ait_engine, checkpoint, tmp_path)
    diff = per_step(got, want)
    assert got_ids == want_ids and diff.max() <= FP32_ATOL, \
        "engine fp32 vs HF fp32" + diagnose(checkpoint, got_ids, got, want_ids, want)


@pytest.mark.parametrize("mode", list(LOW_PRECISION))
def test_engine_low_precision_close_to_hf(ait_engine, checkpoint, mode, tmp_path):
    got_ids, got = engine_run(ait_engine, checkpoint, tmp_path, LOW_PRECISION[mode])
    _, fp32 = engine_fp32(ait_engine, checkpoint, tmp_path)
    assert not np.array_equal(got, fp32), f"engine {mode} logits are bit-identical to fp32"
    # HF fp32 on the engine's own tokens: a greedy divergence late in the run must not turn
    # into a comparison of logits for different contexts.
    want = hf_llama.score_logits(hf_model(checkpoint), PROMPT + got_ids[:-1])[len(PROMPT) - 1:]
    cos = [cosine(got[s, 0], want[s]) for s in range(STEPS)]
    assert min(cos) > COSINE_MIN, \
        (f"engine {mode} vs HF fp32 cosine per step {fmt(cos)}; max abs per step "
         f"{fmt(per_step(got[:, 0], want))}")
