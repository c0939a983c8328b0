"""The HTML report as a user opens it: real compares (the Hugging Face fp32 golden against
reference-engine fp16 runs with a planted fault: LinearOperation_2_9 scaled by 1.25, noise in
SelfAttentionOperation_2_5, NaN in ActivationOperation_2_11), rendered by headless Chromium and
checked in the DOM it builds:

- three panels per token (output cosine, relative L2, max relative error), one point per scored
  operation in each, NaN/inf outputs as triangles in each; the x1.25 fault above the relative L2
  threshold while its cosine stays above the cosine threshold;
- every point carries a hover label naming the operation (my and golden name, type, token,
  metrics, verdict); the x-axis names the operations, thinned out when there are many;
- the root cause marked in the charts and in the tables; golden names beside my names in every
  table; the root-cause table, one row per root cause, with the gap sentence where there is one;
- the charts fill the window's width; nothing is loaded from outside the file.

Also a same-layout compare (two engine runs, a kernel as root cause) and a thousand operations
per token (the demo dumps in 200 layers).
"""
import html.parser
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD, REPO, build_program, run_checked

PY = sys.executable  # the venv's interpreter (transformers), as make python-test runs it
HF_LLAMA = REPO / "python" / "golden" / "hf_llama.py"
PROMPT = "1,17,42,99,200"
SCALE = "LinearOperation_2_9=scale:1.25"
NOISE = "SelfAttentionOperation_2_5=noise:0.5"  # no golden counterpart: a gap
NAN = "ActivationOperation_2_11=nan"
METRICS = [("pt-cos", "output_cosine"), ("pt-l2", "output_relative_l2"), ("pt-rel", "output_max_relative_error")]


class Node:
    """An element of the rendered DOM: tag, attributes, children, text."""

    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, dict(attrs), parent, [], []

    def classes(self):
        return self.attrs.get("class", "").split()

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        return [n for n in self.iter() if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())
                and all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, *args, **kwargs):
        found = self.find_all(*args, **kwargs)
        assert len(found) == 1, (args, kwargs, len(found))
        return found[0]

    def text(self):
        return "".join(p if isinstance(p, str) else p.text() for p in self.parts)

    def title(self):
        """The text of this element's own <title> child (its hover label), or None."""
        titles = [c for c in self.children if c.tag == "title"]
        return titles[0].text() if titles else None


class DomBuilder(html.parser.HTMLParser):
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.cur = Node("#document", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        self.cur.parts.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, attrs, self.cur)
        self.cur.children.append(node)
        self.cur.parts.append(node)

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.parts.append(data)


def chromium(*args):
    # Not a skip: scripts/install-deps.sh installs Debian's chromium for these tests.
    assert shutil.which("chromium"), "chromium is missing: run scripts/install-deps.sh (make test does)"
    return subprocess.run(["chromium", "--headless", "--disable-gpu", "--no-sandbox", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def render(report, width=1400):
    """The DOM that the report's script builds in a window `width` px wide."""
    r = chromium(f"--window-size={width},1000", "--dump-dom", pathlib.Path(report).resolve().as_uri())
    assert 'data-rendered="1"' in r.stdout, r.stderr[-2000:]
    builder = DomBuilder()
    builder.feed(r.stdout)
    return builder.root


def compare(ait, golden, my, out):
    run_checked(ait, "llm", "compare", "-gp", golden, "-mp", my, "-o", out, timeout=300)
    (summary,) = pathlib.Path(out).glob("ait_cmp_summary_*.json")
    (report,) = pathlib.Path(out).glob("ait_cmp_report_*.html")
    return json.loads(summary.read_text()), report


@pytest.fixture(scope="module")
def scenarios(ait, ait_engine, tmp_path_factory):
    """{fault: (summary, report path, DOM)}: the HF fp32 golden against engine fp16 runs."""
    root = tmp_path_factory.mktemp("html_report")
    model = root / "model"
    run_checked(PY, HF_LLAMA, "init", "--preset", "tiny", "--seed", 7, "--out", model, timeout=300)
    run_checked(PY, HF_LLAMA, "run", "--model", model, "--input-ids", PROMPT, "--max-new-tokens", 2, "--dtype", "fp32",
                "--dump-path", root / "torch", "--token-range", "0,1", env={"PYTHONPATH": BUILD / "python"},
                timeout=300)
    (golden,) = (root / "torch").glob("ait_dump/torch_tensors/cpu_*")
    made = {}

    def get(fault):
        if fault not in made:
            name = re.sub(r"[^A-Za-z0-9]+", "_", fault)
            cmd = (f"{ait_engine} run --model {model} --input-ids {PROMPT} --max-new-tokens 2 --dtype fp16 "
                   f"--perturb '{fault}'")
            run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "model", "layer", "tensor", "-er", "0,1",
                        "-o", root / name, timeout=300)
            (my,) = (root / name).glob("ait_dump/tensors/0_*")
            summary, report = compare(ait, golden, my, root / f"cmp_{name}")
            made[fault] = summary, report, render(report)
        return made[fault]

    return get


def figures(dom):
    return {f.attrs["data-token"]: f for f in dom.find_all("figure", cls="token")}


def points(fig):
    """The plotted marks of a chart: circles and NaN/inf triangles, each with data-op."""
    return [n for n in fig.iter() if n.tag in ("circle", "path") and "data-op" in n.attrs]


def rows(table):
    return [[td for td in tr.children if td.tag == "td"] for tr in table.find_all("tr") if tr.find_all("td")]


@pytest.mark.parametrize("fault", [SCALE, NAN])
def test_three_metrics_plotted_one_point_per_scored_operation_each(scenarios, fault):
    s, _, dom = scenarios(fault)
    figs = figures(dom)
    assert list(figs) == ["0", "1"]
    for token, fig in figs.items():
        ops = [o for o in s["operations"] if o["token_id"] == token]
        svg = fig.find("svg", cls="chart")
        assert svg.attrs["data-operations"] == str(len(ops))
        for cls, key in METRICS:
            plotted = sorted(int(c.attrs["data-op"]) for c in fig.find_all("circle", cls=cls))
            assert plotted == [o["index"] for o in ops if o[key] is not None], cls
        nonfinite = [o["index"] for o in ops if o["output_nan"] + o["output_inf"] > 0]
        for metric in ("nf-cos", "nf-l2", "nf-rel"):  # a triangle in each panel
            assert sorted(int(p.attrs["data-op"]) for p in fig.find_all("path", cls=metric)) == nonfinite
        assert {b.attrs["data-layer"] for b in fig.find_all("rect", cls="band")} == {"LlamaLayer_1", "LlamaLayer_2"}
        assert [t.text() for t in fig.find_all("text", cls="band-label")] == ["LlamaLayer_1", "LlamaLayer_2"]
    if fault == NAN:
        assert nonfinite, "the NaN fault must reach the chart"


def test_a_wrong_scale_shows_in_relative_l2_not_in_cosine(scenarios):
    s, _, dom = scenarios(SCALE)
    (rc,) = s["root_causes"]
    index = {o["index"]: o for o in s["operations"]}
    for token, fig in figures(dom).items():
        (op,) = [c for c in fig.find_all("circle", cls="pt-l2") if "rc" in c.classes()]
        assert index[int(op.attrs["data-op"])]["my_name"] == "LinearOperation_2_9"
        cos_thr, l2_thr = (float(t.attrs["y1"]) for t in fig.find_all("line", cls="thr"))
        # SVG y grows downwards: the root cause is above the relative L2 threshold line...
        assert float(op.attrs["cy"]) < l2_thr
        # ... and above the cosine threshold too: cosine alone does not see it.
        (cos,) = [c for c in fig.find_all("circle", cls="pt-cos") if "rc" in c.classes()]
        assert float(cos.attrs["cy"]) < cos_thr
        assert index[int(cos.attrs["data-op"])]["output_cosine"] > 0.99
    assert rc["evidence"]["output_relative_l2"] == pytest.approx(0.25, abs=0.01)


@pytest.mark.parametrize("fault", [SCALE, NOISE, NAN])
def test_every_point_has_a_hover_label_naming_the_operation(scenarios, fault):
    s, _, dom = scenarios(fault)
    for token, fig in figures(dom).items():
        marks = points(fig)
        assert len(marks) >= 3 * 20
        for mark in marks:
            o = s["operations"][int(mark.attrs["data-op"])]
            label = mark.title()
            assert label is not None, mark.attrs
            assert label.startswith(f"#{o['index']} {o['my_name']} [{o['my_type']}]\n"), label
            assert f"\ngolden: {o['golden_name']} [{o['golden_type']}]\n" in label
            assert f"\ntoken {token}, layer {o['layer']}\n" in label if o["layer"] else f"\ntoken {token}\n" in label
            assert f"\nverdict: {o['verdict']}" in label
            assert ("ROOT CAUSE #1" in label) == o["root_cause"]
            assert re.search(r"\noutput: cosine \S+, rel\. L2 \S+, max rel\. err \S+", label), label
            assert re.search(r"\ninputs: cosine \S+, rel\. L2 \S+", label), label
    if fault == SCALE:
        (rc_label,) = {p.title() for p in points(figures(dom)["0"]) if "rc" in p.classes()}
        assert "verdict: introducing (diverged), ROOT CAUSE #1" in rc_label
        assert "output: cosine 0.9999991" in rc_label and "rel. L2 0.2500" in rc_label


def test_the_x_axis_names_every_operation_when_they_fit(scenarios):
    s, _, dom = scenarios(SCALE)
    for token, fig in figures(dom).items():
        labels = fig.find_all("text", cls="xlabel")
        ops = [o for o in s["operations"] if o["token_id"] == token]
        assert [int(t.attrs["data-op"]) for t in labels] == [o["index"] for o in ops]
        for t in labels:
            o = s["operations"][int(t.attrs["data-op"])]
            assert t.parts[0] == o["my_name"]  # short enough to stand in full
            assert t.title() == f"{o['my_name']} ~ {o['golden_name']}"
            assert "rotate(-60" in t.attrs["transform"]
        (rc,) = [t for t in labels if "rc" in t.classes()]
        assert rc.parts[0] == "LinearOperation_2_9"


def test_many_operations_are_rendered_with_thinned_out_axis_labels(ait, tmp_path):
    # The demo dumps' planted fault, in 200 layers: about a thousand operations per token.
    run_checked(build_program("ait_make_demo_dumps"), tmp_path / "dumps", "--tokens", 2, "--layers", 200,
                "--hidden", 16)
    s, report = compare(ait, tmp_path / "dumps" / "golden", tmp_path / "dumps" / "my", tmp_path / "out")
    dom = render(report, 1400)
    rc = {r["my_name"] for r in s["root_causes"]}
    for token, fig in figures(dom).items():
        ops = [o for o in s["operations"] if o["token_id"] == token]
        assert len(ops) > 800
        assert len(fig.find_all("circle", cls="pt-l2")) == sum(o["output_relative_l2"] is not None for o in ops)
        labels = fig.find_all("text", cls="xlabel")
        assert 20 < len(labels) < len(ops) / 4
        xs = [float(t.attrs["x"]) for t in labels]
        assert all(b - a >= 13.9 for a, b in zip(xs, xs[1:])), "labels overlap"
        named = {s["operations"][int(t.attrs["data-op"])]["my_name"] for t in labels if "rc" in t.classes()}
        if any(o["root_cause"] for o in ops):
            assert named and named <= rc
        assert int(fig.find("svg", cls="chart").attrs["width"]) >= 1400 - 80


def test_same_layout_compare_marks_the_kernel_and_its_nan_in_every_panel(ait, ait_engine, tiny, tmp_path):
    # Two engine fp16 runs, files paired by path: a kernel is named, golden name = my name.
    def dump(name, *flags):
        cmd = f"{ait_engine} run --model {tiny} --input-ids 1,2,3,4 --max-new-tokens 2 --dtype fp16 " + " ".join(flags)
        run_checked(ait, "llm", "dump", "--exec", cmd, "--type", "model", "tensor", "-er", "0,1", "-o", tmp_path / name)
        return tmp_path / name

    s, report = compare(ait, dump("clean"), dump("nan", "--perturb", f"'{NAN}'"), tmp_path / "out")
    dom = render(report)
    assert [c["my_name"] for c in s["root_causes"]] == ["ActivationOperation_2_11:Swish"]
    for token, fig in figures(dom).items():
        ops = [o for o in s["operations"] if o["token_id"] == token]
        for cls, key in METRICS:
            assert len(fig.find_all("circle", cls=cls)) == sum(o[key] is not None for o in ops)
        for metric in ("nf-cos", "nf-l2", "nf-rel"):
            assert len(fig.find_all("path", cls=metric)) == sum(o["output_nan"] + o["output_inf"] > 0 for o in ops) > 0
        (name,) = fig.find_all("text", cls="rc-label")
        assert name.text() == "root cause #1: ActivationOperation_2_11:Swish"  # golden name = my name: once
        assert len(fig.find_all("rect", cls="band")) == 2
        assert all(p.title() for p in points(fig))
    (cause,) = rows(dom.find("table", id="root-causes"))
    assert [cause[1].text(), cause[2].text(), cause[5].text()] == ["ActivationOperation_2_11:Swish"] * 2 + ["nonfinite"]
    assert dom.find("table", id="worst").find_all("tr", cls="rc")


def test_the_root_cause_is_marked_in_the_charts_and_the_tables(scenarios):
    s, _, dom = scenarios(SCALE)
    occurrences = [o["index"] for o in s["operations"] if o["root_cause"]]
    assert [s["operations"][i]["my_name"] for i in occurrences] == ["LinearOperation_2_9"] * 2
    for token, fig in figures(dom).items():
        (line,) = fig.find_all("line", cls="rc-line")
        assert int(line.attrs["data-op"]) in occurrences
        (name,) = fig.find_all("text", cls="rc-label")
        assert name.text() == "root cause #1: LinearOperation_2_9 ~ root.model.layers.1.mlp.gate_proj"
        ringed = {int(c.attrs["data-op"]) for c in fig.find_all("circle", cls="rc")}
        assert ringed == {int(line.attrs["data-op"])} and len(fig.find_all("circle", cls="rc")) == 3
    (entry,) = dom.find("ol", cls="causes").find_all("li")
    assert entry.text().startswith("LinearOperation_2_9 ~ golden root.model.layers.1.mlp.gate_proj "
                                   "[LinearOperation ~ Linear] — token 0, 1")
    worst = rows(dom.find("table", id="worst"))
    marked = [r for r in dom.find("table", id="worst").find_all("tr", cls="rc")]
    assert sorted(int(r.children[0].text()) for r in marked) == occurrences
    assert all(r[6].text() == "introducing (root cause)" for r in worst if int(r[0].text()) in occurrences)


@pytest.mark.parametrize("fault", [SCALE, NOISE, NAN])
def test_golden_names_stand_beside_my_names_in_every_table(scenarios, fault):
    s, _, dom = scenarios(fault)
    worst = rows(dom.find("table", id="worst"))
    assert len(worst) == min(30, sum(o["output_cosine"] is not None or o["output_nan"] + o["output_inf"] > 0
                                     for o in s["operations"]))
    for r in worst:
        o = s["operations"][int(r[0].text())]
        assert [r[1].text(), r[2].text(), r[3].text()] == [o["token_id"], o["my_name"], o["golden_name"]]
    contributors = rows(dom.find("table", id="contributors"))
    assert len(contributors) == len(s["contributors"])
    for r, c in zip(contributors, s["contributors"]):
        assert [r[2].text(), r[3].text()] == [c["my_name"], c["golden_name"]]
        assert r[4].text() == (c["my_type"] if c["golden_type"] in ("", c["my_type"])
                               else f"{c['my_type']} ~ {c['golden_type']}")
    causes = rows(dom.find("table", id="root-causes"))
    assert [(r[1].text(), r[2].text()) for r in causes] == [(c["my_name"], c["golden_name"]) for c in s["root_causes"]]


@pytest.mark.parametrize("fault, gap", [(SCALE, False), (NOISE, True), (NAN, False)])
def test_root_cause_table_one_row_each_with_its_evidence_and_gap(scenarios, fault, gap):
    s, _, dom = scenarios(fault)
    table = dom.find("table", id="root-causes")
    causes = rows(table)
    assert len(causes) == len(s["root_causes"]) >= 1
    assert len(table.find_all("tr", cls="rc")) == len(causes)
    for k, (r, c) in enumerate(zip(causes, s["root_causes"])):
        ev = c["evidence"]
        rank, my, golden, types, tokens, cause, output, inputs, why = r
        assert [rank.text(), my.text(), golden.text(), tokens.text(), cause.text()] == [
            str(k + 1), c["my_name"], c["golden_name"], ", ".join(c["tokens"]), c["cause"]]
        assert types.text() == f"{c['my_type']} ~ {c['golden_type']}"
        if ev["output_nan"] + ev["output_inf"]:
            assert output.text().startswith(f"cosine NaN/inf ({ev['output_nan']} NaN, {ev['output_inf']} inf)")
        else:
            assert output.text().startswith(f"cosine {ev['output_cosine']:.8f}rel. L2 ")
        if ev["output_relative_l2"] is not None:
            assert f"rel. L2 {ev['output_relative_l2']:.4g}" in output.text()
        assert "max rel. err " in output.text()
        assert inputs.text() == f"cosine {ev['input_cosine']:.8f}rel. L2 {ev['input_relative_l2']:.4g}"
        assert why.text().startswith(c["why"])
        gaps = why.find_all("div", cls="gap")
        if c.get("gap"):
            (g,) = gaps
            assert g.text() == c["gap"]["text"]
            assert g.text().startswith("the error appears between ")
        else:
            assert gaps == []
    assert any(c.get("gap") for c in s["root_causes"]) == gap
    if fault == NOISE:
        assert causes[0][1].text() == "LlamaLayer_2"
        assert "SelfAttentionOperation_2_5" in causes[0][8].find("div", cls="gap").text()


@pytest.mark.parametrize("width", [1200, 1600])
def test_the_charts_fill_the_window_width(scenarios, width):
    _, report, _ = scenarios(SCALE)
    dom = render(report, width)
    for fig in figures(dom).values():
        svg = fig.find("svg", cls="chart")
        # The window less the page's margins (2 x 24 px) and a scrollbar.
        assert width - 80 <= int(svg.attrs["width"]) <= width - 48
        assert svg.attrs["viewbox"] == f"0 0 {svg.attrs['width']} {svg.attrs['height']}"
    assert dom.find("table", id="worst").attrs["class"] == "wide"  # tables too (CSS width 100%)


def test_the_report_loads_nothing_from_outside(scenarios):
    _, report, dom = scenarios(NOISE)
    raw = report.read_text()
    # The only URL is the SVG namespace the script names elements with.
    assert set(re.findall(r"https?://[^\s\"'<>)]*", raw)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"\b(src|href)\s*=", raw, re.I)
    assert "url(" not in raw and "@import" not in raw
    for n in dom.iter():
        assert n.tag not in ("link", "img", "iframe", "object", "embed", "image", "use"), n.tag
        assert "src" not in n.attrs and "href" not in n.attrs and "xlink:href" not in n.attrs, (n.tag, n.attrs)
    scripts = dom.find_all("script")
    assert [sc.attrs.get("type") for sc in scripts] == ["application/json", None]


def test_screenshot_of_the_rendered_report(scenarios, tmp_path):
    _, report, _ = scenarios(SCALE)
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,1800", report.resolve().as_uri())
    assert shot.stat().st_size > 20000
