"""ait_llm: find where LLM inference goes wrong (Python side of ait-llm).

    from ait_llm import DumpConfig, register_hook    # dump a torch model (docs/TORCH_DUMP.md)
    from ait_llm import get_ge_dump_config, get_fx_dump_config  # torchair graph mode (docs/TORCHAIR.md)
    from ait_llm import atb_json_to_onnx             # ATB topology JSON -> ONNX
    from ait_llm import compare_folders              # `ait llm compare` of two dumps (docs/PYTHON_API.md)
    from ait_llm import dump_data                    # manual golden dump: golden_tensor/metadata.json
    from ait_llm import opcheck                      # `ait llm opcheck` of a dump (docs/OPCHECK.md)

Everything is imported on first use, so `import ait_llm` needs neither torch nor the
compiled extension."""
import importlib

_LAZY = {
    "DumpConfig": "ait_llm.dump.torch_dump",
    "DumpHandle": "ait_llm.dump.torch_dump",
    "register_hook": "ait_llm.dump.torch_dump",
    "remove_hook": "ait_llm.dump.torch_dump",
    "get_ge_dump_config": "ait_llm.dump.torchair_dump",
    "get_fx_dump_config": "ait_llm.dump.torchair_dump",
    "dump_data": "ait_llm.dump.manual_dump",
    "atb_json_to_onnx": "ait_llm.common.json_fitter",
    "compare_folders": "ait_llm.compare",
    "compare_files": "ait_llm.compare",
    "compare_tensors": "ait_llm.compare",
    "opcheck": "ait_llm.opcheck_run",
    "__version__": "ait_llm._ait_core",  # the project's version, as `ait --version` prints it
}

__all__ = sorted(name for name in _LAZY if not name.startswith("_"))


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ait_llm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
