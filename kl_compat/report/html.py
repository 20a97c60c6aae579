"""The HTML report: one self-contained file (inline CSS and JS, no network), rendered with Jinja2.

Its centre is a scoreboard, difference kinds x frameworks (ONNX backend scoreboard, wpt.fyi): each cell
counts the cases of one adapter surface that show one kind, coloured green (none), amber (all explained
by the known-differences file), red (some new) or grey (the adapter did not run), and links to its case
list. Filters (known/new, surface, case-id text) act on the case lists and the scoreboard's columns.

Opened with the fragment #selftest, the page's script exercises its own filters and link targets and
writes what it found to <body data-selftest="...">: the browser test reads that from Chromium's DOM.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from ..results import version_label
from .markdown import VALUE_KINDS, column_title, outcome_text

TEMPLATE = "report.html.j2"


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(parts)).strip("-")


def cell_id(column: str, surface: str, kind: str) -> str:
    return "cell-" + _slug(column, surface, kind)


def link_href(link) -> str | None:
    """A finding's link as a link target only when it is a web address (http, https): a javascript: or
    data: URL from a known-differences file or report.json is shown as text, never made live."""
    return link if isinstance(link, str) and re.match(r"https?://[^\s]+$", link, re.I) else None


def view(m: dict) -> dict:
    """What the template needs, precomputed (templates stay simple)."""
    surfaces = sorted({r["surface"] for r in m["summary"]})
    ran = [(r["column"], r["surface"]) for r in m["summary"]]
    not_run = [c for c in m["columns"] if not c["available"]]
    cells = {(c["column"], c["surface"], c["kind"]): c for c in m["matrix"]["cells"]}
    finding_of: dict[tuple, str] = {}
    for f in m["findings"]:
        for c in f["cases"]:
            finding_of.setdefault((f["column"], c["surface"], c["case"], f["known"]), f["id"])
    rows = []
    for k in m["matrix"]["kinds"]:
        row = {"kind": k["kind"], "description": k["description"], "cells": []}
        for col, surface in ran:
            c = cells.get((col, surface, k["kind"]), {"known": 0, "new": 0})
            state = "new" if c["new"] else ("known" if c["known"] else "ok")
            row["cells"].append({"column": col, "surface": surface, "known": c["known"], "new": c["new"],
                                 "state": state, "href": cell_id(col, surface, k["kind"]) if state != "ok" else None})
        rows.append(row)
    sections = []
    for c in m["matrix"]["cells"]:
        if not c["cases"]:
            continue
        items = [dict(x, finding=finding_of.get((c["column"], c["surface"], x["case"], not x["new"])))
                 for x in c["cases"]]
        sections.append({"id": cell_id(c["column"], c["surface"], c["kind"]), "column": c["column"],
                         "title": column_title(m, c["column"]), "surface": c["surface"], "kind": c["kind"],
                         "known": c["known"], "new": c["new"], "cases": items})
    summary = {(r["column"], r["surface"]): r for r in m["summary"]}
    heads = [{"column": col, "title": column_title(m, col), "surface": s,
              "match": summary[(col, s)]["match"], "run": summary[(col, s)]["run"]} for col, s in ran]
    findings = []
    for n, f in enumerate(m["findings"], 1):
        rep = f.get("reproducer") or {}
        value_line = None
        if rep.get("spec") and rep.get("observed") and set(f["kinds"]) & set(VALUE_KINDS):
            value_line = (f"On the reproducer's input the spec gives {outcome_text(rep['spec'])}; "
                          f"{column_title(m, f['column'])} gives {outcome_text(rep['observed'])}.")
        rep = {"code": None, "minimised": False, "note": None, "case": None, "surface": None, **rep}
        findings.append(dict(f, n=n, who=column_title(m, f["column"]), value_line=value_line, rep=rep,
                             href=link_href(f.get("link"))))
    return {"m": m, "surfaces": surfaces, "heads": heads, "rows": rows, "not_run": not_run, "sections": sections,
            "findings": findings, "column_title": lambda cid: column_title(m, cid),
            "version_label": lambda c: version_label(c.get("framework"), c.get("version"), c)}


def render(m: dict) -> str:
    import jinja2  # the [cli] extra; imported only when an HTML report is written

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE).render(**view(m))


# ---- headless Chromium --------------------------------------------------------------------------------

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium_command(url: str, profile: str, *extra: str, browser: str | None = None) -> list[str]:
    from . import chromium

    browser = browser or chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on this machine (Debian: apt-get install chromium)")
    return [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url]


def screenshot(html_path: Path, png_path: Path, *, size=(1400, 1000), timeout: float = 120.0):
    """Render `html_path` in headless Chromium into `png_path` (atomically). (path, None) or (None, why)."""
    from . import chromium

    browser = chromium()
    if not browser:
        return None, "no chromium on this machine (Debian: apt-get install chromium)"
    png_path = Path(png_path)
    with tempfile.TemporaryDirectory() as profile:
        tmp = Path(profile) / "shot.png"
        cmd = chromium_command(Path(html_path).resolve().as_uri(), profile, f"--screenshot={tmp}",
                               f"--window-size={size[0]},{size[1]}", "--hide-scrollbars", browser=browser)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"chromium failed: {e}"
        if not tmp.exists() or tmp.stat().st_size == 0:
            return None, f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-300:]}"
        staged = png_path.with_name(f".{png_path.name}.tmp")
        staged.write_bytes(tmp.read_bytes())
        os.replace(staged, png_path)
    return png_path, None
