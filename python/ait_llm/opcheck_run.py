"""``ait llm opcheck`` from Python: every operation of an ATB dump checked on its own dumped
inputs against a float64 reference, with the precision standard of its output dtype
(docs/OPCHECK.md). The very call the command makes. ``from ait_llm import opcheck`` gives the
function; the module is named ``opcheck_run`` so that importing it never hides it.

>>> r = opcheck("out/ait_dump", output="reports")
>>> r["failed"], [c["op_id"] for c in r["cases"] if c["precision_result"] == "FAILED"]
(1, ['1_6'])
"""
import os

from ait_llm import _ait_core
from ait_llm.tensor_io import AitError

__all__ = ["AitError", "METRICS", "opcheck", "reference"]

METRICS = ("abs", "cos_sim", "kl")


def _list(value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def opcheck(input, output=None, csv_path=None, ids=None, names=None, metrics=None, rerun=False, threads=0):
    """Checks the operations under ``input`` (ait_dump/, tensors/, a {dev}_{pid}, token or
    operation folder) as ``ait llm opcheck -i input`` does.

    ``output``: folder for opcheck_result_{stamp}.xlsx/.csv (None writes none);
    ``csv_path``: an operation_tensors_{n}.csv naming the operations (``-c``);
    ``ids`` / ``names``: ``-ids`` / ``-opname`` (a string "24_1,2_3" or a list);
    ``metrics``: any of :data:`METRICS`; ``rerun``: ``-rerun`` through the reference engine.

    Returns a dict: ``passed``, ``failed``, ``unsupported`` (counts of cases), ``graphs``,
    ``rerun_differs``, ``xlsx``/``csv`` (paths or None), ``exit_status`` (the command's: 1
    when something failed), ``summary`` (the text the command prints) and ``cases``: one dict
    per operation with ``token``, ``op_id``, ``op_name``, ``op_param``, ``tensor_path``,
    ``precision_result`` ("PASS", "FAILED", "addition failed"), ``fail_reason``,
    ``rerun_vs_dump`` and ``outputs`` (per output tensor: ``out_tensor_id``, ``dtype``,
    ``precision_standard``, ``passed``, ``rel_precision_rate``, ``max_rel_error``,
    ``abs_precision_rate``, ``max_abs_error``, ``cosine_similarity``, ``kl_divergence``,
    ``elements``, ``worst_element``, ``fail_reason``).

    Raises :class:`AitError` with the command's message when the input cannot be checked.
    """
    return _ait_core.opcheck(os.fspath(input), None if output is None else os.fspath(output),
                             None if csv_path is None else os.fspath(csv_path), _list(ids), _list(names),
                             _list(metrics), bool(rerun), int(threads))


def reference(op_type, param, inputs, out_dtypes=()):
    """opcheck's float64 reference of one ATB operation: ``param`` a dict (or JSON text),
    ``inputs`` a list of (numpy array, storage dtype name) pairs, e.g. (x, "float16").
    Returns a list of (float64 numpy array, dtype name), one per output."""
    import json

    text = param if isinstance(param, str) else json.dumps(param)
    return _ait_core.opcheck_reference(op_type, text, list(inputs), list(out_dtypes))
