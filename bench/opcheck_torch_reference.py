"""Baseline for `make bench` (opcheck section): the original Python tool's way of checking the
operations of an ATB dump, re-created in torch float64. It walks the dump as `ait llm opcheck`
does (an operation folder holding op_param.json and after/ is checked, a graph's nodes are
checked instead of the graph), reads each tensor of after/ with the project's reader
(ait_llm.tensor_io), recomputes the operation in torch float64 (rounding where the contract
stores a value, as opcheck's references do), and scores each dumped output as opcheck does
(src/opcheck/output_score.cc): element error |out - ref| / max(|ref|, rms(ref) / 128) (|out -
ref| where that is <= 2^-23), the pass rate within the dtype's level, pass when the rate meets
the standard. One row per output goes to a CSV.

Operation types: Gather, RmsNorm, Linear, Rope, SelfAttention, Activation (SWISH), Elewise
(ADD, MUL): those of the reference engine's Llama graph. Any other type is an error, so the
bench cannot silently compare different work.

usage: opcheck_torch_reference.py DUMP_DIR [CSV_OUT]
         prints: operations=N outputs=M passed=P failed=F seconds=S
       opcheck_torch_reference.py --list DUMP_DIR
         prints the tensor files it reads (every intensor/outtensor of each checked after/), one a line
"""
import csv
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch

from ait_llm import tensor_io

torch.set_num_threads(os.cpu_count() or 1)  # Debian's torch starts with one thread here
F64 = torch.float64
EPS32 = 2.0 ** -23
FLOOR_OF_RMS = 1.0 / 128
STANDARDS = {torch.float16: (0.001, 99.9), torch.bfloat16: (0.004, 99.6)}  # default (0.0001, 99.99)
ID_FOLDER = re.compile(r"^([0-9]+)_(.+)$")


def f32(x):
    """An ATB float param as stored (float32)."""
    return float(np.float32(x))


def as_torch(value):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tensor_io.TensorDescription):
        raise ValueError("description-only tensor")
    return torch.from_numpy(np.ascontiguousarray(value))


def round_to(dtype, x):
    """x (float64) rounded to what dtype stores."""
    return x if dtype == F64 else x.to(dtype).to(F64)


# ---- references: (param, inputs as (float64 tensor, storage dtype)) -> [float64 outputs] ----

def gather(p, ins):
    (table, _), (idx, _) = ins
    axis = int(p.get("axis", 0))
    out = torch.index_select(table, axis, idx.reshape(-1).long())
    shape = list(table.shape[:axis]) + list(idx.shape) + list(table.shape[axis + 1:])
    return [out.reshape(shape)]


def rms_norm(p, ins):
    (x, dt), (g, _) = ins
    eps = f32(p.get("normParam", {}).get("epsilon", 1e-5))
    h = g.numel()
    xr = x.reshape(-1, h)
    y = xr * torch.rsqrt((xr * xr).mean(dim=1, keepdim=True) + eps) * g.reshape(1, h)
    return [round_to(dt, y.reshape(x.shape))]


def linear(p, ins):
    (x, dt), (w, _) = ins[0], ins[1]
    if p.get("transposeA", False):
        raise ValueError("transposeA")
    y = x @ (w.t() if p.get("transposeB", True) else w)
    y = round_to(dt, y)
    if p.get("hasBias", True):
        y = round_to(dt, y + ins[2][0])
    return [y]


def rope(p, ins):
    (q, qdt), (k, kdt), (cos, _), (sin, _), _seqlen = ins
    coeff = int(p.get("rotaryCoeff", 4))
    hd = cos.shape[-1]
    tokens = cos.numel() // hd
    chunk = hd // coeff
    c = cos.reshape(tokens, 1, coeff // 2, 2, chunk)
    s = sin.reshape(tokens, 1, coeff // 2, 2, chunk)

    def rotate(x, dt):
        v = x.reshape(tokens, -1, coeff // 2, 2, chunk)
        a, b = v[:, :, :, 0], v[:, :, :, 1]
        ra = a * c[:, :, :, 0] - b * s[:, :, :, 0]
        rb = b * c[:, :, :, 1] + a * s[:, :, :, 1]
        return round_to(dt, torch.stack((ra, rb), dim=3).reshape(x.shape))

    return [rotate(q, qdt), rotate(k, kdt)]


LOWEST = {torch.float16: -65504.0, torch.bfloat16: -3.3895313892515355e38, torch.float32: -3.4028234663852886e38}


def self_attention(p, ins):
    (q, qdt), (k, _), (v, _), (ck, cdt), (cv, _), (mask, _), (off, _), (sl, _), (layer, _) = ins
    heads = int(p["headNum"])
    kv_heads = int(p.get("kvHeadNum", 0)) or heads
    scale = f32(p.get("qScale", 1.0)) * f32(p.get("qkScale", 1.0))
    high = int(p.get("kernelType", 0)) == 1
    mid = (F64 if qdt == F64 else torch.float32) if high else qdt
    masked = LOWEST.get(mid, -sys.float_info.max)
    tokens = q.shape[0]
    hd = q.numel() // tokens // heads
    kvh = kv_heads * hd
    group = heads // kv_heads
    shape = ck.shape
    batch, max_seq = shape[-3], shape[-2]
    lay = int(layer.reshape(-1)[0])
    ck = ck.reshape(-1, batch, max_seq, kvh)[lay].clone()  # this step's k/v written into copies
    cv = cv.reshape(-1, batch, max_seq, kvh)[lay].clone()
    qh = q.reshape(tokens, heads, hd)
    out = torch.zeros(tokens, heads, hd, dtype=F64)
    t = 0
    for b in range(batch):
        o, n = int(off[b]), int(sl[b])
        start = o - n
        ck[b, start:o] = round_to(cdt, k[t:t + n].reshape(n, kvh))
        cv[b, start:o] = round_to(cdt, v[t:t + n].reshape(n, kvh))
        kk = ck[b, :o].reshape(o, kv_heads, hd).repeat_interleave(group, dim=1)  # [o, heads, hd]
        vv = cv[b, :o].reshape(o, kv_heads, hd).repeat_interleave(group, dim=1)
        s = torch.einsum("thd,jhd->htj", qh[t:t + n], kk) * scale  # [heads, n, o]
        pos = torch.arange(start, o)
        if mask.numel() > 0:
            m = mask.reshape(-1, max_seq, max_seq)[b if mask.dim() == 3 else 0]
            s = s + m[pos][:, :o].unsqueeze(0)
        s = round_to(mid, s)
        causal = torch.arange(o).unsqueeze(0) > pos.unsqueeze(1)  # [n, o]
        s = s.masked_fill(causal.unsqueeze(0), -math.inf)
        mx = s.max(dim=2, keepdim=True).values
        e = torch.where(s <= masked, torch.zeros_like(s), torch.exp(s - mx))
        prob = round_to(mid, e / e.sum(dim=2, keepdim=True))
        out[t:t + n] = torch.einsum("htj,jhd->thd", prob, vv)
        t += n
    return [round_to(qdt, out.reshape(q.shape))]


def activation(p, ins):
    (x, dt), = ins
    act = p.get("activationType")
    if act not in (4, "ACTIVATION_SWISH", "swish", "silu"):
        raise ValueError(f"activationType {act}")
    return [round_to(dt, x * torch.sigmoid(f32(p.get("scale", 1.0)) * x))]


def elewise(p, ins):
    t = p.get("elewiseType")
    (x, dt), (y, _) = ins
    if t in (8, "ELEWISE_ADD"):
        return [round_to(dt, x + y)]
    if t in (9, "ELEWISE_MUL"):
        return [round_to(dt, x * y)]
    raise ValueError(f"elewiseType {t}")


REFERENCES = {"GatherOperation": gather, "RmsNormOperation": rms_norm, "LinearOperation": linear,
              "RopeOperation": rope, "SelfAttentionOperation": self_attention, "ActivationOperation": activation,
              "ElewiseOperation": elewise}


# ---- scoring, as src/opcheck/output_score.cc ----

def score(out, out_dtype, ref):
    level, required = STANDARDS.get(out_dtype, (0.0001, 99.99))
    o, g = out.reshape(-1), ref.reshape(-1)
    relative = out_dtype.is_floating_point
    finite = torch.isfinite(g)
    rms = torch.sqrt((g[finite] ** 2).mean()).item() if finite.any() else 0.0
    diff = (o - g).abs()
    if relative:
        denom = torch.clamp(g.abs(), min=FLOOR_OF_RMS * rms)
        err = torch.where(denom > EPS32, diff / denom, diff)
    else:
        err = diff
    on, gn = torch.isnan(o), torch.isnan(g)
    err = torch.where(on | gn, torch.where(on & gn, 0.0, math.inf), err)
    oi, gi = torch.isinf(o), torch.isinf(g)
    err = torch.where(oi | gi, torch.where(o == g, 0.0, math.inf), err)
    n = err.numel()
    rate = 100.0 * (err <= level).sum().item() / n if n else 100.0
    worst = int(torch.argmax(err).item()) if n else -1
    max_rel = err[worst].item() if n else 0.0
    return rate, max_rel, worst, rate >= required


# ---- the walk, as src/opcheck/case_discovery.cc ----

def op_folders(d):
    found = []
    for name in os.listdir(d):
        m = ID_FOLDER.match(name)
        if m and os.path.isdir(os.path.join(d, name)):
            found.append((int(m.group(1)), m.group(1), m.group(2), os.path.join(d, name)))
    return sorted(found)


def is_graph(d):
    return any(os.path.isfile(os.path.join(sub, "op_param.json")) for *_, sub in op_folders(d))


def walk(d, prefix, cases):
    for _, op_id, op_type, sub in op_folders(d):
        full = f"{prefix}_{op_id}" if prefix else op_id
        has_param = os.path.isfile(os.path.join(sub, "op_param.json"))
        has_after = os.path.isdir(os.path.join(sub, "after"))
        if has_param and is_graph(sub):
            pass  # a graph: its nodes are the cases
        elif has_param and has_after:
            cases.append((full, op_type, sub))
            continue
        elif has_param or has_after:
            continue
        walk(sub, full, cases)


def token_folders(root):
    """Token folders ({dev}_{pid}/{digits}) at or below root."""
    out = []
    for d, subs, _ in os.walk(root):
        if re.fullmatch(r"[0-9]+_[0-9]+", os.path.basename(d)):
            out += [os.path.join(d, s) for s in sorted(subs, key=int) if s.isdigit()]
            subs[:] = []
    return out


def numbered(after, prefix):
    files = {}
    for name in os.listdir(after):
        m = re.fullmatch(prefix + r"([0-9]+)\.bin", name)
        if m:
            files[int(m.group(1))] = os.path.join(after, name)
    return [files[i] for i in range(len(files))]


def read(path):
    raw = as_torch(tensor_io.read_tensor(path))
    return raw.to(F64), raw.dtype


def find_cases(dump):
    cases = []
    for token in token_folders(dump):
        walk(token, "", cases)
    return cases


def list_files(dump):
    for _, _, folder in find_cases(dump):
        after = os.path.join(folder, "after")
        print("\n".join(numbered(after, "intensor") + numbered(after, "outtensor")))


def main(dump, csv_out=None):
    t0 = time.perf_counter()
    cases = find_cases(dump)
    rows, passed_ops = [], 0
    for op_id, op_type, folder in cases:
        param_text = open(os.path.join(folder, "op_param.json")).read().strip()
        param = json.loads(param_text) if param_text else {}
        after = os.path.join(folder, "after")
        inputs = [read(f) for f in numbered(after, "intensor")]
        outputs = [read(f) for f in numbered(after, "outtensor")]
        refs = REFERENCES[op_type](param, inputs)
        ok = len(refs) == len(outputs)
        for i, ((out, dt), ref) in enumerate(zip(outputs, refs)):
            rate, max_rel, worst, good = score(out, dt, ref)
            ok = ok and good
            rows.append([op_id, op_type, i, str(dt).replace("torch.", ""), f"{rate:.4f}", f"{max_rel:.6g}", worst,
                         "PASS" if good else "FAILED"])
        passed_ops += ok
    if csv_out:
        with open(csv_out, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["op_id", "op_type", "output", "dtype", "rel_pass_rate", "max_rel_error", "worst", "status"])
            w.writerows(rows)
    print(f"operations={len(cases)} outputs={len(rows)} passed={passed_ops} failed={len(cases) - passed_ops} "
          f"seconds={time.perf_counter() - t0:.3f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--list"]:
        list_files(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
