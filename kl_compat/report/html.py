"""The HTML report: one self-contained file (inline CSS and JS, no network), rendered with Jinja2.

The top of the page answers "is anything new, where, how bad": a banner naming each new difference's
column and surface, one line per framework version, then the scoreboard, a heat map (heatmap.py) of
difference kinds x adapter surfaces (or dtypes, or case groups, x frameworks), each cell coloured by
its share of the records (red: some new, amber: all explained), with its count, linking to its case
list. Filters (known/new, surface, dtype, case group, case-id text) recount the heat map from the
records embedded as JSON (<script type="application/json">) and filter the case lists; without
JavaScript the page shows everything unfiltered, and the views switch by CSS alone. Pictures
(plots.py): the accuracy distribution, and what changed between versions of a framework.

Opened with the fragment #selftest, the page's script exercises its own filters and link targets, then
measures its layout (overflow, where a clicked anchor's heading lands below the sticky filter bar), and
writes what it found to <body data-selftest="...">: the browser test reads that from Chromium's DOM.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from ..results import version_label
from . import accuracy, heatmap, history, plots
from .heatmap import cell_id
from .markdown import VALUE_KINDS, column_title, outcome_text

TEMPLATE = "report.html.j2"


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
    data = heatmap.page_data(m)
    title = (lambda cid: column_title(m, cid))  # noqa: E731
    timelines = history.timelines(m)
    acc = m.get("accuracy") or []
    by_red = m.get("accuracy_by_reduction") or []
    ulp_rows = [r for r in by_red if r["measure"] == "ulp"] or acc  # (a report.json written before by_reduction)
    cond_rows = [r for r in by_red if r["measure"] == "cond"]
    grad_rows = [r for r in by_red if r["measure"] == "grad_ulp"]
    return {"m": m, "surfaces": surfaces, "heads": heads, "rows": rows, "not_run": not_run, "sections": sections,
            "findings": findings, "column_title": title,
            "version_label": lambda c: version_label(c.get("framework"), c.get("version"), c),
            "data_json": _markup(heatmap.json_block(data)), "data": data, "views": heatmap.views(m, data),
            "top": top_lines(m, findings), "accuracy": acc, "accuracy_svg": _markup(plots.accuracy_svg(ulp_rows, title)),
            "accuracy_rows": _accuracy_table(by_red), "cond_svg": _markup(plots.accuracy_svg(cond_rows, title, "cond")),
            "grad_svg": _markup(plots.accuracy_svg(grad_rows, title, "grad_ulp")),
            "timelines": timelines, "history_svg": _markup(plots.history_svg(timelines)),
            "dtype_rows": accuracy.DTYPES + (accuracy.MIXED,), "claim_href": link_href, **_errors_view(m)}


def _errors_view(m: dict) -> dict:
    """The errors table (kl_compat/report/errors.py) as the template shows it: its columns and its rows'
    cells in words, each marked whether everything in it is caught by the spec's exception's handler."""
    from .errors import cell_text

    rows = m.get("errors") or []
    cols = [c["id"] for c in m["columns"] if c["available"] and any(c["id"] in r["columns"] for r in rows)]
    return {"errors_cols": cols, "errors_rows": [
        dict(r, cells=[{"text": cell_text(r["columns"].get(c, [])) or "—",
                        "caught": all(i["caught"] for i in r["columns"].get(c, []))} for c in cols])
        for r in rows]}


def _accuracy_table(rows: list[dict]) -> list[dict]:
    """accuracy_by_reduction's rows joined per (column, dtype, reduction): {column, dtype, reduction, n, ulp,
    cond, grad_ulp}, each measure {median, p99, max} or None."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (r["column"], r["dtype"], r["reduction"])
        row = out.setdefault(key, {"column": r["column"], "dtype": r["dtype"], "reduction": r["reduction"],
                                   "n": r["n"], "ulp": None, "cond": None, "grad_ulp": None})
        row[r["measure"]] = {k: r[k] for k in ("median", "p99", "max")}
    return list(out.values())


def _markup(text: str):
    """Markup the page makes itself (escaped where it holds data): inserted without escaping again."""
    import markupsafe  # jinja2's

    return markupsafe.Markup(text)


def top_lines(m: dict, findings: list[dict]) -> dict:
    """What the top of the page says: where the new differences are, and each framework version in a line."""
    where: dict[tuple[str, str], dict] = {}
    for f in findings:
        if f["known"]:
            continue
        for c in f["cases"]:
            w = where.setdefault((f["column"], c["surface"]), {"title": column_title(m, f["column"]),
                                                               "surface": c["surface"], "n": 0, "kinds": [],
                                                               "href": f["id"]})
            w["n"] += 1
            w["kinds"] += [k for k in f["kinds"] if k not in w["kinds"]]
    columns = []
    for col in m["columns"]:
        if col["available"]:
            p = history.point(col["id"], col.get("version"), [b for b in m["records"] if b["column"] == col["id"]])
            columns.append({"title": column_title(m, col["id"]), "run": p.run, "known": p.known, "new": p.new,
                            "share": f"{100 * p.match / p.run:.0f}%" if p.run else "–"})
    return {"new_where": list(where.values()), "columns": columns,
            "findings_known": sum(f["known"] for f in findings), "findings_new": sum(not f["known"] for f in findings)}


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
