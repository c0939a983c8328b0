"""`ait llm dump` and `ait llm errcheck` end to end: the CLI preloads libait_probe into
`ait-engine run` (tiny preset) and every flag selects exactly what FORMATS.md says."""
import csv
import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest

from conftest import run_checked as run

PROMPT = "1,2,3"


def engine_cmd(engine, tiny, *extra, tokens=3):
    return " ".join([engine, "run", "--model", str(tiny), "--input-ids", PROMPT, "--max-new-tokens", str(tokens),
                     *map(str, extra)])


def dump(ait, engine, tiny, out, *flags, extra=(), tokens=3, rc=0):
    return run(ait, "llm", "dump", "--exec", engine_cmd(engine, tiny, *extra, tokens=tokens), "-o", out, *flags, rc=rc)


def tensor_files(out):
    """Paths below ait_dump/tensors/{dev}_{pid}/, relative to it, and the {dev}_{pid} roots."""
    base = out / "ait_dump" / "tensors"
    roots = sorted(p.name for p in base.iterdir()) if base.exists() else []
    files = set()
    for root in roots:
        for dirpath, _, names in os.walk(base / root):
            for n in names:
                files.add(os.path.relpath(os.path.join(dirpath, n), base / root))
    return roots, files


def tokens_of(files):
    return {f.split("/")[0] for f in files}


def ops_with_files(files):
    """The op directories ({token}/{id}_{Op}/...) that hold before/after tensor files."""
    return {f.rsplit("/", 2)[0] for f in files if f.endswith(".bin")}


def test_default_dump_saves_every_op_and_kernel_of_token_0(ait, ait_engine, tiny, layers, tmp_path, tensor_json):
    logits = tmp_path / "logits.npy"
    r = dump(ait, ait_engine, tiny, tmp_path / "d", extra=["--save-logits", logits])
    assert "Dump written to" in r.stdout and "tensors/" in r.stdout
    roots, files = tensor_files(tmp_path / "d")
    assert len(roots) == 1 and roots[0].startswith("0_")  # {device}_{pid of the engine}
    assert tokens_of(files) == {"0"}  # -er 0,0: the first execution only
    assert all("/after/" in f or f.endswith("op_param.json") for f in files)  # -time 1
    lm = f"0/{layers + 2}_LinearOperation"
    for rel in ("0/0_GatherOperation/after/outtensor0.bin", "0/0_GatherOperation/after/intensor1.bin",
                "0/1_LlamaLayer/after/outtensor0.bin", "0/1_LlamaLayer/op_param.json",
                "0/1_LlamaLayer/5_SelfAttentionOperation/2_Softmax/after/outtensor0.bin",
                f"0/{layers}_LlamaLayer/14_ElewiseOperation/after/outtensor0.bin", f"{lm}/after/outtensor0.bin",
                f"{lm}/0_MatMul/after/intensor0.bin"):
        assert rel in files, rel
    # The saved lm-head output is the engine's: its last row is step 0's logits.
    saved = tensor_json(tmp_path / "d" / "ait_dump" / "tensors" / roots[0] / lm / "after" / "outtensor0.bin")
    (t,) = saved.values()
    assert t["dtype"] == "float32" and t["has_data"]
    np.testing.assert_array_equal(np.array(t["values"], dtype=np.float32).reshape(t["shape"])[-1], np.load(logits)[0, 0])
    param = json.loads((tmp_path / "d" / "ait_dump" / "tensors" / roots[0] / "0/1_LlamaLayer/1_LinearOperation"
                        / "op_param.json").read_text())
    assert param == {"hasBias": False, "transposeA": False, "transposeB": True}


@pytest.mark.parametrize("flags, expect_ops", [
    (["-ids", "2", "-child", "False"], {"0/2_LlamaLayer"}),
    (["-ids", "1_5"], {"0/1_LlamaLayer/5_SelfAttentionOperation"} | {
        f"0/1_LlamaLayer/5_SelfAttentionOperation/{k}" for k in ("0_KVCache", "1_QKMatmul", "2_Softmax", "3_PVMatmul")}),
    (["-ids", "1_5,0", "-child", "0"], {"0/1_LlamaLayer/5_SelfAttentionOperation", "0/0_GatherOperation"}),
])
def test_ids_select_operations_with_and_without_children(ait, ait_engine, tiny, tmp_path, flags, expect_ops):
    dump(ait, ait_engine, tiny, tmp_path, *flags)
    _, files = tensor_files(tmp_path)
    assert ops_with_files(files) == expect_ops


def test_ids_with_children_take_the_whole_layer(ait, ait_engine, tiny, tmp_path):
    dump(ait, ait_engine, tiny, tmp_path, "-ids", "2")
    _, files = tensor_files(tmp_path)
    ops = ops_with_files(files)
    assert "0/2_LlamaLayer" in ops and "0/2_LlamaLayer/5_SelfAttentionOperation/2_Softmax" in ops
    assert all(o.startswith("0/2_LlamaLayer") for o in ops)
    assert len(ops) == 1 + 15 + 15 + 3  # the layer, its 15 nodes, one kernel each, attention's 3 more


def test_opname_prefixes_are_case_insensitive(ait, ait_engine, tiny, tmp_path):
    dump(ait, ait_engine, tiny, tmp_path, "-opname", "self,LINEAR")
    _, files = tensor_files(tmp_path)
    wanted = {"SelfAttentionOperation", "LinearOperation"}
    seen = set()
    for op in ops_with_files(files):
        types = [seg.split("_", 1)[1] for seg in op.split("/")[1:]]
        # a selected operation, or one of its kernels (which carry the operation's type)
        assert types[-1] in wanted or (len(types) >= 2 and types[-2] in wanted), op
        seen.add(types[-1] if types[-1] in wanted else types[-2])
    assert seen == wanted


@pytest.mark.parametrize("er, tokens", [("1,2", {"1", "2"}), ("0,0,2,3", {"0", "2", "3"}), ("9,9", set())])
def test_execute_range_selects_tokens(ait, ait_engine, tiny, tmp_path, er, tokens):
    dump(ait, ait_engine, tiny, tmp_path, "-er", er, "-ids", "0", tokens=4)
    _, files = tensor_files(tmp_path)
    assert tokens_of(files) == tokens


@pytest.mark.parametrize("time_, stp, dirs, stems", [
    ("0", "2", {"before"}, {"intensor", "outtensor"}),
    ("2", "0", {"before", "after"}, {"intensor"}),
    ("1", "1", {"after"}, {"outtensor"}),
])
def test_time_and_part_select_before_after_in_out(ait, ait_engine, tiny, tmp_path, time_, stp, dirs, stems):
    dump(ait, ait_engine, tiny, tmp_path, "-time", time_, "-stp", stp, "-ids", "1_0")
    _, files = tensor_files(tmp_path)
    bins = [f for f in files if f.endswith(".bin")]
    assert {f.split("/")[-2] for f in bins} == dirs
    assert {f.split("/")[-1].rstrip("0123456789.bin") for f in bins} == stems


def test_description_only(ait, ait_engine, tiny, tmp_path, tensor_json):
    dump(ait, ait_engine, tiny, tmp_path, "-sd", "-ids", "0")
    roots, files = tensor_files(tmp_path)
    path = tmp_path / "ait_dump" / "tensors" / roots[0] / "0/0_GatherOperation/after/outtensor0.bin"
    assert path.read_bytes().startswith(b"$Version=1.0\n$Object.Count=0\n$Object.Length=0\n")
    (t,) = tensor_json(path).values()
    assert not t["has_data"] and t["shape"] == [3, 64]


def test_device_filter(ait, ait_engine, tiny, tmp_path):
    dump(ait, ait_engine, tiny, tmp_path / "other", "-device", "1", "-ids", "0")
    # op_param.json is not subject to the device filter (as ATB's probe); tensors are.
    assert [f for f in tensor_files(tmp_path / "other")[1] if f.endswith(".bin")] == []
    dump(ait, ait_engine, tiny, tmp_path / "same", "-device", "1", "-ids", "0", extra=["--device-id", "1"])
    roots, files = tensor_files(tmp_path / "same")
    assert roots[0].startswith("1_") and files


def test_topology_io_csv_and_cpu_profiling(ait, ait_engine, tiny, layers, tmp_path):
    r = dump(ait, ait_engine, tiny, tmp_path, "--type", "model", "layer", "op", "kernel", "cpu_profiling", tokens=2)
    root = tmp_path / "ait_dump"
    (pid_dir,) = (root / "layer").iterdir()
    assert sorted(p.name for p in pid_dir.iterdir()) == sorted(f"LlamaLayer_{i}.json" for i in range(1, layers + 1))
    layer = json.loads((pid_dir / "LlamaLayer_1.json").read_text())
    assert layer["opName"] == "LlamaLayer_1" and layer["nodes"][5]["opType"] == "SelfAttentionOperation"
    (model_file,) = (root / "model" / pid_dir.name).iterdir()
    model = json.loads(model_file.read_text())
    assert model_file.name == "LlamaModel.json"
    assert [n["opName"] for n in model["nodes"]] == (["GatherOperation_0"] + [f"LlamaLayer_{i}" for i in
                                                     range(1, layers + 1)] + [f"RmsNormOperation_{layers + 1}",
                                                                              f"LinearOperation_{layers + 2}"])
    assert model["nodes"][1]["opType"] == "LlamaLayer" and len(model["nodes"][1]["nodes"]) == 15
    # Operation IO CSV: one per token, '|'-separated, leaves only.
    op_csv = root / "operation_io_tensors" / pid_dir.name / "operation_tensors_1.csv"
    rows = list(csv.reader(op_csv.open(), delimiter="|"))
    assert rows[0][:4] == ["CaseNum", "CaseName", "OpName", "OpParam"] and len(rows[0]) == 21
    assert len(rows) == 1 + 3 + layers * 15
    assert all(r[-1] == "NO_ERROR" for r in rows[1:])
    assert (root / "kernel_io_tensors" / pid_dir.name / "kernel_tensors_0.csv").exists()
    # CPU profiling: merged per the original, plus a Chrome trace.
    (prof,) = (root / "cpu_profiling").iterdir()  # {YYYYmmddHHMMSS} of the engine's run
    assert (prof / "pid.txt").read_text().strip() == pid_dir.name
    text = (prof / "operation_statistic_0.txt").read_text()
    assert "LlamaLayer_1:\n[execute] totalTime:" in text and "\n[setup] totalTime:" in text
    trace = json.loads((prof / "cpu_profiling_trace.json").read_text())
    names = {e["name"] for e in trace["traceEvents"]}
    assert "LlamaLayer_1" in names and "SelfAttentionOperation_1_5" in names
    assert len(trace["traceEvents"]) == 2 * (3 + layers * 16)
    assert {e["pid"] for e in trace["traceEvents"]} == {int(pid_dir.name)}
    assert "Chrome trace" in r.stdout


def test_command_exit_status_passes_through(ait, ait_engine, tiny, tmp_path):
    # The engine rejects a token id beyond the vocabulary with exit status 2.
    r = run(ait, "llm", "dump", "--exec", f"{ait_engine} run --model {tiny} --input-ids 999999 --max-new-tokens 1",
            "-o", tmp_path, rc=2)
    assert "status 2" in r.stderr


def test_a_command_that_cannot_start_leaves_no_folders_behind(ait, tmp_path):
    # Nothing existed: -o and everything under it go again.
    r = run(ait, "llm", "dump", "--exec", "/no/such/prog --flag", "-o", tmp_path / "new" / "deeper",
            "--type", "tensor", "layer", "onnx", rc=1)
    assert "cannot run '/no/such/prog': No such file or directory" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
    # What existed before stays, empty or not; only the run's own empty folders go.
    (tmp_path / "empty").mkdir()
    (tmp_path / "full" / "ait_dump").mkdir(parents=True)
    (tmp_path / "full" / "ait_dump" / "keep.txt").write_text("x")
    for out in ("empty", "full"):
        run(ait, "llm", "dump", "--exec", "/no/such/prog", "-o", tmp_path / out, "--type", "tensor", "layer", "onnx",
            rc=1)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "empty", "full", "full/ait_dump", "full/ait_dump/keep.txt"]


def test_tensors_skipped_for_free_space_are_counted_in_the_summary_and_the_exit_status(ait, ait_engine, tiny,
                                                                                      tmp_path):
    dump(ait, ait_engine, tiny, tmp_path / "full", tokens=1)
    written = [f for f in tensor_files(tmp_path / "full")[1] if f.endswith(".bin")]
    assert written
    # The guard set above any disk's free space: every tensor is skipped, op_param.json still written.
    r = run(ait, "llm", "dump", "--exec", engine_cmd(ait_engine, tiny, tokens=1), "-o", tmp_path / "low",
            env={"AIT_PROBE_TEST_MIN_FREE_BYTES": 1 << 60}, rc=3)
    _, files = tensor_files(tmp_path / "low")
    assert files and not [f for f in files if f.endswith(".bin")]
    warnings = [line for line in r.stdout.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 1, r.stdout
    assert re.fullmatch(
        rf"WARNING: {len(written)} tensors were not written: only \d+ MiB free under "
        rf"'{re.escape(str(tmp_path / 'low' / 'ait_dump' / 'tensors'))}': tensors are skipped while less than "
        r"1073741824 GiB \(or twice the tensor\) is free", warnings[0]), warnings[0]
    # The probe's record was read and removed; a dump that lost nothing says nothing.
    assert not list((tmp_path / "low" / "ait_dump").glob(".lost_outputs_*"))
    assert "WARNING" not in dump(ait, ait_engine, tiny, tmp_path / "again", tokens=1).stdout


def test_bad_arguments_are_usage_errors(ait, ait_engine, tiny, tmp_path):
    cases = [(["--exec", "ls;rm", "-o", tmp_path], "';' at offset 2 is not allowed: the command runs without a shell"),
             (["--exec", "ls > x", "-o", tmp_path], "'>' at offset 3 is not allowed"),
             (["--exec", "ls 'x", "-o", tmp_path], "single quote opened in the command is never closed"),
             (["--exec", "  ", "-o", tmp_path], "the command is empty"),
             (["--exec", "ls", "-ids", "2,x"], "--save-operation-ids"),
             (["--exec", "ls", "-ids", "2,,3"], "--save-operation-ids"),
             (["--exec", "ls", "-er", "5,1"], "start > end"),
             (["--exec", "ls", "--type", "onnx"], "needs model or layer"),
             (["--exec", "ls", "-time", "3"], "0, 1 or 2"),
             (["--exec", "ls", "-o", "bad dir"], "may contain only")]
    for args, message in cases:
        r = run(ait, "llm", "dump", *args, rc=2)
        assert message in r.stderr, (args, r.stderr)


def test_two_processes_dumping_at_once_do_not_collide(ait, ait_engine, tiny, tmp_path):
    cmd = [ait, "llm", "dump", "--exec", engine_cmd(ait_engine, tiny, tokens=2), "-o", str(tmp_path), "-er", "0,1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    roots, _ = tensor_files(tmp_path)
    assert len(roots) == 2
    counts = []
    for root in roots:
        files = [f for f in (tmp_path / "ait_dump" / "tensors" / root).rglob("*.bin")]
        counts.append(len(files))
        assert not list((tmp_path / "ait_dump" / "tensors" / root).rglob("*.tmp*"))
    assert counts[0] == counts[1] > 0


def whole(path):
    """Whether a .bin file's payload has the length its header declares."""
    data = path.read_bytes()
    end = data.index(b"$End=1\n") + len(b"$End=1\n")
    header = dict(line.split("=", 1) for line in data[:end].decode().splitlines())
    return len(data) - end == int(header["$Object.Length"])


def test_sigterm_is_passed_to_the_command_and_the_probe_flushes(ait, ait_engine, tiny, tmp_path):
    cmd = [ait, "llm", "dump", "--exec", engine_cmd(ait_engine, tiny, tokens=120), "-o", str(tmp_path),
           "-er", "0,1000"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(tensor_files(tmp_path)[1]) < 300:
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + signal.SIGTERM, err
    roots, files = tensor_files(tmp_path)
    bins = [f for f in files if f.endswith(".bin")]
    assert len(bins) >= 300
    assert len(tokens_of(files)) < 120  # stopped mid-run
    assert all(whole(tmp_path / "ait_dump" / "tensors" / roots[0] / f) for f in bins)


@pytest.mark.parametrize("dtype", ["fp32", "fp16", "bf16"])
def test_errcheck_clean_run_reports_nothing(ait, ait_engine, tiny, tmp_path, dtype):
    # No kernel of a clean run writes an inf or a NaN (masked attention scores are finite).
    r = run(ait, "llm", "errcheck", "--exec", engine_cmd(ait_engine, tiny, "--dtype", dtype), "-o", tmp_path)
    ids, verdict = r.stdout.splitlines()  # the command's own output, then errcheck's one line
    assert verdict.startswith("No overflow detected (the command exited with status 0)"), r.stdout
    assert "overflows detected" not in r.stdout and "Report:" not in r.stdout
    assert not list(tmp_path.glob("ait_overflow_res_*"))


SUMMARY = re.compile(r"(\d+) overflows? detected(?: \(([^)]*)\))?; first: (\S+), execute count (\d+) \((\S+)\)")


def summary(stdout):
    """(total, {kind: count}, first kernel, its token, its kind) from errcheck's summary line."""
    m = SUMMARY.search(stdout)
    assert m, stdout
    kinds = {}
    for part in (m[2] or "").split(", "):
        count, kind = part.split(" ", 1)
        kinds[kind] = int(count)
    return int(m[1]), kinds, m[3], int(m[4]), m[5]


def report_kinds(report):
    """{kind: lines} counted from the report file itself."""
    kinds = {}
    for line in report.read_text().splitlines():
        kind = re.search(r", kind (\S+) \(\d+ NaN, \d+ inf of \d+ output values\)$", line)
        kinds[kind[1] if kind else "kind not reported"] = kinds.get(kind[1] if kind else "kind not reported", 0) + 1
    return kinds


def test_errcheck_reports_a_planted_nan_with_kernel_token_and_kinds(ait, ait_engine, tiny, tmp_path):
    r = run(ait, "llm", "errcheck", "--exec", engine_cmd(ait_engine, tiny, "--perturb", "RmsNormOperation_1_8=nan"),
            "-o", tmp_path)
    (report,) = tmp_path.glob("ait_overflow_res_*.txt")
    lines = report.read_text().splitlines()
    # The kernel that wrote the NaN first, at token 0, with how many of its values are NaN.
    m = re.fullmatch(r"Overflow detected! Operator name: (RmsNormOperation_1_8:\w+), execute count 0, "
                     r"kind NaN \(([1-9]\d*) NaN, 0 inf of ([1-9]\d*) output values\)", lines[0])
    assert m, lines[0]
    assert int(m[2]) < int(m[3])  # 1 in 100 planted
    # The NaN flows on through every later kernel and token; none of it is inf.
    assert len(lines) > 3 and any("execute count 2" in line for line in lines)
    total, kinds, first, token, kind = summary(r.stdout)
    assert (total, kinds, first, token, kind) == (len(lines), report_kinds(report), m[1], 0, "NaN")
    assert kinds.get("NaN", 0) > 0 and sum(kinds.values()) == total
    assert f"Report: {report}" in r.stdout


def test_errcheck_reports_inf_planted_on_a_graph_operation(ait, ait_engine, tiny, tmp_path):
    # The inf lands on the layer's output after its kernels ran: no kernel of LlamaLayer_1
    # wrote it. The next layer's kernels turn it into NaN, and those are what is reported.
    r = run(ait, "llm", "errcheck", "--exec", engine_cmd(ait_engine, tiny, "--perturb", "*LlamaLayer_1*=inf"),
            "-o", tmp_path)
    (report,) = tmp_path.glob("ait_overflow_res_*.txt")
    lines = report.read_text().splitlines()
    total, kinds, first, token, kind = summary(r.stdout)
    assert total == len(lines) and kinds == report_kinds(report) and sum(kinds.values()) == total
    assert kinds.get("NaN", 0) > 0
    assert first.startswith("RmsNormOperation_2_0:") and token == 0 and kind == "NaN", r.stdout
    assert not any("Operator name: LlamaLayer_1" in line or "_1_" in line.split(":")[1] for line in lines)


PLANT = ["--perturb", "LinearOperation_1_2=scale:1e6", "--perturb", "LinearOperation_1_2=fp16-saturate"]


def test_errcheck_names_the_planted_kernel_and_token(ait, ait_engine, tiny, tmp_path):
    r = run(ait, "llm", "errcheck", "--exec", engine_cmd(ait_engine, tiny, *PLANT), "-o", tmp_path)
    (report,) = tmp_path.glob("ait_overflow_res_*.txt")
    lines = report.read_text().splitlines()
    assert lines[0].startswith("Overflow detected! Operator name: LinearOperation_1_2:MatMul")
    assert "execute count 0" in lines[0]
    assert "LinearOperation_1_2:MatMul" in r.stdout and str(report) in r.stdout
    assert len(lines) > 3  # every token, and the kernels downstream that carry the inf


def test_errcheck_exit_stops_at_the_first_overflow(ait, ait_engine, tiny, tmp_path):
    r = run(ait, "llm", "errcheck", "--exec", engine_cmd(ait_engine, tiny, *PLANT), "-o", tmp_path, "--exit", rc=1)
    (report,) = tmp_path.glob("ait_overflow_res_*.txt")
    assert len(report.read_text().splitlines()) == 1
    assert "stopped at the first overflow" in r.stdout
    assert summary(r.stdout)[:4] == (1, {"inf": 1}, "LinearOperation_1_2:MatMul", 0)


def test_errcheck_exit_stops_at_the_first_nan(ait, ait_engine, tiny, tmp_path):
    r = run(ait, "llm", "errcheck", "--exec", engine_cmd(ait_engine, tiny, "--perturb", "RmsNormOperation_1_8=nan"),
            "-o", tmp_path, "--exit", rc=1)
    (report,) = tmp_path.glob("ait_overflow_res_*.txt")
    (line,) = report.read_text().splitlines()
    assert re.match(r"Overflow detected! Operator name: RmsNormOperation_1_8:\w+, execute count 0, kind NaN ", line)
    total, kinds, first, token, kind = summary(r.stdout)
    assert (total, kinds, token, kind) == (1, {"NaN": 1}, 0, "NaN") and first.startswith("RmsNormOperation_1_8:")
    assert "stopped at the first overflow" in r.stdout
    assert "RmsNormOperation_1_8:" in r.stderr and "NaN in an output" in r.stderr and "ATB_EXIT=1" in r.stderr


def test_onnx_type_converts_the_topology_it_wrote(ait, ait_engine, tiny, layers, tmp_path):
    import onnx
    r = dump(ait, ait_engine, tiny, tmp_path, "--type", "model", "layer", "onnx", tokens=1)
    root = tmp_path / "ait_dump"
    onnx_files = sorted(root.rglob("*.onnx"))
    assert [p.name for p in onnx_files] == ["LlamaLayer_1.onnx", "LlamaLayer_2.onnx", "LlamaModel.onnx"][:layers + 1]
    for p in onnx_files:
        assert p.with_suffix(".json").exists()
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    layer = onnx.load(str(root.rglob("LlamaLayer_1.onnx").__next__()))
    assert [n.op_type for n in layer.graph.node][:2] == ["RmsNormOperation", "LinearOperation"]
    assert f"{layers + 1} topology files converted" in r.stdout
    # The list the probe appended to lives in OUTPUT/{ait pid}/ and is removed afterwards.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ait_dump"]


def fake_atb_home(tmp_path, lib):
    """An ATB_HOME_PATH whose lib/libatb.so is a copy of `lib` (its probe symbols decide)."""
    import shutil
    home = tmp_path / "atb"
    (home / "lib").mkdir(parents=True)
    shutil.copy(lib, home / "lib" / "libatb.so")
    return home


def test_abi_follows_atb_home_and_the_old_abi_probe_serves_an_old_abi_host(ait, tmp_path):
    from conftest import build_program
    host = build_program("fake_atb_host_abi0")
    env = {"ATB_HOME_PATH": fake_atb_home(tmp_path, build_program("libfake_atb_abi0.so", folder="lib"))}
    r = run(ait, "llm", "dump", "--exec", host, "-o", tmp_path / "old", env=env)
    assert "libait_probe_abi0.so" in r.stderr and "old string ABI" in r.stderr
    assert r.stdout.startswith("saved")
    roots, files = tensor_files(tmp_path / "old")
    assert "0/0_FakeOperation/after/outtensor0.bin" in files
    # errcheck through the same old-ABI probe: the host reports its kernel as real ATB does,
    # by ReportOverflowKernel alone, so the line has the token and no kind.
    r = run(ait, "llm", "errcheck", "--exec", host, "-o", tmp_path / "check", env=env)
    (report,) = (tmp_path / "check").glob("ait_overflow_res_*.txt")
    assert report.read_text() == "Overflow detected! Operator name: FakeOperation_0:FakeKernel, execute count 0\n"
    assert "1 overflow detected; first: FakeOperation_0:FakeKernel, execute count 0\n" in r.stdout
    # Forcing the other flavour: its std::string symbols do not match the host's, nothing is saved.
    r = run(ait, "llm", "dump", "--exec", host, "-o", tmp_path / "forced", "--probe-abi", "1", env=env)
    assert r.stdout.startswith("not saved")


def test_abi_follows_a_cxx11_atb(ait, ait_engine, tiny, tmp_path):
    from conftest import build_program
    env = {"ATB_HOME_PATH": fake_atb_home(tmp_path, build_program("libait_engine.so", folder="lib"))}
    r = run(ait, "llm", "dump", "--exec", engine_cmd(ait_engine, tiny, tokens=1), "-o", tmp_path / "d", "-ids", "0",
            env=env)
    assert "libait_probe_abi1.so" in r.stderr and "cxx11" in r.stderr
    assert tensor_files(tmp_path / "d")[1]


def test_exec_quoting_and_the_guides_ids_with_a_space(ait, ait_engine, tiny, tmp_path):
    import shutil
    spaced = tmp_path / "my model"
    shutil.copytree(tiny, spaced)
    # Quotes keep the space in the model path and reach the program as one argument (no shell).
    cmd = f"{ait_engine} run --model '{spaced}' --input-ids \"1,2,3\" --max-new-tokens 1"
    run(ait, "llm", "dump", "--exec", cmd, "-o", tmp_path / "d", "-ids", "1_0,", "0")
    _, files = tensor_files(tmp_path / "d")
    assert ops_with_files(files) == {"0/0_GatherOperation", "0/0_GatherOperation/0_Gather",
                                     "0/1_LlamaLayer/0_RmsNormOperation", "0/1_LlamaLayer/0_RmsNormOperation/0_RmsNorm"}
    # A quoted ';' is just a character of an argument.
    r = run(ait, "llm", "dump", "--exec", f"{ait_engine} run --model '{spaced};' --input-ids 1 --max-new-tokens 1",
            "-o", tmp_path / "e", rc=2)
    assert f"{spaced};" in r.stderr


def test_a_second_run_leaves_the_first_runs_profile_alone(ait, ait_engine, tiny, tmp_path):
    dump(ait, ait_engine, tiny, tmp_path, "--type", "cpu_profiling", tokens=1)
    (first,) = (tmp_path / "ait_dump" / "cpu_profiling").iterdir()
    before = (first / "operation_statistic_0.txt").read_text()
    time.sleep(1.1)  # the next run's folder gets another timestamp
    dump(ait, ait_engine, tiny, tmp_path, "--type", "cpu_profiling", tokens=1)
    assert len(list((tmp_path / "ait_dump" / "cpu_profiling").iterdir())) == 2
    assert (first / "operation_statistic_0.txt").read_text() == before
    assert before.startswith("GatherOperation_0:\n[execute] totalTime:")


def test_tiling_flag_writes_each_saved_kernels_tiling_data(ait, ait_engine, tiny, tmp_path):
    dump(ait, ait_engine, tiny, tmp_path / "on", "-tiling", "-ids", "1_1", tokens=1)
    roots, _ = tensor_files(tmp_path / "on")
    tiling = sorted(str(p.relative_to(tmp_path / "on" / "ait_dump" / "tiling"))
                    for p in (tmp_path / "on").rglob("kernel_tilingdata.bin"))
    assert tiling == [f"{roots[0]}/0/1_LlamaLayer/1_LinearOperation/0_MatMul/kernel_tilingdata.bin"]
    dump(ait, ait_engine, tiny, tmp_path / "off", "-ids", "1_1", tokens=1)
    assert not list((tmp_path / "off").rglob("kernel_tilingdata.bin"))
