"""The engine calls the ATB probe ABI (atb::Probe, atb_speed::SpeedProbe) through the dynamic
linker: a preloaded library's definitions replace the engine's no-op stubs. The recording
probe (engine/tests/preload/recording_probe.cc) defines part of the ABI and records every
call; these tests check what ATB would have handed a probe: tensor paths, data, topology."""
import json
import subprocess

import numpy as np
import pytest

from conftest import build_program, run_checked as run

DTYPE = {"0": np.float32, "1": np.float16, "3": np.int32, "9": np.int64}


class Recording:
    def __init__(self, folder, stdout):
        self.folder = folder
        self.stdout = stdout
        self.calls = [line.split("|", 1) for line in (folder / "calls.txt").read_text().splitlines()]

    def of(self, kind):
        return [rest for k, rest in self.calls if k == kind]

    def tensors(self):
        """{relative path: (format, dtype, dims, bytes)} of every SaveTensor call."""
        out = {}
        for rest in self.of("tensor"):
            path, fmt, dtype, dims, size = rest.split("|")
            out[path] = (fmt, dtype, dims, int(size))
        return out

    def load(self, path):
        _, dtype, dims, _ = self.tensors()[path]
        data = np.fromfile(self.folder / "tensors" / path, dtype=DTYPE[dtype])
        return data.reshape([int(d) for d in dims.split(",")])


def record(engine, tiny, folder, *extra):
    folder.mkdir()
    probe = build_program("libait_recording_probe.so", folder="lib")
    r = run(engine, "run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", 2, "--device-id", 3, *extra,
            env={"LD_PRELOAD": probe, "AIT_RECORDING_PROBE_DIR": folder})
    return Recording(folder, r.stdout)


def test_without_a_probe_the_stubs_answer_and_nothing_is_recorded(ait_engine, tiny, tmp_path):
    r = run(ait_engine, "run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", 2,
            env={"AIT_RECORDING_PROBE_DIR": tmp_path})
    assert r.stdout.strip()
    assert list(tmp_path.iterdir()) == []


def test_preloaded_probe_wins_and_sees_atb_paths(ait_engine, tiny, layers, tmp_path):
    rec = record(ait_engine, tiny, tmp_path / "rec")
    plain = run(ait_engine, "run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", 2)
    assert rec.stdout == plain.stdout  # the probe observes, it changes nothing

    # IsTensorNeedSave: once per operation (cached, as ATB per runner), and once per kernel
    # with the kernel index appended, with the owning operation's type.
    need = rec.of("need")
    assert "0|GatherOperation" in need and "1|LlamaLayer" in need and "1_5|SelfAttentionOperation" in need
    assert "1_5_2|SelfAttentionOperation" in need
    assert len(need) == len(set(need))

    tensors = rec.tensors()
    roots = {p.split("/")[0] for p in tensors}
    assert len(roots) == 1 and roots.pop().startswith("3_")  # {device id}_{pid}
    # IsExecuteCountInRange answers true for count 0 only: only the first token is saved.
    assert {p.split("/")[1] for p in tensors} == {"0"}
    rel = {p.split("/", 2)[2] for p in tensors}
    # The interposed IsSaveOuttensor/IsSaveTensorAfter say outputs after execution; the
    # engine's stubs answer the functions the probe leaves out (IsSaveIntensor: false).
    assert all("/after/outtensor" in p for p in rel)
    assert "1_LlamaLayer/0_RmsNormOperation/after/outtensor0.bin" in rel
    assert "1_LlamaLayer/0_RmsNormOperation/0_RmsNorm/after/outtensor0.bin" in rel
    assert f"{layers}_LlamaLayer/after/outtensor0.bin" in rel
    assert f"{layers + 2}_LinearOperation/after/outtensor0.bin" in rel
    fmt, dtype, dims, size = tensors[next(p for p in tensors if p.endswith(f"{layers + 2}_LinearOperation/after/outtensor0.bin"))]
    vocab = json.loads((tiny / "config.json").read_text())["vocab_size"]
    assert (fmt, dtype, dims, size) == ("2", "0", f"3,{vocab}", 3 * vocab * 4)

    params = dict(p.split("|", 1) for p in rec.of("param"))
    lin = next(k for k in params if k.endswith("/1_LlamaLayer/1_LinearOperation/op_param.json"))
    assert json.loads(params[lin]) == {"hasBias": False, "transposeA": False, "transposeB": True}

    # Every layer reports its graph once, named <type>_<id>; the model reports its topology
    # after them, with one node per top-level operation in id order (the probe's merge rule
    # appends _<index> to each node name, giving back LlamaLayer_1 ...).
    graphs = dict(g.split("|", 1) for g in rec.of("graph"))
    assert sorted(graphs) == sorted(f"LlamaLayer_{i}" for i in range(1, layers + 1))
    g1 = json.loads(graphs["LlamaLayer_1"])
    assert g1["opName"] == "LlamaLayer_1" and g1["nodes"][5]["opName"] == "SelfAttentionOperation_1_5"
    kinds = [k for k, _ in rec.calls if k in ("graph", "model")]
    assert kinds == ["graph"] * layers + ["model"]
    name, model = rec.of("model")[0].split("|", 1)
    model = json.loads(model)
    assert name == model["modelName"] == "LlamaModel"
    assert [n["opName"] for n in model["nodes"]] == ["GatherOperation"] + ["LlamaLayer"] * layers + [
        "RmsNormOperation", "LinearOperation"]


def test_saved_after_tensors_of_a_perturbed_op_carry_the_fault(ait_engine, tiny, tmp_path):
    clean = record(ait_engine, tiny, tmp_path / "clean")
    bad = record(ait_engine, tiny, tmp_path / "bad", "--perturb", "LinearOperation_1_9=zero")
    op = "1_LlamaLayer/9_LinearOperation"

    def path(rec, rel):
        return next(p for p in rec.tensors() if p.endswith(rel))

    # The fault is planted right after the kernel that writes the op's output, before the
    # kernel's and the op's `after` tensors are saved: both hold what downstream ops read.
    assert clean.load(path(clean, f"{op}/after/outtensor0.bin")).any()
    for rel in (f"{op}/after/outtensor0.bin", f"{op}/0_MatMul/after/outtensor0.bin"):
        out = bad.load(path(bad, rel))
        assert out.size and not out.any(), rel
    # Upstream of the fault nothing changed; downstream it did.
    np.testing.assert_array_equal(bad.load(path(bad, "1_LlamaLayer/8_RmsNormOperation/after/outtensor0.bin")),
                                  clean.load(path(clean, "1_LlamaLayer/8_RmsNormOperation/after/outtensor0.bin")))
    down = "1_LlamaLayer/13_LinearOperation/after/outtensor0.bin"
    assert not np.array_equal(bad.load(path(bad, down)), clean.load(path(clean, down)))


def test_io_reports_statistics_tiling(ait_engine, tiny, layers, tmp_path):
    rec = record(ait_engine, tiny, tmp_path / "rec")
    # Operation IO: leaves only (no graphs), every execution, ATB's relative paths under the
    # op's dir (after/, since the probe does not save before execution).
    opio = [r.split("|") for r in rec.of("opio")]
    names = {(c, n) for c, n, *_ in opio}
    assert ("0", "SelfAttentionOperation_1_5") in names and ("1", "SelfAttentionOperation_1_5") in names
    assert not any(n.startswith("LlamaLayer") for _, n in names)
    row = next(r for r in opio if r[:2] == ["0", "LinearOperation_1_1"])
    assert json.loads(row[2]) == {"hasBias": False, "transposeA": False, "transposeB": True}
    assert row[3].split(";")[1].endswith("/0/1_LlamaLayer/1_LinearOperation/after/intensor1.bin")
    # Kernel IO: the kernel's name and its own tensors' descriptions.
    kio = [r.split("|") for r in rec.of("kernelio")]
    hidden = json.loads((tiny / "config.json").read_text())["hidden_size"]
    assert ["0", "RmsNorm", f"float:nd:3,{hidden};float:nd:{hidden}", f"float:nd:3,{hidden}"] in kio
    assert {k[1] for k in kio} >= {"Gather", "MatMul", "QKMatmul", "Softmax", "PVMatmul", "Rope", "Swish"}
    # Statistics: a setup and an execute line per operation execution, ATB's field names.
    setups, execs = rec.of("setup"), rec.of("exec")
    ops_per_step = 3 + layers * 16  # gather, norm, lm head; each layer graph and its 15 nodes
    assert len(setups) == len(execs) == 2 * ops_per_step
    assert "setupTotalCount:2, setupCacheHitCount:0" in next(s for s in setups if s.startswith("1|LlamaLayer_1|"))
    assert all("kernelExecuteTime:" in e and "tillingCopyTime:0" in e for e in execs)
    # Tiling: one file per saved kernel, beside its before/after dirs; words
    # [n_in, n_out, (dtype, rank, dims...) per tensor].
    tiling = dict(t.split("|") for t in rec.of("tiling"))
    mm = next(p for p in tiling if p.endswith("/1_LlamaLayer/1_LinearOperation/0_MatMul/kernel_tilingdata.bin"))
    assert int(tiling[mm]) == 8 * (2 + 3 * (2 + 2))


def test_overflow_check_names_the_kernel_and_can_stop(ait_engine, tiny, tmp_path):
    probe = build_program("libait_recording_probe.so", folder="lib")
    args = ["run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", 2, "--perturb",
            "LinearOperation_1_2=scale:1e6", "--perturb", "LinearOperation_1_2=fp16-saturate"]
    (tmp_path / "a").mkdir()
    run(ait_engine, *args, env={"LD_PRELOAD": probe, "AIT_RECORDING_PROBE_DIR": tmp_path / "a"})
    assert not (tmp_path / "a" / "calls.txt").read_text().count("overflow|")  # check off: not asked
    (tmp_path / "b").mkdir()
    run(ait_engine, *args, env={"LD_PRELOAD": probe, "AIT_RECORDING_PROBE_DIR": tmp_path / "b",
                                "AIT_RECORDING_PROBE_OVERFLOW": "1"})
    rec = Recording(tmp_path / "b", "")
    found = rec.of("overflow")
    # The planted op's kernel is named first (its output is what overflowed), then the ops
    # downstream that carry the inf on; the run goes on.
    assert found[0] == "LinearOperation_1_2:MatMul"
    # Before each report the engine announces what the kernel's outputs held (ait's extension,
    # ait_probe_overflow_values): the same path, NaN and inf counts of the float values.
    overflow_calls = [(k, rest) for k, rest in rec.calls if k in ("values", "overflow")]
    assert len(overflow_calls) == 2 * len(found)
    for (k1, values), (k2, path) in zip(overflow_calls[::2], overflow_calls[1::2]):
        assert (k1, k2) == ("values", "overflow")
        vpath, nan, inf, total = values.split("|")
        assert vpath == path and int(nan) + int(inf) > 0 and int(nan) + int(inf) <= int(total)
    _, nan, inf, total = overflow_calls[0][1].split("|")
    assert int(nan) == 0 and 0 < int(inf) <= int(total)  # fp16-saturate makes inf, not NaN
    (tmp_path / "c").mkdir()
    r = run(ait_engine, *args, rc=1, env={"LD_PRELOAD": probe, "AIT_RECORDING_PROBE_DIR": tmp_path / "c",
                                          "AIT_RECORDING_PROBE_OVERFLOW": "stop"})
    assert Recording(tmp_path / "c", "").of("overflow") == ["LinearOperation_1_2:MatMul"]
    assert "LinearOperation_1_2:MatMul" in r.stderr and "overflow (inf in an output" in r.stderr


def test_overflow_check_sees_nan(ait_engine, tiny, tmp_path):
    # A NaN planted on a leaf is reported at the kernel that wrote it; one planted (as inf) on a
    # graph operation reaches no kernel output of that graph, but the next layer's kernels turn
    # it into NaN (rms of inf, inf * 0), and those are reported.
    probe = build_program("libait_recording_probe.so", folder="lib")
    for name, spec, first_op in (("leaf", "RmsNormOperation_1_8=nan", "RmsNormOperation_1_8:"),
                                 ("graph", "LlamaLayer_1=inf", "RmsNormOperation_2_0:")):
        (tmp_path / name).mkdir()
        run(ait_engine, "run", "--model", tiny, "--input-ids", "1,2,3", "--max-new-tokens", 2, "--perturb", spec,
            env={"LD_PRELOAD": probe, "AIT_RECORDING_PROBE_DIR": tmp_path / name, "AIT_RECORDING_PROBE_OVERFLOW": "1"})
        rec = Recording(tmp_path / name, "")
        found, values = rec.of("overflow"), rec.of("values")
        assert found and found[0].startswith(first_op), found[:3]
        path, nan, inf, total = values[0].split("|")
        assert path == found[0] and int(nan) > 0 and int(inf) == 0, values[0]


def test_engine_exports_the_probe_abi_with_default_visibility():
    lib = build_program("libait_engine.so", folder="lib")
    syms = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    for sym in ("_ZN3atb5Probe16IsTensorNeedSaveERKSt6vectorIlSaIlEERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE",
                "_ZN9atb_speed10SpeedProbe19ReportModelTopoInfoERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEES8_"):
        assert f" T {sym}" in syms, sym
