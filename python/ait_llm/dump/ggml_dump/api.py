"""Dumping a llama.cpp run through ggml's eval callback (docs/LLAMA_CPP.md).

The callback itself is C++ (libait_ggml_dump.so, src/dump/ggml): it reads each tensor
through ggml's API and writes ATB's dump layout with the probe's writer. This module finds
that library, installs it in a llama.cpp context made with llama-cpp-python's low-level API,
and runs greedy decoding token by token:

    from ait_llm.dump.ggml_dump import GgmlDumpConfig, dump_gguf
    result = dump_gguf("tiny-q4_0.gguf", [1, 17, 42], max_new_tokens=2,
                       config=GgmlDumpConfig(dump_path="out", token_range=[0, 1]))

Token 0 is the prompt's forward, token k the k-th generated token's: the same counting as
`ait_llm.register_hook` on a Hugging Face model, so the two dumps pair token by token.
"""
import ctypes
import json
import os
import pathlib
from dataclasses import dataclass, field

import numpy as np

from ...common import bundled
from .llama_run import LlamaSession

_LIBRARY_NAME = "libait_ggml_dump.so"
_LIBRARY_ENV = "AIT_GGML_DUMP_LIBRARY"
_STATS_BYTES = 1 << 16
# What `ait llm dump` sets for its -o (include/ait/probe_env.h kOutputDir).
OUTPUT_DIR_VARIABLE = "ATB_OUTPUT_DIR"


@dataclass
class GgmlDumpConfig:
    """What to dump. Every field maps to a key of the C configuration (include/ait/ggml_dump.h).

    dump_path    the -o folder: the dump goes to {dump_path}/ait_dump/
    token_range  tokens to write, a list of ids ([0, 1]), default [0]
    tensor_part  0 sources, 1 outputs (default), 2 both
    node_filter  globs over ggml node names ("attn_norm-*", "ffn_out-1"); None = every node
    perturb      `NAME_GLOB=KIND[:MAG]` faults as `ait-engine --perturb` takes them
                 ("ffn_up-1=scale:1.05"): the node's output is changed before later nodes
                 read it, whether or not it is written
    dump_path, token_range or tensor_part set to None is left to the ATB_* variable that
    `ait llm dump --exec` sets (its -o, -er, -stp), else to the default.
    """
    dump_path: str = "."
    token_range: list = field(default_factory=lambda: [0])
    tensor_part: int = 1
    node_filter: list = None
    perturb: list = None

    def to_json(self):
        config = {}
        if self.dump_path is not None:
            config["output_dir"] = os.path.abspath(self.dump_path)
        if self.token_range is not None:
            tokens = sorted(set(int(t) for t in self.token_range))
            if any(t < 0 for t in tokens):
                raise ValueError(f"token_range: token ids must be >= 0, got {self.token_range}")
            config["token_range"] = [[t, t] for t in tokens]
        if self.tensor_part is not None:
            if self.tensor_part not in (0, 1, 2):
                raise ValueError(f"tensor_part must be 0 (sources), 1 (outputs) or 2 (both), got {self.tensor_part!r}")
            config["tensor_part"] = self.tensor_part
        if self.node_filter:
            config["node_filter"] = list(self.node_filter)
        if self.perturb:
            config["perturb"] = list(self.perturb)
        return json.dumps(config)


def library_path():
    """libait_ggml_dump.so: $AIT_GGML_DUMP_LIBRARY, else the one installed with the package
    (ait_llm/lib in a wheel, build/lib beside build/python), else $AIT_BUILD_DIR/lib."""
    candidates = []
    if os.environ.get(_LIBRARY_ENV):
        candidates.append(pathlib.Path(os.environ[_LIBRARY_ENV]))
    bundled_library = bundled.find("lib", _LIBRARY_NAME)
    if bundled_library is not None:
        candidates.append(bundled_library)
    if os.environ.get("AIT_BUILD_DIR"):
        candidates.append(pathlib.Path(os.environ["AIT_BUILD_DIR"]) / "lib" / _LIBRARY_NAME)
    for c in candidates:
        if c.is_file():
            return c
    looked = ", ".join(str(c) for c in candidates) or "the package's lib/ folder"
    raise FileNotFoundError(
        f"{_LIBRARY_NAME} not found (looked at {looked}): it is built by "
        "`make build` when the project venv has llama-cpp-python (scripts/install-deps.sh installs it), "
        f"or name it with {_LIBRARY_ENV}")


def _load_library():
    import llama_cpp  # loads ggml first, so the library below binds to the same libggml-base
    lib = ctypes.CDLL(str(library_path()))
    lib.ait_ggml_dump_open.restype = ctypes.c_void_p
    lib.ait_ggml_dump_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.ait_ggml_dump_end_token.restype = ctypes.c_int
    lib.ait_ggml_dump_end_token.argtypes = [ctypes.c_void_p]
    lib.ait_ggml_dump_close.restype = ctypes.c_int
    lib.ait_ggml_dump_close.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    callback = llama_cpp.ggml_backend_sched_eval_callback(
        ctypes.cast(lib.ait_ggml_dump_eval, ctypes.c_void_p).value)
    return lib, callback


class GgmlDumper:
    """The C dumper, for a llama.cpp context of your own: set `cb_eval` / `cb_eval_user_data`
    of its llama_context_params to `callback` / `user_data`, call `end_token()` after each
    llama_decode, and `close()` at the end (or use it as a context manager)."""

    def __init__(self, config=None):
        self._lib, self.callback = _load_library()
        error = ctypes.create_string_buffer(4096)
        text = (config or GgmlDumpConfig()).to_json() if not isinstance(config, str) else config
        self._handle = self._lib.ait_ggml_dump_open(text.encode(), error, len(error))
        if not self._handle:
            raise ValueError(error.value.decode(errors="replace"))
        self.stats = None

    @property
    def user_data(self):
        return ctypes.c_void_p(self._handle)

    def end_token(self):
        """Ends the current token; returns the number of graph nodes it had."""
        return self._lib.ait_ggml_dump_end_token(self._handle)

    def close(self):
        """Waits for every file; returns the statistics (dict), with 'lost' files counted."""
        if self._handle:
            buf = ctypes.create_string_buffer(_STATS_BYTES)
            lost = self._lib.ait_ggml_dump_close(self._handle, buf, len(buf))
            self._handle = None
            self.stats = json.loads(buf.value.decode(errors="replace") or "{}")
            self.stats["lost_files"] = lost
        return self.stats

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class RunResult:
    generated: list      # ids generated after the prompt, max_new_tokens of them
    logits: np.ndarray   # float32 [steps, vocab]: the last position's logits at each step
    stats: dict          # the dumper's statistics (None without a dumper)


def dump_gguf(model_path, input_ids, max_new_tokens=1, config=None, threads=None, cache_type="f16",
              verbose=False, dump=True, repack=False, follow_ids=None):
    """Greedy decoding of `input_ids` with llama.cpp, the dumper installed (unless `dump` is
    False: the same run without a callback, for comparing speed or outputs). Every position's
    logits are requested (so the last layer computes every row, as a Hugging Face forward
    does). `repack` lets llama.cpp move quantized weights into its CPU_REPACK buffers (its
    default), whose layout cannot be read back: their files are then left out. `follow_ids`
    are fed at steps 1, 2, ... instead of llama.cpp's own choice (the ids the golden run
    generated: a quantized model may pick another token, and its next step would then see
    other input than the golden's). Returns a RunResult; `generated` is llama.cpp's choice."""
    ids = [int(i) for i in input_ids]
    if not ids:
        raise ValueError("input_ids is empty")
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be >= 1")
    path = pathlib.Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GGUF file")
    dumper = GgmlDumper(config) if dump else None
    try:
        with LlamaSession(path, n_ctx=max(64, len(ids) + max_new_tokens), n_batch=len(ids), threads=threads,
                          cache_type=cache_type, callback=dumper.callback if dumper else None,
                          user_data=dumper.user_data if dumper else None, verbose=verbose, repack=repack) as session:
            bad = [i for i in ids + [int(f) for f in follow_ids or []] if not 0 <= i < session.n_vocab]
            if bad:
                raise ValueError(f"input ids {bad[:5]} are outside the model's vocabulary of {session.n_vocab}")
            generated, steps = [], []
            pos, step_ids = 0, ids
            for step in range(max_new_tokens):
                logits = session.decode(step_ids, pos)[-1]
                if dumper:
                    dumper.end_token()
                steps.append(logits)
                generated.append(int(np.argmax(logits)))
                pos += len(step_ids)
                step_ids = [int(follow_ids[step]) if follow_ids and step < len(follow_ids) else generated[-1]]
        stats = dumper.close() if dumper else None
        return RunResult(generated, np.stack(steps), stats)
    finally:
        if dumper:
            dumper.close()
