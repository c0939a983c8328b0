"""register_hook: dumps a torch.nn.Module's module (and optionally torch API) inputs and
outputs token by token, in the original's layout (FORMATS.md 6.1) plus the extras listed in
docs/TORCH_DUMP.md.

Each module's forward is wrapped on the instance (not with forward hooks: torch < 2.0 hooks
do not see keyword arguments, which is how Hugging Face models call their layers). The
wrapper saves the inputs the module receives, runs it, then saves what it returned; the root
module's wrapper counts tokens. remove() restores every forward and API function."""
import functools
import logging
import os
import re

import torch

from .api_hooks import select_apis, unwrap_apis, wrap_apis
from .dump_config import DumpConfig, layer_name_regex
from .tensor_files import (ALL_LAYERS, flatten_inputs, flatten_outputs, make_dirs,
                           save_tensor, write_json)

logger = logging.getLogger("ait_llm.dump")

MODEL_TREE = "model_tree.json"
MODULE_ORDER = "module_order.json"
WEIGHTS = "weights"

_active = None  # the DumpHandle whose hooks are installed, if any


def model_device(model):
    """The device of the model's first parameter (or buffer; CPU if it has neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def device_string(device):
    """'cpu', 'cuda0', 'npu1': str(device) without ':' - the original's folder prefix."""
    return str(device).replace(":", "")


def device_selected(device_str, device_id):
    """The original's device filter: CPU models and device_id None always dump; otherwise
    the device string must equal <type><device_id> (type = the text before the first digit)."""
    if device_id is None or device_str == "cpu":
        return True
    return f"{re.match(r'[^0-9]*', device_str).group(0)}{device_id}" == device_str


def model_tree(name, module):
    """model_tree.json's node for `module` (FORMATS.md 5.3): named_children, registration order."""
    return {"name": name, "type": type(module).__name__,
            "children": [model_tree(f"{name}.{child_name}", child)
                         for child_name, child in module.named_children()]}


def _named_modules(model):
    """(dotted name from 'root', module) for every module, first name wins for a module
    reachable under several names (it can be wrapped only once)."""
    seen, order = set(), []

    def walk(name, module):
        if id(module) in seen:
            return
        seen.add(id(module))
        order.append((name, module))
        for child_name, child in module.named_children():
            walk(f"{name}.{child_name}", child)

    walk("root", model)
    return order


def cache_layer_of(module, is_root):
    """Which part of a transformers cache object a module's dump holds: all layers at the
    root (where the cache enters and leaves the model); the module's own layer if it has an
    integer layer_idx (HF attention modules); nothing elsewhere, since every decoder layer
    receives the same whole-model cache and saving it there would repeat it per module."""
    if is_root:
        return ALL_LAYERS
    layer = getattr(module, "layer_idx", None)
    return layer if isinstance(layer, int) and not isinstance(layer, bool) else None


def _safe_folder(name):
    """A module or API folder name usable as one path component."""
    name = name.replace("/", "_").replace("\0", "_")
    return "_" if name in ("", ".", "..") else name


class _DumpSession:
    """Everything one register_hook call installed, and the state of the current token.
    Per-token state is dropped when the root forward returns, so nothing accumulates."""

    def __init__(self, model, config):
        self.model = model
        self.config = config
        self.device = device_string(model_device(model))
        self.dump_dir = os.path.abspath(os.path.join(
            config.dump_path, "ait_dump", "torch_tensors", f"{self.device}_{os.getpid()}"))
        self.device_selected = device_selected(self.device, config.device_id)
        self.layer_re = layer_name_regex(config.layer_name) if config.layer_name else None
        self.module_types = tuple(config.module_list)
        self.dump_modules = "module" in config.mode and not config.dump_last_logits
        self.dump_inputs = config.tensor_part in (0, 2)
        self.dump_outputs = config.tensor_part in (1, 2)
        self.active = True
        self.wrapped_modules = []   # (module, wrapper, previous instance-level forward or None)
        self.wrapped_apis = []
        self.forward_count = 0
        self._clear_token()

    # ---- per-token state ------------------------------------------------------------------

    def _clear_token(self):
        self.token_id = None
        self.token_active = False
        self.stack = []          # names of the modules currently running, innermost last
        self.busy = False        # inside an API call or our own saving: API calls pass through
        self.order = []          # module_order.json entries
        self.api_calls = {}      # API folder base name -> calls so far this token
        self.made_dirs = set()
        self.last_outputs = None  # dump_last_logits: (module name, [(stem, tensor)])

    # ---- selection ------------------------------------------------------------------------

    def _name_selected(self, name):
        return self.layer_re is None or self.layer_re.fullmatch(name) is not None

    def _module_selected(self, module, name):
        if self.module_types and not isinstance(module, self.module_types):
            return False
        return self._name_selected(name)

    # ---- writing --------------------------------------------------------------------------

    def _save(self, folder, items):
        if not items:
            return
        path = os.path.join(self.dump_dir, str(self.token_id), _safe_folder(folder))
        if path not in self.made_dirs:
            make_dirs(path)
            self.made_dirs.add(path)
        busy, self.busy = self.busy, True
        try:
            for stem, tensor in items:
                save_tensor(tensor, os.path.join(path, stem + ".pth"))
        finally:
            self.busy = busy

    def save_weights(self):
        folder = os.path.join(self.dump_dir, WEIGHTS)
        for name, param in self.model.named_parameters():
            full = f"root.{name}"
            if self._name_selected(full):
                make_dirs(folder)
                save_tensor(param, os.path.join(folder, _safe_folder(full) + ".pth"))

    def _write_model_tree(self):
        make_dirs(self.dump_dir)
        write_json(model_tree("root", self.model), os.path.join(self.dump_dir, MODEL_TREE))

    # ---- module forwards ------------------------------------------------------------------

    def run_module(self, module, name, forward, args, kwargs):
        if module is self.model and not self.stack:
            return self._run_root(module, name, forward, args, kwargs)
        if not self.token_active:
            return forward(*args, **kwargs)
        return self._run_dumped(module, name, forward, args, kwargs)

    def _run_root(self, module, name, forward, args, kwargs):
        token = self.forward_count
        self.forward_count += 1
        self.token_id = token
        self.token_active = self.device_selected and token in self.config.token_range
        try:
            if not self.token_active:
                out = forward(*args, **kwargs)
            else:
                out = self._run_dumped(module, name, forward, args, kwargs)
                if self.active:
                    self._finish_token(out)
            if token == 0 and self.device_selected and self.active:
                self._write_model_tree()
            return out
        finally:
            self._clear_token()

    def _run_dumped(self, module, name, forward, args, kwargs):
        selected = self.dump_modules and self._module_selected(module, name)
        cache_layer = cache_layer_of(module, module is self.model)
        if selected and self.dump_inputs:
            # Saved before the forward: what the module received, even if it works in place.
            self._save(name, flatten_inputs(args, kwargs, cache_layer))
        self.stack.append(name)
        try:
            out = forward(*args, **kwargs)
        finally:
            if self.stack:  # empty if remove() ran inside this forward
                self.stack.pop()
        if not self.active:  # removed meanwhile: write nothing more
            return out
        if self.dump_modules:
            self.order.append({"name": name, "type": type(module).__name__})
        if selected and self.dump_outputs:
            self._save(name, flatten_outputs(out, cache_layer))
        if (self.config.dump_last_logits and module is not self.model
                and self._module_selected(module, name)):
            items = flatten_outputs(out, cache_layer)
            if items:
                self.last_outputs = (name, items)
        return out

    def _finish_token(self, root_out):
        if self.dump_modules:
            make_dirs(os.path.join(self.dump_dir, str(self.token_id)))
            write_json(self.order, os.path.join(self.dump_dir, str(self.token_id), MODULE_ORDER))
        if self.config.dump_last_logits:
            if self.last_outputs is not None:
                self._save(*self.last_outputs)
            elif self._module_selected(self.model, "root"):  # a model without sub-modules
                self._save("root", flatten_outputs(root_out))

    # ---- API functions --------------------------------------------------------------------

    def run_api(self, func, api_name, args, kwargs):
        if not (self.active and self.token_active and self.stack) or self.busy:
            return func(*args, **kwargs)
        base = f"{self.stack[-1]}.{api_name}"
        calls = self.api_calls.get(base, 0)
        self.api_calls[base] = calls + 1
        folder = base if calls == 0 else f"{base}.{calls}"
        selected = self._name_selected(base)
        if selected and self.dump_inputs:
            self._save(folder, flatten_inputs(args, kwargs))
        self.busy = True  # API calls made by this one are part of it, not dumped apart
        try:
            out = func(*args, **kwargs)
        finally:
            self.busy = False
        if selected and self.dump_outputs:
            self._save(folder, flatten_outputs(out))
        return out

    # ---- installing and removing ----------------------------------------------------------

    def install(self):
        try:
            for name, module in _named_modules(self.model):
                self._wrap_forward(module, name)
            if "api" in self.config.mode:
                self.wrapped_apis = wrap_apis(select_apis(self.config.api_list), self.run_api)
        except BaseException:
            self.uninstall()
            raise

    def _wrap_forward(self, module, name):
        if isinstance(module, torch.jit.ScriptModule):
            logger.warning("%s (%s) is a TorchScript module: its forward cannot be wrapped, "
                           "not dumped", name, type(module).__name__)
            return
        previous = vars(module).get("forward")  # an instance-level forward set by someone else
        forward = module.forward
        session = self

        @functools.wraps(forward)
        def hooked_forward(*args, **kwargs):
            if not session.active:
                return forward(*args, **kwargs)
            return session.run_module(module, name, forward, args, kwargs)

        vars(module)["forward"] = hooked_forward
        self.wrapped_modules.append((module, hooked_forward, previous))

    def uninstall(self):
        self.active = False
        unwrap_apis(self.wrapped_apis)
        self.wrapped_apis = []
        for module, wrapper, previous in reversed(self.wrapped_modules):
            attrs = vars(module)
            if attrs.get("forward") is not wrapper:
                logger.warning("%s.forward was replaced after register_hook; not restoring it",
                               type(module).__name__)
            elif previous is None:
                del attrs["forward"]
            else:
                attrs["forward"] = previous
        self.wrapped_modules = []
        self._clear_token()


class DumpHandle:
    """What register_hook returns. remove() takes every hook out again."""

    def __init__(self, session):
        self._session = session

    @property
    def dump_dir(self):
        """{dump_path}/ait_dump/torch_tensors/{device}_{pid} (absolute)."""
        return self._session.dump_dir

    @property
    def removed(self):
        return not self._session.active

    def remove(self):
        """Restores every wrapped forward and torch function; files already written stay.
        Calling it again does nothing. Afterwards register_hook may be called again."""
        global _active
        if self._session.active:
            self._session.uninstall()
        if _active is self:
            _active = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def register_hook(model, config, hook_type="dump_data"):
    """Hooks `model` (normally the outermost module) so that its forwards are dumped as
    `config` says. Returns a DumpHandle. One registration is active at a time: while one
    is, a second call warns and returns the active handle (the original allowed one per
    process); after handle.remove() or remove_hook() a new registration is allowed."""
    global _active
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, DumpConfig):
        raise TypeError(f"config must be a DumpConfig, got {type(config).__name__}")
    if hook_type != "dump_data":
        raise ValueError(f"hook_type must be 'dump_data' (the only kind), got {hook_type!r}")
    if _active is not None:
        logger.warning("register_hook: hooks are already registered (dump dir %s); call "
                       "remove_hook() first to register again", _active.dump_dir)
        return _active
    session = _DumpSession(model, config)
    config.dump_dir = session.dump_dir
    if not session.device_selected:
        logger.info("model on %s, device_id=%s: nothing will be dumped", session.device,
                    config.device_id)
    elif config.dump_weight:
        session.save_weights()
    session.install()
    _active = DumpHandle(session)
    return _active


def remove_hook():
    """Removes the hooks of the active registration, if any (same as handle.remove())."""
    if _active is not None:
        _active.remove()
