"""ATB topology JSON -> ONNX at the original's import path (``ait_llm.common.json_fitter``),
through the C++ converter that ``ait llm onnx`` uses (FORMATS.md 5.4)."""
import json
import math
import operator
import os

from ait_llm import _ait_core

AitError = _ait_core.AitError

__all__ = ["AitError", "atb_json_to_onnx", "atb_json_to_onnx_bytes"]


def _check_level(target_level):
    try:
        target_level = operator.index(target_level)
    except TypeError:
        raise TypeError(f"target_level must be an int, got {type(target_level).__name__}") from None
    if target_level < -1:
        raise ValueError(f"target_level must be -1 (all leaves), 0 (the root as one node) or a depth >= 1, "
                         f"got {target_level}")
    return target_level


def atb_json_to_onnx(layer_topo_info, target_level=-1):
    """Converts the ATB layer or model topology JSON file ``layer_topo_info`` (a path ending
    in ``.json``, as ``ait llm dump --type layer model`` writes them) to an ONNX model at
    ``layer_topo_info[:-5] + ".onnx"``, byte for byte what ``ait llm onnx`` writes.

    target_level: -1 every leaf operation, 0 the whole graph as one node, N the operations
    N levels below the root (a model JSON's layers are level 1), or shallower leaves.
    Returns the written path. Raises :class:`AitError` naming the file for a missing file,
    invalid JSON or a JSON that is not a topology; TypeError/ValueError for bad arguments.

    >>> atb_json_to_onnx("ait_dump/layer/1234/LlamaLayer_1.json")
    'ait_dump/layer/1234/LlamaLayer_1.onnx'
    """
    path = os.fspath(layer_topo_info)
    if not isinstance(path, str):
        raise TypeError(f"layer_topo_info must be a str path, got {type(layer_topo_info).__name__}")
    if not path.endswith(".json"):
        raise ValueError(f"{path}: expected an ATB topology JSON file (a name ending in .json)")
    return _ait_core.atb_json_to_onnx(path, _check_level(target_level))


def _nan_to_none(value):
    """The original loads NaN/Infinity constants as null; do the same for Python objects."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def atb_json_to_onnx_bytes(topology, target_level=-1, source="<topology>"):
    """The serialized ONNX ModelProto for a topology: a JSON file path, or the parsed JSON
    (a dict as ``json.load`` returns it). Nothing is written. Same conversion and errors as
    :func:`atb_json_to_onnx`.

    For a dict, ``source`` names it in error messages, and its file name goes to the model's
    ``ait.source`` metadata (a file's own name goes there otherwise): pass the JSON file's
    path to get the very bytes converting that file gives.

    >>> model = onnx.load_from_string(atb_json_to_onnx_bytes({"opName": "L", "opType": "T", "param": {}}))
    """
    level = _check_level(target_level)
    if isinstance(topology, dict):
        text = json.dumps(_nan_to_none(topology), allow_nan=False)
        return _ait_core.atb_json_text_to_onnx_bytes(text, level, os.fspath(source))
    return _ait_core.atb_json_file_to_onnx_bytes(os.fspath(topology), level)
