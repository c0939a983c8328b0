"""opcheck's float64 references of the ATB operation types the reference engine does not run
(cache, reductions, layout, collectives; src/opcheck/references/{cache,reduce,layout,collective}.cc)
equal an independent torch float64 computation on random inputs, rounded to the output dtype,
and refuse hostile inputs and unsupported params with an error that names the operation type."""
import importlib
import json
import sys

import numpy as np
import pytest
import torch

from conftest import BUILD

TORCH_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32,
                "float64": torch.float64, "int8": torch.int8, "int32": torch.int32, "int64": torch.int64,
                "bool": torch.bool, "uint8": torch.uint8}


@pytest.fixture(scope="module")
def ext():
    folder = BUILD / "python"
    if not any((folder / "ait_llm").glob("_ait_core*.so")):
        pytest.fail(f"{folder}/ait_llm/_ait_core*.so is missing: run 'make build' first (or set AIT_BUILD_DIR)")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module("ait_llm._ait_core")


def arg(t):
    """A torch tensor as the extension's (float64 array, dtype name) input."""
    name = next(k for k, v in TORCH_DTYPES.items() if v == t.dtype)
    return (t.double().numpy(), name)


def run(ext, op, param, *inputs, out_dtypes=()):
    """The reference's outputs as [(float64 tensor, dtype name)]."""
    res = ext.opcheck_reference(op, json.dumps(param), [arg(t) for t in inputs], list(out_dtypes))
    return [(torch.from_numpy(a), d) for a, d in res]


def stored(t, dtype):
    """Float64 values of `t` as a tensor of `dtype` stores them."""
    return t.to(TORCH_DTYPES[dtype]).double()


def check(got, want, dtype):
    """`got` = (tensor, dtype name) equals float64 `want` rounded to `dtype` (rtol 1e-12)."""
    values, name = got
    assert name == dtype
    want = stored(want.double(), dtype)
    assert tuple(values.shape) == tuple(want.shape)
    scale = max(1.0, float(want.abs().max())) if want.numel() else 1.0
    np.testing.assert_allclose(values.numpy(), want.numpy(), rtol=1e-12, atol=1e-12 * scale)


def fails(ext, op, param, *inputs, match):
    with pytest.raises(RuntimeError, match=match) as e:
        run(ext, op, param, *inputs)
    assert str(e.value).startswith(op), str(e.value)


def rand(*shape, dtype=torch.float32, gen):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def test_types_registered_and_random_ones_left_out(ext):
    types = set(ext.opcheck_reference_types())
    mine = {"PagedAttentionOperation", "ReshapeAndCacheOperation", "KvCacheOperation", "CumsumOperation",
            "ReduceOperation", "SortOperation", "FastSoftMaxOperation", "FastSoftMaxGradOperation",
            "StridedBatchMatmulOperation", "RopeGradOperation", "WhereOperation", "FillOperation", "PadOperation",
            "UnpadOperation", "GenAttentionMaskOperation", "RepeatOperation", "AsStridedOperation",
            "SetValueOperation", "TransdataOperation", "AllReduceOperation", "AllGatherOperation",
            "BroadcastOperation", "LinearParallelOperation"}
    assert mine <= types
    assert not {"MultinomialOperation", "TopkToppSamplingOperation", "LinearSparseOperation"} & types


# ---------------------------------------------------------------- PagedAttention


def paged_attention_torch(q, kc, vc, tables, lens, scale, mask=None):
    tokens, heads, _ = q.shape
    block = kc.shape[1]
    group = heads // kc.shape[2]
    out = torch.zeros(tokens, heads, vc.shape[3], dtype=torch.float64)
    for i in range(tokens):
        n = int(lens[i])
        if n == 0:
            continue
        pos = torch.arange(n)
        blocks = tables[i].long()[pos // block]
        keys = kc.double()[blocks, pos % block].repeat_interleave(group, dim=1)  # [n, heads, D]
        values = vc.double()[blocks, pos % block].repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,nhd->hn", q[i].double(), keys) * scale
        if mask is not None:
            m = mask.double()[i if mask.shape[0] > 1 else 0]
            scores = scores + (m[0, :n] if mask.dim() == 3 else m[:, 0, :n])
        out[i] = torch.einsum("hn,nhd->hd", torch.softmax(scores, dim=-1), values)
    return out


def paged_inputs(gen, tokens=3, heads=4, kv_heads=2, dim=8, dim_v=8, blocks=6, block=4, dtype=torch.float32):
    q = rand(tokens, heads, dim, dtype=dtype, gen=gen)
    kc = rand(blocks, block, kv_heads, dim, dtype=dtype, gen=gen)
    vc = rand(blocks, block, kv_heads, dim_v, dtype=dtype, gen=gen)
    lens = torch.tensor([5, 0, 11][:tokens] + [7] * max(0, tokens - 3), dtype=torch.int32)
    max_blocks = 3
    tables = torch.randint(0, blocks, (tokens, max_blocks), generator=gen, dtype=torch.int32)
    for i, n in enumerate(lens.tolist()):  # entries past a sequence's end are never read
        tables[i, (n + block - 1) // block:] = -1
    return q, kc, vc, tables, lens


@pytest.mark.parametrize("heads,kv_heads,dim_v,scale,dtype", [
    (4, 4, 8, 1.0, "float32"), (4, 2, 8, 0.35, "float32"), (8, 1, 5, 0.125, "float16"), (4, 0, 8, 0.5, "float64")])
def test_paged_attention_without_mask(ext, gen, heads, kv_heads, dim_v, scale, dtype):
    q, kc, vc, tables, lens = paged_inputs(gen, heads=heads, kv_heads=kv_heads or heads, dim_v=dim_v,
                                           dtype=TORCH_DTYPES[dtype])
    param = {"headNum": heads, "kvHeadNum": kv_heads, "qkScale": scale, "maskType": 0, "quantType": 0}
    (out,) = run(ext, "PagedAttentionOperation", param, q, kc, vc, tables, lens)
    check(out, paged_attention_torch(q, kc, vc, tables, lens, scale), dtype)


@pytest.mark.parametrize("mask_type,mask_shape", [
    (1, (3, 1, 12)), ("MASK_TYPE_NORM", (1, 1, 11)), (2, (3, 4, 1, 12)), (2, (1, 4, 1, 11)), (2, (3, 1, 1, 11))])
def test_paged_attention_with_mask(ext, gen, mask_type, mask_shape):
    q, kc, vc, tables, lens = paged_inputs(gen)
    mask = rand(*mask_shape, gen=gen)
    param = {"headNum": 4, "kvHeadNum": 2, "qkScale": 0.3, "maskType": mask_type}
    (out,) = run(ext, "PagedAttentionOperation", param, q, kc, vc, tables, lens, mask)
    check(out, paged_attention_torch(q, kc, vc, tables, lens, 0.3, mask), "float32")


def test_paged_attention_refuses_bad_tables_and_params(ext, gen):
    q, kc, vc, tables, lens = paged_inputs(gen)
    param = {"headNum": 4, "kvHeadNum": 2}
    bad = tables.clone()
    bad[2, 1] = 6
    fails(ext, "PagedAttentionOperation", param, q, kc, vc, bad, lens, match=r"blockTables\[2\]\[1\] = 6")
    bad[2, 1] = -1
    fails(ext, "PagedAttentionOperation", param, q, kc, vc, bad, lens, match="outside")
    long_lens = lens.clone()
    long_lens[0] = 13
    fails(ext, "PagedAttentionOperation", param, q, kc, vc, tables, long_lens, match=r"contextLens\[0\] = 13")
    fails(ext, "PagedAttentionOperation", {"headNum": 4, "kvHeadNum": 3}, q, kc, vc, tables, lens,
          match="kvHeadNum: 3 does not divide")
    fails(ext, "PagedAttentionOperation", {**param, "quantType": 1}, q, kc, vc, tables, lens,
          match="param quantType: unsupported value 1")
    fails(ext, "PagedAttentionOperation", {**param, "maskType": 3}, q, kc, vc, tables, lens,
          match="param maskType: unsupported value 3")
    fails(ext, "PagedAttentionOperation", {**param, "maskType": 1}, q, kc, vc, tables, lens, rand(3, 4, 12, gen=gen),
          match="mask")
    fails(ext, "PagedAttentionOperation", {**param, "maskType": 1}, q, kc, vc, tables, lens, rand(3, 1, 8, gen=gen),
          match="shorter than contextLens")
    fails(ext, "PagedAttentionOperation", {"headNum": 8, "kvHeadNum": 2}, q, kc, vc, tables, lens,
          match="headNum 8")
    fails(ext, "PagedAttentionOperation", param, q, kc, vc, tables, match="expected 5 input tensors")


# ---------------------------------------------------------------- ReshapeAndCache, KvCache


def test_reshape_and_cache_writes_slots(ext, gen):
    tokens, blocks, block = 6, 3, 4
    key = rand(tokens, 2, 8, dtype=torch.float16, gen=gen)
    value = rand(tokens, 1, 5, dtype=torch.float16, gen=gen)
    kcache = rand(blocks, block, 2, 8, dtype=torch.float16, gen=gen)
    vcache = rand(blocks, block, 1, 5, dtype=torch.float16, gen=gen)
    slots = torch.tensor([3, -1, 11, 0, 7, 3], dtype=torch.int32)  # -1 skipped, slot 3 twice: the later wins
    k_out, v_out = run(ext, "ReshapeAndCacheOperation", {"compressType": 0, "kvCacheCfg": 0}, key, value, kcache,
                       vcache, slots)
    want_k, want_v = kcache.double().clone(), vcache.double().clone()
    for t, s in enumerate(slots.tolist()):
        if s >= 0:
            want_k.view(-1, 2, 8)[s] = key[t].double()
            want_v.view(-1, 1, 5)[s] = value[t].double()
    check(k_out, want_k, "float16")
    check(v_out, want_v, "float16")


def test_reshape_and_cache_refuses_bad_slots_and_params(ext, gen):
    key = rand(2, 1, 4, gen=gen)
    cache = rand(2, 3, 1, 4, gen=gen)
    args = (key, key, cache, cache)
    fails(ext, "ReshapeAndCacheOperation", {}, *args, torch.tensor([1, 6], dtype=torch.int32),
          match=r"slotMapping\[1\] = 6 is outside the cache's 6 slots")
    fails(ext, "ReshapeAndCacheOperation", {"kvCacheCfg": 1}, *args, torch.tensor([1, 2], dtype=torch.int32),
          match="param kvCacheCfg")
    fails(ext, "ReshapeAndCacheOperation", {}, *args, torch.tensor([1.0, 2.0]), match="must be an integer tensor")
    fails(ext, "ReshapeAndCacheOperation", {}, key, key, rand(2, 3, 2, 4, gen=gen), cache,
          torch.tensor([1, 2], dtype=torch.int32), match="keyCache")


def test_kv_cache_writes_rows_after_prefix(ext, gen):
    layers, batch, max_seq, hidden = 3, 3, 10, 16
    lens = torch.tensor([2, 0, 4], dtype=torch.int32)
    offsets = torch.tensor([5, 3, 4], dtype=torch.int32)
    new_kv = rand(6, hidden, dtype=torch.float16, gen=gen)
    cache = rand(layers, batch, max_seq, hidden, dtype=torch.float16, gen=gen)
    layer = torch.tensor([1], dtype=torch.int32)
    (out,) = run(ext, "KvCacheOperation", {}, new_kv, layer, cache, offsets, lens)
    want = cache.double().clone()
    row = 0
    for b in range(batch):
        n, end = int(lens[b]), int(offsets[b])
        want[1, b, end - n:end] = new_kv[row:row + n].double()
        row += n
    check(out, want, "float16")


def test_kv_cache_refuses_bad_offsets(ext, gen):
    new_kv = rand(4, 8, gen=gen)
    cache = rand(2, 2, 6, 8, gen=gen)
    i32 = lambda *v: torch.tensor(v, dtype=torch.int32)  # noqa: E731
    fails(ext, "KvCacheOperation", {}, new_kv, i32(2), cache, i32(2, 2), i32(2, 2), match="layerId 2 is outside")
    fails(ext, "KvCacheOperation", {}, new_kv, i32(0), cache, i32(1, 2), i32(2, 2), match="batch 0")
    fails(ext, "KvCacheOperation", {}, new_kv, i32(0), cache, i32(7, 2), i32(2, 2), match="maxSeq")
    fails(ext, "KvCacheOperation", {}, new_kv, i32(0), cache, i32(3, 3), i32(3, 3), match="sums to 6 tokens")


# ---------------------------------------------------------------- reductions


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive,reverse", [(False, False), (True, False), (False, True), (True, True)])
def test_cumsum(ext, gen, axis, exclusive, reverse):
    x = rand(3, 5, 4, gen=gen)
    (out,) = run(ext, "CumsumOperation", {"axes": [axis], "exclusive": exclusive, "reverse": reverse}, x)
    xd = x.double().flip(axis) if reverse else x.double()
    want = torch.cumsum(xd, dim=axis)
    if exclusive:
        want = want - xd
    check(out, want.flip(axis) if reverse else want, "float32")


@pytest.mark.parametrize("reduce_type,axis", [(1, [0]), (2, [1, 2]), (3, [0, 2]), ("REDUCE_SUM", [0, 1, 2]),
                                              (3, [2])])
def test_reduce(ext, gen, reduce_type, axis):
    x = rand(3, 4, 5, dtype=torch.float16, gen=gen)
    (out,) = run(ext, "ReduceOperation", {"reduceType": reduce_type, "axis": axis}, x)
    fn = {1: torch.amax, 2: torch.amin, 3: torch.sum, "REDUCE_SUM": torch.sum}[reduce_type]
    check(out, fn(x.double(), dim=axis), "float16")


def test_reduce_and_cumsum_refuse_bad_params(ext, gen):
    x = rand(2, 3, gen=gen)
    fails(ext, "ReduceOperation", {"axis": [0]}, x, match="param reduceType: is missing")
    fails(ext, "ReduceOperation", {"reduceType": 3, "axis": [2]}, x, match="param axis: 2 is out of range")
    fails(ext, "ReduceOperation", {"reduceType": 4, "axis": [0]}, x, match="param reduceType: unsupported value 4")
    fails(ext, "CumsumOperation", {"axes": [0, 1]}, x, match="param axes: must hold exactly one axis")
    fails(ext, "CumsumOperation", {"axes": [2]}, x, match="param axes: 2 is out of range")


@pytest.mark.parametrize("k", [1, 4, 7])
def test_sort_top_k_descending(ext, gen, k):
    x = torch.randint(-3, 4, (3, 2, 7), generator=gen).to(torch.float16)  # many ties: stable order decides
    values, indices = run(ext, "SortOperation", {"num": [k]}, x)
    want_v, want_i = torch.sort(x.double(), dim=-1, descending=True, stable=True)
    check(values, want_v[..., :k], "float16")
    check(indices, want_i[..., :k], "int32")


def test_sort_refuses_bad_num(ext, gen):
    x = rand(2, 3, gen=gen)
    fails(ext, "SortOperation", {"num": [4]}, x, match=r"param num: 4 must be in \[1, 3\]")
    fails(ext, "SortOperation", {"num": [1, 2]}, x, match="exactly one value")
    fails(ext, "SortOperation", {}, x, match="exactly one value")


def seq_blocks(gen, heads, lens):
    return torch.cat([rand(heads * s * s, gen=gen) for s in lens])


def test_fast_softmax_and_grad(ext, gen):
    heads, lens = 2, [3, 1, 5]
    x = seq_blocks(gen, heads, lens)
    dy = seq_blocks(gen, heads, lens)
    param = {"headNum": heads, "qSeqLen": lens}
    (y,) = run(ext, "FastSoftMaxOperation", param, x)
    want_y, want_dx, start = [], [], 0
    for s in lens:
        rows = x[start:start + heads * s * s].double().reshape(-1, s).requires_grad_()
        soft = torch.softmax(rows, dim=-1)
        g = dy[start:start + heads * s * s].double().reshape(-1, s)
        want_y.append(soft.detach().reshape(-1))
        # dx of the softmax at y = the stored y (float32), from the formula's input y
        y32 = soft.detach().float().double()
        want_dx.append((y32 * (g - (y32 * g).sum(-1, keepdim=True))).reshape(-1))
        start += heads * s * s
    check(y, torch.cat(want_y), "float32")
    (dx,) = run(ext, "FastSoftMaxGradOperation", param, torch.cat(want_y).float(), dy)
    check(dx, torch.cat(want_dx), "float32")
    # The gradient is the autograd gradient of softmax (checked in float64 end to end).
    rows = torch.randn(8, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    soft = torch.softmax(rows, dim=-1)
    g = torch.randn(8, 4, dtype=torch.float64, generator=gen)
    soft.backward(g)
    (dx64,) = run(ext, "FastSoftMaxGradOperation", {"headNum": 2, "qSeqLen": [4]}, soft.detach().reshape(-1),
                  g.reshape(-1))
    check(dx64, rows.grad.reshape(-1), "float64")
    fails(ext, "FastSoftMaxOperation", {"headNum": 2, "qSeqLen": [3, 2]}, x, match="must be 1-D of")
    fails(ext, "FastSoftMaxOperation", {"headNum": 0, "qSeqLen": lens}, x, match="param headNum")


def strided_bmm_torch(a, b, p):
    a, b = a.double().reshape(-1), b.double().reshape(-1)
    out = torch.zeros(sum(m * n for m, n in zip(p["m"], p["n"])) * p["headNum"], dtype=torch.float64)
    base_a = base_b = base_c = 0
    for i in range(p["batch"]):
        m, n, k = p["m"][i], p["n"][i], p["k"][i]
        for j in range(p["headNum"]):
            ra, ca = (k, m) if p["transposeA"] else (m, k)
            rb, cb = (n, k) if p["transposeB"] else (k, n)
            ma = torch.stack([a[base_a + p["strideA"][i] * j + p["lda"][i] * t:][:ca] for t in range(ra)])
            mb = torch.stack([b[base_b + p["strideB"][i] * j + p["ldb"][i] * t:][:cb] for t in range(rb)])
            c = (ma.T if p["transposeA"] else ma) @ (mb.T if p["transposeB"] else mb)
            for t in range(m):
                start = base_c + p["strideC"][i] * j + p["ldc"][i] * t
                out[start:start + n] = c[t]
        base_a += m * k * p["headNum"]
        base_b += n * k * p["headNum"]
        base_c += m * n * p["headNum"]
    return out


@pytest.mark.parametrize("case", ["qk", "pv", "trans_a"])
def test_strided_batch_matmul(ext, gen, case):
    lens, heads, size = [3, 5], 2, 4
    hidden = heads * size
    sq = [s * s for s in lens]
    if case == "qk":  # Q·K^T per head: [s, size] x [size, s]
        p = dict(transposeA=False, transposeB=True, m=lens, k=[size] * 2, n=lens, lda=[hidden] * 2,
                 ldb=[hidden] * 2, ldc=lens, strideA=[size] * 2, strideB=[size] * 2, strideC=sq)
        a, b = rand(sum(lens), hidden, gen=gen), rand(sum(lens), hidden, gen=gen)
    elif case == "pv":  # P·V per head: [s, s] x [s, size]
        p = dict(transposeA=False, transposeB=False, m=lens, k=lens, n=[size] * 2, lda=lens, ldb=[hidden] * 2,
                 ldc=[hidden] * 2, strideA=sq, strideB=[size] * 2, strideC=[size] * 2)
        a, b = rand(heads * sum(sq), gen=gen), rand(sum(lens), hidden, gen=gen)
    else:  # P^T·dO, A read transposed
        p = dict(transposeA=True, transposeB=False, m=lens, k=lens, n=[size] * 2, lda=lens, ldb=[hidden] * 2,
                 ldc=[hidden] * 2, strideA=sq, strideB=[size] * 2, strideC=[size] * 2)
        a, b = rand(heads * sum(sq), gen=gen), rand(sum(lens), hidden, gen=gen)
    p.update(batch=2, headNum=heads)
    (out,) = run(ext, "StridedBatchMatmulOperation", p, a, b)
    check(out, strided_bmm_torch(a, b, p), "float32")
    if case == "qk":
        fails(ext, "StridedBatchMatmulOperation", p, a[:-1], b, match="reads A up to element")
        fails(ext, "StridedBatchMatmulOperation", {**p, "m": [3]}, a, b, match="param m: must hold batch = 2")


@pytest.mark.parametrize("field", ["qSeqLen", "c_qSeqLen"])
def test_rope_grad(ext, gen, field):
    lens = [3, 1, 4]
    q = rand(sum(lens), 256, dtype=torch.float16, gen=gen)
    k = rand(sum(lens), 256, dtype=torch.float16, gen=gen)
    cos, sin = rand(6, 128, dtype=torch.float16, gen=gen), rand(6, 128, dtype=torch.float16, gen=gen)
    q_out, k_out = run(ext, "RopeGradOperation", {field: lens}, q, k, cos, sin)
    c = torch.cat([cos[:s] for s in lens]).double()
    s_ = torch.cat([sin[:s] for s in lens]).double()
    factor = (c + torch.cat([s_[:, 64:], -s_[:, :64]], dim=-1)).repeat(1, 2)
    check(q_out, q.double() * factor, "float16")
    check(k_out, k.double() * factor, "float16")
    fails(ext, "RopeGradOperation", {field: [3, 1, 3]}, q, k, cos, sin, match="sums to 7 tokens")
    fails(ext, "RopeGradOperation", {field: [7, 1]}, q[:8], k[:8], cos, sin, match=f"param {field}: 7 is outside")


# ---------------------------------------------------------------- layout


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3), (2, 3)), ((3,), (2, 3), (1,)), ((2, 1), (2, 3), (3,)),
                                    ((1, 4, 1), (2, 1, 3), (4, 3))])
def test_where(ext, gen, shapes):
    cond = torch.randint(0, 2, shapes[0], generator=gen).bool()
    x, y = rand(*shapes[1], dtype=torch.float16, gen=gen), rand(*shapes[2], dtype=torch.float16, gen=gen)
    (out,) = run(ext, "WhereOperation", {}, cond, x, y)
    check(out, torch.where(cond, x.double(), y.double()), "float16")


def test_where_refuses_shapes_that_do_not_broadcast(ext, gen):
    fails(ext, "WhereOperation", {}, torch.ones(3).bool(), rand(2, 3, gen=gen), rand(2, 4, gen=gen),
          match="do not broadcast")
    fails(ext, "WhereOperation", {}, torch.ones(5).bool(), rand(2, 3, gen=gen), rand(2, 3, gen=gen),
          match="cond")


@pytest.mark.parametrize("mask_shape", [(2, 3, 4), (3, 1), (4,)])
def test_fill_with_mask(ext, gen, mask_shape):
    x = rand(2, 3, 4, dtype=torch.float16, gen=gen)
    mask = torch.randint(0, 2, mask_shape, generator=gen).bool()
    (out,) = run(ext, "FillOperation", {"withMask": True, "value": [-3.3], "outDim": []}, x, mask)
    check(out, x.double().masked_fill(mask, -3.3), "float16")


def test_fill_without_mask_and_bad_params(ext, gen):
    (out,) = run(ext, "FillOperation", {"withMask": False, "value": [0.1], "outDim": [2, 5]})
    check(out, torch.full((2, 5), 0.1, dtype=torch.float64), "float16")
    fails(ext, "FillOperation", {"withMask": False, "value": [1, 2], "outDim": [2]}, match="param value: must hold")
    fails(ext, "FillOperation", {"withMask": False, "value": [1], "outDim": [1 << 20, 1 << 20]},
          match="larger than the 268435456 elements opcheck expects")
    fails(ext, "FillOperation", {"value": [1]}, rand(2, 3, gen=gen), torch.ones(2).bool(), match="mask")
    fails(ext, "FillOperation", {"value": "x"}, rand(2, 3, gen=gen), torch.ones(3).bool(),
          match="param value: expected a list of numbers")


def test_pad_takes_last_token_of_each_sequence(ext, gen):
    lens = [3, 1, 4]
    tmp = rand(sum(lens), 6, dtype=torch.float16, gen=gen)
    offsets = torch.zeros(1, sum(lens), dtype=torch.int32)
    seq = torch.tensor(lens, dtype=torch.int32).reshape(3, 1)
    ids = torch.zeros(3, 5, dtype=torch.int64)
    (out,) = run(ext, "PadOperation", {}, tmp, offsets, seq, ids)
    check(out, tmp.double()[torch.tensor(lens).cumsum(0) - 1], "float16")
    fails(ext, "PadOperation", {}, tmp, offsets, torch.tensor([[3], [0], [4]], dtype=torch.int32), ids,
          match=r"seqLen\[1\] = 0")
    fails(ext, "PadOperation", {}, tmp, offsets, torch.tensor([[3], [2], [4]], dtype=torch.int32), ids,
          match="sums past")


def unpad_inputs(lens, width, gen):
    ids = torch.zeros(len(lens), width, dtype=torch.int64)
    for b, n in enumerate(lens):
        ids[b, :n] = torch.randint(1, 50, (n,), generator=gen)
    cum = torch.tensor([width - n for n in lens]).cumsum(0).to(torch.int32).reshape(-1, 1)
    seq = torch.tensor(lens, dtype=torch.int32).reshape(-1, 1)
    return ids, cum, torch.tensor([[sum(lens)]], dtype=torch.int64), seq


def test_unpad_concatenates_tokens(ext, gen):
    lens, width = [3, 5, 0, 2], 5
    ids, cum, num, seq = unpad_inputs(lens, width, gen)
    x, cum_out, offsets = run(ext, "UnpadOperation", {}, ids, cum, num, seq)
    total = len(lens) * width
    want_x = torch.zeros(total, dtype=torch.float64)
    want_x[:sum(lens)] = torch.cat([ids[b, :n] for b, n in enumerate(lens)]).double()
    before = torch.cat([torch.zeros(1, dtype=torch.int32), cum[:-1, 0]])
    want_off = torch.zeros(total, dtype=torch.float64)
    want_off[:sum(lens)] = torch.repeat_interleave(before, torch.tensor(lens)).double()
    check(x, want_x.reshape(1, -1), "int64")
    check(cum_out, before.double().reshape(-1, 1), "int32")
    check(offsets, want_off.reshape(1, -1), "int32")
    bad = cum.clone()
    bad[1, 0] += 1
    fails(ext, "UnpadOperation", {}, ids, bad, num, seq, match=r"cumOffsetsNow\[1\] = 3 disagrees")
    fails(ext, "UnpadOperation", {}, ids, cum, num + 1, seq, match="tokenNum 11 disagrees")


def test_gen_attention_mask(ext, gen):
    x = rand(3, 1, 5, 5, dtype=torch.float16, gen=gen)
    lens, heads = [2, 5, 1], 2
    (out,) = run(ext, "GenAttentionMaskOperation", {"headNum": heads, "seqLen": lens}, x)
    want = torch.cat([x[b, 0, :s, :s].reshape(-1).double() for b, s in enumerate(lens) for _ in range(heads)])
    check(out, want, "float16")
    fails(ext, "GenAttentionMaskOperation", {"headNum": 1, "seqLen": [2, 6, 1]}, x, match="param seqLen: 6")
    fails(ext, "GenAttentionMaskOperation", {"headNum": 1, "seqLen": [2]}, x, match="seqLen's length")


@pytest.mark.parametrize("shape,multiples", [((2, 3), [2, 1]), ((2, 3), [1, 3]), ((3,), [2, 2]),
                                             ((2, 1, 3), [2, 4, 1]), ((4,), [3])])
def test_repeat_tiles(ext, gen, shape, multiples):
    x = rand(*shape, dtype=torch.bfloat16, gen=gen)
    (out,) = run(ext, "RepeatOperation", {"multiples": multiples}, x)
    check(out, x.double().repeat(*multiples), "bfloat16")


def test_repeat_refuses_bad_multiples(ext, gen):
    fails(ext, "RepeatOperation", {"multiples": [2]}, rand(2, 3, gen=gen), match="fewer than the input's rank")
    fails(ext, "RepeatOperation", {"multiples": [0, 1]}, rand(2, 3, gen=gen), match="not a positive multiple")


@pytest.mark.parametrize("size,stride,offset", [([2, 3], [3, 1], 0), ([3, 2], [1, 3], 2), ([2, 2, 2], [0, 4, 1], 5),
                                                ([4], [2], 1)])
def test_as_strided(ext, gen, size, stride, offset):
    x = rand(3, 4, gen=gen)
    (out,) = run(ext, "AsStridedOperation", {"size": size, "stride": stride, "offset": [offset]}, x)
    check(out, torch.as_strided(x.double().reshape(-1), size, stride, offset), "float32")


def test_as_strided_refuses_reads_past_the_input(ext, gen):
    x = rand(3, 4, gen=gen)
    fails(ext, "AsStridedOperation", {"size": [3, 4], "stride": [4, 1], "offset": [1]}, x,
          match="read position 12, the input holds 12")
    fails(ext, "AsStridedOperation", {"size": [2], "stride": [1, 1], "offset": [0]}, x, match="param stride")
    fails(ext, "AsStridedOperation", {"size": [2], "stride": [1], "offset": []}, x, match="param offset")


def test_set_value_copies_into_dst(ext, gen):
    dst = rand(4, 5, 6, dtype=torch.float16, gen=gen)
    src = rand(2, 5, 3, dtype=torch.float16, gen=gen)
    param = {"starts": [1, 0, 2], "ends": [3, 5, 5], "strides": [1, 1, 1]}
    (out,) = run(ext, "SetValueOperation", param, dst, src)
    want = dst.double().clone()
    want[1:3, 0:5, 2:5] = src.double()
    check(out, want, "float16")
    fails(ext, "SetValueOperation", {**param, "ends": [3, 5, 6]}, dst, src, match="dim 2")
    fails(ext, "SetValueOperation", {**param, "strides": [1, 2, 1]}, dst, src, match="param strides")


def nd_to_nz_torch(x, n0):
    b, m, n = x.shape
    mm, nn = -(-m // 16) * 16, -(-n // n0) * n0
    padded = torch.zeros(b, mm, nn, dtype=torch.float64)
    padded[:, :m, :n] = x.double()
    return padded.reshape(b, mm, nn // n0, n0).permute(0, 2, 1, 3).contiguous()


@pytest.mark.parametrize("shape,dtype", [((2, 20, 37), "float16"), ((16, 32), "bfloat16"), ((3, 5, 70), "int8")])
def test_transdata_nd_to_nz_and_back(ext, gen, shape, dtype):
    x = (torch.randint(-100, 100, shape, generator=gen) if dtype == "int8" else rand(*shape, gen=gen)).to(
        TORCH_DTYPES[dtype])
    n0 = 32 if dtype == "int8" else 16
    (nz,) = run(ext, "TransdataOperation", {"transdataType": 2}, x)
    want = nd_to_nz_torch(x if x.dim() == 3 else x.unsqueeze(0), n0)
    check(nz, want, dtype)
    back_in = want.to(TORCH_DTYPES[dtype])
    (nd,) = run(ext, "TransdataOperation", {"transdataType": 1, "outCrops": list(shape[-2:])}, back_in)
    check(nd, x.double().reshape(-1, *shape[-2:]), dtype)
    (full,) = run(ext, "TransdataOperation", {"transdataType": "FRACTAL_NZ_TO_ND", "outCrops": [0, 0]}, back_in)
    check(full, want.permute(0, 2, 1, 3).reshape(want.shape[0], want.shape[2], -1), dtype)


def test_transdata_refuses_undefined_and_bad_crops(ext, gen):
    x = rand(2, 16, 16, dtype=torch.float16, gen=gen)
    fails(ext, "TransdataOperation", {}, x, match="param transdataType: is UNDEFINED")
    fails(ext, "TransdataOperation", {"transdataType": 2}, rand(2, 3, gen=gen), match="no NZ layout")
    fails(ext, "TransdataOperation", {"transdataType": 1, "outCrops": [17, 4]}, rand(1, 1, 16, 16,
          dtype=torch.float16, gen=gen), match="param outCrops")


# ---------------------------------------------------------------- collectives


def ranks(n, per_rank):
    return [t for r in range(n) for t in per_rank(r)]


@pytest.mark.parametrize("kind,fn", [("sum", lambda s: s.sum(0)), ("prod", lambda s: s.prod(0)),
                                     ("max", lambda s: s.amax(0)), ("min", lambda s: s.amin(0))])
def test_all_reduce(ext, gen, kind, fn):
    xs = [rand(3, 4, dtype=torch.bfloat16, gen=gen) for _ in range(3)]
    param = {"rank": 1, "rankSize": 3, "rankRoot": 0, "allReduceType": kind, "backend": "hccl", "quantType": 0,
             "outDataType": -1}
    (out,) = run(ext, "AllReduceOperation", param, *xs)
    check(out, fn(torch.stack([x.double() for x in xs])), "bfloat16")


def test_all_gather_and_broadcast(ext, gen):
    xs = [rand(2, 3, dtype=torch.float16, gen=gen) for _ in range(4)]
    (out,) = run(ext, "AllGatherOperation", {"rank": 2, "rankSize": 4, "rankRoot": 0}, *xs)
    check(out, torch.stack([x.double() for x in xs]), "float16")
    (out,) = run(ext, "BroadcastOperation", {"rank": 3, "rankSize": 4, "rankRoot": 1}, *xs[1:])
    check(out, xs[1].double(), "float16")


def test_collectives_refuse_missing_ranks(ext, gen):
    xs = [rand(2, 3, gen=gen) for _ in range(3)]
    fails(ext, "AllReduceOperation", {"rank": 1, "rankSize": 3, "rankRoot": 1}, *xs[1:],
          match="param rankRoot: is 1: the result needs every rank's data")
    fails(ext, "AllReduceOperation", {"rank": 1, "rankSize": 3}, *xs[:2], match="ranks 0..2")
    fails(ext, "AllReduceOperation", {"rank": 3, "rankSize": 3}, *xs, match="param rank: 3 is outside")
    fails(ext, "AllReduceOperation", {"rankSize": 3, "allReduceType": "avg"}, *xs,
          match="param allReduceType: unsupported value")
    fails(ext, "AllGatherOperation", {"rankSize": 3}, xs[0], xs[1], rand(3, 2, gen=gen), match="x of rank 2")


@pytest.mark.parametrize("kind", [0, 1, "ALL_GATHER_LINEAR", 3])
@pytest.mark.parametrize("trans_weight,residual", [(True, False), (False, True)])
def test_linear_parallel(ext, gen, kind, trans_weight, residual):
    size, rank, k, n = 2, 1, 6, 5
    xs = [rand(4, 3, k, gen=gen) if kind != 1 else rand(1, 4, k, gen=gen) for _ in range(size)]
    ws = [rand(n, k, gen=gen) if trans_weight else rand(k, n, gen=gen) for _ in range(size)]
    res = [rand(n, gen=gen) for _ in range(size)]
    keep = kind == "ALL_GATHER_LINEAR"
    param = {"rank": rank, "rankSize": size, "rankRoot": 0, "transWeight": trans_weight, "hasResidual": residual,
             "backend": "lcoc", "type": kind, "quantType": -1, "outDataType": -1, "keepIntermediate": keep}
    inputs = ranks(size, lambda r: [xs[r], ws[r]] + ([res[r]] if residual else []))
    outs = run(ext, "LinearParallelOperation", param, *inputs)
    w = [(wt.double().T if trans_weight else wt.double()) for wt in ws]
    products = [xs[r].double() @ w[r] for r in range(size)]
    if kind == 0:
        want = sum(products)
    elif kind == 1:  # [1, 4, n]: dim 0 is 1, so the parts split dim 1
        want = sum(products).chunk(size, dim=1)[rank]
    elif keep:
        gathered = torch.cat([x.double() for x in xs])
        want = gathered @ w[rank]
    else:
        want = products[rank]
    if residual:
        want = want + res[rank].double()
    check(outs[0], want, "float32")
    if keep:
        assert len(outs) == 2
        check(outs[1], gathered, "float32")
    else:
        assert len(outs) == 1


def test_linear_parallel_refuses_bad_inputs(ext, gen):
    x, w = rand(4, 6, gen=gen), rand(5, 6, gen=gen)
    base = {"rank": 0, "rankSize": 2}
    fails(ext, "LinearParallelOperation", {**base, "transWeight": False}, x, w, x, w, match="disagree on k")
    fails(ext, "LinearParallelOperation", {**base, "hasResidual": True}, x, w, rand(4, gen=gen), x, w,
          rand(4, gen=gen), match="residual of rank 0")
    fails(ext, "LinearParallelOperation", {**base, "quantType": 0}, x, w, x, w, match="param quantType")
    fails(ext, "LinearParallelOperation", {**base, "type": 4}, x, w, x, w, match="param type: unsupported value 4")
    fails(ext, "LinearParallelOperation", {**base, "keepIntermediate": True}, x, w, x, w, match="keepIntermediate")
