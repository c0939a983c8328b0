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

__all__ = ["AitError", "METRICS", "CMP_LEVELS", "compare_tensors", "compare_files", "compare_folders"]

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


CMP_LEVELS = ("layer", "token", "module", "api", "logits")


def _custom_algorithms(custom_algorithms):
    """[(column name, callable)] of compare_folders' ``custom_algorithms``."""
    if custom_algorithms is None:
        return []
    if isinstance(custom_algorithms, (str, bytes, os.PathLike)) or callable(custom_algorithms):
        custom_algorithms = [custom_algorithms]
    out = []
    for item in custom_algorithms:
        if isinstance(item, (str, os.PathLike)):
            try:
                out.append(_ait_core.load_custom_algorithm(os.fspath(item)))
            except ValueError as e:
                raise ValueError(f"custom_algorithms: {e}") from None
        elif callable(item):
            out.append((getattr(item, "__name__", None) or type(item).__name__, item))
        else:
            raise TypeError(f"custom_algorithms: {item!r} is neither a callable nor 'FILE.py:FUNC'")
    columns = list(_ait_core.csv_columns())
    for name, _ in out:
        for column in (name, name + "_message"):
            if column in columns:
                raise ValueError(f"custom_algorithms: {name}: the report already has a column '{column}' "
                                 "(each custom algorithm adds '<name>' and '<name>_message')")
            columns.append(column)
    return out


def compare_folders(golden, my, output=None, cosine_threshold=0.99, op_mapping_file=None, threads=0,
                    cmp_level="layer", custom_algorithms=None, peer=None, fail_on=(), opcheck=False):
    """Compares two dump folders as ``ait llm compare -gp golden -mp my`` does, through the
    same C++ call (``RunCompare``): the same pairing strategy, rows and root causes.

    ``golden`` and ``my`` may name any level of a dump (its ``-o`` folder, ``ait_dump/``,
    ``tensors/``, ``{dev}_{pid}/``, a token folder). With ``output`` (a folder, created if
    missing) the CSV, JSON and HTML reports are written there as the command writes them;
    by default nothing is written. ``op_mapping_file`` is the command's ``-mf``.

    ``peer`` is the command's ``--peer-path``: a third dump folder, the golden model run at my
    dtype, paired to the golden like ``my``; each operation's local error is then judged against
    the same operation's in the peer (docs/ROOT_CAUSE.md), and ``summary["peer"]`` says how.

    ``fail_on`` is the command's ``--fail-on`` (``"root-cause"``, ``"off"``, ``"failed"``,
    ``"inputs-differ"``):
    ``summary["verdict"]`` gives the conditions that held and the ``exit_status`` the command
    would return (0 when none asked for held).

    ``opcheck=True`` is the command's ``--opcheck``: each operation of ``my`` that holds its
    inputs and params is checked on them against opcheck's float64 reference
    (docs/OPCHECK.md); one that fails is a root cause whatever it inherits, and each checked
    operation's entry in ``summary["operations"]`` carries ``"opcheck"`` (result, evidence).

    ``cmp_level`` is the command's ``-cl`` (:data:`CMP_LEVELS`): ``"layer"`` and ``"token"``
    compare everything paired; ``"module"`` / ``"api"`` keep the pairs in the torch dump's
    module / API-mode folders, ``"logits"`` per token the model's final output.

    ``custom_algorithms`` is the command's ``-alg``: a list of callables ``f(golden, my) ->
    (value, message)`` and/or ``"FILE.py:FUNC"`` strings. Each is called with the two tensors
    as numpy arrays (as read; bfloat16 as float32) on every row whose metrics are computed,
    possibly from worker threads (holding the GIL); its columns are ``f.__name__`` (the value:
    float when it reads as a number, else str; None when not called) and
    ``f.__name__ + "_message"`` (str; an exception raised becomes ``"ValueError: ..."``).

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
    if cmp_level not in CMP_LEVELS:
        raise ValueError(f"cmp_level: {cmp_level!r} is not one of {', '.join(CMP_LEVELS)}")
    algorithms = _custom_algorithms(custom_algorithms)
    for what, path in (("golden", golden), ("my", my)) + ((("peer", peer),) if peer is not None else ()):
        if not os.path.isdir(path):
            raise AitError(f"{os.fspath(path)}: the {what} path is not a folder (compare_files compares two files)")
    result = _ait_core.compare_folders(os.fspath(golden), os.fspath(my),
                                       None if output is None else os.fspath(output), float(cosine_threshold),
                                       None if op_mapping_file is None else os.fspath(op_mapping_file), int(threads),
                                       cmp_level, algorithms, None if peer is None else os.fspath(peer),
                                       [fail_on] if isinstance(fail_on, str) else list(fail_on), bool(opcheck))
    result["summary"] = json.loads(result["summary"])
    return result
