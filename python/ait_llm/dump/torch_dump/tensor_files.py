"""How values become files: flattening module inputs/outputs into (file stem, tensor)
pairs, and writing tensors and JSON atomically (temporary name + os.replace)."""
import itertools
import json
import logging
import os
import re
import sys

import torch

logger = logging.getLogger("ait_llm.dump")

DIR_MODE = 0o750
FILE_MODE = 0o640
_tmp_counter = itertools.count()
_SAFE_KEY = re.compile(r"[A-Za-z0-9_]+")
MAX_DEPTH = 16  # nesting levels followed; deeper (or self-containing) values are skipped


def _cache_layers(value):
    """The (key, value) tensors per layer of a transformers cache object, or None if
    `value` is not one. Only looked for when transformers is already imported."""
    cache_utils = sys.modules.get("transformers.cache_utils")
    cache_cls = getattr(cache_utils, "Cache", None)
    if cache_cls is None or not isinstance(value, cache_cls):
        return None
    if hasattr(value, "layers"):  # transformers >= 4.54: one object per layer
        return [(getattr(layer, "keys", None), getattr(layer, "values", None))
                for layer in value.layers]
    if isinstance(getattr(value, "key_cache", None), list):  # DynamicCache, StaticCache, ...
        return list(zip(value.key_cache, value.value_cache))
    if hasattr(value, "to_legacy_cache"):
        return value.to_legacy_cache()
    return []


def _is_model_output(value):
    model_output = getattr(sys.modules.get("transformers.utils.generic"), "ModelOutput", None)
    return model_output is not None and isinstance(value, model_output)


ALL_LAYERS = "all"


def flatten(value, stem, out, cache_layer=ALL_LAYERS, depth=0):
    """Appends (stem, tensor) for every tensor in `value`: a tensor keeps `stem`; tuples,
    lists and ModelOutput (in to_tuple() order, None fields left out) add '_<index>' per
    level; a plain dict adds '_<key>' for keys made of letters, digits and '_'; a
    transformers cache adds '_<layer>_0' (key) and '_<layer>_1' (value) for every layer if
    cache_layer is ALL_LAYERS, for that one layer if it is an int, and nothing if it is
    None. Everything else is skipped."""
    if depth > MAX_DEPTH:
        logger.debug("%s: nested deeper than %d levels, skipped", stem, MAX_DEPTH)
        return out
    if isinstance(value, torch.Tensor):
        if value.device.type == "meta":  # no data to save
            logger.debug("%s: tensor on the meta device, skipped", stem)
        else:
            out.append((stem, value))
        return out
    layers = _cache_layers(value)
    if layers is not None:
        if cache_layer is None:
            logger.debug("%s: cache object skipped here", stem)
            return out
        for i, kv in enumerate(layers):
            if cache_layer == ALL_LAYERS or cache_layer == i:
                flatten(kv, f"{stem}_{i}", out, cache_layer, depth + 1)
        return out
    if _is_model_output(value):
        items = value.to_tuple()
    elif isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _SAFE_KEY.fullmatch(key):
                flatten(item, f"{stem}_{key}", out, cache_layer, depth + 1)
            elif logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s: dict key %r is not a safe file name part, skipped", stem, key)
        return out
    else:
        if value is not None and logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: %s is not a tensor, skipped", stem, type(value).__name__)
        return out
    for i, item in enumerate(items):
        flatten(item, f"{stem}_{i}", out, cache_layer, depth + 1)
    return out


def flatten_inputs(args, kwargs, cache_layer=ALL_LAYERS):
    """Positional argument i -> input_<i> (the original's names), keyword argument k ->
    input_<k> (names made of letters, digits and '_' only), with nested indices appended
    by flatten()."""
    out = []
    for i, arg in enumerate(args):
        flatten(arg, f"input_{i}", out, cache_layer)
    for key, arg in kwargs.items():
        if _SAFE_KEY.fullmatch(key):
            flatten(arg, f"input_{key}", out, cache_layer)
        else:
            logger.debug("keyword argument %r is not a safe file name part, skipped", key)
    return out


def flatten_outputs(value, cache_layer=ALL_LAYERS):
    """A single tensor -> output; a sequence (or ModelOutput, cache) -> output_<i>..."""
    return flatten(value, "output", [], cache_layer)


def host_copy(tensor):
    """A CPU tensor that owns exactly its elements (contiguous, no larger storage behind
    it), original dtype; detached so that no autograd graph is pickled."""
    t = tensor.detach()
    if t.layout != torch.strided:  # sparse and friends: no memory format to ask for
        return t.to("cpu").clone()
    if t.device.type != "cpu":
        return t.to("cpu").contiguous()  # .to() allocates a new tensor of just these elements
    return t.clone(memory_format=torch.contiguous_format)


def make_dirs(path):
    """os.makedirs where every folder it creates gets mode 0750 (umask applies)."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        make_dirs(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not os.path.isdir(path):
            raise


def _write_atomically(path, write):
    """Writes through write(file) into a temporary file beside `path`, then renames it over
    `path`: a reader never sees a half-written file, and a crash leaves only a '.tmp'."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{next(_tmp_counter)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_tensor(tensor, path):
    """torch.save of host_copy(tensor) to `path`, atomically."""
    data = host_copy(tensor)
    _write_atomically(path, lambda f: torch.save(data, f))


def write_json(obj, path):
    """json.dump with default separators (one line, no trailing newline), atomically."""
    text = json.dumps(obj).encode("utf-8")
    _write_atomically(path, lambda f: f.write(text))
