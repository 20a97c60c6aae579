"""The HTML report's parts without a browser: the heat map's counts and colours, the embedded JSON, the
accuracy summary, the version and date timelines, the SVG pictures, and the progress lines of
`kl-compat report` when stderr is not a terminal."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass

import pytest

from kl_compat import progress as progress_mod
from kl_compat.progress import Progress
from kl_compat.report import accuracy, heatmap, history, html, plots

from test_report import adapter_line, record, write_results

try:
    from kl_compat.report.assemble import build
except ImportError:  # before the report's assembly moved out of kl_compat/report/__init__.py
    from kl_compat.report import build  # type: ignore[attr-defined,no-redef]


def _report(tmp_path, records, adapters=None, name="r.jsonl"):
    path = write_results(tmp_path / name, adapters or [adapter_line("alpha", surfaces=("functional", "module"))],
                         records)
    known = tmp_path / "known.toml"
    known.write_text('[[difference]]\nadapter = "alpha"\ncases = "edge/*"\nkind = "nan-inf"\nreason = "known."\n')
    return path, known


@pytest.fixture
def page(tmp_path):
    recs = [record(f"core/v{i}/2d/float32/sum/prob", "alpha") for i in range(8)]
    recs += [record("edge/neg/2d/float32/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
             record("edge/neg/2d/float16/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
             record("core/d/2d/float16/batchmean/prob", "alpha", status="differs", kinds=["shape"]),
             record("core/d/2d/float16/batchmean/prob", "alpha", surface="module", status="differs", kinds=["shape"])]
    path, known = _report(tmp_path, recs)
    m = build([path], known_path=known, reproduce=False, probe=False)
    return m, heatmap.page_data(m)


def test_heat_map_counts_each_cell_as_a_share_of_the_records_run(page):
    m, data = page
    kinds, lanes = data["kinds"], [(data["columns"][x["column"]]["id"], x["surface"]) for x in data["lanes"]]
    cells = heatmap.count(data, "kind")
    nan = cells[(kinds.index("nan-inf"), lanes.index(("alpha", "functional")))]
    shape = cells[(kinds.index("shape"), lanes.index(("alpha", "module")))]
    assert (nan.n, nan.of, nan.new) == (2, 11, 0)  # known: amber
    assert (shape.n, shape.of, shape.new) == (1, 1, 1)  # new, all of the module's records: deep red
    assert heatmap.label(nan) == "2 · 18%" and heatmap.label(shape) == "1 · 100%"
    amber = re.search(r"rgba\(230,160,0,([0-9.]+)\)", heatmap.colour(nan))
    red = re.search(r"rgba\(214,40,40,([0-9.]+)\)", heatmap.colour(shape))
    assert amber and red and float(red.group(1)) > float(amber.group(1))  # the larger share is deeper
    assert "eef8ec" in heatmap.colour(cells[(kinds.index("dtype"), 0)])  # none: pale green
    # the filters recount
    only_new = heatmap.count(data, "kind", heatmap.Filters(known=False))
    assert only_new[(kinds.index("nan-inf"), lanes.index(("alpha", "functional")))].n == 0
    f16 = heatmap.count(data, "kind", heatmap.Filters(dtype="float16"))
    assert f16[(kinds.index("nan-inf"), lanes.index(("alpha", "functional")))].of == 2
    by_dtype = heatmap.count(data, "dtype")
    assert by_dtype[(data["dtypes"].index("float16"), 0)].n == 3  # records with any difference, both surfaces
    by_group = heatmap.count(data, "group", heatmap.Filters(surface="module"))
    assert by_group[(data["groups"].index("core"), 0)].n == 1


def test_the_page_reads_without_javascript(page):
    m, _ = page
    served = html.render(m)  # what a browser without JavaScript shows: the heat map is in the page itself
    assert re.search(r'<td class="c" data-r="1" style="background:rgba\(214,40,40,1.00\);color:#fff"[^>]*>'
                     r'<a href="#cell-alpha-module-shape">1 · 100%</a>', served)
    assert re.search(r'style="background:rgba\(230,160,0,[0-9.]+\)[^"]*"[^>]*><a href="#cell-alpha-functional-nan-inf">'
                     r'2 · 18%</a>', served)
    assert '<input type="radio" name="view" id="v-dtype">' in served  # the views switch by CSS alone
    assert "#v-dtype:checked ~ .view-dtype" in served
    assert "<noscript><style>#filters label { display: none; }</style></noscript>" in served  # no dead filters


def test_the_embedded_json_cannot_end_its_script_block():
    hostile = {"cases": ["</script><script>alert(1)</script>", "<!-- & \u2028 -->"]}
    block = heatmap.json_block(hostile)
    assert not set(block) & {"<", ">", "&", "\u2028"}
    assert json.loads(block) == hostile


@dataclass
class Rec:  # what accuracy.summary reads of a record
    max_ulp: float | None


def test_accuracy_summary_median_p99_max_per_column_and_dtype():
    recs = {("a", "functional", f"core/v{i}/2d/float32/sum/prob"): Rec(float(i)) for i in range(100)}
    recs[("a", "functional", "core/x/2d/float16-float32/sum/prob")] = Rec(3.0)
    recs[("a", "functional", "core/y/2d/float32/sum/prob")] = Rec(None)  # an error: not counted
    recs[("a", "module", "core/z/2d/float64/sum/prob")] = Rec(float("inf"))
    rows = accuracy.summary(recs, [{"id": "a"}])
    assert rows == [{"column": "a", "dtype": "float32", "n": 100, "median": 49.0, "p99": 98.0, "max": 99.0},
                    {"column": "a", "dtype": "mixed", "n": 1, "median": 3.0, "p99": 3.0, "max": 3.0}]
    svg = plots.accuracy_svg(rows, lambda c: f"<{c}>")
    assert svg.startswith('<svg class="plot" role="img"') and "<title id=\"acc-title\">" in svg and "<desc" in svg
    assert "&lt;a&gt;" in svg and "<a>" not in svg  # labels from data are escaped


def _two_versions(tmp_path, v1: str, v2: str, started2: str | None = None):
    old = [record("core/a/2d/float32/sum/prob", "alpha", version=v1),
           record("core/b/2d/float32/sum/prob", "alpha", version=v1, status="differs", kinds=["value"]),
           record("core/c/2d/float32/sum/prob", "alpha", version=v1, status="differs", kinds=["value"])]
    new = [record("core/a/2d/float32/sum/prob", "alpha", version=v2, status="differs", kinds=["shape"]),
           record("core/b/2d/float32/sum/prob", "alpha", version=v2),
           record("core/c/2d/float32/sum/prob", "alpha", version=v2, status="differs", kinds=["value", "gradient"])]
    a, known = _report(tmp_path, old, [adapter_line("alpha", version=v1)], "a.jsonl")
    b, _ = _report(tmp_path, new, [adapter_line("alpha", version=v2)], "b.jsonl")
    if started2:
        lines = b.read_text().splitlines()
        run = json.loads(lines[0])
        run["started"] = started2
        b.write_text("\n".join([json.dumps(run), *lines[1:]]) + "\n")
    return build([b, a], known_path=known, reproduce=False, probe=False)  # newest first: sorted by version/date


def _check_step(step):
    assert step.fixed == [("functional", "core/b/2d/float32/sum/prob")]
    assert step.broken == [("functional", "core/a/2d/float32/sum/prob")]
    assert step.changed == [("functional", "core/c/2d/float32/sum/prob")]
    assert step.same == 0


def test_history_between_versions(tmp_path):
    m = _two_versions(tmp_path, "1.10", "1.9")  # 1.9 is the older: versions compare as numbers
    assert m["history"] is None  # versions: the columns themselves are the timeline
    (line,) = history.timelines(m)
    assert line.name == "alpha" and line.by == "version"
    assert [p.version for p in line.points] == ["1.9", "1.10"]
    step = line.steps[0]
    # from 1.9 (the "new" list above) to 1.10 (the "old" one): every change reversed
    assert step.fixed == [("functional", "core/a/2d/float32/sum/prob")]
    assert step.broken == [("functional", "core/b/2d/float32/sum/prob")]
    assert step.changed == [("functional", "core/c/2d/float32/sum/prob")]
    page = html.render(m)
    assert 'id="history"' in page and "1 fixed" in page and "1 broken" in page


def test_history_between_dates_of_one_version(tmp_path):
    m = _two_versions(tmp_path, "1.0", "1.0", started2="2026-03-01T00:00:00+00:00")
    assert m["history"] and m["history"][0]["by"] == "date"
    json.dumps(m["history"])  # stored in report.json as it is
    (line,) = history.timelines(m)
    assert [p.label for p in line.points] == ["alpha 1.0 (2026-01-01)", "alpha 1.0 (2026-03-01)"]
    _check_step(line.steps[0])
    svg = plots.history_svg([line])
    assert "<title id=\"hist-title\">" in svg and "1 fixed" in svg and "1 broken" in svg


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(monkeypatch):
    out = io.StringIO()
    shown = Progress(enabled=True, stream=out)
    bar = shown.bar("torch", 6)
    for _ in range(6):
        bar.update()
    bar.close()
    shown.not_run("rtorch", "R is not installed")
    with shown.phase("report: rendering", "report.html"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "kl-compat: torch: 6 observations ..."
    assert re.fullmatch(r"kl-compat: torch: 6 of 6 observations in [0-9.]+ s", lines[1])
    assert lines[2] == "kl-compat: rtorch: NOT RUN: R is not installed"
    assert lines[3] == "kl-compat: report: rendering: report.html ..."
    assert re.fullmatch(r"kl-compat: report: rendering: done in [0-9.]+ s \(report.html\)", lines[4])
    assert "\r" not in out.getvalue()
    quiet = io.StringIO()
    q = Progress(enabled=False, stream=quiet)
    q.bar("x", 3).update()
    q.not_run("y", "z")
    with q.phase("p"):
        pass
    assert quiet.getvalue() == ""


def test_progress_without_tqdm_says_so_once(monkeypatch):
    monkeypatch.setattr(progress_mod, "_tqdm", lambda: None)
    monkeypatch.setattr(progress_mod, "_said_no_tqdm", False)
    out = io.StringIO()
    Progress(enabled=True, stream=out)
    Progress(enabled=True, stream=out)
    assert out.getvalue().splitlines() == [progress_mod.NO_TQDM]
