"""One GGUF model in one llama.cpp context, through llama-cpp-python's low-level API: what the
dump (api.py) and the converter's check (llama_cpp_logits) both run.

    with LlamaSession("m.gguf", n_ctx=64, n_batch=8) as s:
        logits = s.decode([1, 17, 42], pos=0)        # float32 [3, vocab]: every position's

llama.cpp's log does not reach stderr (unless verbose): its lines are kept as (level, text)
in `log` (ggml_log_level numbering of the bundled llama.cpp: 1 debug, 2 info, 3 warn,
4 error, 5 continuation of the previous line), and the errors among them go into the
RuntimeError raised when loading, making the context or decoding fails.
"""
import ctypes
import os

import numpy as np

LOG_WARN, LOG_ERROR, LOG_CONT = 3, 4, 5
CACHE_TYPES = ("f32", "f16")

_backend_ready = False


class LlamaSession:
    """A model and a context: flash attention off (the explicit KQ, softmax and KQV nodes),
    the KV cache of `cache_type`, one sequence, logits requested at every position. `callback`
    / `user_data` become cb_eval / cb_eval_user_data. `repack` lets llama.cpp move quantized
    weights into its CPU_REPACK buffers (its default), whose layout cannot be read back."""

    def __init__(self, model_path, n_ctx, n_batch, threads=None, cache_type="f16", callback=None, user_data=None,
                 verbose=False, repack=False, log=None):
        import llama_cpp
        global _backend_ready
        if cache_type not in CACHE_TYPES:
            raise ValueError(f"cache_type must be one of {', '.join(CACHE_TYPES)}, got {cache_type!r}")
        self._llama = llama_cpp
        self.path = str(model_path)
        self.log = [] if log is None else log
        self._first = len(self.log)
        self.model = self.ctx = self._batch = None
        self._keep = []  # ctypes objects llama.cpp holds pointers to
        if not verbose:
            @llama_cpp.llama_log_callback
            def keep_log(level, text, user_data):
                self.log.append((int(level), text.decode("utf-8", "replace")))
            self._keep.append(keep_log)
            llama_cpp.llama_log_set(keep_log, ctypes.c_void_p(0))
        try:
            if not _backend_ready:
                llama_cpp.llama_backend_init()
                _backend_ready = True
            mparams = llama_cpp.llama_model_default_params()
            mparams.n_gpu_layers = 0
            mparams.use_extra_bufts = repack
            self.model = llama_cpp.llama_model_load_from_file(self.path.encode(), mparams)
            if not self.model:
                raise self._failure("llama.cpp could not load this GGUF file")
            self.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
            cparams = llama_cpp.llama_context_default_params()
            cparams.n_ctx = n_ctx
            cparams.n_batch = cparams.n_ubatch = n_batch
            cparams.n_seq_max = 1
            cparams.n_threads = cparams.n_threads_batch = threads or max(1, min(4, os.cpu_count() or 1))
            cparams.type_k = cparams.type_v = llama_cpp.GGML_TYPE_F32 if cache_type == "f32" else llama_cpp.GGML_TYPE_F16
            cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
            cparams.no_perf = True
            if callback is not None:
                cparams.cb_eval = callback
                cparams.cb_eval_user_data = user_data
            self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
            if not self.ctx:
                raise self._failure("llama.cpp could not create a context")
            self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
            self._capacity = n_batch
        except BaseException:
            self.close()
            raise

    def _failure(self, what):
        errors, level = [], None
        for lv, text in self.log[self._first:]:
            level = level if lv == LOG_CONT else lv
            if level == LOG_ERROR and text.strip():
                errors.append(text.strip())
        return RuntimeError(f"{self.path}: {what}" + (": " + " | ".join(errors) if errors else ""))

    def decode(self, ids, pos):
        """One llama_decode of `ids` at positions pos, pos+1, ...: float32 logits [len(ids), vocab]."""
        if not 0 < len(ids) <= self._capacity:
            raise ValueError(f"{len(ids)} ids in one step; this session decodes 1 to {self._capacity}")
        batch = self._batch
        batch.n_tokens = len(ids)
        for i, token in enumerate(ids):
            batch.token[i] = int(token)
            batch.pos[i] = pos + i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = 1
        rc = self._llama.llama_decode(self.ctx, batch)
        if rc != 0:
            raise self._failure(f"llama_decode returned {rc} at position {pos}")
        out = np.empty((len(ids), self.n_vocab), np.float32)
        for i in range(len(ids)):
            row = self._llama.llama_get_logits_ith(self.ctx, i)
            if not row:
                raise self._failure(f"no logits for position {pos + i}")
            out[i] = np.ctypeslib.as_array(row, shape=(self.n_vocab,))
        return out

    def close(self):
        llama_cpp = self._llama
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None
        if self._keep:
            from llama_cpp import _logger  # back to llama-cpp-python's own logger
            llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
            self._keep = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def llama_cpp_logits(gguf_path, ids, n_threads=2, kv_type="f32", log=None):
    """Float32 logits [len(ids), vocab] of one llama.cpp forward of IDS (one batch, every
    position). kv_type: "f32" (default, so an F32 model is compared without an extra rounding)
    or "f16" (llama.cpp's default). Raises RuntimeError with llama.cpp's error lines."""
    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError("ids is empty")
    with LlamaSession(gguf_path, n_ctx=max(len(ids), 64), n_batch=len(ids), threads=n_threads, cache_type=kv_type,
                      log=log) as s:
        return s.decode(ids, 0)
