"""DumpConfig: what register_hook saves (FORMATS.md 6.2), a process-wide singleton whose
first successful construction wins, as in the original."""
import logging
import os
import re

import torch

from ait_llm.common.output_path import check_output_path

from .api_hooks import select_apis

logger = logging.getLogger("ait_llm.dump")

MODES = ("module", "api")
TENSOR_PARTS = {0: "inputs only", 1: "outputs only", 2: "inputs and outputs"}



def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_dump_path(dump_path):
    if dump_path is None:
        return "./"
    return check_output_path(dump_path)


def _check_token_range(token_range):
    if token_range is None:
        return [0]
    if not isinstance(token_range, (list, tuple, range)):
        raise TypeError("token_range must be a list of token ids (e.g. [0, 1, 2]), "
                        f"got {type(token_range).__name__}")
    tokens = list(token_range)
    for t in tokens:
        if not _is_int(t) or t < 0:
            raise ValueError(f"token_range must hold non-negative integers, got {t!r}")
    return tokens


def _check_module_list(module_list):
    if module_list is None:
        return []
    if not isinstance(module_list, (list, tuple)):
        raise TypeError("module_list must be a list of torch.nn.Module classes, "
                        f"got {type(module_list).__name__}")
    for cls in module_list:
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise TypeError("module_list must hold torch.nn.Module classes (e.g. torch.nn.Linear), "
                            f"got {cls!r}")
    return list(module_list)


def _check_api_list(api_list):
    if api_list is None:
        return []
    if not isinstance(api_list, (list, tuple)):
        raise TypeError("api_list must be a list of functions (e.g. [torch.matmul]), "
                        f"got {type(api_list).__name__}")
    for func in api_list:
        if not callable(func) or isinstance(func, type):
            raise TypeError(f"api_list must hold functions (e.g. torch.matmul), got {func!r}")
    select_apis(api_list)  # raises ValueError naming what cannot be hooked
    return list(api_list)


def _check_mode(mode):
    if mode is None:
        return ["module"]
    modes = [mode] if isinstance(mode, str) else mode
    if not isinstance(modes, (list, tuple)) or not modes:
        raise TypeError(f"mode must be 'module', 'api' or a non-empty list of them, got {mode!r}")
    for m in modes:
        if m not in MODES:
            raise ValueError(f"mode must be 'module', 'api' or a list of them, got {m!r}")
    return list(dict.fromkeys(modes))


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def layer_name_regex(pattern):
    """The original's layer_name glob: only '*' is special (any run of characters, dots
    included); the whole name must match."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def _check_layer_name(layer_name):
    if layer_name is None:
        return None
    if not isinstance(layer_name, str):
        raise TypeError(f"layer_name must be a str pattern (e.g. 'root.model.layers.0*'), "
                        f"got {type(layer_name).__name__}")
    if not layer_name:
        raise ValueError("layer_name must not be empty (leave it None to dump every module)")
    return layer_name


class DumpConfig:
    """What to dump. The first successful construction in a process wins: later
    DumpConfig(...) calls return that same object and ignore their arguments (with a
    warning), as in the original. DumpConfig.reset() forgets it (tests, notebooks).

    dump_path        folder under which ait_dump/torch_tensors/... is written ('./')
    token_range      token ids (0-based root forward calls) to dump ([0])
    module_list      nn.Module classes to dump; subclasses included ([] = every module)
    tensor_part      0 inputs, 1 outputs, 2 both (2)
    device_id        only dump if the model sits on this device index (None = any)
    dump_last_logits save only the last module's outputs of each token (False)
    mode             'module', 'api' or a list of them (['module'])
    api_list         functions to hook in api mode ([] = the original's whole list)
    dump_weight      also save every parameter once under weights/ (False)
    layer_name       glob ('*' only) on module, API folder and weight names (None = all)
    """

    _instance = None

    def __new__(cls, *args, **kwargs):
        if cls._instance is not None:
            return cls._instance
        return super().__new__(cls)

    def __init__(self, dump_path=None, token_range=None, module_list=None, tensor_part=2,
                 device_id=None, dump_last_logits=False, mode=None, api_list=None,
                 dump_weight=False, layer_name=None):
        if DumpConfig._instance is self:
            given = {k: v for k, v in dict(
                dump_path=dump_path, token_range=token_range, module_list=module_list,
                device_id=device_id, mode=mode, api_list=api_list, layer_name=layer_name).items()
                if v is not None}
            if tensor_part != 2 or dump_last_logits or dump_weight or given:
                logger.warning("DumpConfig already exists in this process: the new arguments are "
                               "ignored (call DumpConfig.reset() first to start over)")
            return
        if not _is_int(tensor_part) or tensor_part not in TENSOR_PARTS:
            raise ValueError(f"tensor_part must be 0 (inputs), 1 (outputs) or 2 (both), "
                             f"got {tensor_part!r}")
        if device_id is not None and not _is_int(device_id):
            raise TypeError(f"device_id must be None or an int, got {type(device_id).__name__}")
        if device_id is not None and device_id < 0:
            raise ValueError(f"device_id must be a non-negative integer, got {device_id}")
        self.dump_path = _check_dump_path(dump_path)
        self.token_range = _check_token_range(token_range)
        self.module_list = _check_module_list(module_list)
        self.tensor_part = tensor_part
        self.device_id = device_id
        self.dump_last_logits = _check_bool("dump_last_logits", dump_last_logits)
        self.mode = _check_mode(mode)
        self.api_list = _check_api_list(api_list)
        self.dump_weight = _check_bool("dump_weight", dump_weight)
        self.layer_name = _check_layer_name(layer_name)
        self.dump_dir = None  # {dump_path}/ait_dump/torch_tensors/{device}_{pid}, set by register_hook
        DumpConfig._instance = self

    @classmethod
    def reset(cls):
        """Forget the process-wide DumpConfig so that the next DumpConfig(...) takes its
        arguments. Hooks already registered keep the config they were given."""
        cls._instance = None

    def __repr__(self):
        fields = ("dump_path", "token_range", "module_list", "tensor_part", "device_id",
                  "dump_last_logits", "mode", "api_list", "dump_weight", "layer_name")
        return "DumpConfig(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in fields) + ")"
