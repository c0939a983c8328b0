"""Reading and writing tensor files with the C++ core's readers and writers, so Python sees
exactly the values `ait llm compare` scores.

Formats (chosen by the file's extension): ATB ``.bin`` dumps, NumPy ``.npy``, PyTorch
``.pth``/``.pt`` (``torch.save`` zip archives; read without running any pickle code),
``.safetensors``, and torchair GE dump files (no extension: ``OpType.OpName.task.stream.timestamp``;
tensors named ``inputs,K`` / ``outputs,K``, also read as ``read_tensor("FILE,outputs,0")``).
The core writes ``.bin``, ``.npy``, ``.safetensors`` and GE dump files.
"""
import dataclasses
import os
import sys
import warnings

import numpy as np

from ait_llm import _ait_core

AitError = _ait_core.AitError
AitError.__doc__ = ("A file could not be read or written, or its contents are malformed; the message "
                    "names the file and the reason.")

__all__ = ["AitError", "BFloat16Warning", "TensorDescription", "read_tensor", "read_tensors", "write_tensor",
           "write_tensors", "write_bin"]


class BFloat16Warning(UserWarning):
    """bfloat16 values came back as a float32 array because torch is not importable."""


@dataclasses.dataclass(frozen=True)
class TensorDescription:
    """What a description-only ATB .bin file (``$Object.Count=0``, e.g. from ``ait llm dump -sd``)
    holds: the tensor's dtype (a short name such as ``"float16"``), shape and ATB format code."""

    dtype: str
    shape: tuple
    atb_format: int = 2


def _torch():
    """The torch module when importable, else None."""
    if "torch" in sys.modules:
        return sys.modules["torch"]
    try:
        import torch  # noqa: PLC0415  (slow import: only when bfloat16 values need it)
    except ImportError:
        return None
    return torch


def _bfloat16_value(bits):
    """A torch.bfloat16 tensor for the raw bits in a uint16 array, or a float32 array (exact)
    with a BFloat16Warning when torch is not importable."""
    torch = _torch()
    if torch is not None:
        return torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16)
    warnings.warn("bfloat16 tensor returned as a float32 numpy array (exact widening): torch is not importable",
                  BFloat16Warning, stacklevel=3)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _value(entry):
    _name, dtype, shape, atb_format, data = entry
    if data is None:
        return TensorDescription(dtype, tuple(shape), atb_format)
    if dtype == "bfloat16":
        return _bfloat16_value(data)
    return data


def read_tensor(path, name=None):
    """Reads one tensor from a .bin/.npy/.pth/.pt/.safetensors file.

    Returns a new numpy array (a copy; dtype and shape as stored), a ``torch.bfloat16``
    tensor for bfloat16 data (a float32 array and a :class:`BFloat16Warning` when torch
    is not importable), or a :class:`TensorDescription` for a description-only ATB .bin.
    ``name`` picks a tensor in a container holding several (a state dict, a safetensors
    file); without it the file must hold exactly one. Raises :class:`AitError` naming the
    file and the reason (missing, unknown extension, malformed, no such name).

    >>> read_tensor("ait_dump/tensors/0_1234/0/0_GatherOperation/after/outtensor0.bin").shape
    (3, 64)
    """
    return _value(_ait_core.read_tensor(os.fspath(path), name))


def read_tensors(path):
    """Every tensor of a file as a dict {name: value}, in file order; values as
    :func:`read_tensor` returns them. Single-tensor formats (.bin, .npy) use the name ``""``."""
    return {entry[0]: _value(entry) for entry in _ait_core.read_tensors(os.fspath(path))}


def _to_core(tensor):
    """(C-contiguous native-order numpy array, dtype name or None) for a numpy array, a torch
    tensor (any device; bfloat16 travels as its int16 bits) or anything numpy.asarray takes."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(tensor, torch.Tensor):
        t = tensor.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.resolve_conj().resolve_neg().contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy(), "bfloat16"
        try:
            return t.numpy(), None
        except TypeError as e:
            raise TypeError(f"torch dtype {t.dtype} is not supported: {e}") from None
    array = np.asarray(tensor)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    return array, None


def _item(name, tensor, atb_format):
    if isinstance(tensor, TensorDescription):
        return (name, None, tensor.dtype, list(tensor.shape), tensor.atb_format)
    array, dtype = _to_core(tensor)
    return (name, array, dtype, [], atb_format)


def write_tensor(path, tensor, atb_format=2):
    """Writes one tensor (numpy array, torch tensor incl. bfloat16, or a
    :class:`TensorDescription` for a description-only .bin) to ``path``: an ATB .bin
    (``atb_format`` = its format code), a .npy, or a .safetensors holding it under the
    name ``"tensor"``, by the extension. Atomic (temporary file + rename). Raises
    :class:`AitError` naming the file (unknown extension, .pth, dtype the format lacks).

    >>> write_tensor("x.npy", numpy.arange(6, dtype=numpy.int32).reshape(2, 3))
    """
    path = os.fspath(path)
    name = "tensor" if path.endswith(".safetensors") else ""
    _ait_core.write_tensors(path, [_item(name, tensor, atb_format)])


def write_tensors(path, tensors):
    """Writes a mapping {name: tensor} to a .safetensors file (a single-tensor format needs
    exactly one entry). Values as for :func:`write_tensor`.

    >>> write_tensors("w.safetensors", {"a": numpy.zeros(3, numpy.float16), "b": torch.ones(2, dtype=torch.bfloat16)})
    """
    _ait_core.write_tensors(os.fspath(path), [_item(str(k), v, 2) for k, v in tensors.items()])


def write_bin(path, tensor, atb_format=2):
    """Writes ``tensor`` as an ATB .bin dump file (FORMATS.md 1.1; the original's reader
    accepts it) whatever ``path``'s extension. A :class:`TensorDescription` writes a
    description-only file (``$Object.Count=0``), as ``ait llm dump -sd`` does.

    >>> write_bin("outtensor0.bin", torch.randn(2, 4).half())
    """
    _ait_core.write_tensors(os.fspath(path), [_item("", tensor, atb_format)], "atb-bin")
