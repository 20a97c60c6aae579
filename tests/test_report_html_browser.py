"""The HTML report in a real headless browser (Debian's `chromium`): it renders, its scoreboard is there,
its filters and links work, and a screenshot comes out. Skips when Chromium is not installed."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from kl_compat.report import build, chromium, write
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


def _dom(html: Path, fragment: str = "") -> str:
    with tempfile.TemporaryDirectory() as profile:
        cmd = chromium_command(html.resolve().as_uri() + fragment, profile, "--dump-dom",
                               "--virtual-time-budget=5000")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    recs = [
        record("core/a/2d/float32/mean/prob", "alpha"),
        record("edge/negative-target/2d/float32/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
        record("edge/negative-target/2d/float16/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
        record("edge/negative-target/2d/float32/none/prob", "alpha", surface="module", status="differs",
               kinds=["nan-inf"]),
        record("core/d/2d/float32/batchmean/prob", "alpha", status="differs", kinds=["shape"], shape=(4,)),
        record("core/d/2d/float16/batchmean/prob", "alpha", surface="module", status="differs", kinds=["shape", "value"]),
        record("core/a/2d/float32/mean/prob", "rtorch", status="unavailable"),
    ]
    results = write_results(d / "r.jsonl", [adapter_line("alpha", surfaces=("functional", "module")),
                                            adapter_line("rtorch", available=False, reason="R package torch missing")],
                            recs)
    known_file = d / "known.toml"
    known_file.write_text(KNOWN)
    m = build([results], known_path=known_file, reproduce=False, probe=False)
    write(m, d)
    return d / "report.html", m


def test_the_page_renders_with_its_scoreboard(report):
    html, m = report
    dom = _dom(html)
    assert 'data-ready="1"' in dom  # the page's script ran to the end without an error
    assert '<table class="score" id="score">' in dom
    rows = re.findall(r'<tr data-kind="([^"]+)">', dom)
    assert rows == [k["kind"] for k in m["matrix"]["kinds"]]
    assert re.search(r'<td class="c new"[^>]*><a href="#cell-alpha-functional-shape">1 new</a>', dom)
    assert re.search(r'<td class="c known"[^>]*><a href="#cell-alpha-functional-nan-inf">2 known</a>', dom)
    assert 'class="c na" title="R package torch missing">NOT RUN' in dom
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', dom)  # self-contained: nothing fetched


def test_filters_and_links_work_in_the_browser(report):
    html, m = report
    dom = _dom(html, "#selftest")
    found = json.loads(re.search(r'data-selftest="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    cells = m["matrix"]["cells"]
    rows = [(c["surface"], x) for c in cells for x in c["cases"]]
    assert found["rows"] == len(rows)
    assert found["new_only"] == sum(x["new"] for _, x in rows)
    assert found["known_only"] == sum(not x["new"] for _, x in rows)
    assert found["functional"] == sum(s == "functional" for s, _ in rows)
    assert found["float16"] == sum("/float16/" in x["case"] for _, x in rows)
    assert found["missing_count"] == 0 and found["links"] > 0, found["missing"]
    assert found["score_rows"] == len(m["matrix"]["kinds"])


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
    assert (0xf7, 0xc1, 0xc1) in rgb and (0xfd, 0xe9, 0xb3) in rgb  # a "new" cell and a "known" cell are visible


def test_the_committed_report_renders(tmp_path):
    committed = Path(__file__).resolve().parents[1] / "conformance" / "report" / "report.html"
    if not committed.exists():
        pytest.fail("conformance/report/report.html is missing: run `kl-compat report`")
    dom = _dom(committed, "#selftest")
    found = json.loads(re.search(r'data-selftest="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert found["missing_count"] == 0 and found["score_rows"] > 0
    assert (committed.parent / "report.png").read_bytes()[:4] == b"\x89PNG"
