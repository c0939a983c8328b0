"""fp16 inference on a CPU whose torch has no fp16 kernels for some operations.

torch 1.13 on CPU stores and adds float16 tensors but has no float16 matmul, linear, SiLU or
softmax ("... not implemented for 'Half'"). `HalfOnCpu` is a TorchFunctionMode that lets every
operation run natively first; where torch raises that error, it runs the same operation on
float32 copies of the float16 inputs and rounds the float32 results back to float16. That is
what fp16 kernels on accelerators do (read fp16, compute in fp32, write fp16), so a model run
this way is an fp16 run: its weights, activations and dumped tensors are float16, and only the
accumulation order inside a kernel may differ from a given GPU.

    with compute_context(model):
        logits = model(input_ids=ids).logits
"""
import contextlib

import torch
from torch.overrides import TorchFunctionMode

_NO_HALF_KERNEL = "'Half'"


def _map_tensors(value, fn):
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    return value


def _to_float(t):
    return t.float() if t.dtype == torch.float16 else t


def _to_half(t):
    return t.half() if t.dtype == torch.float32 else t


class HalfOnCpu(TorchFunctionMode):
    """Runs float16 operations that CPU torch lacks in float32, rounding the results to float16.
    `fallbacks` counts them by operation name."""

    def __init__(self):
        super().__init__()
        self.fallbacks = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            return func(*args, **kwargs)
        except RuntimeError as e:
            if _NO_HALF_KERNEL not in str(e):
                raise
        name = getattr(func, "__name__", repr(func))
        self.fallbacks[name] = self.fallbacks.get(name, 0) + 1
        out = func(*_map_tensors(args, _to_float), **{k: _map_tensors(v, _to_float) for k, v in kwargs.items()})
        if name.endswith("_") and args and isinstance(args[0], torch.Tensor):  # in-place: write back
            return args[0].copy_(out)
        return _map_tensors(out, _to_half)


def compute_context(model):
    """HalfOnCpu() for a float16 model on the CPU, else a context that does nothing."""
    p = next(model.parameters(), None)
    if p is not None and p.dtype == torch.float16 and p.device.type == "cpu":
        return HalfOnCpu()
    return contextlib.nullcontext()
