"""ait_llm.dump.torchair_dump (get_ge_dump_config / get_fx_dump_config, FORMATS.md 9.1) against
a stand-in torchair that each test writes into its tmp folder and puts first on sys.path.

torch_npu and torchair need Ascend CANN and cannot run here. The stand-in has torchair's
CompilerConfig attribute structure and its checks (options are fixed: setting an unknown one
fails; enumerated options reject other values; dump_config.dump_path must be an existing folder;
fusion_switch_file an existing file), in both generations: `debug.graph_dump._path` (torchair
>= 8.0.RC1.b080) and `debug.graph_dump.path` (older). The real torch of the venv is used.

Run with the project venv: AIT_BUILD_DIR=$PWD/build .venv/bin/python -m pytest tests/python/test_torchair_dump.py
"""
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import BUILD

# torchair/configs/_option_base.py of the stand-in: an option is a value object behind a fixed
# attribute, and assignment goes through the option's checks, as in torchair.
OPTION_BASE = '''
import os


class OptionValue:
    def __init__(self, default, optional=None):
        self._optional = optional
        self._value = default

    def __bool__(self):
        return bool(self._value)

    @property
    def value(self):
        if self._value is None:
            return None
        if self._value is True:
            return "1"
        if self._value is False:
            return "0"
        return str(self._value)

    @value.setter
    def value(self, v):
        if self._optional is not None and v not in self._optional:
            raise ValueError(f"{v!r} not in optional list {self._optional!r}")
        self._value = v


class FileValue(OptionValue):
    @property
    def value(self):
        return OptionValue.value.fget(self)

    @value.setter
    def value(self, v):
        if v is not None and not os.path.isfile(v):
            raise FileNotFoundError(f"{v} is not found or is not a file!")
        self._value = v


class MustExistedPathValue(OptionValue):
    @property
    def value(self):
        return OptionValue.value.fget(self)

    @value.setter
    def value(self, v):
        if v is None or not os.path.isdir(v):
            raise FileNotFoundError(f"{v} is not found or is not a file directory!")
        self._value = v


class NpuBaseConfig:
    def __init__(self):
        self._fixed_attrs = [k for k, v in self.__dict__.items()
                             if isinstance(v, (OptionValue, NpuBaseConfig))]

    def __setattr__(self, key, value):
        if hasattr(self, "_fixed_attrs"):
            if key not in self._fixed_attrs:
                raise ValueError(f"{type(self).__name__} has no option {key}, all options {self._fixed_attrs}")
            if isinstance(getattr(self, key), OptionValue):
                getattr(self, key).value = value
                return
        super().__setattr__(key, value)
'''

# torchair/configs/compiler_config.py of the stand-in; PATH_ATTR is "_path" or "path".
COMPILER_CONFIG = '''
from torchair.configs._option_base import (FileValue, MustExistedPathValue, NpuBaseConfig,
                                           OptionValue)


class _DebugBase(NpuBaseConfig):
    def __init__(self):
        self.PATH_ATTR = OptionValue(None, None)
        super().__init__()


class _Dump(_DebugBase):
    def __init__(self):
        self.type = OptionValue(None, ["txt", "pbtxt", "py"])
        super().__init__()


class _DataDump(_DebugBase):
    def __init__(self):
        self.filter = None
        self.type = OptionValue(None, ["npy"])
        super().__init__()
        self._fixed_attrs.append("filter")


class _FxSummary(_DebugBase):
    def __init__(self):
        self.type = OptionValue(None, ["csv"])
        self.skip_compile = OptionValue(True, [True, False])
        super().__init__()


class _DebugConfig(NpuBaseConfig):
    def __init__(self):
        self.graph_dump = _Dump()
        self.data_dump = _DataDump()
        self.fx_summary = _FxSummary()
        super().__init__()


class _DataDumpConfig(NpuBaseConfig):
    def __init__(self):
        self.enable_dump = OptionValue(False, [False, True])
        self.dump_path = MustExistedPathValue("./")
        self.dump_mode = OptionValue("all", ["input", "output", "all"])
        super().__init__()


class _FusionConfig(NpuBaseConfig):
    def __init__(self):
        self.fusion_switch_file = FileValue(None)
        super().__init__()


class CompilerConfig(NpuBaseConfig):
    def __init__(self):
        self.debug = _DebugConfig()
        self.dump_config = _DataDumpConfig()
        self.fusion_config = _FusionConfig()
        super().__init__()
'''

TORCHAIR_INIT = '''
from torchair.configs.compiler_config import CompilerConfig

__version__ = "stand-in"


def get_npu_backend(*, compiler_config=None):
    raise RuntimeError("stand-in torchair: no NPU backend")
'''

FUSION_OFF = {"Switch": {"GraphFusion": {"ALL": "off"}, "UBFusion": {"ALL": "off"}}}
DUMP_DIR = re.compile(r"dump_(\d{8}_\d{6})")


def write_module(root, relpath, source):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def install_stand_ins(monkeypatch, root, path_attr="_path", torch_npu_source="", with_torchair=True):
    """Writes the stand-in torch_npu (and torchair unless with_torchair is False) under root and
    puts root first on sys.path."""
    write_module(root, "torch_npu/__init__.py", torch_npu_source or '__version__ = "stand-in"\n')
    if with_torchair:
        write_module(root, "torchair/__init__.py", TORCHAIR_INIT)
        write_module(root, "torchair/configs/__init__.py", "")
        write_module(root, "torchair/configs/_option_base.py", OPTION_BASE)
        write_module(root, "torchair/configs/compiler_config.py",
                     COMPILER_CONFIG.replace("PATH_ATTR", path_attr))
    monkeypatch.syspath_prepend(str(root))


def _forget_stand_ins():
    for name in [n for n in sys.modules if n.split(".")[0] in ("torchair", "torch_npu")]:
        del sys.modules[name]


@pytest.fixture(autouse=True)
def fresh_modules():
    """Each test imports its own stand-ins: none may leak from an earlier test."""
    _forget_stand_ins()
    yield
    _forget_stand_ins()


@pytest.fixture
def td(ait_llm_package):
    import ait_llm.dump.torchair_dump as module
    return module


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
    install_stand_ins(monkeypatch, tmp_path / "site")


def dump_dirs(root):
    return sorted(p for p in root.iterdir() if DUMP_DIR.fullmatch(p.name)) if root.exists() else []


def graph_dump_path(config, path_attr):
    return getattr(config.debug.graph_dump, path_attr).value


# --- get_ge_dump_config ---------------------------------------------------------------------

@pytest.mark.parametrize("path_attr", ["_path", "path"])
def test_ge_config_sets_graph_and_data_dump_into_one_new_folder(td, monkeypatch, tmp_path, path_attr):
    install_stand_ins(monkeypatch, tmp_path / "site", path_attr=path_attr)
    root = tmp_path / "ge"
    before = time.time()
    config = td.get_ge_dump_config(dump_path=str(root))
    after = time.time()

    (folder,) = dump_dirs(root)
    stamp = time.mktime(time.strptime(DUMP_DIR.fullmatch(folder.name).group(1), "%Y%m%d_%H%M%S"))
    assert int(before) - 1 <= stamp <= after + 1  # local time, to the second
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert list(folder.iterdir()) == []

    assert type(config).__module__ == "torchair.configs.compiler_config"
    assert config.debug.graph_dump.type.value == "txt"
    assert graph_dump_path(config, path_attr) == str(folder)
    assert bool(config.dump_config.enable_dump) is True
    assert config.dump_config.dump_mode.value == "all"
    assert config.dump_config.dump_path.value == str(folder)
    assert config.fusion_config.fusion_switch_file.value is None
    assert config.debug.data_dump.type.value is None  # no FX dump in GE mode


@pytest.mark.parametrize("umask", [0o077, 0o000])
def test_ge_dump_folder_mode_is_0750_whatever_the_umask(td, stand_in, tmp_path, umask):
    old = os.umask(umask)
    try:
        td.get_ge_dump_config(dump_path=tmp_path / "ge")
    finally:
        os.umask(old)
    (folder,) = dump_dirs(tmp_path / "ge")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_ge_config_in_the_default_folder_under_the_working_directory(td, stand_in, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    config = td.get_ge_dump_config()
    (folder,) = dump_dirs(tmp_path / "ait_ge_dump")
    assert config.dump_config.dump_path.value == str(folder)
    assert os.path.isabs(config.dump_config.dump_path.value)


@pytest.mark.parametrize("mode", ["input", "output", "all"])
def test_ge_config_passes_the_dump_mode(td, stand_in, tmp_path, mode):
    config = td.get_ge_dump_config(dump_path=tmp_path / "ge", dump_mode=mode)
    assert config.dump_config.dump_mode.value == mode


def test_ge_config_with_a_fusion_switch_file(td, stand_in, tmp_path):
    switch = tmp_path / "fusion_switch.json"
    switch.write_text(json.dumps(FUSION_OFF))
    config = td.get_ge_dump_config(dump_path=tmp_path / "ge", fusion_switch_file=switch)
    assert config.fusion_config.fusion_switch_file.value == str(switch)
    assert len(dump_dirs(tmp_path / "ge")) == 1


def test_ge_config_rejects_a_missing_fusion_switch_file_before_creating_anything(td, stand_in, tmp_path):
    missing = tmp_path / "no_such_switch.json"
    with pytest.raises(FileNotFoundError, match="fusion_switch_file .*no_such_switch.json.* does not exist"):
        td.get_ge_dump_config(dump_path=tmp_path / "ge", fusion_switch_file=missing)
    with pytest.raises(FileNotFoundError, match="not a file"):
        td.get_ge_dump_config(dump_path=tmp_path / "ge", fusion_switch_file=tmp_path)
    assert not (tmp_path / "ge").exists()


@pytest.mark.parametrize("mode", ["both", "ALL", "", None, 2, ["all"]])
def test_ge_config_rejects_a_bad_dump_mode(td, stand_in, tmp_path, mode):
    with pytest.raises(ValueError, match=r"dump_mode must be one of 'all', 'input', 'output', got "):
        td.get_ge_dump_config(dump_path=tmp_path / "ge", dump_mode=mode)
    assert not (tmp_path / "ge").exists()


def test_ge_config_rejects_a_dump_path_that_is_a_file(td, stand_in, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        td.get_ge_dump_config(dump_path=afile)
    with pytest.raises(ValueError, match="cannot be created: .*afile.* is not a folder"):
        td.get_ge_dump_config(dump_path=afile / "below")


@pytest.mark.parametrize("path, message", [
    ("", "must not be empty"),
    ("a b", r"contains ' '"),
    ("x/" + "n" * 256, "component longer than 255"),
])
def test_ge_config_rejects_an_illegal_dump_path(td, stand_in, tmp_path, monkeypatch, path, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        td.get_ge_dump_config(dump_path=path)
    assert list(tmp_path.iterdir()) == [tmp_path / "site"]


def test_ge_config_rejects_a_dump_path_of_the_wrong_type(td, stand_in):
    with pytest.raises(TypeError, match="dump_path must be a str or os.PathLike, got int"):
        td.get_ge_dump_config(dump_path=3)


def test_ge_config_rejects_a_symlinked_dump_path(td, stand_in, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ValueError, match="symbolic link"):
        td.get_ge_dump_config(dump_path=tmp_path / "link")


def test_ge_config_rejects_a_dump_path_it_cannot_create(td, stand_in, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    real_access = os.access
    # root may write anywhere: make "locked" read-only for this test whoever runs it.
    monkeypatch.setattr(os, "access", lambda path, mode: (
        False if os.fspath(path).rstrip("/") == str(locked) and mode & os.W_OK else real_access(path, mode)))
    with pytest.raises(ValueError, match="cannot be created: .*locked.* is not writable"):
        td.get_ge_dump_config(dump_path=locked / "ge")
    with pytest.raises(ValueError, match="is not writable"):
        td.get_ge_dump_config(dump_path=locked)
    assert list(locked.iterdir()) == []


def test_ge_config_makes_missing_parents_and_reuses_an_existing_dump_path(td, stand_in, tmp_path):
    root = tmp_path / "a" / "b"
    td.get_ge_dump_config(dump_path=root)
    assert len(dump_dirs(root)) == 1
    (root / "other").mkdir()
    td.get_ge_dump_config(dump_path=root)  # an existing folder with content is fine
    assert 1 <= len(dump_dirs(root)) <= 2  # same second: the folder is shared


# --- get_fx_dump_config ---------------------------------------------------------------------

@pytest.mark.parametrize("path_attr", ["_path", "path"])
def test_fx_config_turns_on_the_npy_data_dump_only(td, monkeypatch, tmp_path, path_attr):
    install_stand_ins(monkeypatch, tmp_path / "site", path_attr=path_attr)
    monkeypatch.chdir(tmp_path)
    config = td.get_fx_dump_config()
    assert config.debug.data_dump.type.value == "npy"
    assert graph_dump_path(config, path_attr) is None
    assert config.debug.graph_dump.type.value is None
    assert bool(config.dump_config.enable_dump) is False
    assert list(tmp_path.iterdir()) == [tmp_path / "site"]  # creates nothing


def test_each_call_returns_a_new_config(td, stand_in, tmp_path):
    assert td.get_fx_dump_config() is not td.get_fx_dump_config()


# --- without torch_npu / torchair -----------------------------------------------------------

@pytest.mark.parametrize("helper", ["get_ge_dump_config", "get_fx_dump_config"])
def test_helpers_name_the_packages_that_cannot_be_imported(td, monkeypatch, tmp_path, helper):
    monkeypatch.setitem(sys.modules, "torch_npu", None)  # import raises ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "torchair", None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(td.TorchairUnavailableError) as info:
        getattr(td, helper)()
    message = str(info.value)
    assert isinstance(info.value, ImportError)
    assert message.startswith(f"{helper} needs the packages torch, torch_npu and torchair")
    assert "Ascend CANN" in message
    assert "cannot import torch_npu, torchair (" in message
    assert [name for name, _ in info.value.missing] == ["torch_npu", "torchair"]
    assert info.value.name == "torch_npu"
    assert list(tmp_path.iterdir()) == []  # no dump folder made


def test_helpers_name_only_torchair_when_torch_npu_imports(td, monkeypatch, tmp_path):
    install_stand_ins(monkeypatch, tmp_path / "site", with_torchair=False)
    with pytest.raises(ImportError, match=r"cannot import torchair \(torchair: No module named 'torchair'\)$"):
        td.get_ge_dump_config(dump_path=tmp_path / "ge")
    assert not (tmp_path / "ge").exists()


def test_helpers_pass_on_why_torch_npu_failed_to_import(td, monkeypatch, tmp_path):
    install_stand_ins(monkeypatch, tmp_path / "site",
                      torch_npu_source='raise ImportError("libhccl.so: cannot open shared object file")\n')
    with pytest.raises(td.TorchairUnavailableError,
                       match=r"cannot import torch_npu \(torch_npu: libhccl.so: cannot open shared object"):
        td.get_fx_dump_config()


@pytest.mark.skipif(any(importlib.util.find_spec(m) for m in ("torch_npu", "torchair")),
                    reason="torch_npu or torchair is installed here")
def test_helpers_fail_here_without_the_stand_ins(td):
    """This machine has no Ascend stack: the real import fails with the packages named."""
    with pytest.raises(ImportError, match="cannot import torch_npu, torchair"):
        td.get_fx_dump_config()


# --- package surface ------------------------------------------------------------------------

def test_package_exports_the_helpers_lazily(ait_llm_package):
    from ait_llm.dump import torchair_dump
    assert ait_llm_package.get_ge_dump_config is torchair_dump.get_ge_dump_config
    assert ait_llm_package.get_fx_dump_config is torchair_dump.get_fx_dump_config
    assert {"get_ge_dump_config", "get_fx_dump_config"} <= set(ait_llm_package.__all__)
    code = ("import sys, ait_llm.dump.torchair_dump as t; "
            "assert t.get_ge_dump_config and t.get_fx_dump_config; "
            "loaded = [m for m in ('torch', 'torch_npu', 'torchair') if m in sys.modules]; "
            "assert not loaded, loaded")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(BUILD / "python")})
    assert r.returncode == 0, r.stderr
