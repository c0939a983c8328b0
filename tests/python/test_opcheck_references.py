"""opcheck's float64 references of the reference engine's operation types (src/opcheck/references/
linear, norm, rope, attention, activation, elewise, indexing, shape): on random float64 inputs each
agrees with a torch float64 implementation written here to 1e-12 (with the contract's storage
roundings emulated where the inputs are flagged fp16/bf16); on fp32/fp16/bf16 inputs it agrees
with `ait-engine op` (fp32 within 1e-5 of the largest magnitude, fp16/bf16 within one unit in the
last place of the storage dtype or float32's resolution of the largest magnitude, integers
exactly), so opcheck passes clean engine runs; bad params and shapes raise AitError naming the
operation type."""
import importlib
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import run_checked

F64 = torch.float64
TORCH_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64",
               torch.int8: "int8", torch.int32: "int32", torch.int64: "int64"}
TORCH_DTYPES = {name: dtype for dtype, name in TORCH_NAMES.items()}
STORAGE = [torch.float32, torch.float16, torch.bfloat16]


@pytest.fixture(scope="module")
def ait_llm(ait_llm_package):
    """The built ait_llm package with its extension and tensor I/O loaded."""
    importlib.import_module("ait_llm._ait_core")
    importlib.import_module("ait_llm.tensor_io")
    return ait_llm_package


@pytest.fixture(scope="module")
def reference(ait_llm):
    """reference(type, param, inputs) -> [torch float64 tensor] (with with_dtypes=True also the
    output dtype names); inputs are torch tensors (their dtype is the storage dtype the reference
    is told) or (tensor, dtype name) pairs."""

    def run(op_type, param, inputs, with_dtypes=False):
        pairs = []
        for t in inputs:
            t, name = t if isinstance(t, tuple) else (t, TORCH_NAMES[t.dtype])
            pairs.append((t.to(F64).numpy(), name))
        out = ait_llm._ait_core.opcheck_reference(op_type, json.dumps(param), pairs)
        tensors = [torch.from_numpy(a) for a, _ in out]
        return (tensors, [d for _, d in out]) if with_dtypes else tensors

    return run


def rnd(x, dtype):
    """x (float64) rounded to what `dtype` stores, as float64 (via float32, as a kernel does)."""
    return x.to(torch.float32).to(dtype).to(F64) if dtype != F64 else x


def randn(*shape, gen, scale=1.0):
    return torch.randn(*shape, generator=gen, dtype=F64) * scale


def close(got, expected, atol=1e-12):
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12, atol=atol)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def test_every_engine_type_has_a_reference(ait_llm):
    types = set(ait_llm._ait_core.opcheck_reference_types())
    assert {"LinearOperation", "MatMulOperation", "MatmulOperation", "LinearQuantOperation", "RmsNormOperation",
            "LayerNormOperation", "RopeOperation", "SelfAttentionOperation", "ActivationOperation",
            "SoftmaxOperation", "ElewiseOperation", "GatherOperation", "SamplingOperation", "ConcatOperation",
            "SplitOperation", "TransposeOperation", "SliceOperation"} <= types


# ---------------------------------------------------------------- torch float64 agreement

@pytest.mark.parametrize("param, x_shape, w_shape", [
    ({}, (2, 3, 16), (8, 16)),
    ({"hasBias": False}, (5, 16), (8, 16)),
    ({"transposeB": False, "hasBias": True}, (4, 16), (16, 8)),
    ({"transposeA": True, "transposeB": False, "hasBias": False}, (16, 5), (16, 8)),
    ({"transposeA": 1, "hasBias": 1}, (16, 5), (8, 16)),
])
def test_linear_matches_torch(reference, gen, param, x_shape, w_shape):
    x, w = randn(*x_shape, gen=gen), randn(*w_shape, gen=gen)
    b = randn(8, gen=gen)
    has_bias = param.get("hasBias", True)
    a = x.T if param.get("transposeA") else x
    expected = a @ (w.T if param.get("transposeB", True) else w) + (b if has_bias else 0)
    (got,) = reference("LinearOperation", param, [x, w, b] if has_bias else [x, w])
    close(got, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_linear_stores_the_product_in_x_dtype_before_the_bias(reference, gen, dtype):
    x, w, b = (rnd(randn(*s, gen=gen), dtype) for s in ((6, 32), (8, 32), (8,)))
    got, dtypes = reference("LinearOperation", {}, [(x, TORCH_NAMES[dtype]), (w, TORCH_NAMES[dtype]),
                                                    (b, TORCH_NAMES[dtype])], with_dtypes=True)
    close(got[0], rnd(rnd(x @ w.T, dtype) + b, dtype))
    assert dtypes == [TORCH_NAMES[dtype]]
    assert not torch.equal(got[0], rnd(x @ w.T + b, dtype))  # the intermediate rounding shows


@pytest.mark.parametrize("op_type", ["MatMulOperation", "MatmulOperation"])
@pytest.mark.parametrize("param, a_shape, b_shape", [
    ({}, (2, 3, 4, 16), (2, 3, 16, 5)),
    ({"transposeA": True}, (3, 16, 4), (3, 16, 5)),
    ({"transposeB": True}, (3, 4, 16), (3, 5, 16)),
    ({"transposeA": True, "transposeB": True}, (2, 16, 4), (5, 16)),
    ({}, (2, 4, 16), (16, 5)),
])
def test_matmul_matches_torch(reference, gen, op_type, param, a_shape, b_shape):
    a, b = randn(*a_shape, gen=gen), randn(*b_shape, gen=gen)
    at = a.transpose(-1, -2) if param.get("transposeA") else a
    bt = b.transpose(-1, -2) if param.get("transposeB") else b
    (got,) = reference(op_type, param, [a, b])
    close(got, torch.matmul(at, bt))


def int8_weights(n, k, gen):
    return torch.randint(-127, 128, (n, k), generator=gen).to(F64)


@pytest.mark.parametrize("param, out_dtype", [
    ({}, "float64"),
    ({"quantMode": "W8A16", "hasBias": True}, "float64"),
    ({"quantMode": 0, "hasBias": True, "outDataType": "ACL_FLOAT16"}, "float16"),
    ({"quantMode": 2}, "float64"),
    ({"quantMode": "PER_TOKEN", "hasBias": True, "outDataType": 0}, "float32"),
])
def test_linear_quant_matches_torch(reference, gen, param, out_dtype):
    x = randn(2, 3, 32, gen=gen)
    x[1, 2] = 0  # an all-zero token quantizes to zeros (scale 1)
    w, scale, b = int8_weights(8, 32, gen), randn(8, gen=gen).abs() / 100, randn(8, gen=gen)
    has_bias = param.get("hasBias", False)
    inputs = [x, (w, "int8"), scale] + ([b] if has_bias else [])
    got, dtypes = reference("LinearQuantOperation", param, inputs, with_dtypes=True)
    od = TORCH_DTYPES[out_dtype]
    if param.get("quantMode", 0) in (0, "W8A16"):
        y = x @ (w * scale[:, None]).T
        expected = rnd(rnd(y, od) + b, od) if has_bias else rnd(y, od)
    else:
        amax = x.abs().amax(-1, keepdim=True)
        s = torch.where(amax > 0, (amax / 127).float().double(), torch.ones_like(amax))
        xq = torch.round(x / s).clamp(-127, 127)  # torch.round: half to even
        expected = rnd((xq @ w.T) * s * scale + (b if has_bias else 0), od)
    close(got[0], expected)
    assert dtypes == [out_dtype] and got[0].shape == (2, 3, 8)


@pytest.mark.parametrize("param, gemma", [
    ({}, False),
    ({"layerType": "RMS_NORM_NORM", "normParam": {"epsilon": 1e-3, "modelType": "GEMMA_MODEL"}}, True),
])
def test_rms_norm_matches_torch(reference, gen, param, gemma):
    x, g = randn(3, 4, 16, gen=gen), randn(16, gen=gen)
    eps = float(np.float32(param.get("normParam", {}).get("epsilon", 1e-5)))
    (got,) = reference("RmsNormOperation", param, [x, g])
    close(got, x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * ((1 + g) if gemma else g))


def test_rms_norm_over_two_trailing_dims(reference, gen):
    x, g = randn(3, 4, 8, gen=gen), randn(4, 8, gen=gen)
    (got,) = reference("RmsNormOperation", {}, [x, g])
    xf = x.reshape(3, 32)
    eps = float(np.float32(1e-5))
    close(got, (xf / torch.sqrt((xf * xf).mean(-1, keepdim=True) + eps) * g.reshape(32)).reshape(3, 4, 8))


@pytest.mark.parametrize("param, shape, gamma_shape", [
    ({}, (3, 16), (16,)),
    ({"normParam": {"epsilon": 1e-6, "beginNormAxis": 1}}, (3, 4, 8), (4, 8)),
    ({"normParam": {"beginNormAxis": 2}}, (3, 4, 8), (8,)),
])
def test_layer_norm_matches_torch(reference, gen, param, shape, gamma_shape):
    x, g, b = randn(*shape, gen=gen), randn(*gamma_shape, gen=gen), randn(*gamma_shape, gen=gen)
    eps = float(np.float32(param.get("normParam", {}).get("epsilon", 1e-5)))
    (got,) = reference("LayerNormOperation", param, [x, g, b])
    close(got, F.layer_norm(x, gamma_shape, g, b, eps))


def torch_rope(x, cos, sin, coeff):
    tokens, head_dim = cos.shape
    chunk = head_dim // coeff
    v = x.reshape(tokens, -1, coeff // 2, 2, chunk)
    c = cos.reshape(tokens, 1, coeff // 2, 2, chunk)
    s = sin.reshape(tokens, 1, coeff // 2, 2, chunk)
    x1, x2 = v[..., 0, :], v[..., 1, :]
    r1 = x1 * c[..., 0, :] - x2 * s[..., 0, :]
    r2 = x2 * c[..., 1, :] + x1 * s[..., 1, :]
    return torch.stack([r1, r2], -2).reshape(x.shape)


@pytest.mark.parametrize("param, coeff", [({"rotaryCoeff": 2}, 2), ({}, 4), ({"rotaryCoeff": 8}, 8)])
def test_rope_matches_torch(reference, gen, param, coeff):
    tokens, head_dim = 5, 8
    q, k = randn(tokens, 4 * head_dim, gen=gen), randn(tokens, 2, head_dim, gen=gen)
    angles = randn(tokens, head_dim, gen=gen) * 3
    cos, sin = torch.cos(angles), torch.sin(angles)
    got = reference("RopeOperation", param, [q, k, cos, sin, torch.tensor([3, 2], dtype=torch.int32)])
    close(got[0], torch_rope(q, cos, sin, coeff))
    close(got[1], torch_rope(k, cos, sin, coeff))
    assert got[1].shape == k.shape


def test_rope_half_rotation_is_hf_rotate_half(reference, gen):
    tokens, head_dim = 4, 8
    q = randn(tokens, 2 * head_dim, gen=gen)
    angles = randn(tokens, head_dim // 2, gen=gen)
    cos, sin = torch.cos(angles).repeat(1, 2), torch.sin(angles).repeat(1, 2)
    got = reference("RopeOperation", {"rotaryCoeff": 2}, [q, q, cos, sin, torch.tensor([4], dtype=torch.int64)])
    qh = q.reshape(tokens, 2, head_dim)
    rotate_half = torch.cat([-qh[..., head_dim // 2:], qh[..., :head_dim // 2]], -1)
    close(got[0], (qh * cos[:, None] + rotate_half * sin[:, None]).reshape(tokens, -1))


def torch_attention(q, k, v, cache_k, cache_v, mask, offsets, seq_lens, layer, heads, kv_heads, scale, mid, out):
    """SelfAttention in float64; scores and probabilities rounded to `mid`, the output to `out`."""
    tokens = q.shape[0]
    hd = q.numel() // tokens // heads
    ck, cv = cache_k.clone(), cache_v.clone()
    if ck.dim() == 3:
        ck, cv = ck[None], cv[None]
    result = torch.zeros(tokens, heads, hd, dtype=F64)
    t = 0
    for b, (off, n) in enumerate(zip(offsets, seq_lens)):
        if n == 0:
            continue
        ck[layer, b, off - n:off] = k[t:t + n].reshape(n, -1)
        cv[layer, b, off - n:off] = v[t:t + n].reshape(n, -1)
        qb = q[t:t + n].reshape(n, heads, hd).transpose(0, 1)
        kb = ck[layer, b, :off].reshape(off, kv_heads, hd).transpose(0, 1).repeat_interleave(heads // kv_heads, 0)
        vb = cv[layer, b, :off].reshape(off, kv_heads, hd).transpose(0, 1).repeat_interleave(heads // kv_heads, 0)
        s = qb @ kb.transpose(1, 2) * scale
        if mask is not None:
            s = s + (mask[b] if mask.dim() == 3 else mask)[off - n:off, :off]
        pos = torch.arange(off - n, off)[:, None]
        s = rnd(s, mid).masked_fill(torch.arange(off)[None, :] > pos, -torch.inf)
        result[t:t + n] = (rnd(torch.softmax(s, -1), mid) @ vb).transpose(0, 1)
        t += n
    return rnd(result, out).reshape(q.shape)


def attention_case(gen, *, heads=4, kv_heads=2, hd=8, batch=2, max_seq=8, layers=2, offsets=(5, 3), seq_lens=(5, 3),
                   mask="2d", q_3d=False):
    tokens = sum(seq_lens)
    q = randn(tokens, heads, hd, gen=gen) if q_3d else randn(tokens, heads * hd, gen=gen)
    k, v = randn(tokens, kv_heads * hd, gen=gen), randn(tokens, kv_heads * hd, gen=gen)
    cache_shape = ((layers,) if layers else ()) + (batch, max_seq, kv_heads * hd)
    cache_k, cache_v = randn(*cache_shape, gen=gen), randn(*cache_shape, gen=gen)  # old rows: earlier tokens
    m = {"none": None, "2d": -randn(max_seq, max_seq, gen=gen).abs(),
         "3d": -randn(batch, max_seq, max_seq, gen=gen).abs()}[mask]
    return q, k, v, cache_k, cache_v, m, list(offsets), list(seq_lens)


def attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, layer, dtype=torch.float64):
    name = TORCH_NAMES[dtype]
    ints = [torch.tensor(offsets, dtype=torch.int32), torch.tensor(seq_lens, dtype=torch.int32),
            torch.tensor([layer], dtype=torch.int32)]
    mask = m if m is not None else torch.zeros(0, dtype=F64)
    return [(q, name), (k, name), (v, name), (ck, name), (cv, name), (mask, name)] + ints


@pytest.mark.parametrize("param, case, layer", [
    ({"headNum": 4, "kvHeadNum": 2}, {}, 1),
    ({"headNum": 4, "kvHeadNum": 2, "qScale": 0.5, "qkScale": 0.25}, {"mask": "3d"}, 0),
    ({"headNum": 4}, {"kv_heads": 4, "mask": "none", "layers": 0}, 0),
    ({"headNum": 4, "kvHeadNum": 1, "kernelType": 1}, {"kv_heads": 1, "offsets": (6, 4), "seq_lens": (1, 1)}, 1),
    ({"headNum": 2, "kvHeadNum": 2, "headDim": 8, "calcType": "DECODER", "maskType": 1},
     {"heads": 2, "kv_heads": 2, "offsets": (4, 7), "seq_lens": (2, 0), "q_3d": True}, 0),
])
def test_self_attention_matches_torch(reference, gen, param, case, layer):
    q, k, v, ck, cv, m, offsets, seq_lens = attention_case(gen, **case)
    scale = param.get("qScale", 1.0) * param.get("qkScale", 1.0)
    expected = torch_attention(q, k, v, ck, cv, m, offsets, seq_lens, layer, param["headNum"],
                               param.get("kvHeadNum") or param["headNum"], scale, F64, F64)
    (got,) = reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, layer))
    close(got, expected)
    assert got.shape == q.shape


@pytest.mark.parametrize("kernel_type, mid", [(0, torch.float16), (1, torch.float32)])
def test_self_attention_stores_scores_and_probabilities(reference, gen, kernel_type, mid):
    """fp16 inputs: kernelType 0 rounds the scores and probabilities to fp16, 1 to float32."""
    q, k, v, ck, cv, m, offsets, seq_lens = (rnd(t, torch.float16) if isinstance(t, torch.Tensor) else t
                                             for t in attention_case(gen))
    param = {"headNum": 4, "kvHeadNum": 2, "kernelType": kernel_type}
    expected = torch_attention(q, k, v, ck, cv, m, offsets, seq_lens, 1, 4, 2, 1.0, mid, torch.float16)
    (got,) = reference("SelfAttentionOperation", param,
                       attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, 1, torch.float16))
    close(got, expected)


def test_self_attention_gives_the_same_output_for_caches_before_and_after_the_update(reference, gen):
    q, k, v, ck, cv, m, offsets, seq_lens = attention_case(gen, offsets=(6, 4), seq_lens=(2, 1))
    param = {"headNum": 4, "kvHeadNum": 2}
    (before,) = reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, 1))
    ck2, cv2 = ck.clone(), cv.clone()
    ck2[1, 0, 4:6], cv2[1, 0, 4:6] = k[:2], v[:2]
    ck2[1, 1, 3:4], cv2[1, 1, 3:4] = k[2:], v[2:]
    (after,) = reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck2, cv2, m, offsets, seq_lens, 1))
    assert torch.equal(before, after)
    # ... and the rows past each sequence's tokenOffset never matter.
    ck2[1, 0, 6:], ck2[0] = 1e3, 1e3
    (ignored,) = reference("SelfAttentionOperation", param,
                           attention_inputs(q, k, v, ck2, cv2, m, offsets, seq_lens, 1))
    assert torch.equal(before, ignored)


def test_self_attention_keeps_a_later_token_s_nan_out_of_earlier_tokens(reference, gen):
    q, k, v, ck, cv, m, offsets, seq_lens = attention_case(gen)
    param = {"headNum": 4, "kvHeadNum": 2}
    (clean,) = reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, 1))
    v[4, 0] = float("nan")  # the last token of sequence 0 (positions 0..4)
    (got,) = reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, 1))
    assert torch.equal(got[:4], clean[:4]) and torch.equal(got[5:], clean[5:])
    nan = torch.zeros(32, dtype=torch.bool)
    nan[[0, 8]] = True  # element 0 of heads 0 and 1, which read kv head 0
    assert got[4, nan].isnan().all() and torch.equal(got[4, ~nan], clean[4, ~nan])


def sigmoid(x):
    return 1 / (1 + torch.exp(-x))


@pytest.mark.parametrize("param, fn", [
    ({"activationType": 1}, torch.relu),
    ({"activationType": "ACTIVATION_GELU"}, lambda x: F.gelu(x, approximate="tanh")),
    ({"activationType": 2, "geluMode": "NONE_MODE"}, F.gelu),
    ({"activationType": 3}, lambda x: x * sigmoid(1.702 * x)),
    ({"activationType": "silu"}, F.silu),
    ({"activationType": 4, "scale": 1.5}, lambda x: x * sigmoid(1.5 * x)),
    ({"activationType": 8}, torch.sigmoid),
    ({"activationType": 6}, lambda x: F.silu(x[..., :6]) * x[..., 6:]),
    ({"activationType": "ACTIVATION_SWIGLU_FORWARD", "dim": 0}, lambda x: F.silu(x[:2]) * x[2:]),
    ({"activationType": "swiglu", "dim": 1}, lambda x: F.silu(x[:, :3]) * x[:, 3:]),
])
def test_activation_matches_torch(reference, gen, param, fn):
    x = randn(4, 6, 12, gen=gen, scale=3)
    (got,) = reference("ActivationOperation", param, [x])
    close(got, fn(x))


@pytest.mark.parametrize("axes", [[-1], [2], [1, 2], [-3, -2], [0]])
def test_softmax_matches_torch(reference, gen, axes):
    x = randn(3, 4, 5, gen=gen, scale=4)
    dims = sorted(a % 3 for a in axes)
    moved = x.movedim(dims, list(range(3 - len(dims), 3)))
    expected = torch.softmax(moved.reshape(*moved.shape[:3 - len(dims)], -1), -1).reshape(moved.shape)
    (got,) = reference("SoftmaxOperation", {"axes": axes}, [x])
    close(got, expected.movedim(list(range(3 - len(dims), 3)), dims))


@pytest.mark.parametrize("etype, fn", [
    (2, lambda x: x * 0.375), ("ELEWISE_MULS", lambda x: x * 0.375), ("ELEWISE_COS", torch.cos), (4, torch.sin),
    (5, torch.neg),
])
def test_elewise_unary_types_match_torch(reference, gen, etype, fn):
    x = randn(4, 6, gen=gen, scale=3)
    (got,) = reference("ElewiseOperation", {"elewiseType": etype, "mulsParam": {"varAttr": 0.375}}, [x])
    close(got, fn(x))


@pytest.mark.parametrize("etype, fn", [(8, torch.add), (9, torch.mul), ("ELEWISE_REALDIV", torch.div), (15, torch.sub)])
@pytest.mark.parametrize("x_shape, y_shape", [((4, 6), (4, 6)), ((4, 6), (6,)), ((4, 6), (4, 1)), ((4, 6), (1, 1, 6)),
                                              ((6,), (3, 1, 6)), ((4, 1), (1, 5))])
def test_elewise_binary_types_broadcast_as_torch(reference, gen, etype, fn, x_shape, y_shape):
    x, y = randn(*x_shape, gen=gen), randn(*y_shape, gen=gen)
    (got,) = reference("ElewiseOperation", {"elewiseType": etype}, [x, y])
    close(got, fn(x, y))


@pytest.mark.parametrize("source, target, make, expected", [
    ("float32", "float16", lambda x: x * 100, lambda x: x.half().double()),
    ("float32", "bfloat16", lambda x: x * 100, lambda x: x.bfloat16().double()),
    ("float32", "ACL_INT32", lambda x: x * 100, lambda x: torch.trunc(x)),
    ("float32", 2, lambda x: x * 100, lambda x: torch.trunc(x).clamp(-128, 127)),
    ("int32", "int8", lambda x: torch.round(x * 200), lambda x: x.long().to(torch.int8).double()),
    ("int8", "float16", lambda x: torch.round(x * 40).clamp(-128, 127), lambda x: x),
    ("float16", "float32", lambda x: x, lambda x: x),
])
def test_elewise_cast_matches_torch(reference, gen, source, target, make, expected):
    x = make(randn(64, gen=gen))
    if source in ("float32", "float16"):
        x = rnd(x, TORCH_DTYPES[source])
    got, dtypes = reference("ElewiseOperation", {"elewiseType": "ELEWISE_CAST", "outTensorType": target}, [(x, source)],
                            with_dtypes=True)
    close(got[0], expected(x))
    assert dtypes[0] == {"ACL_INT32": "int32", 2: "int8"}.get(target, target)


def test_elewise_quant_types_match_torch(reference, gen):
    x = randn(4, 6, gen=gen, scale=3)
    (q,) = reference("ElewiseOperation", {"elewiseType": 6, "quantParam": {"inputScale": 0.03125, "inputOffset": 5}},
                     [x])
    close(q, (torch.round(x / 0.03125) + 5).clamp(-128, 127))
    assert (q == 127).any()  # saturated
    scale, offset = randn(6, gen=gen).abs() / 20, torch.round(randn(6, gen=gen) * 3)
    (qc,) = reference("ElewiseOperation", {"elewiseType": 17}, [x, scale, (offset, "int8")])
    close(qc, (torch.round(x / scale) + offset).clamp(-128, 127))
    (qn,) = reference("ElewiseOperation", {"elewiseType": "ELEWISE_QUANT_PER_CHANNEL"},
                      [x, scale, torch.zeros(0, dtype=F64)])
    close(qn, torch.round(x / scale).clamp(-128, 127))
    xi = torch.round(randn(4, 6, gen=gen) * 50).clamp(-128, 127)
    deq, dtypes = reference("ElewiseOperation", {"elewiseType": 18}, [(xi, "int8"), scale, (offset, "int8")],
                            with_dtypes=True)
    close(deq[0], rnd((xi - offset) * scale, torch.float16))
    assert dtypes == ["float16"]
    (deq32,) = reference("ElewiseOperation", {"elewiseType": 18, "outTensorType": "float32"},
                         [(xi, "int8"), scale, torch.zeros(0, dtype=F64)])
    close(deq32, rnd(xi * scale, torch.float32))


@pytest.mark.parametrize("axis, table_shape, idx_shape",
                         [(0, (10, 6), (2, 3)), (1, (3, 7, 4), (5,)), (2, (2, 3, 9), ())])
def test_gather_matches_torch(reference, gen, axis, table_shape, idx_shape):
    table = randn(*table_shape, gen=gen)
    idx = torch.randint(0, table_shape[axis], idx_shape, generator=gen)
    got, dtypes = reference("GatherOperation", {"axis": axis}, [(table, "bfloat16"), idx], with_dtypes=True)
    out_shape = table_shape[:axis] + idx_shape + table_shape[axis + 1:]
    expected = table.index_select(axis, idx.reshape(-1)).reshape(out_shape)
    close(got[0], expected)
    assert dtypes == ["bfloat16"]


def test_sampling_takes_the_first_maximum_and_skips_nan(reference):
    logits = torch.tensor([[1.0, 3.0, 3.0, 2.0], [float("nan"), 0.5, 2.0, 2.0], [float("nan")] * 4, [-1, -2, -3, -0.5]],
                          dtype=F64)
    got, dtypes = reference("SamplingOperation", {}, [logits], with_dtypes=True)
    assert got[0].tolist() == [1, 2, 0, 3] and dtypes == ["int64"]
    got, dtypes = reference("SamplingOperation", {"outDataType": 3}, [logits.reshape(2, 2, 4)], with_dtypes=True)
    assert got[0].tolist() == [[1, 2], [0, 3]] and dtypes == ["int32"]


@pytest.mark.parametrize("param, sizes, dim", [
    ({}, [2, 2], 0),
    ({"splitDim": -1, "splitNum": 3}, [2, 2, 2], 2),
    ({"splitDim": 1, "splitNum": 3, "splitSizes": [1, 0, 4]}, [1, 0, 4], 1),
])
def test_split_matches_torch(reference, gen, param, sizes, dim):
    x = randn(4, 5, 6, gen=gen)
    got = reference("SplitOperation", param, [x])
    expected = torch.split(x, sizes, dim)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert torch.equal(g, e)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_concat_matches_torch(reference, gen, dim):
    a = randn(2, 3, 4, gen=gen)
    shape = list(a.shape)
    shape[dim] = 5
    b = randn(*shape, gen=gen)
    (got,) = reference("ConcatOperation", {"concatDim": dim}, [a, b])
    assert torch.equal(got, torch.cat([a, b], dim))


@pytest.mark.parametrize("perm", [[1, 0], [2, 0, 1], [0, 2, 1, 3]])
def test_transpose_matches_torch(reference, gen, perm):
    x = randn(*[2, 3, 4, 5][:len(perm)], gen=gen)
    (got,) = reference("TransposeOperation", {"perm": perm}, [x])
    assert torch.equal(got, x.permute(*perm))


@pytest.mark.parametrize("offsets, size, expected", [
    ([1, 2], [2, 3], lambda x: x[1:3, 2:5]),
    ([-2, 0], [-1, -1], lambda x: x[2:, :]),
    ([0, -3], [4, 2], lambda x: x[:, 3:5]),
])
def test_slice_matches_torch(reference, gen, offsets, size, expected):
    x = randn(4, 6, gen=gen)
    got, dtypes = reference("SliceOperation", {"offsets": offsets, "size": size}, [(x, "float16")], with_dtypes=True)
    assert torch.equal(got[0], expected(x)) and dtypes == ["float16"]


# ---------------------------------------------------------------- agreement with the engine

def storage(shape, dtype, gen, scale=1.0):
    return (torch.randn(*shape, generator=gen) * scale).to(dtype)


def i32(values):
    return torch.tensor(values, dtype=torch.int32)


def attention_engine_inputs(dtype, gen, *, prefill):
    heads, kv_heads, hd, max_seq = 4, 2, 8, 8
    offsets, seq_lens = ([5, 3], [5, 3]) if prefill else ([6, 4], [1, 1])
    tokens = sum(seq_lens)
    cache = (2, 2, max_seq, kv_heads * hd)
    mask = torch.triu(torch.full((max_seq, max_seq), -10000.0), 1) - torch.rand(max_seq, max_seq, generator=gen)
    return [storage((tokens, heads * hd), dtype, gen), storage((tokens, kv_heads * hd), dtype, gen),
            storage((tokens, kv_heads * hd), dtype, gen), storage(cache, dtype, gen), storage(cache, dtype, gen),
            mask.to(dtype), i32(offsets), i32(seq_lens), i32([1])]


def rope_inputs(dtype, gen):
    angles = torch.randn(5, 8, generator=gen) * 3
    return [storage((5, 32), dtype, gen), storage((5, 2, 8), dtype, gen), torch.cos(angles).to(dtype),
            torch.sin(angles).to(dtype), i32([2, 3])]


def quant_inputs(dtype, gen, bias, mode):
    w = torch.randint(-127, 128, (8, 32), generator=gen, dtype=torch.int8)
    inputs = [storage((3, 32), dtype, gen), w, (torch.rand(8, generator=gen) / 50 + 0.001)]
    return inputs + ([storage((8,), dtype, gen)] if bias else [])


ENGINE_CASES = [
    ("LinearOperation", {}, lambda d, g: [storage((2, 3, 32), d, g), storage((8, 32), d, g), storage((8,), d, g)]),
    ("LinearOperation", {"transposeB": False, "hasBias": False}, lambda d, g: [storage((4, 32), d, g),
                                                                                storage((32, 8), d, g)]),
    ("LinearOperation", {"transposeA": True}, lambda d, g: [storage((32, 4), d, g), storage((8, 32), d, g),
                                                            storage((8,), d, g)]),
    ("MatMulOperation", {"transposeB": True}, lambda d, g: [storage((2, 3, 16), d, g), storage((2, 5, 16), d, g)]),
    ("MatmulOperation", {"transposeA": True}, lambda d, g: [storage((2, 16, 3), d, g), storage((16, 5), d, g)]),
    ("LinearQuantOperation", {"hasBias": True}, lambda d, g: quant_inputs(d, g, True, 0)),
    ("LinearQuantOperation", {"quantMode": "W8A16", "outDataType": "ACL_FLOAT"},
     lambda d, g: quant_inputs(d, g, False, 0)),
    ("LinearQuantOperation", {"quantMode": 2, "hasBias": True}, lambda d, g: quant_inputs(d, g, True, 2)),
    ("LinearQuantOperation", {"quantMode": "PER_TOKEN"}, lambda d, g: quant_inputs(d, g, False, 2)),
    ("RmsNormOperation", {}, lambda d, g: [storage((2, 3, 32), d, g), storage((32,), d, g)]),
    ("RmsNormOperation", {"normParam": {"epsilon": 1e-6, "modelType": 1}},
     lambda d, g: [storage((4, 32), d, g), storage((32,), d, g, 0.1)]),
    ("LayerNormOperation", {"normParam": {"beginNormAxis": 1}},
     lambda d, g: [storage((3, 4, 8), d, g, 2), storage((4, 8), d, g), storage((4, 8), d, g)]),
    ("RopeOperation", {"rotaryCoeff": 2}, rope_inputs),
    ("RopeOperation", {}, rope_inputs),
    ("RopeOperation", {"rotaryCoeff": 8}, rope_inputs),
    ("SelfAttentionOperation", {"headNum": 4, "kvHeadNum": 2, "qkScale": 0.35355339},
     lambda d, g: attention_engine_inputs(d, g, prefill=True)),
    ("SelfAttentionOperation", {"headNum": 4, "kvHeadNum": 2, "qScale": 0.5, "kernelType": 1},
     lambda d, g: attention_engine_inputs(d, g, prefill=False)),
    ("SelfAttentionOperation", {"headNum": 4, "kvHeadNum": 2},
     lambda d, g: attention_engine_inputs(d, g, prefill=False)),
] + [
    ("ActivationOperation", p, lambda d, g: [storage((4, 24), d, g, 3)])
    for p in ({"activationType": 1}, {"activationType": 2}, {"activationType": 2, "geluMode": 1},
              {"activationType": 3}, {"activationType": 4, "scale": 1.5}, {"activationType": 6},
              {"activationType": 6, "dim": 0}, {"activationType": 8})
] + [
    ("SoftmaxOperation", {"axes": [-1]}, lambda d, g: [storage((3, 4, 10), d, g, 3)]),
    ("SoftmaxOperation", {"axes": [1, 2]}, lambda d, g: [storage((3, 4, 10), d, g, 3)]),
] + [
    ("ElewiseOperation", {"elewiseType": t, "mulsParam": {"varAttr": 0.7}}, lambda d, g: [storage((4, 16), d, g, 3)])
    for t in (2, 3, 4, 5)
] + [
    ("ElewiseOperation", {"elewiseType": t}, lambda d, g: [storage((4, 16), d, g), storage((4, 1), d, g).abs() + 0.5])
    for t in (8, 9, 10, 15)
] + [
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": "float16"}, lambda d, g: [storage((4, 16), d, g, 100)]),
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": "bf16"}, lambda d, g: [storage((4, 16), d, g, 100)]),
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": "float32"}, lambda d, g: [storage((4, 16), d, g, 100)]),
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": 3}, lambda d, g: [storage((4, 16), d, g, 100)]),
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": "int8"}, lambda d, g: [storage((4, 16), d, g, 100)]),
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": "int8"},
     lambda d, g: [torch.randint(-300, 300, (4, 16), generator=g, dtype=torch.int32)]),
    ("ElewiseOperation", {"elewiseType": 1, "outTensorType": "float16"},
     lambda d, g: [torch.randint(-128, 128, (4, 16), generator=g, dtype=torch.int8)]),
    ("ElewiseOperation", {"elewiseType": 6, "quantParam": {"inputScale": 0.02, "inputOffset": -3}},
     lambda d, g: [storage((4, 16), d, g)]),
    ("ElewiseOperation", {"elewiseType": 17},
     lambda d, g: [storage((4, 16), d, g), torch.rand(16, generator=g).to(d) / 30 + 0.01,
                   torch.randint(-5, 5, (16,), generator=g, dtype=torch.int8)]),
    ("ElewiseOperation", {"elewiseType": 18, "outTensorType": "ACL_BF16"},
     lambda d, g: [torch.randint(-128, 128, (4, 16), generator=g, dtype=torch.int8),
                   torch.rand(16, generator=g).to(d) / 30, torch.zeros(0, dtype=torch.int8)]),
    ("ElewiseOperation", {"elewiseType": 18},
     lambda d, g: [torch.randint(-128, 128, (4, 16), generator=g, dtype=torch.int8),
                   torch.rand(16, generator=g).to(d), torch.randint(-5, 5, (16,), generator=g, dtype=torch.int8)]),
    ("GatherOperation", {}, lambda d, g: [storage((20, 8), d, g), torch.randint(0, 20, (2, 3), generator=g)]),
    ("GatherOperation", {"axis": 1},
     lambda d, g: [storage((3, 20, 4), d, g), torch.randint(0, 20, (5,), generator=g, dtype=torch.int32)]),
    ("SamplingOperation", {}, lambda d, g: [storage((3, 50), d, g)]),
    ("SamplingOperation", {"outDataType": "ACL_INT32"}, lambda d, g: [storage((2, 3, 50), d, g)]),
    ("SplitOperation", {"splitDim": -1}, lambda d, g: [storage((3, 8), d, g)]),
    ("SplitOperation", {"splitDim": 1, "splitNum": 3, "splitSizes": [1, 2, 3]},
     lambda d, g: [storage((2, 6, 2), d, g)]),
    ("ConcatOperation", {"concatDim": -2}, lambda d, g: [storage((2, 3, 4), d, g), storage((2, 5, 4), d, g)]),
    ("TransposeOperation", {"perm": [2, 0, 1]}, lambda d, g: [storage((2, 3, 4), d, g)]),
]


def read_output(ait_llm, path):
    """A written tensor as (float64 numpy array, dtype name)."""
    _name, dtype, shape, _fmt, data = ait_llm._ait_core.read_tensor(str(path), None)
    if dtype == "bfloat16":
        data = (data.astype(np.uint32) << 16).view(np.float32)
    return data.astype(np.float64).reshape(shape), dtype


def ulp(a, dtype):
    """The spacing of `dtype` (float16 or bfloat16) at magnitude a."""
    mantissa, min_exp = {"float16": (10, -14), "bfloat16": (7, -126)}[dtype]
    _, e = np.frexp(a)  # a = m * 2**e, m in [0.5, 1)
    return np.ldexp(1.0, np.maximum(e - 1, min_exp) - mantissa)


def assert_engine_agrees(ref_outs, engine_outs, label):
    assert len(ref_outs) == len(engine_outs), label
    for i, ((r, r_dtype), (e, e_dtype)) in enumerate(zip(ref_outs, engine_outs)):
        where = f"{label}, output {i}"
        assert r_dtype == e_dtype and r.shape == e.shape, (where, r_dtype, e_dtype, r.shape, e.shape)
        if r_dtype == "float32":
            bound = 1e-5 * max(np.abs(r).max(initial=0), 1e-30)
            assert np.abs(r - e).max(initial=0) <= bound, (where, np.abs(r - e).max(), bound)
        elif r_dtype in ("float16", "bfloat16"):
            # One unit in the last place, or float32's resolution of the tensor's largest value for the
            # elements that float32 math cannot resolve better (the engine's GELU tail cancels).
            floor = 2.0 ** -22 * np.abs(r).max(initial=0)
            err, tol = np.abs(r - e), np.maximum(ulp(np.maximum(np.abs(r), np.abs(e)), r_dtype), floor)
            bad = np.argwhere(err > tol)
            assert bad.size == 0, (where, bad[:5].tolist(), r[tuple(bad[0])], e[tuple(bad[0])])
        else:
            np.testing.assert_array_equal(r, e, err_msg=where)


@pytest.mark.parametrize("dtype", STORAGE, ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("op_type, param, make", ENGINE_CASES,
                         ids=[f"{t}-{json.dumps(p, separators=(',', ':'))}" for t, p, _ in ENGINE_CASES])
def test_reference_agrees_with_the_engine(ait_llm, reference, ait_engine, tmp_path, op_type, param, make, dtype):
    gen = torch.Generator().manual_seed(7)
    inputs = make(dtype, gen)
    args = []
    for i, t in enumerate(inputs):
        path = tmp_path / f"in{i}.bin"
        ait_llm.tensor_io.write_bin(path, t)
        args += ["--in", path]
    run_checked(ait_engine, "op", "--type", op_type, "--param", json.dumps(param), *args, "--out-dir", tmp_path / "o")
    engine_outs = [read_output(ait_llm, p) for p in sorted((tmp_path / "o").glob("outtensor*.bin"),
                                                            key=lambda p: int(p.stem[len("outtensor"):]))]
    got, dtypes = reference(op_type, param, inputs, with_dtypes=True)
    assert_engine_agrees([(t.numpy(), d) for t, d in zip(got, dtypes)], engine_outs, f"{op_type} {param} {dtype}")


def test_engine_agreement_notices_a_two_ulp_shift(ait_llm, reference, ait_engine, tmp_path):
    """The fp16 check is tight: a product moved by two units in the last place fails it."""
    gen = torch.Generator().manual_seed(7)
    x, w = storage((4, 32), torch.float16, gen), storage((8, 32), torch.float16, gen)
    (got,), dtypes = reference("LinearOperation", {"hasBias": False}, [x, w], with_dtypes=True)
    shifted = got.numpy() + 2 * ulp(np.abs(got.numpy()), "float16")
    with pytest.raises(AssertionError):
        assert_engine_agrees([(got.numpy(), "float16")], [(shifted, "float16")], "shifted")


# ---------------------------------------------------------------- errors

ERROR_CASES = [
    ("LinearOperation", {}, [(2, 4), (3, 4, 1), (3,)], "LinearOperation: weight (input 1) must be 2-d"),
    ("LinearOperation", {}, [(2, 4), (3, 5), (3,)], "LinearOperation: x [2, 4] and weight [3, 5] disagree on K"),
    ("LinearOperation", {"hasBias": False}, [(2, 4), (3, 4), (3,)], "LinearOperation: expected 2 input tensors"),
    ("LinearOperation", {}, [(2, 4), (3, 4), (4,)], "LinearOperation: bias (input 2) has shape [4], expected [3]"),
    ("LinearOperation", {"enAccum": True}, [(2, 4), (3, 4), (3,)], "LinearOperation: param enAccum"),
    ("LinearOperation", {"transposeB": "yes"}, [(2, 4), (3, 4), (3,)], "LinearOperation: param transposeB"),
    ("MatMulOperation", {}, [(2, 3, 4), (3, 4, 5)],
     "MatMulOperation: batch dims of a [2, 3, 4] and b [3, 4, 5] differ"),
    ("MatmulOperation", {}, [(4,), (4, 5)], "MatmulOperation: inputs must be at least 2-d"),
    ("LinearQuantOperation", {"quantMode": 1}, [(2, 4), (3, 4), (3,)], "LinearQuantOperation: param quantMode"),
    ("LinearQuantOperation", {}, [(2, 4), (3, 4), (3,)], "LinearQuantOperation: weight (input 1) must be int8"),
    ("LinearQuantOperation", {"outDataType": "int8"}, [(2, 4), (3, 4), (3,)],
     "LinearQuantOperation: param outDataType: must be a float type"),
    ("RmsNormOperation", {}, [(2, 8), (6,)], "RmsNormOperation: gamma has 6 elements"),
    ("RmsNormOperation", {"layerType": 2}, [(2, 8), (8,)], "RmsNormOperation: param layerType"),
    ("RmsNormOperation", {"normParam": {"epsilon": -1}}, [(2, 8), (8,)], "RmsNormOperation: param normParam.epsilon"),
    ("LayerNormOperation", {"normParam": {"beginNormAxis": 0}}, [(2, 8), (8,), (4,)],
     "LayerNormOperation: input 2 has shape [4]"),
    ("LayerNormOperation", {"normParam": {"beginNormAxis": 1}}, [(2, 4, 8), (8,), (8,)],
     "LayerNormOperation: param normParam.beginNormAxis 1"),
    ("RopeOperation", {"rotaryCoeff": 3}, [], "RopeOperation: param rotaryCoeff"),
    ("RopeOperation", {}, [(4, 16), (4, 16), (4, 6), (4, 6), (1,)],
     "RopeOperation: param rotaryCoeff 4 does not divide headDim 6"),
    ("ActivationOperation", {"activationType": 5}, [(2, 4)], "ActivationOperation: param activationType"),
    ("ActivationOperation", {}, [(2, 4)], "ActivationOperation: param activationType: is required"),
    ("ActivationOperation", {"activationType": 6}, [(2, 5)], "ActivationOperation: SWIGLU_FORWARD needs an even size"),
    ("ActivationOperation", {"activationType": 6, "dim": 2}, [(2, 4)], "ActivationOperation: param dim"),
    ("SoftmaxOperation", {"axes": [0, 2]}, [(2, 3, 4)], "SoftmaxOperation: param axes: must be consecutive"),
    ("SoftmaxOperation", {}, [(2, 3)], "SoftmaxOperation: param axes: must name at least one axis"),
    ("ElewiseOperation", {"elewiseType": 7}, [(2, 3)], "ElewiseOperation: param elewiseType"),
    ("ElewiseOperation", {"elewiseType": 1}, [(2, 3)], "ElewiseOperation: param outTensorType: ELEWISE_CAST needs"),
    ("ElewiseOperation", {"elewiseType": 8}, [(2, 3), (3, 2)], "ElewiseOperation: shapes [2, 3] and [3, 2] do not"),
    ("ElewiseOperation", {"elewiseType": 8}, [(2, 3)], "ElewiseOperation: expected 2 input tensors, found 1"),
    ("ElewiseOperation", {"elewiseType": 6, "quantParam": {"inputScale": 0}}, [(2, 3)],
     "ElewiseOperation: param quantParam.inputScale"),
    ("ElewiseOperation", {"elewiseType": 17}, [(2, 3), (2,), (0,)], "ElewiseOperation: scale (input 1) must hold 3"),
    ("ElewiseOperation", {"elewiseType": 18}, [(2, 3), (3,), (0,)], "ElewiseOperation: x (input 0) must be int8"),
    ("GatherOperation", {"axis": 2}, [(2, 3), (1,)], "GatherOperation: param axis 2 is out of range"),
    ("GatherOperation", {"batchDims": 1}, [(2, 3), (1,)], "GatherOperation: param batchDims"),
    ("SamplingOperation", {"outDataType": "float16"}, [(2, 3)], "SamplingOperation: param outDataType"),
    ("SamplingOperation", {}, [(2, 0)], "SamplingOperation: logits [2, 0] need a non-empty last dim"),
    ("SplitOperation", {"splitNum": 3}, [(4, 2)], "SplitOperation: dim 0 of x [4, 2] is not divisible"),
    ("SplitOperation", {"splitNum": 2, "splitSizes": [1, 2]}, [(4, 2)], "SplitOperation: param splitSizes sum to 3"),
    ("SplitOperation", {"splitNum": 2, "splitSizes": [4]}, [(4, 2)], "SplitOperation: param splitSizes: holds 1"),
    ("SplitOperation", {"splitDim": 2}, [(4, 2)], "SplitOperation: param splitDim: 2 is out of range"),
    ("ConcatOperation", {"concatDim": 1}, [(2, 3), (3, 3)], "ConcatOperation: inputs [2, 3] and [3, 3] differ outside"),
    ("ConcatOperation", {}, [(2, 3), (2,)], "ConcatOperation: inputs differ in rank"),
    ("TransposeOperation", {"perm": [0, 0]}, [(2, 3)], "TransposeOperation: param perm: must be a permutation"),
    ("TransposeOperation", {"perm": [1, 0]}, [(2, 3, 4)], "TransposeOperation: param perm has 2 entries"),
    ("SliceOperation", {"offsets": [0, 3], "size": [1, 1]}, [(2, 3)], "SliceOperation: param offsets: offset 3"),
    ("SliceOperation", {"offsets": [0, 1], "size": [1, 0]}, [(2, 3)], "SliceOperation: param size: size 0"),
    ("SliceOperation", {"offsets": [0, 1], "size": [1, 3]}, [(2, 3)], "SliceOperation: param size: offset 1 + size 3"),
    ("SliceOperation", {"offsets": [0], "size": [1]}, [(2, 3)], "SliceOperation: param offsets: has 1 entries"),
]


@pytest.mark.parametrize("op_type, param, shapes, message", ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_bad_params_and_shapes_raise_errors_naming_the_type(ait_llm, reference, op_type, param, shapes, message):
    inputs = [torch.ones(s, dtype=F64) for s in shapes]
    if op_type == "RopeOperation" and inputs:
        inputs[-1] = torch.tensor([4], dtype=torch.int32)
    with pytest.raises(ait_llm._ait_core.AitError, match=re.escape(message)):
        reference(op_type, param, inputs)


def test_index_and_sequence_errors(ait_llm, reference, gen):
    error = ait_llm._ait_core.AitError
    with pytest.raises(error, match=r"GatherOperation: index 7 out of range \[0, 5\)"):
        reference("GatherOperation", {}, [torch.ones(5, 2, dtype=F64), torch.tensor([0, 7])])
    with pytest.raises(error, match=r"GatherOperation: index -1 out of range"):
        reference("GatherOperation", {}, [torch.ones(5, 2, dtype=F64), torch.tensor([-1])])
    with pytest.raises(error, match=r"GatherOperation: indices \(input 1\) must be an integer tensor"):
        reference("GatherOperation", {}, [torch.ones(5, 2, dtype=F64), torch.tensor([1.0], dtype=F64)])
    with pytest.raises(error, match="RopeOperation: seqLen sums to 3, but cos/sin hold 4 tokens"):
        reference("RopeOperation", {}, [torch.ones(4, 8, dtype=F64)] * 4 + [torch.tensor([1, 2])])

    q, k, v, ck, cv, m, offsets, seq_lens = attention_case(gen)
    param = {"headNum": 4, "kvHeadNum": 2}

    def attention(param=param, offsets=offsets, seq_lens=seq_lens, layer=1, mask=m, q=q):
        return reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck, cv, mask, offsets, seq_lens,
                                                                           layer))

    for bad_param, message in [({}, "param headNum: must be > 0"), ({"headNum": 4, "kvHeadNum": 3}, "param kvHeadNum"),
                               ({"headNum": 4, "kvHeadNum": 2, "kernelType": 2}, "param kernelType"),
                               ({"headNum": 4, "kvHeadNum": 2, "headDim": 4}, "param headDim 4 disagrees"),
                               ({"headNum": 3, "kvHeadNum": 3}, "q hidden size 32 is not a multiple"),
                               ({"headNum": 8, "kvHeadNum": 2},
                                r"k \(input 1\) has shape \[8, 16\], expected \[8, 8\]")]:
        with pytest.raises(error, match="SelfAttentionOperation: " + message):
            attention(param=bad_param)
    with pytest.raises(error, match=r"SelfAttentionOperation: sequence 0: need 0 <= seqLen \(5\) <= tokenOffset \(9\) "
                                    r"<= maxSeqLen \(8\)"):
        attention(offsets=[9, 3])
    with pytest.raises(error, match=r"SelfAttentionOperation: sequence 1: need 0 <= seqLen \(3\) <= tokenOffset \(2\)"):
        attention(offsets=[5, 2])
    with pytest.raises(error, match="SelfAttentionOperation: seqLen sums to 7, but q holds 8 tokens"):
        attention(seq_lens=[5, 2])
    with pytest.raises(error, match="SelfAttentionOperation: seqLen sums to more than the 8 tokens"):
        attention(seq_lens=[6, 3], offsets=[6, 3])
    with pytest.raises(error, match=r"SelfAttentionOperation: layerId 2 is out of range \[0, 2\)"):
        attention(layer=2)
    with pytest.raises(error, match=r"SelfAttentionOperation: attentionMask \(input 5\) has shape \[8, 7\]"):
        attention(mask=m[:, :7])
    with pytest.raises(error, match=r"SelfAttentionOperation: q \(input 0\) must be \[nTokens, hidden\]"):
        attention(q=q.reshape(1, 8, 4, 8))
    with pytest.raises(error, match="SelfAttentionOperation: expected 9 input tensors, found 8"):
        reference("SelfAttentionOperation", param, attention_inputs(q, k, v, ck, cv, m, offsets, seq_lens, 1)[:8])
