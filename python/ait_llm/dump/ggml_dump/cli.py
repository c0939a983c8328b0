"""`python -m ait_llm.dump.ggml_dump`: llama.cpp (ggml) runs dumped in ATB's layout.

  convert   a Hugging Face Llama folder -> one GGUF file (f32, f16, q8_0, q4_0)
  run       greedy decoding of token ids with llama.cpp, every graph node's output written
            through ggml's eval callback: {output}/ait_dump/tensors/0_{pid}/{token}/
            {index}_{OP}/after/outtensor0.bin, and the graph at
            {output}/ait_dump/model/{pid}/ggml_graph.json

Compare a run with a Hugging Face dump (ait_llm.register_hook) by `ait llm compare -gp HF_DUMP
-mp GGML_DUMP`: the ggml-torch pairing matches node names to modules (docs/LLAMA_CPP.md).
"""
import argparse
import os
import sys

from ...common.cli_args import positive_int, token_ids
from . import gguf_convert
from .api import OUTPUT_DIR_VARIABLE, GgmlDumpConfig, dump_gguf


def _token_range(text):
    try:
        first, last = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST,LAST token numbers like 0,1, got {text!r}")
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError(f"expected 0 <= FIRST <= LAST, got {text!r}")
    return list(range(first, last + 1))


def run_parser(p):
    p.add_argument("--model", required=True, metavar="GGUF", help="the GGUF file llama.cpp runs")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="the dump goes to DIR/ait_dump/ (tensors/, model/), as `ait llm dump -o DIR` writes it; "
                        "required unless run by `ait llm dump --exec`, whose -o, -er and --tensor-part then apply")
    p.add_argument("--input-ids", type=token_ids, required=True, metavar="IDS",
                   help="comma-separated prompt token ids (the prompt is token 0 of the dump)")
    p.add_argument("--max-new-tokens", type=positive_int, default=1, metavar="N",
                   help="greedy steps (default 1): N graph computations, tokens 0..N-1, as transformers' "
                        "generate with a KV cache counts them")
    p.add_argument("--follow-ids", type=token_ids, metavar="IDS",
                   help="feed these ids at steps 1, 2, ... instead of llama.cpp's own greedy choice: the ids the "
                        "golden run generated (hf_llama.py prints them), so both runs see the same tokens")
    p.add_argument("-er", "--token-range", type=_token_range, metavar="FIRST,LAST",
                   help="tokens whose tensors are written (default 0,0), as `ait llm dump -er`")
    p.add_argument("--tensor-part", type=int, choices=(0, 1, 2),
                   help="1 outputs (default), 0 sources, 2 both; compare takes a node's inputs from its "
                        "sources' outputs, so outputs alone suffice")
    p.add_argument("--node-filter", action="append", metavar="GLOB",
                   help="write only nodes whose name matches (repeatable): 'attn_norm-*', 'ffn_out-1'")
    p.add_argument("--perturb", action="append", metavar="NAME_GLOB=KIND[:MAG]",
                   help="plant a fault in the output of every node whose name matches, before later nodes "
                        "read it (repeatable); kinds as `ait-engine run --perturb`: noise, scale, bias, zero, "
                        "nan, inf, fp16-saturate. Example: ffn_up-1=scale:1.05")
    p.add_argument("--cache-type", choices=("f16", "f32"), default="f16",
                   help="KV cache type (default f16, llama.cpp's default; f32 to compare an F32 model exactly)")
    p.add_argument("--threads", type=positive_int, default=None, help="llama.cpp threads (default: up to 4)")
    p.add_argument("--verbose", action="store_true", help="show llama.cpp's own log")


def run(a):
    under_dump = bool(os.environ.get(OUTPUT_DIR_VARIABLE))
    if a.output is None and not under_dump:
        print(f"error: -o DIR is required (or run this under `ait llm dump --exec`, which sets {OUTPUT_DIR_VARIABLE})",
              file=sys.stderr)
        return 2
    if not under_dump:  # the defaults of a plain run
        a.token_range = a.token_range or [0]
        a.tensor_part = 1 if a.tensor_part is None else a.tensor_part
    config = GgmlDumpConfig(dump_path=a.output, token_range=a.token_range, tensor_part=a.tensor_part,
                            node_filter=a.node_filter, perturb=a.perturb)
    try:
        result = dump_gguf(a.model, a.input_ids, a.max_new_tokens, config, threads=a.threads,
                           cache_type=a.cache_type, verbose=a.verbose, follow_ids=a.follow_ids)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = result.stats
    print(f"generated ids: {','.join(str(i) for i in result.generated)}")
    print(f"dump: {s['files']} tensor files ({s['bytes'] / 2**20:.1f} MiB) over {s['tokens']} token(s), "
          f"{s['nodes']} graph nodes seen, in {s['dump_dir']}")
    if s["perturbed"]:
        print(f"faults planted: {s['perturbed']} node output(s) changed")
    for problem in s["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    for line in s["lost"]:
        print(f"warning: lost: {line}", file=sys.stderr)
    if s["lost_files"]:
        print(f"error: {s['lost_files']} tensor file(s) could not be written (see the warnings above)", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    doc = __doc__.split("\n\n")
    p = argparse.ArgumentParser(prog="python -m ait_llm.dump.ggml_dump", description=doc[0].split(": ", 1)[1],
                                epilog="\n\n".join(doc[1:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="{convert,run}")
    sub.add_parser("convert", add_help=False, help="Hugging Face Llama folder -> GGUF (--help for its options)")
    run_parser(sub.add_parser("run", help="run a GGUF with llama.cpp and dump every graph node",
                              description="Run a GGUF file with llama.cpp, greedy, and dump its graph nodes "
                                          "through ggml's eval callback."))
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "convert":
        return gguf_convert.main(argv[1:], prog="python -m ait_llm.dump.ggml_dump convert")
    a = p.parse_args(argv)
    return run(a)
