"""The HTML report in a real headless browser (Debian's `chromium`): it renders, its heat map is there,
its filters recount it as heatmap.py does, its links work, it fits 1400 and 390 pixels wide without
horizontal scrolling, a clicked cell's heading lands below the sticky filter bar, and screenshots come
out. Skips when Chromium is not installed."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from kl_compat.report import chromium
from kl_compat.report.assemble import build, write
from kl_compat.report.heatmap import Filters, count, page_data
from kl_compat.report.html import chromium_command, screenshot

from test_report import adapter_line, record, write_results

BROWSER = chromium()
pytestmark = pytest.mark.skipif(not BROWSER or not Path(BROWSER).exists(),
                                reason="headless Chromium is not installed (Debian: apt-get install chromium)")

KNOWN = '''
[[difference]]
adapter = "alpha"
cases = "edge/*"
kind = "nan-inf"
reason = "alpha returns 0 for negative targets."
'''


def _dom(html: Path, fragment: str = "", width: int = 1400) -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = chromium_command(html.resolve().as_uri() + fragment, profile, "--dump-dom",
                               "--virtual-time-budget=5000", f"--window-size={width},900", "--hide-scrollbars")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    recs = [
        dict(record("core/a/2d/float32/mean/prob", "alpha"), max_ulp=0.5),
        record("edge/negative-target/2d/float32/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
        record("edge/negative-target/2d/float16/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
        record("edge/negative-target/2d/float32/none/prob", "alpha", surface="module", status="differs",
               kinds=["nan-inf"]),
        record("core/d/2d/float32/batchmean/prob", "alpha", status="differs", kinds=["shape"], shape=(4,)),
        record("core/d/2d/float16/batchmean/prob", "alpha", surface="module", status="differs", kinds=["shape", "value"]),
        record("core/a/2d/float32/mean/prob", "rtorch", status="unavailable"),
        # a long case id and many rows: what made the page overflow and anchors hide under the filter bar
        record("edge/" + "very-long-values-name-" * 8 + "/2d/float32/none/prob", "alpha", status="differs",
               kinds=["value"]),
        *[dict(record(f"core/filler{i}/2d/float64/sum/prob", "alpha", status="differs", kinds=["gradient"]),
               max_ulp=float(i)) for i in range(60)],
    ]
    results = write_results(d / "r.jsonl", [adapter_line("alpha", surfaces=("functional", "module")),
                                            adapter_line("rtorch", available=False, reason="R package torch missing")],
                            recs)
    known_file = d / "known.toml"
    known_file.write_text(KNOWN)
    m = build([results], known_path=known_file, reproduce=False, probe=False)
    m["findings"][0]["reproducer"] = {"case": recs[1]["case"], "surface": "functional", "minimised": True,
                                      "language": "python", "code": "x = [" + ", ".join(["0.125"] * 400) + "]\n" * 80}
    write(m, d)
    return d / "report.html", m


# Headless Chromium keeps its window at least 500 pixels wide: a phone's width is an iframe's viewport.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" style="border:0;width:{width}px;height:900px"></iframe>
<script>
var f = document.getElementById("f");
f.addEventListener("load", function () {{ setTimeout(function () {{
  document.body.setAttribute("data-selftest", f.contentDocument.body.getAttribute("data-selftest"));
}}, 1500); }});
</script></body></html>"""


def _selftest(html: Path, width: int = 1400) -> dict:
    if width < 500:
        frame = html.with_name(f"frame-{width}.html")
        frame.write_text(FRAME.format(src=html.resolve().as_uri() + "#selftest", width=width))
        with tempfile.TemporaryDirectory() as profile:
            cmd = chromium_command(frame.resolve().as_uri(), profile, "--dump-dom", "--virtual-time-budget=8000",
                                   "--allow-file-access-from-files", "--window-size=800,1000")
            dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    else:
        dom = _dom(html, "#selftest", width)
    return json.loads(re.search(r'data-selftest="([^"]*)"', dom).group(1).replace("&quot;", '"')
                      .replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def test_the_page_renders_with_its_scoreboard(report):
    html, m = report
    dom = _dom(html)
    assert 'data-ready="1"' in dom  # the page's script ran to the end without an error
    assert '<table class="heat" id="score" data-view="kind">' in dom
    rows = re.findall(r'<tr data-kind="([^"]+)">', dom)
    assert rows == [k["kind"] for k in m["matrix"]["kinds"]]
    # a heat map: the count and its share, coloured by share (deeper for more), red for new, amber for known
    shape = re.search(r'<td class="c" data-r="0" style="background:rgba\(214,40,40,([0-9.]+)\)[^"]*"[^>]*'
                      r'data-n="1"[^>]*><a href="#cell-alpha-functional-shape">1 · 2%</a>', dom)
    grad = re.search(r'<td class="c" data-r="0" style="background:rgba\(214,40,40,([0-9.]+)\)[^"]*"[^>]*'
                     r'data-n="60"[^>]*><a href="#cell-alpha-functional-gradient">60 · 92%</a>', dom)
    nan = re.search(r'<td class="c" data-r="0" style="background:rgba\(230,160,0,[0-9.]+\)[^"]*"[^>]*data-n="2"[^>]*>'
                    r'<a href="#cell-alpha-functional-nan-inf">2 · 3%</a>', dom)
    assert shape and grad and nan, dom[dom.index('id="score"'):][:3000]
    assert float(grad.group(1)) > float(shape.group(1)) + 0.5  # 60 records look far deeper than 1
    assert 'class="c na" title="R package torch missing">NOT RUN' in dom
    assert re.search(r'<tr data-dtype="float64">', dom) and re.search(r'<tr data-group="edge">', dom)
    assert dom.count('<svg class="plot"') >= 1 and "<title id=\"acc-title\">" in dom
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', dom)  # self-contained: nothing fetched


def test_filters_and_links_work_in_the_browser(report):
    html, m = report
    found = _selftest(html)
    cells = m["matrix"]["cells"]
    rows = [(c["surface"], x) for c in cells for x in c["cases"]]
    assert found["rows"] == len(rows)
    assert found["new_only"] == sum(x["new"] for _, x in rows)
    assert found["known_only"] == sum(not x["new"] for _, x in rows)
    assert found["functional"] == sum(s == "functional" for s, _ in rows)
    assert found["float16"] == sum("/float16/" in x["case"] for _, x in rows)
    assert found["missing_count"] == 0 and found["links"] > 0, found["missing"]
    assert found["score_rows"] == len(m["matrix"]["kinds"])
    # the heat map recounts with the filters, as heatmap.count does
    data = page_data(m)

    def total(view, **f):
        return sum(c.n for c in count(data, view, Filters(**f)).values())

    heat = found["heat"]
    assert heat["all"] == total("kind") > 0
    assert heat["new_only"] == total("kind", known=False) < heat["all"]
    assert heat["known_only"] == total("kind", new=False) < heat["all"]
    assert heat["functional_dtype"] == total("dtype", surface="functional")
    assert heat["float16_group"] == total("group", text="/float16/") > 0
    assert heat["float32"] == total("kind", dtype="float32") < heat["all"]
    assert heat["group0"] == total("kind", group=data["groups"][0])
    lanes = [(data["columns"][x["column"]]["id"], x["surface"]) for x in data["lanes"]]
    float32 = [[r for r in data["records"] if r[0] == i and data["dtypes"][data["facets"][r[1]][1]] == "float32"]
               for i in range(len(lanes))]
    assert found["match_float32"] == [f"{sum(r[2] == 0 for r in rs)} / {len(rs)}" for rs in float32]  # the match row too


@pytest.mark.parametrize("width", [1400, 390])
def test_the_page_fits_and_anchors_land_below_the_filter_bar(report, width, tmp_path):
    html, _ = report
    found = _selftest(html, width)
    assert found["viewport"] == width
    assert found["scroll_width"] <= width and found["scroll_width_after"] <= width, found  # no horizontal overflow
    assert found["scroll_width_open"] <= width, found["too_wide"]  # nor with every finding and case list open
    anchor = found["anchor"]
    assert anchor["open"] and anchor["target"].startswith("cell-")
    assert anchor["heading_top"] >= anchor["bar_bottom"] - 0.5, anchor  # not hidden under the sticky bar
    assert anchor["heading_top"] < anchor["bar_bottom"] + 120, anchor  # and scrolled to, not left below
    png, why = screenshot(html, tmp_path / f"shot-{width}.png", size=(width, 900))
    assert png is not None, why


def test_screenshot_for_the_docs(report, tmp_path):
    html, _ = report
    png, why = screenshot(html, tmp_path / "shot.png")
    assert png is not None, why
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    try:
        from PIL import Image
    except ImportError:  # without Pillow: a rendered page compresses far worse than a blank one
        assert len(data) > 20_000
        return
    img = Image.open(png).convert("RGB")
    assert img.size == (1400, 1000)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours and len(colours) > 50  # text, table lines and the coloured cells, not a blank page
    rgb = {c for _, c in colours}
    red = [c for c in rgb if c[0] > 180 and c[1] < 120 and c[2] < 120]  # a deep "new" heat-map cell
    amber = [c for c in rgb if c[0] > 220 and 170 < c[1] < 235 and c[2] < 170]  # a "known" one
    assert red and amber, sorted(rgb)[:40]


def test_the_committed_report_renders(tmp_path):
    committed = Path(__file__).resolve().parents[1] / "conformance" / "report" / "report.html"
    if not committed.exists():
        pytest.fail("conformance/report/report.html is missing: run `kl-compat report`")
    found = _selftest(committed)
    assert found["missing_count"] == 0 and found["score_rows"] > 0
    assert found.get("scroll_width", 1e9) <= found.get("viewport", 0), f"no horizontal overflow (stale report?): {found}"
    # a few screens, plus a line per finding (known findings fold to one each; pictures and case lists fold
    # too) and per surface measured (a row of the summary and of the heat map each)
    m = json.loads(committed.with_name("report.json").read_text(encoding="utf-8"))
    limit = 12_000 + 40 * (len(m["findings"]) + len(m["summary"]))
    assert found.get("height", 1e9) < limit, f"the page reads in a few screens (stale report?): {found.get('height')} px"
    html = committed.read_text(encoding="utf-8")
    assert 'id="history"' in html and "paddle" in html[html.index('id="history"'):][:20000], \
        "the committed report shows no version history (Paddle 2.6.2 -> 3.3.1): run `kl-compat report`"
    assert (committed.parent / "report.png").read_bytes()[:4] == b"\x89PNG"
