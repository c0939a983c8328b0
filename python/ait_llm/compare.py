"""Scoring a pair of tensors with the C++ core: the same pre-check, metrics and numbers as
a row of the CSV that ``ait llm compare`` writes (FORMATS.md 7.6/7.7); and comparing two
dump folders end to end (:func:`compare_folders`), the very call the command makes.

A result is a dict keyed by the CSV's column names:

- ``golden_dtype``, ``my_dtype``: torch spelling, e.g. ``"torch.float16"``;
- ``golden_shape``, ``my_shape``: ``str(list(shape))``, e.g. ``"[1, 2, 3]"``;
- ``golden_max_value``, ``golden_min_value``, ``golden_mean_value`` and the ``my_`` ones:
  float, None when a dimension is 0 or the side could not be read;
- the seven metrics (:data:`METRICS`): float, or None when the pair failed the pre-check;
- ``cmp_fail_reason``: ``""`` when the metrics were computed, else the original's reason,
  e.g. ``"my_data includes NAN or inf."`` or ``"data shape doesn't match."``;
- ``golden_data_path``, ``my_data_path`` (only from :func:`compare_files`).

Floats are the values the CSV's text reads back as (``float(cell)``): the cosine
similarity in float64 rounded to 10 decimals, everything else rounded to float32 as the
original computes it. Unlike the CSV writer, nothing is dropped for mixed int8 pairs.
"""
import json
import os

from ait_llm import _ait_core
from ait_llm.tensor_io import AitError, _to_core

__all__ = ["AitError", "METRICS", "compare_tensors", "compare_files", "compare_folders"]

METRICS = ("cosine_similarity", "max_relative_error", "mean_relative_error", "max_absolute_error",
           "mean_absolute_error", "kl_divergence", "relative_euclidean_distance")


def compare_tensors(golden, my, broadcast=False):
    """Scores ``my`` against ``golden``: numpy arrays, torch tensors (any device, any dtype
    including bfloat16) or anything ``numpy.asarray`` takes. Returns the result dict
    described in this module's docstring; never raises for what the data hold (NaN, shape
    mismatch, complex values): those become ``cmp_fail_reason``.

    ``broadcast=True`` applies the batch rule of the folder mode (numpy broadcast, else
    tile along dim 0); by default the element counts must match, as in two-file mode.

    >>> r = compare_tensors(numpy.ones(4, numpy.float16), torch.ones(4))
    >>> r["cosine_similarity"], r["golden_dtype"], r["my_dtype"]
    (1.0, 'torch.float16', 'torch.float32')
    """
    g, g_dtype = _to_core(golden)
    m, m_dtype = _to_core(my)
    return _ait_core.compare_arrays(g, g_dtype, m, m_dtype, bool(broadcast))


def compare_files(golden_path, my_path, broadcast=False):
    """Scores two tensor files (.bin, .npy, .pth/.pt, .safetensors holding one tensor) as
    ``ait llm compare -gp golden_path -mp my_path`` does; the result dict equals that
    command's CSV row. A missing or unreadable file does not raise: as in the original's
    rows, ``cmp_fail_reason`` names it (e.g. ``"golden_data_path: x.npy is not a file."``).

    >>> compare_files("golden/outtensor0.bin", "my/outtensor0.bin")["cosine_similarity"]
    0.9999999841
    """
    return _ait_core.compare_files(os.fspath(golden_path), os.fspath(my_path), bool(broadcast))


def compare_folders(golden, my, output=None, cosine_threshold=0.99, op_mapping_file=None, threads=0):
    """Compares two dump folders as ``ait llm compare -gp golden -mp my`` does, through the
    same C++ call (``RunCompare``): the same pairing strategy, rows and root causes.

    ``golden`` and ``my`` may name any level of a dump (its ``-o`` folder, ``ait_dump/``,
    ``tensors/``, ``{dev}_{pid}/``, a token folder). With ``output`` (a folder, created if
    missing) the CSV, JSON and HTML reports are written there as the command writes them;
    by default nothing is written. ``op_mapping_file`` is the command's ``-mf``.

    Returns a dict:

    - ``strategy``: the pairing strategy chosen (``"atb-torch"``, ``"path"``, ...);
    - ``declined``: the strategies asked before it, each ``{"strategy", "reason", "blocked"}``;
    - ``rows``: the CSV's rows in order, each a dict keyed by the CSV's columns, valued as in
      :func:`compare_files` (plus ``token_id`` and ``data_id`` as text);
    - ``summary``: the summary document the JSON report holds (docs/ROOT_CAUSE.md):
      ``summary["root_causes"]``, ``summary["operations"]``, ``summary["verdicts"]``...;
    - ``reports``: ``{"csv", "json", "html"}`` paths when ``output`` was given, else None.

    Raises :class:`AitError` when the folders cannot be compared (nothing pairs, a path is
    not a folder) or a report cannot be written.

    >>> r = compare_folders("golden/ait_dump", "my/ait_dump")
    >>> r["summary"]["root_causes"][0]["my_name"]
    'LinearOperation_2_9'
    """
    for what, path in (("golden", golden), ("my", my)):
        if not os.path.isdir(path):
            raise AitError(f"{os.fspath(path)}: the {what} path is not a folder (compare_files compares two files)")
    result = _ait_core.compare_folders(os.fspath(golden), os.fspath(my),
                                       None if output is None else os.fspath(output), float(cosine_threshold),
                                       None if op_mapping_file is None else os.fspath(op_mapping_file), int(threads))
    result["summary"] = json.loads(result["summary"])
    return result
