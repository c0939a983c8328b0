"""get_ge_dump_config / get_fx_dump_config: torchair CompilerConfigs that dump what `ait llm
compare` reads in torchair graph mode (FORMATS.md 9.1). torch_npu and torchair run only on an
Ascend machine with CANN, so they are imported when a helper is called, never at import time."""
import importlib
import logging
import os
import re
import stat
import time

logger = logging.getLogger("ait_llm.dump")

REQUIRED_PACKAGES = ("torch", "torch_npu", "torchair")
DUMP_MODES = ("all", "input", "output")
DUMP_DIR_MODE = 0o750

# check_output_path_legality of the original (FORMATS.md 4.2), as DumpConfig applies it.
_PATH_CHARS = re.compile(r"[_A-Za-z0-9/.\-]*")
_PATH_MAX = 4096
_NAME_MAX = 255


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
    if not isinstance(dump_path, (str, os.PathLike)):
        raise TypeError(f"dump_path must be a str or os.PathLike, got {type(dump_path).__name__}")
    path = os.fspath(dump_path)
    if not isinstance(path, str):
        raise TypeError(f"dump_path must be a text path, got {type(path).__name__}")
    if not path:
        raise ValueError("dump_path must not be empty (use '.' for the current folder)")
    if len(path) > _PATH_MAX:
        raise ValueError(f"dump_path is {len(path)} characters long, the limit is {_PATH_MAX}")
    if any(len(part) > _NAME_MAX for part in path.split("/")):
        raise ValueError(f"dump_path {path!r} has a component longer than {_NAME_MAX} characters")
    if not _PATH_CHARS.fullmatch(path):
        bad = sorted(set(c for c in path if not _PATH_CHARS.fullmatch(c)))
        raise ValueError(f"dump_path {path!r} contains {''.join(bad)!r}: only letters, digits "
                         "and '_', '-', '.', '/' are allowed")
    bare = path.rstrip("/") or "/"  # lstat("link/") would follow the link
    if os.path.lexists(bare):
        info = os.lstat(bare)
        if stat.S_ISLNK(info.st_mode):
            raise ValueError(f"dump_path {path!r} is a symbolic link: give the real folder")
        if not stat.S_ISDIR(info.st_mode):
            raise ValueError(f"dump_path {path!r} exists and is not a folder")
        if os.geteuid() != 0 and info.st_uid != os.geteuid() and info.st_gid not in os.getgroups():
            raise ValueError(f"dump_path {path!r} belongs to another user (uid {info.st_uid})")
        if not os.access(bare, os.W_OK | os.X_OK):
            raise ValueError(f"dump_path {path!r} is not writable")
        return path
    # Not there yet: the nearest existing ancestor must be a writable folder, or makedirs fails.
    ancestor = os.path.dirname(os.path.abspath(bare))
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"dump_path {path!r} cannot be created: {ancestor!r} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"dump_path {path!r} cannot be created: {ancestor!r} is not writable")
    return path


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
