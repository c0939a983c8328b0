"""python/golden/half_on_cpu.py: the Hugging Face golden in fp16 on a CPU whose torch (1.13) has
no fp16 matmul, linear, SiLU or softmax. Each such operation reads fp16, computes in fp32 and
writes fp16, as accelerator kernels do; everything else runs natively in fp16."""
import sys

import numpy as np
import pytest
import torch

from conftest import REPO

sys.path.insert(0, str(REPO / "python" / "golden"))
import half_on_cpu  # noqa: E402
import hf_llama  # noqa: E402


def test_operations_without_cpu_fp16_kernels_read_fp16_compute_fp32_and_write_fp16():
    torch.manual_seed(0)
    a, w = torch.randn(4, 8).half(), torch.randn(3, 8).half()
    with pytest.raises(RuntimeError, match="'Half'"):
        torch.nn.functional.linear(a, w)  # what the mode is for
    mode = half_on_cpu.HalfOnCpu()
    with mode:
        y = torch.nn.functional.linear(a, w)
        s = torch.nn.functional.silu(a)
        z = a.clone()
        z.mul_(3)  # native in fp16: no fallback
        t = a.float()  # an explicit cast stays what it asks for
    assert y.dtype == s.dtype == z.dtype == torch.float16 and t.dtype == torch.float32
    assert torch.equal(y, torch.nn.functional.linear(a.float(), w.float()).half())
    assert torch.equal(s, torch.nn.functional.silu(a.float()).half())
    assert torch.equal(z, a * 3)
    assert mode.fallbacks == {"linear": 1, "silu": 1}


def test_an_fp16_model_on_the_cpu_runs_close_to_fp32_and_closer_than_bf16(tmp_path):
    hf_llama.init_checkpoint(tmp_path, 7)
    ids = [1, 17, 42, 99, 200]
    logits = {}
    for dtype in ("fp32", "fp16", "bf16"):
        model = hf_llama.load_model(tmp_path, dtype)
        assert isinstance(half_on_cpu.compute_context(model), half_on_cpu.HalfOnCpu) == (dtype == "fp16")
        generated, logits[dtype] = hf_llama.greedy_decode(model, ids, 3)
        if dtype == "fp32":
            want = generated
        assert generated == want, dtype
    rel = {d: np.linalg.norm(logits[d] - logits["fp32"]) / np.linalg.norm(logits["fp32"]) for d in ("fp16", "bf16")}
    # fp16 keeps 3 more mantissa bits than bf16: about 8x closer to fp32, and not identical
    assert 0 < rel["fp16"] < 0.01 and rel["fp16"] * 3 < rel["bf16"], rel
