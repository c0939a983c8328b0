#!/usr/bin/env python3
"""Hugging Face transformers golden for Llama: the PyTorch model our users actually run.

Run it with the project venv (scripts/install-deps.sh makes .venv with transformers pinned):

  .venv/bin/python python/golden/hf_llama.py init --preset tiny --seed 7 --out /tmp/tiny
  .venv/bin/python python/golden/hf_llama.py run --model /tmp/tiny --input-ids 1,2,3,4,5 \
      --max-new-tokens 4 --save-logits /tmp/hf.npy [--dump-path /tmp/dump --token-range 0,1]

`run` greedy-decodes with the KV cache: step 0 is the prefill of the prompt, then one forward
per new token, so N new tokens take N forward steps. It prints the generated ids (one
comma-separated line, prompt excluded) and saves float32 logits of the last position of every
step, shape [steps, batch=1, vocab] - the same layout as `ait-engine run --save-logits`.

With --dump-path, ait_llm's register_hook dumps the model's module inputs and outputs of
the forward steps in --token-range (default 0, the prefill) under
DIR/ait_dump/torch_tensors/{device}_{pid}/ (docs/TORCH_DUMP.md) - the torch side of
`ait llm compare`; the engine side is `ait llm dump --exec "build/bin/ait-engine run ..."`.

`init` writes a random-weight checkpoint with transformers itself (save_pretrained, safetensors):
config.json + model.safetensors (+ generation_config.json).

Also importable: tiny_config(), init_checkpoint(), load_model(), greedy_decode(),
score_logits().
"""
import argparse
import pathlib
import sys

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as hf_logging

from half_on_cpu import compute_context

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# Weights are drawn by transformers' own _init_weights: normal(0, initializer_range). 0.1
# (instead of the 0.02 default) makes every block matter: with 0.02 the residual stream is
# nearly the embedding, attention is nearly uniform and logits nearly flat, so a wrong kernel
# could hide under a tolerance. NORM_SPREAD moves the RMSNorm gammas away from 1.0.
PRESETS = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=172,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=256,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        initializer_range=0.1,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        torch_dtype="float32",
    ),
}
# The tiny preset with 4 layers: a model with middle layers (tests of faults planted there).
PRESETS["tiny-4l"] = dict(PRESETS["tiny"], num_hidden_layers=4)
NORM_SPREAD = 0.2


def tiny_config(preset="tiny"):
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (have: {', '.join(PRESETS)})")
    return LlamaConfig(**PRESETS[preset])


def init_checkpoint(out_dir, seed, preset="tiny"):
    """Random-weight Llama written by save_pretrained(safe_serialization=True). Deterministic
    for a given seed. Returns the output folder."""
    config = tiny_config(preset)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)  # transformers' _init_weights, seeded above
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):  # input_layernorm, post_attention_layernorm, norm
                p.copy_(1.0 + NORM_SPREAD * torch.randn(p.shape, generator=gen))
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    return out


def load_model(model_dir, dtype="fp32", device="cpu"):
    """LlamaForCausalLM from a local HF folder (config.json + model.safetensors), eval mode,
    eager attention (the plain softmax(QK^T)V path; SDPA needs torch >= 2.1 anyway)."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    model, info = LlamaForCausalLM.from_pretrained(
        str(model_dir), torch_dtype=DTYPES[dtype], local_files_only=True,
        attn_implementation="eager", output_loading_info=True)
    # transformers fills missing weights with fresh random ones (and only warns): refuse that,
    # a golden with made-up weights is worse than none.
    bad = {k: v for k, v in info.items() if k != "error_msgs" and v}
    if bad or info.get("error_msgs"):
        raise ValueError(f"{model_dir}: checkpoint does not match LlamaForCausalLM: {info}")
    return model.to(device).eval()


@torch.no_grad()
def greedy_decode(model, input_ids, max_new_tokens):
    """Greedy decoding with the KV cache. Returns (generated ids [max_new_tokens] list,
    float32 numpy logits [steps=max_new_tokens, 1, vocab] of the last position per step)."""
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    device = next(model.parameters()).device
    ids = torch.tensor([list(input_ids)], dtype=torch.long, device=device)
    with compute_context(model):
        out = model(input_ids=ids, use_cache=True)
        steps = [out.logits[:, -1, :].float().cpu()]
        generated = [int(steps[-1][0].argmax())]
        for _ in range(1, max_new_tokens):
            nxt = torch.tensor([[generated[-1]]], dtype=torch.long, device=device)
            out = model(input_ids=nxt, past_key_values=out.past_key_values, use_cache=True)
            steps.append(out.logits[:, -1, :].float().cpu())
            generated.append(int(steps[-1][0].argmax()))
    return generated, torch.stack(steps).numpy().astype(np.float32)


@torch.no_grad()
def score_logits(model, ids):
    """One forward of the whole sequence without cache: float32 logits [len(ids), vocab].
    Row p is the prediction after ids[:p+1] (teacher forcing)."""
    device = next(model.parameters()).device
    t = torch.tensor([list(ids)], dtype=torch.long, device=device)
    with compute_context(model):
        return model(input_ids=t, use_cache=False).logits[0].float().cpu().numpy()


def dump_hook(model, dump_path, token_range, dump_last_logits=False):
    """register_hook(model, DumpConfig(...)) from ait_llm: the package built beside the
    extension (PYTHONPATH=build/python) if importable, else the pure-Python sources in
    python/ (the torch dump needs no compiled code)."""
    try:
        import ait_llm
        ait_llm.DumpConfig
    except (ImportError, AttributeError):
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
        sys.modules.pop("ait_llm", None)
        import ait_llm
    config = ait_llm.DumpConfig(dump_path=dump_path, token_range=token_range,
                                dump_last_logits=dump_last_logits)
    return ait_llm.register_hook(model, config)


def parse_ids(text):
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not ids:
        raise argparse.ArgumentTypeError("empty id list")
    return ids


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("init", help="write a random-weight checkpoint (save_pretrained)")
    pi.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--out", required=True)
    pr = sub.add_parser("run", help="greedy decode with KV cache, save per-step logits")
    pr.add_argument("--model", required=True)
    pr.add_argument("--input-ids", required=True, type=parse_ids)
    pr.add_argument("--max-new-tokens", type=int, default=1)
    pr.add_argument("--dtype", default="fp32", choices=sorted(DTYPES),
                    help="weights and activations (fp16 on CPU runs the operations torch 1.13 lacks "
                         "in fp16 in fp32, rounding each result to fp16: half_on_cpu.py)")
    pr.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    pr.add_argument("--save-logits")
    pr.add_argument("--dump-path", metavar="DIR",
                    help="dump module tensors with ait_llm.register_hook under DIR/ait_dump/torch_tensors")
    pr.add_argument("--token-range", type=parse_ids, default=[0], metavar="IDS",
                    help="forward steps to dump, comma-separated (0 = prefill; default 0)")
    pr.add_argument("--dump-last-logits", action="store_true",
                    help="dump only the last module's output (the logits) of each step")
    a = p.parse_args(argv)
    hf_logging.set_verbosity_error()
    try:
        if a.cmd == "init":
            out = init_checkpoint(a.out, a.seed, a.preset)
            print(f"wrote {out}/config.json, {out}/model.safetensors")
            return 0
        model = load_model(a.model, a.dtype, a.device)
        handle = None
        if a.dump_path:
            handle = dump_hook(model, a.dump_path, a.token_range, a.dump_last_logits)
        generated, logits = greedy_decode(model, a.input_ids, a.max_new_tokens)
        if handle is not None:
            handle.remove()
            print(f"hf_llama: torch dump in {handle.dump_dir}", file=sys.stderr)
    except (ValueError, TypeError, OSError, RuntimeError) as e:
        print(f"hf_llama: error: {e}", file=sys.stderr)
        return 1
    if a.save_logits:
        np.save(a.save_logits, logits)
    print(",".join(str(i) for i in generated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
