"""Driver for `make bench`, section 7 (scripts/bench.sh, docs/PERFORMANCE.md): llama.cpp with
libait_ggml_dump's eval callback (docs/LLAMA_CPP.md) through ait_llm.dump.ggml_dump.dump_gguf.

usage: llama_cpp_callback.py convert HF_DIR OUT_GGUF
         a Hugging Face Llama folder (config.json + model.safetensors) to an F16 GGUF file
       llama_cpp_callback.py throughput --model GGUF [--prompt 64] [--new-tokens 32] [--reps 5]
         greedy decoding without the callback (dump=False, the baseline) and with it installed
         but selecting nothing (node_filter ["no-such-node"], every step in token_range), the
         two alternated; prints a table and a `key=value` line (medians and bests)
       llama_cpp_callback.py run --model GGUF [--out DIR] [--prompt 64] [--new-tokens 3] [--tensor-part 2]
         one run; with --out a full dump of every node of every step into DIR (a plain run
         without); prints the dumper's statistics as `key=value`

Timing (throughput): `generation` is the wall time from the start of the first llama_decode
call (the prompt's forward) to the end of the last one, taken by wrapping llama_cpp.llama_decode:
model loading and context creation are left out, every step's graph computation (where the
callback runs), ait_ggml_dump_end_token and the logits read-back are in. tokens/s = new tokens /
generation. `call` is the whole dump_gguf call. Both runs must generate the same ids (the same
work). The callback's cost per graph node = (generation with - without) / nodes the callback saw.
Threads: llama.cpp's default in dump_gguf (min(4, cores)).
"""
import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time


def prompt_ids(n, vocab=256):
    """A fixed prompt of n ids below `vocab` starting with BOS (1)."""
    return [1] + [3 + (37 * i + 11) % (vocab - 3) for i in range(n - 1)]


class DecodeClock:
    """Wraps llama_cpp.llama_decode: the span from the first call's start to the last call's end."""

    def __init__(self):
        import llama_cpp
        self._llama_cpp = llama_cpp
        self._real = llama_cpp.llama_decode
        self.first = self.last = None

        def timed(ctx, batch):
            t0 = time.perf_counter()
            rc = self._real(ctx, batch)
            if self.first is None:
                self.first = t0
            self.last = time.perf_counter()
            return rc

        llama_cpp.llama_decode = timed

    def reset(self):
        self.first = self.last = None

    def span(self):
        return self.last - self.first


def run_once(model, ids, new_tokens, dump, clock, dump_dir=None, node_filter=None, tensor_part=1):
    from ait_llm.dump.ggml_dump import GgmlDumpConfig, dump_gguf
    config = None
    if dump:
        config = GgmlDumpConfig(dump_path=dump_dir, token_range=list(range(new_tokens)), tensor_part=tensor_part,
                                node_filter=node_filter)
    clock.reset()
    t0 = time.perf_counter()
    result = dump_gguf(model, ids, max_new_tokens=new_tokens, config=config, dump=dump)
    call = time.perf_counter() - t0
    return result, clock.span(), call


def cmd_convert(args):
    from ait_llm.dump.ggml_dump import convert_hf_to_gguf
    convert_hf_to_gguf(args.hf_dir, args.out, "f16")


def cmd_throughput(args):
    clock = DecodeClock()
    ids = prompt_ids(args.prompt)
    tmp = tempfile.mkdtemp(prefix="ait-bench-llamacpp-")
    try:
        run_once(args.model, ids, args.new_tokens, False, clock)  # warm-up: page cache, llama.cpp's first-use costs
        plain, nothing, plain_call, nothing_call = [], [], [], []
        nodes = None
        reference = None
        for rep in range(args.reps):
            order = (False, True) if rep % 2 == 0 else (True, False)  # ABBA: drift hits both alike
            for dump in order:
                out = os.path.join(tmp, str(rep))
                result, span, call = run_once(args.model, ids, args.new_tokens, dump, clock, out, ["no-such-node"])
                if reference is None:
                    reference = result.generated
                elif result.generated != reference:
                    sys.exit(f"the runs generated different ids ({result.generated} vs {reference}): not the same work")
                if dump:
                    if result.stats.get("files"):
                        sys.exit(f"the callback selecting nothing wrote {result.stats['files']} files")
                    nodes = result.stats["nodes"]
                    nothing.append(span), nothing_call.append(call)
                else:
                    plain.append(span), plain_call.append(call)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    p, n, pb, nb = med(plain), med(nothing), min(plain), min(nothing)
    new = args.new_tokens
    print(f"model: {pathlib.Path(args.model).name}, prompt {args.prompt} tokens, {new} new tokens, "
          f"{nodes} graph nodes over the {new} steps, median of {args.reps} (alternated)")
    print(f"| {'run':<44} | {'median s':>9} | {'tokens/s':>9} | {'best s':>9} | {'call s':>9} | {'vs plain':>9} |")
    print(f"| {'llama.cpp, no callback (baseline)':<44} | {p:9.3f} | {new / p:9.2f} | {pb:9.3f} | "
          f"{med(plain_call):9.3f} | {1:8.3f}x |")
    print(f"| {'callback installed, selecting nothing':<44} | {n:9.3f} | {new / n:9.2f} | {nb:9.3f} | "
          f"{med(nothing_call):9.3f} | {n / p:8.3f}x |")
    print(f"plain_s={p:.6f} nothing_s={n:.6f} plain_best_s={pb:.6f} nothing_best_s={nb:.6f} "
          f"tokens_per_s_plain={new / p:.3f} tokens_per_s_nothing={new / n:.3f} ratio={n / p:.4f} "
          f"ratio_best={nb / pb:.4f} nodes={nodes} nodes_per_step={nodes / new:.1f} step_s={p / new:.6f} "
          f"ns_per_node={1e9 * (n - p) / nodes:.1f} ns_per_node_best={1e9 * (nb - pb) / nodes:.1f}")


def cmd_run(args):
    clock = DecodeClock()
    ids = prompt_ids(args.prompt)
    result, span, call = run_once(args.model, ids, args.new_tokens, bool(args.out), clock, args.out,
                                  None, args.tensor_part)
    stats = result.stats or {}
    lost = stats.get("lost_files", 0)
    print(f"generation_s={span:.6f} call_s={call:.6f} files={stats.get('files', 0)} bytes={stats.get('bytes', 0)} "
          f"nodes={stats.get('nodes', 0)} lost={lost}")
    if lost:
        sys.exit(f"{lost} files were not written: {stats.get('lost')}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert")
    c.add_argument("hf_dir")
    c.add_argument("out")
    t = sub.add_parser("throughput")
    t.add_argument("--model", required=True)
    t.add_argument("--prompt", type=int, default=64)
    t.add_argument("--new-tokens", type=int, default=32)
    t.add_argument("--reps", type=int, default=5)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--out")
    r.add_argument("--prompt", type=int, default=64)
    r.add_argument("--new-tokens", type=int, default=3)
    r.add_argument("--tensor-part", type=int, default=2)
    args = parser.parse_args(argv)
    {"convert": cmd_convert, "throughput": cmd_throughput, "run": cmd_run}[args.command](args)


if __name__ == "__main__":
    main()
