"""Baseline for `make bench`: the original Python tool's way of comparing two same-layout
ATB dumps, re-created from its documented behaviour (FORMATS.md 1.2, 7.6): per pair, read
each .bin whole, parse the header line by line, torch.frombuffer, cast to float32, then
one torch expression per metric (each a pass over the data), rows to a CSV.

usage: original_style_compare.py GOLDEN_DIR MY_DIR
"""
import csv
import io
import os
import sys

import torch

DTYPES = {0: torch.float32, 1: torch.float16, 2: torch.int8, 3: torch.int32, 9: torch.int64, 12: torch.bool,
          27: torch.bfloat16}
EPS = torch.finfo(torch.float32).eps


def read_bin(path):
    data = open(path, "rb").read()
    start, attrs = 0, {}
    for i, byte in enumerate(data):
        if byte != ord("\n"):
            continue
        name, value = data[start:i].decode().split("=")[:2]
        start = i + 1
        if name == "$End":
            break
        attrs[name] = value
    dims = [int(d) for d in attrs["dims"].split(",")]
    return torch.frombuffer(bytearray(data[start:]), dtype=DTYPES[int(attrs["dtype"])]).reshape(dims)


def metrics(g, m):
    g, m = g.reshape(-1).float(), m.reshape(-1).float()
    cos = torch.cosine_similarity(g.double(), m.double(), dim=0).item()
    mask = g.abs() > EPS
    rel = torch.where(mask, (m / g - 1).abs(), torch.zeros_like(g))
    ab = torch.where(mask, (m - g).abs(), torch.zeros_like(g))
    kl = torch.nn.functional.kl_div(torch.log_softmax(m, 0), torch.softmax(g, 0), reduction="sum").item()
    red = ((m - g) ** 2).sum() / (g ** 2).sum()
    return [round(cos, 10), rel.max().item(), rel.mean().item(), ab.max().item(), ab.mean().item(), max(kl, 0),
            red.item()]


def main(golden, my):
    rows = []
    for root, _, files in os.walk(golden):
        for name in sorted(files):
            g_path = os.path.join(root, name)
            rel = os.path.relpath(g_path, golden).split(os.sep, 1)[1]  # drop the {dev}_{pid} folder
            (pid_dir,) = os.listdir(my)
            m_path = os.path.join(my, pid_dir, rel)
            g, m = read_bin(g_path), read_bin(m_path)
            stats = [g.float().max().item(), g.float().min().item(), g.float().mean().item(),
                     m.float().max().item(), m.float().min().item(), m.float().mean().item()]
            rows.append([g_path, m_path] + stats + metrics(g, m))
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return len(rows)


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]), "pairs")
