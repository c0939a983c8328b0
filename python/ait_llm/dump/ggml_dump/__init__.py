"""llama.cpp (ggml) runs dumped through ggml's eval callback, in ATB's layout (docs/LLAMA_CPP.md).

    from ait_llm.dump.ggml_dump import convert_hf_to_gguf, dump_gguf, GgmlDumpConfig
    convert_hf_to_gguf("tiny/", "tiny-q4_0.gguf", outtype="q4_0")
    dump_gguf("tiny-q4_0.gguf", [1, 17, 42], max_new_tokens=2,
              config=GgmlDumpConfig(dump_path="out", token_range=[0, 1]))

llama-cpp-python is imported only when a run starts, so the package imports without it.
"""
from .api import GgmlDumpConfig, GgmlDumper, RunResult, dump_gguf, library_path
from .gguf_convert import convert_hf_to_gguf

__all__ = ["GgmlDumpConfig", "GgmlDumper", "RunResult", "convert_hf_to_gguf", "dump_gguf", "library_path"]
