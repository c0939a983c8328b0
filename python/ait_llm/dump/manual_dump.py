"""Manual golden dump: the original's ``dump_data`` API (FORMATS.md 6). Save one golden tensor
and record which of "my" files it is to be compared with; ``ait llm compare -gp <output_path>``
then compares exactly the recorded pairs (the manual-mapping strategy, FORMATS.md 7.2).

Layout, as the original writes it (note ``{pid}_{device}``, the reverse of the other dumps)::

    {output_path}/ait_dump/{pid}_{device}/golden_tensor/{token_id}/{data_id}_tensor.pth
    {output_path}/ait_dump/{pid}_{device}/golden_tensor/metadata.json
        {"<data_id>": {"<token_id>": ["<golden .pth path>", "<my path>"], ...}, ...}

``device`` is ``golden_data.get_device()``: ``-1`` for a CPU tensor.
"""
import json
import operator
import os
import threading

import torch

from .torch_dump.tensor_files import _write_atomically, make_dirs, save_tensor

__all__ = ["dump_data", "METADATA_FILE", "GOLDEN_TENSOR_FOLDER"]

GOLDEN_TENSOR_FOLDER = "golden_tensor"
METADATA_FILE = "metadata.json"

# One read-modify-write of a metadata.json at a time in this process (other processes write
# their own {pid}_{device} folder).
_metadata_lock = threading.Lock()


def _check_id(name, value):
    """A token_id / data_id as its metadata key: a non-negative integer (int, numpy integer, or
    a string of digits), canonical decimal text."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a non-negative integer, got a bool")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"{name} must be a non-negative integer, got the string {value!r}")
        return str(int(value))
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be a non-negative integer, got {type(value).__name__}") from None
    if number < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {number}")
    return str(number)


def _check_path(name, value, allow_empty=False):
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str path, got {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError(f"{name} must be a text path, got {type(path).__name__}")
    if not path and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    if "\0" in path:
        raise ValueError(f"{name} must not contain a NUL character")
    return path


def _read_metadata(path):
    """The metadata dict of `path`, {} when the file does not exist yet."""
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    try:
        metadata = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); move it away or fix it, dump_data will not overwrite "
                         "what it cannot read") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: holds a JSON {type(metadata).__name__}, not an object of "
                         "data_id -> {token_id: [golden path, my path]}")
    return metadata


def dump_data(token_id, data_id, golden_data, my_path, output_path="./"):
    """Saves ``golden_data`` as the golden tensor of (``token_id``, ``data_id``) and records
    that it is to be compared with the tensor file ``my_path`` (.bin, .npy, .pth/.pt or
    .safetensors; it need not exist yet). Returns the path of the golden ``.pth`` written.

    - ``token_id``, ``data_id``: non-negative integers (or strings of digits); they become
      the CSV's ``token_id`` and ``data_id`` columns;
    - ``golden_data``: a ``torch.Tensor`` (any device, any dtype); saved with ``torch.save``
      as a contiguous CPU copy, atomically;
    - ``my_path``: a ``str`` (or ``os.PathLike``) path, recorded as an absolute path;
    - ``output_path``: the folder that gets ``ait_dump/`` (created if missing).

    ``metadata.json`` is read, updated and written back atomically (a temporary file renamed
    over it): ``metadata[str(data_id)][str(token_id)] = [golden path, my path]``, both paths
    absolute. The same (data_id, token_id) again replaces its pair; other tokens of that
    data_id are kept (the original replaced every token of the data_id, so only the last
    token of a loop was ever compared).

    >>> dump_data(0, 3, hidden_states, "my/ait_dump/tensors/0_123/0/3_LinearOperation/after/outtensor0.bin")
    '/work/ait_dump/4711_-1/golden_tensor/0/3_tensor.pth'
    """
    token = _check_id("token_id", token_id)
    data = _check_id("data_id", data_id)
    if not isinstance(golden_data, torch.Tensor):
        raise TypeError(f"golden_data must be a torch.Tensor, got {type(golden_data).__name__}")
    if golden_data.device.type == "meta":
        raise ValueError("golden_data is on the meta device: it holds no values to save")
    my = os.path.abspath(_check_path("my_path", my_path))
    output = _check_path("output_path", output_path)
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"output_path {output!r} exists and is not a folder")

    device = golden_data.get_device()  # -1 for CPU
    folder = os.path.join(os.path.abspath(output), "ait_dump", f"{os.getpid()}_{device}", GOLDEN_TENSOR_FOLDER)
    token_folder = os.path.join(folder, token)
    make_dirs(token_folder)
    golden_path = os.path.join(token_folder, f"{data}_tensor.pth")
    metadata_path = os.path.join(folder, METADATA_FILE)
    with _metadata_lock:
        metadata = _read_metadata(metadata_path)  # first: an unreadable one stops everything
        save_tensor(golden_data, golden_path)
        tokens = metadata.get(data)
        if not isinstance(tokens, dict):
            tokens = metadata[data] = {}
        tokens[token] = [golden_path, my]
        text = json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8")
        _write_atomically(metadata_path, lambda f: f.write(text))
    return golden_path
