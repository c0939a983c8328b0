"""`make demo`'s job: the generated fp16 dump with a planted fault, compared against the
fp32 golden, must name the planted Linear as the first divergence on every token."""
import csv
import pathlib
import subprocess

from conftest import build_program


def test_demo_names_the_planted_operation(ait, tmp_path):
    make = build_program("ait_make_demo_dumps")
    subprocess.run([make, str(tmp_path), "--tokens", "2", "--layers", "4", "--hidden", "128"], check=True,
                   capture_output=True)
    r = subprocess.run([ait, "llm", "compare", "-gp", str(tmp_path / "golden/ait_dump"), "-mp",
                        str(tmp_path / "my/ait_dump"), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert ("First divergence (cosine similarity < 0.99) in execution order: token 0, "
            "0/3_DecoderLayer/2_LinearOperation/after/outtensor0.bin") in r.stdout
    (report,) = pathlib.Path(tmp_path / "out").glob("ait_cmp_report_*.csv")
    rows = list(csv.DictReader(open(report)))
    assert len(rows) == 2 * (1 + 4 * 6 + 1)
    for token in ("0", "1"):
        cos = [(r["my_data_path"].split("0_2002/")[1], float(r["cosine_similarity"]))
               for r in rows if r["token_id"] == token]
        first_bad = next(name for name, c in cos if c < 0.99)
        assert first_bad == f"{token}/3_DecoderLayer/2_LinearOperation/after/outtensor0.bin"
        # fp16 rounding alone stays far above the threshold before the fault.
        assert all(c > 0.999 for name, c in cos[: [n for n, _ in cos].index(first_bad)])
