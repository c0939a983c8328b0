"""`ait-engine run --perturb PATTERN=KIND[:MAG]`: fault injection into the outputs of the
matched operations (GraphInfo opNames), applied after each execution and seen downstream."""

import numpy as np
import pytest

from conftest import run_checked as run


def logits(engine, tiny, path, *perturb, dtype="fp32", steps=3):
    args = ["run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", steps, "--dtype", dtype,
            "--save-logits", path]
    for p in perturb:
        args += ["--perturb", p]
    r = run(engine, *args)
    return np.load(path), r


def test_perturb_changes_logits_and_is_deterministic(ait_engine, tiny, tmp_path):
    clean, _ = logits(ait_engine, tiny, tmp_path / "clean.npy")
    a, r = logits(ait_engine, tiny, tmp_path / "a.npy", "LinearOperation_1_2=noise:0.5")
    b, _ = logits(ait_engine, tiny, tmp_path / "b.npy", "LinearOperation_1_2=noise:0.5")
    assert "LinearOperation_1_2" in r.stderr and "matches 1 operation" in r.stderr
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - clean).max() > 1e-3


def test_lm_head_scale_doubles_logits_exactly(ait_engine, tiny, layers, tmp_path):
    clean, _ = logits(ait_engine, tiny, tmp_path / "clean.npy")
    scaled, r = logits(ait_engine, tiny, tmp_path / "s.npy", f"LinearOperation_{layers + 2}=scale:2")
    assert f"LinearOperation_{layers + 2}" in r.stderr
    # Only the lm head's output changed, after it ran: the argmax (and so the generated ids)
    # is unchanged and every step's logits are exactly twice the clean ones.
    np.testing.assert_allclose(scaled, 2 * clean, rtol=1e-7, atol=0)


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_last_layer_perturbation_changes_logits(ait_engine, tiny, layers, tmp_path, dtype):
    clean, _ = logits(ait_engine, tiny, tmp_path / "clean.npy", dtype=dtype)
    for spec in (f"LlamaLayer_{layers}=bias:0.5", f"*_{layers}_13=scale:3", "*RmsNorm*=noise"):
        got, _ = logits(ait_engine, tiny, tmp_path / "p.npy", spec, dtype=dtype)
        assert np.isfinite(got).all(), spec
        assert np.abs(got - clean).max() > 1e-3, spec


def test_nan_propagates_downstream(ait_engine, tiny, tmp_path):
    got, _ = logits(ait_engine, tiny, tmp_path / "n.npy", "GatherOperation_0=nan", steps=1)
    assert np.isnan(got).any()


def test_glob_reports_every_match(ait_engine, tiny, layers, tmp_path):
    _, r = logits(ait_engine, tiny, tmp_path / "x.npy", "*RmsNorm*=scale:1", steps=1)
    assert f"matches {2 * layers + 1} operations" in r.stderr
    assert "RmsNormOperation_1_0" in r.stderr and f"RmsNormOperation_{layers + 1}" in r.stderr


@pytest.mark.parametrize("spec, message", [
    ("NoSuchOp_*=zero", "--perturb: 'NoSuchOp_*=zero': PATTERN 'NoSuchOp_*' matches no operation"),
    ("LlamaLayer_9=scale", "e.g. GatherOperation_0, LlamaLayer_1"),
    ("LlamaLayer_1", "--perturb: 'LlamaLayer_1': no '='"),
    ("LlamaLayer_1=flip", "unknown KIND 'flip'"),
    ("LlamaLayer_1=scale:x", "MAG 'x' is not a finite number"),
    ("LlamaLayer_1=zero:1", "takes no MAG"),
    ("LlamaLayer_[1=zero", "without its ']'"),
])
def test_bad_perturb_exits_2(ait_engine, tiny, spec, message):
    r = run(ait_engine, "run", "--model", tiny, "--input-ids", "1", "--perturb", spec, rc=2)
    assert message in r.stderr
