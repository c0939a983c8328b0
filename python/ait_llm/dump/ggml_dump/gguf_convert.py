"""Hugging Face Llama folder -> one GGUF file that llama.cpp loads (architecture "llama").

    python -m ait_llm.dump.ggml_dump.gguf_convert --model HF_DIR --out model.gguf [--outtype q8_0]

    from ait_llm.dump.ggml_dump.gguf_convert import convert_hf_to_gguf
    from ait_llm.dump.ggml_dump.llama_run import llama_cpp_logits
    summary = convert_hf_to_gguf("tiny/", "tiny-q8_0.gguf", outtype="q8_0")
    logits = llama_cpp_logits("tiny-q8_0.gguf", [1, 17, 42])  # [3, vocab] float32

Input: config.json + model.safetensors, as written by transformers' save_pretrained (e.g.
`python/golden/hf_llama.py init`). Weights are read with safetensors' numpy reader; neither torch
nor transformers is imported here.

Output, as llama.cpp's own convert_hf_to_gguf.py (LlamaModel) writes it:
- metadata: context/embedding/feed-forward length, block count, head counts, rope dimension
  count and frequency base, RMSNorm epsilon, file type, vocabulary size;
- tensors with llama.cpp's names (token_embd, blk.N.attn_norm/attn_q/attn_k/attn_v/
  attn_output/ffn_norm/ffn_gate/ffn_up/ffn_down, output_norm, output). q_proj and k_proj are
  permuted (LlamaModel.permute): Hugging Face applies rope to the two halves of a head
  (rotate_half), llama.cpp's llama architecture to adjacent pairs (the interleaved "NORM" rope);
- a stand-in SentencePiece ("llama") vocabulary of exactly vocab_size entries: <unk>, <s>, </s>,
  then byte tokens <0x00>, <0x01>, ... and [PADn] fillers past 259. It exists so that llama.cpp
  loads the file; callers pass token ids, the text of a token means nothing.

Output types: f32, f16, q8_0, q4_0. 1-D tensors (the norm weights) stay F32. With q8_0/q4_0, a
2-D tensor whose rows (ne0, the number of input features) are not a multiple of the 32-element
block falls back to F16, as llama.cpp's converter does; the summary lists those tensors.

The file appears atomically: it is written to a temporary file in the destination folder and
renamed into place; on any error the temporary is removed.

llama_run.llama_cpp_logits() (needs llama-cpp-python) runs a GGUF file once on a list of token
ids with llama.cpp and returns the logits of every position.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

OUTTYPES = ("f32", "f16", "q8_0", "q4_0")
BLOCK = 32  # elements per Q8_0 / Q4_0 block (gguf.GGML_QUANT_SIZES)
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>")  # ids 0, 1, 2: unk, bos, eos
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


# ---------------------------------------------------------------------------------------------
# reading the Hugging Face folder
# ---------------------------------------------------------------------------------------------

def _require_int(config, key, path, default=None, minimum=1):
    value = config.get(key, default)
    if value is None:
        raise ValueError(f"{path}: '{key}' is missing")
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{path}: '{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def _require_float(config, key, path, default=None):
    value = config.get(key, default)
    if value is None:
        raise ValueError(f"{path}: '{key}' is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{path}: '{key}' must be a positive number, got {value!r}")
    return float(value)


def read_hparams(model_dir):
    """The Llama hyper-parameters of MODEL_DIR/config.json, checked; raises FileNotFoundError or
    ValueError naming the file and the problem."""
    path = pathlib.Path(model_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (not a Hugging Face model folder?)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read it as JSON: {e}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object")
    model_type = config.get("model_type")
    if model_type != "llama":
        raise ValueError(f"{path}: model_type is {model_type!r}, only 'llama' is supported")
    for key in ("attention_bias", "mlp_bias"):
        if config.get(key):
            raise ValueError(f"{path}: '{key}' is true; bias tensors are not supported")
    if config.get("rope_scaling"):
        raise ValueError(f"{path}: rope_scaling {config['rope_scaling']!r} is not supported "
                         "(only plain rope)")
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError(f"{path}: hidden_act {config['hidden_act']!r} is not supported (only silu)")
    hp = {
        "vocab": _require_int(config, "vocab_size", path),
        "hidden": _require_int(config, "hidden_size", path),
        "ffn": _require_int(config, "intermediate_size", path),
        "layers": _require_int(config, "num_hidden_layers", path),
        "heads": _require_int(config, "num_attention_heads", path),
        "context": _require_int(config, "max_position_embeddings", path, default=2048),
        "eps": _require_float(config, "rms_norm_eps", path),
        "rope_theta": _require_float(config, "rope_theta", path, default=10000.0),
        "tied": bool(config.get("tie_word_embeddings", False)),
    }
    hp["kv_heads"] = _require_int(config, "num_key_value_heads", path, default=hp["heads"])
    if hp["heads"] % hp["kv_heads"]:
        raise ValueError(f"{path}: num_attention_heads {hp['heads']} is not a multiple of "
                         f"num_key_value_heads {hp['kv_heads']}")
    if config.get("head_dim") is None and hp["hidden"] % hp["heads"]:
        raise ValueError(f"{path}: hidden_size {hp['hidden']} is not a multiple of "
                         f"num_attention_heads {hp['heads']}")
    hp["head_dim"] = _require_int(config, "head_dim", path, default=hp["hidden"] // hp["heads"])
    if hp["head_dim"] % 2:
        raise ValueError(f"{path}: head_dim {hp['head_dim']} is odd; rope needs pairs")
    if hp["vocab"] < len(SPECIAL_TOKENS):
        raise ValueError(f"{path}: vocab_size {hp['vocab']} is too small (needs room for "
                         f"{', '.join(SPECIAL_TOKENS)})")
    hp["name"] = pathlib.Path(model_dir).resolve().name or "llama"
    return hp


def read_weights(model_dir):
    """{name: numpy array} of MODEL_DIR/model.safetensors (safetensors' numpy reader)."""
    path = pathlib.Path(model_dir) / "model.safetensors"
    if not path.is_file():
        if (path.parent / "model.safetensors.index.json").is_file():
            raise FileNotFoundError(f"{path}: missing; sharded checkpoints "
                                    "(model.safetensors.index.json) are not supported")
        raise FileNotFoundError(f"{path}: missing (the converter reads safetensors weights only)")
    from safetensors.numpy import load_file
    try:
        return load_file(str(path))
    except Exception as e:  # SafetensorError, or a dtype numpy lacks (bfloat16)
        raise ValueError(f"{path}: cannot read it with safetensors' numpy reader: {e}") from None


def permute(weights, n_head, n_head_kv):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute: rows of each head reordered from the
    rotate_half layout (first half, second half) to interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def tensor_plan(hp, weights, source="model.safetensors"):
    """[(gguf name, float32 array)] in llama.cpp's order, every weight checked for presence,
    shape and dtype; q/k permuted. Raises ValueError naming SOURCE and the weight."""
    h, f, v, d = hp["hidden"], hp["ffn"], hp["vocab"], hp["head_dim"]
    q_rows, kv_rows = hp["heads"] * d, hp["kv_heads"] * d
    used = set()

    def take(name, shape):
        if name not in weights:
            raise ValueError(f"{source}: weight '{name}' is missing")
        a = weights[name]
        if tuple(a.shape) != tuple(shape):
            raise ValueError(f"{source}: weight '{name}' has shape {list(a.shape)}, "
                             f"expected {list(shape)}")
        if a.dtype.kind != "f":
            raise ValueError(f"{source}: weight '{name}' has dtype {a.dtype}, expected floating point")
        used.add(name)
        return np.ascontiguousarray(a, dtype=np.float32)

    plan = [("token_embd.weight", take("model.embed_tokens.weight", (v, h)))]
    for i in range(hp["layers"]):
        p = f"model.layers.{i}."
        q = take(p + "self_attn.q_proj.weight", (q_rows, h))
        k = take(p + "self_attn.k_proj.weight", (kv_rows, h))
        plan += [
            (f"blk.{i}.attn_norm.weight", take(p + "input_layernorm.weight", (h,))),
            (f"blk.{i}.attn_q.weight", permute(q, hp["heads"], hp["heads"])),
            (f"blk.{i}.attn_k.weight", permute(k, hp["heads"], hp["kv_heads"])),
            (f"blk.{i}.attn_v.weight", take(p + "self_attn.v_proj.weight", (kv_rows, h))),
            (f"blk.{i}.attn_output.weight", take(p + "self_attn.o_proj.weight", (h, q_rows))),
            (f"blk.{i}.ffn_norm.weight", take(p + "post_attention_layernorm.weight", (h,))),
            (f"blk.{i}.ffn_gate.weight", take(p + "mlp.gate_proj.weight", (f, h))),
            (f"blk.{i}.ffn_up.weight", take(p + "mlp.up_proj.weight", (f, h))),
            (f"blk.{i}.ffn_down.weight", take(p + "mlp.down_proj.weight", (h, f))),
        ]
    plan.append(("output_norm.weight", take("model.norm.weight", (h,))))
    if "lm_head.weight" in weights or not hp["tied"]:
        plan.append(("output.weight", take("lm_head.weight", (v, h))))
    # tied and no lm_head: llama.cpp reuses token_embd for the output (as its converter leaves it)
    extra = sorted(n for n in weights if n not in used and not n.endswith("rotary_emb.inv_freq"))
    if extra:
        more = f" (+{len(extra) - 3} more)" if len(extra) > 3 else ""
        raise ValueError(f"{source}: unexpected weight(s) {', '.join(extra[:3])}{more}; "
                         "a Llama without biases has no such tensors")
    return plan


# ---------------------------------------------------------------------------------------------
# writing the GGUF file
# ---------------------------------------------------------------------------------------------

def _vocab(n):
    """Tokens, scores and types of a stand-in SPM vocabulary of exactly n entries."""
    from gguf import TokenType
    tokens = list(SPECIAL_TOKENS)
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    n_bytes = min(256, n - len(tokens))
    tokens += [f"<0x{b:02X}>" for b in range(n_bytes)]
    types += [TokenType.BYTE] * n_bytes
    pads = n - len(tokens)
    tokens += [f"[PAD{i}]" for i in range(len(tokens), n)]  # as llama.cpp's converter pads
    types += [TokenType.UNUSED] * pads
    scores = [0.0] * (n - pads) + [-1000.0] * pads
    return tokens, scores, [int(t) for t in types]


def _encode(array, outtype):
    """(data, raw ggml type or None, ggml type name, fell back) of one tensor."""
    import gguf
    if array.ndim < 2 or outtype == "f32":
        return array.astype(np.float32), None, "F32", False
    if outtype == "f16":
        return array.astype(np.float16), None, "F16", False
    qtype = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}[outtype]
    if array.shape[-1] % BLOCK:
        return array.astype(np.float16), None, "F16", True
    return gguf.quants.quantize(array, qtype), qtype, qtype.name, False


FILE_TYPES = {"f32": "ALL_F32", "f16": "MOSTLY_F16", "q8_0": "MOSTLY_Q8_0", "q4_0": "MOSTLY_Q4_0"}


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def convert_hf_to_gguf(model_dir, out_path, outtype="f32"):
    """Converts the Hugging Face Llama in MODEL_DIR to the GGUF file OUT_PATH (atomically).

    Returns {"path", "outtype", "tensors" (count), "types" ({ggml type: count}),
    "fallbacks" ([gguf names of 2-D tensors written as F16 instead of outtype])}.
    Raises FileNotFoundError / ValueError with the file and the reason."""
    if outtype not in OUTTYPES:
        raise ValueError(f"unknown outtype {outtype!r} (have: {', '.join(OUTTYPES)})")
    import gguf

    model_dir = pathlib.Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir}: model folder does not exist")
    out_path = pathlib.Path(out_path)
    if out_path.is_dir():
        raise ValueError(f"{out_path}: is a folder; --out takes the path of the .gguf file")
    folder = out_path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: output folder does not exist")

    hp = read_hparams(model_dir)
    plan = tensor_plan(hp, read_weights(model_dir), source=str(model_dir / "model.safetensors"))
    encoded, types, fallbacks = [], {}, []
    for name, array in plan:
        data, raw, type_name, fell_back = _encode(array, outtype)
        encoded.append((name, data, raw))
        types[type_name] = types.get(type_name, 0) + 1
        if fell_back:
            fallbacks.append(name)

    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    writer = None
    try:
        writer = gguf.GGUFWriter(tmp, "llama")
        writer.add_name(hp["name"])
        writer.add_vocab_size(hp["vocab"])
        writer.add_context_length(hp["context"])
        writer.add_embedding_length(hp["hidden"])
        writer.add_block_count(hp["layers"])
        writer.add_feed_forward_length(hp["ffn"])
        writer.add_head_count(hp["heads"])
        writer.add_head_count_kv(hp["kv_heads"])
        if hp["head_dim"] != hp["hidden"] // hp["heads"]:
            writer.add_key_length(hp["head_dim"])
            writer.add_value_length(hp["head_dim"])
        writer.add_rope_dimension_count(hp["head_dim"])
        writer.add_rope_freq_base(hp["rope_theta"])
        writer.add_layer_norm_rms_eps(hp["eps"])
        writer.add_file_type(int(getattr(gguf.LlamaFileType, FILE_TYPES[outtype])))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

        tokens, scores, token_types = _vocab(hp["vocab"])
        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(token_types)
        writer.add_unk_token_id(UNK_ID)
        writer.add_bos_token_id(BOS_ID)
        writer.add_eos_token_id(EOS_ID)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)

        for name, data, raw in encoded:
            writer.add_tensor(name, data, raw_dtype=raw)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out_path)
    except BaseException as e:
        if writer is not None:
            try:
                writer.close()  # flushing a failed write may fail again
            except OSError:
                pass
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):  # numpy's tofile() says neither the file nor errno
            raise OSError(f"{out_path}: writing failed, left unchanged: {e}") from e
        raise
    return {"path": str(out_path), "outtype": outtype, "tensors": len(encoded),
            "types": dict(sorted(types.items())), "fallbacks": fallbacks}


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------

def main(argv=None, prog="python -m ait_llm.dump.ggml_dump.gguf_convert"):
    p = argparse.ArgumentParser(
        prog=prog,
        description="Convert a Hugging Face Llama folder (config.json + model.safetensors) into "
                    "one GGUF file for llama.cpp: llama.cpp's tensor names, q/k permuted for its "
                    "interleaved rope, and a stand-in vocabulary (<unk>, <s>, </s>, byte tokens) "
                    "so that it loads; feed it token ids, not text.",
        epilog="1-D tensors (norms) stay F32. With q8_0/q4_0, 2-D tensors whose row length is not "
               "a multiple of 32 are written as F16 instead (one line says which). The file is "
               "written to a temporary in the destination folder and renamed into place.")
    p.add_argument("--model", required=True, metavar="DIR",
                   help="Hugging Face Llama folder: config.json + model.safetensors")
    p.add_argument("--out", required=True, metavar="FILE", help="GGUF file to write (replaced if it exists)")
    p.add_argument("--outtype", default="f32", metavar="{" + ",".join(OUTTYPES) + "}",
                   help="type of the 2-D weights: f32 (default), f16, q8_0 or q4_0")
    a = p.parse_args(argv)
    try:
        summary = convert_hf_to_gguf(a.model, a.out, a.outtype)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    types = ", ".join(f"{n} {t}" for t, n in summary["types"].items())
    print(f"wrote {summary['path']}: {summary['tensors']} tensors ({types}), outtype {summary['outtype']}")
    if summary["fallbacks"]:
        print(f"{len(summary['fallbacks'])} tensor(s) written as F16 instead of {a.outtype} (row length "
              f"not a multiple of {BLOCK}): {', '.join(summary['fallbacks'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
