"""get_ge_dump_config / get_fx_dump_config: torchair CompilerConfigs that dump what `ait llm
compare` reads in torchair graph mode (FORMATS.md 9.1). torch_npu and torchair run only on an
Ascend machine with CANN, so they are imported when a helper is called, never at import time."""
import importlib
import logging
import os
import time

from ait_llm.common.output_path import check_output_path

logger = logging.getLogger("ait_llm.dump")

REQUIRED_PACKAGES = ("torch", "torch_npu", "torchair")
DUMP_MODES = ("all", "input", "output")
DUMP_DIR_MODE = 0o750



class TorchairUnavailableError(ImportError):
    """torch, torch_npu or torchair cannot be imported. `missing` lists (package, reason)."""

    def __init__(self, helper, missing):
        self.missing = list(missing)
        names = ", ".join(name for name, _ in self.missing)
        reasons = "; ".join(f"{name}: {reason}" for name, reason in self.missing)
        super().__init__(
            f"{helper} needs the packages torch, torch_npu and torchair, which run only with Ascend "
            f"CANN on an Ascend machine; cannot import {names} ({reasons})",
            name=self.missing[0][0])


def _compiler_config_class(helper):
    """torchair's CompilerConfig, after importing every package of REQUIRED_PACKAGES (torch_npu
    registers the NPU with torch, so it must be imported even though we never call it)."""
    missing = []
    for name in REQUIRED_PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError as e:  # ModuleNotFoundError, or a package whose CANN libraries are absent
            missing.append((name, str(e) or type(e).__name__))
    if missing:
        raise TorchairUnavailableError(helper, missing)
    from torchair.configs.compiler_config import CompilerConfig
    return CompilerConfig


def _check_dump_mode(dump_mode):
    if not isinstance(dump_mode, str) or dump_mode not in DUMP_MODES:
        raise ValueError(f"dump_mode must be one of {', '.join(map(repr, DUMP_MODES))}, got {dump_mode!r}")
    return dump_mode


def _check_dump_path(dump_path):
    """dump_path as the original checks an output path, plus: it is, or can be made, a folder."""
    return check_output_path(dump_path, creatable=True)


def _check_fusion_switch_file(fusion_switch_file):
    if fusion_switch_file is None:
        return None
    if not isinstance(fusion_switch_file, (str, os.PathLike)):
        raise TypeError(f"fusion_switch_file must be a str or os.PathLike, "
                        f"got {type(fusion_switch_file).__name__}")
    path = os.fspath(fusion_switch_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"fusion_switch_file {path!r} does not exist or is not a file")
    return path


def _make_dump_dir(dump_path):
    """{dump_path}/dump_{YYYYmmdd_HHMMSS} (local time), mode 0750; a second call within the same
    second reuses the folder, as the original does."""
    os.makedirs(dump_path, mode=DUMP_DIR_MODE, exist_ok=True)
    folder = os.path.abspath(os.path.join(dump_path, f"dump_{time.strftime('%Y%m%d_%H%M%S')}"))
    try:
        os.mkdir(folder, DUMP_DIR_MODE)
        os.chmod(folder, DUMP_DIR_MODE)  # mkdir's mode is masked by the umask
    except FileExistsError:
        if not os.path.isdir(folder) or os.path.islink(folder):
            raise ValueError(f"{folder!r} exists and is not a folder") from None
    return folder


def get_ge_dump_config(dump_path="ait_ge_dump", dump_mode="all", fusion_switch_file=None):
    """A torchair CompilerConfig that dumps the GE graph (text) and every GE operator's data
    ("all", "input" or "output" tensors) into a new folder {dump_path}/dump_{YYYYmmdd_HHMMSS}.
    fusion_switch_file (a GE fusion switch JSON, e.g. all fusion "off") must exist.
    Raises TorchairUnavailableError when torch, torch_npu or torchair cannot be imported;
    ValueError / TypeError / FileNotFoundError for bad arguments, before creating anything."""
    compiler_config = _compiler_config_class("get_ge_dump_config")
    dump_mode = _check_dump_mode(dump_mode)
    dump_path = _check_dump_path(dump_path)
    fusion_switch_file = _check_fusion_switch_file(fusion_switch_file)

    folder = _make_dump_dir(dump_path)
    config = compiler_config()
    config.debug.graph_dump.type = "txt"
    # torchair >= 8.0.RC1.b080 made the graph dump's path the private `_path`.
    if hasattr(config.debug.graph_dump, "_path"):
        config.debug.graph_dump._path = folder
    else:
        config.debug.graph_dump.path = folder
    if fusion_switch_file is not None:
        config.fusion_config.fusion_switch_file = fusion_switch_file
    config.dump_config.enable_dump = True
    config.dump_config.dump_mode = dump_mode
    config.dump_config.dump_path = folder
    logger.info("GE dump folder: %s", folder)
    return config


def get_fx_dump_config():
    """A torchair CompilerConfig whose eager FX interpreter saves every aten node's inputs and
    outputs as .npy under ./data_dump (older torchair: ./gm_{timestamp}_dump).
    Raises TorchairUnavailableError when torch, torch_npu or torchair cannot be imported."""
    compiler_config = _compiler_config_class("get_fx_dump_config")
    config = compiler_config()
    config.debug.data_dump.type = "npy"
    return config
