"""Which torch functions api mode wraps (the original's HOOK_OPS, FORMATS.md 6.2), and the
wrapping itself: setattr on the owning module object, undone by unwrap_apis."""
import functools
import logging
import sys

import torch

logger = logging.getLogger("ait_llm.dump")

_FUNCTIONAL = """threshold threshold_ relu relu_ glu hardtanh hardtanh_ relu6 elu elu_ selu selu_
celu celu_ leaky_relu leaky_relu_ prelu rrelu rrelu_ logsigmoid gelu hardshrink tanhshrink softsign
softplus softmin softmax gumbel_softmax log_softmax softshrink tanh sigmoid hardsigmoid silu
hardswish pixel_shuffle pixel_unshuffle channel_shuffle upsample_nearest upsample_bilinear
grid_sample affine_grid pdist one_hot"""

_TORCH = """abs absolute acos arccos acosh arccosh add addcdiv addcmul angle asin arcsin asinh arcsinh
atan arctan atanh arctanh atan2 arctan2 bitwise_not bitwise_and bitwise_or bitwise_xor
bitwise_left_shift bitwise_right_shift ceil clamp clip conj_physical copysign cos cosh deg2rad div
divide digamma erf erfc erfinv exp exp2 expm1 fake_quantize_per_channel_affine
fake_quantize_per_tensor_affine fix float_power floor floor_divide fmod frac frexp gradient imag
ldexp lerp lgamma log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or
logical_xor logit hypot i0 igamma igammac mul multiply mvlgamma nan_to_num neg negative nextafter
polygamma positive pow quantized_batch_norm quantized_max_pool1d quantized_max_pool2d rad2deg real
reciprocal remainder round rsqrt sigmoid sign sgn signbit sin sinc sinh softmax sqrt square sub
subtract tan tanh true_divide trunc xlogy addbmm addmm addmv addr baddbmm bmm chain_matmul cholesky
cholesky_inverse cholesky_solve dot geqrf ger inner inverse det logdet slogdet lu lu_solve lu_unpack
matmul matrix_power matrix_exp mm mv orgqr ormqr outer pinverse qr svd svd_lowrank pca_lowrank
lobpcg trapz trapezoid cumulative_trapezoid triangular_solve vdot"""

_DISTRIBUTED = """send recv broadcast all_reduce reduce all_gather gather isend irecv scatter
reduce_scatter"""

_TORCH_NPU = """fast_gelu npu_mish npu_scaled_masked_softmax npu_dropout_with_add_softmax
npu_random_choice_with_mask npu_roi_align npu_roi_alignbk npu_all_gather_base_mm"""

HOOK_OPS = {
    "torch.nn.functional": _FUNCTIONAL.split(),
    "torch": _TORCH.split(),
    "torch.distributed": _DISTRIBUTED.split(),
    "torch_npu": _TORCH_NPU.split(),
}


def _owners():
    """The module objects whose functions may be wrapped. torch_npu only if the program
    has imported it already (importing it here would initialise the NPU runtime)."""
    owners = {"torch": torch, "torch.nn.functional": torch.nn.functional}
    if torch.distributed.is_available():
        owners["torch.distributed"] = torch.distributed
    if "torch_npu" in sys.modules:
        owners["torch_npu"] = sys.modules["torch_npu"]
    return owners


def select_apis(api_list):
    """[(owner module object, attribute name, function)] to wrap. Empty api_list: every
    existing function of HOOK_OPS. Otherwise the listed function objects, found by
    identity among the attributes named after them (so F.linear or torch.cat work too)."""
    owners = _owners()
    if not api_list:
        return [(owners[path], name, getattr(owners[path], name))
                for path, names in HOOK_OPS.items() if path in owners
                for name in names if callable(getattr(owners[path], name, None))]
    chosen, missing = [], []
    for func in api_list:
        func = getattr(func, "_ait_llm_original", func)
        name = getattr(func, "__name__", None)
        found = [(owner, name, func) for owner in owners.values()
                 if name and getattr(owner, name, None) is func]
        if not found:
            missing.append(repr(func))
        chosen.extend(f for f in found if f not in chosen)
    if missing:
        raise ValueError("api_list: cannot hook " + ", ".join(missing) + ": api mode wraps "
                         "functions of " + ", ".join(owners) + " (found under their __name__)")
    return chosen


def wrap_apis(selected, call):
    """Replaces each selected function by a wrapper that runs call(func, api_name, args,
    kwargs). Returns the records unwrap_apis needs."""
    records = []
    for owner, attr, func in selected:
        api_name = getattr(func, "__name__", attr)

        def make(func=func, api_name=api_name):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                return call(func, api_name, args, kwargs)
            wrapper._ait_llm_original = func
            return wrapper

        wrapper = make()
        setattr(owner, attr, wrapper)
        records.append((owner, attr, func, wrapper))
    return records


def unwrap_apis(records):
    for owner, attr, func, wrapper in reversed(records):
        if getattr(owner, attr, None) is wrapper:
            setattr(owner, attr, func)
        else:
            logger.warning("%s.%s was replaced after register_hook; not restoring it",
                           getattr(owner, "__name__", owner), attr)
