"""The HTML report's scoreboard as a heat map: what each cell counts, and the data the page filters.

Three views of the same records (report.json's `records`), each cell a count and its share:

- difference kind x adapter surface: records of that surface showing that kind / records it ran;
- dtype x column, case group x column: records showing any difference / records run.

A cell's colour says which (red: some new difference, amber: all explained) and how much (its share of
the records: the deeper the colour, the larger the share), so "1 known" no longer looks like "626
known". The page embeds `page_data` as JSON and its script recounts every view with the same rules
(`count`) when a filter changes (known/new, surface, dtype, case group, case id); this module renders
the unfiltered counts, so the page reads the same without JavaScript.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .columns import column_title


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(parts)).strip("-")


def cell_id(column: str, surface: str, kind: str) -> str:
    """The HTML report's anchor of one scoreboard cell (html.py's sections and the heat map link to it)."""
    return "cell-" + _slug(column, surface, kind)

STATUSES = ("match", "differs", "unsupported", "error", "crashed", "timeout")


def facets(case: str) -> tuple[str, str]:
    """(group, dtypes) of a case id `{group}/{values}/{shape}/{dtypes}/{reduction}/{prob|log}`."""
    parts = case.split("/")
    return parts[0], parts[3] if len(parts) > 3 else "?"


def page_data(m: dict) -> dict:
    """Everything the page's filters recount, in compact arrays (indices into the name lists)."""
    lanes = [(r["column"], r["surface"]) for r in m["summary"]]
    lane_index = {lane: i for i, lane in enumerate(lanes)}
    kinds = [k["kind"] for k in m["matrix"]["kinds"]]
    cases: dict[str, int] = {}
    rows = []
    for block in m["records"]:
        lane = lane_index.get((block["column"], block["surface"]))
        if lane is None:
            continue
        for case, item in block["cases"].items():
            idx = cases.setdefault(case, len(cases))
            kmask = sum(1 << kinds.index(k) for k in item.get("kinds", ()) if k in kinds)
            nmask = sum(1 << kinds.index(k) for k in item.get("new", ()) if k in kinds)
            status = STATUSES.index(item["status"]) if item["status"] in STATUSES else len(STATUSES)
            rows.append([lane, idx, status, kmask, nmask])
    names = list(cases)
    groups = sorted({facets(c)[0] for c in names})
    dtypes = sorted({facets(c)[1] for c in names}, key=_dtype_order)
    columns = list(dict.fromkeys(col for col, _ in lanes))
    return {
        "lanes": [{"column": columns.index(col), "surface": s} for col, s in lanes],
        "columns": [{"id": c, "title": column_title(m, c)} for c in columns],
        "kinds": kinds, "groups": groups, "dtypes": dtypes, "cases": names,
        "facets": [[groups.index(g), dtypes.index(d)] for g, d in map(facets, names)],
        "records": rows,
    }


def _dtype_order(d: str):
    base = ("float16", "bfloat16", "float32", "float64")
    return (0, base.index(d)) if d in base else (1 if "-" in d and "int" not in d else 2, d)


@dataclass
class Filters:
    known: bool = True
    new: bool = True
    surface: str = "all"
    dtype: str = "all"
    group: str = "all"
    text: str = ""


@dataclass
class Cell:
    n: int  # records that show it (after the filters)
    of: int  # records run (after the filters)
    new: int  # of n, those with a new difference

    @property
    def share(self) -> float:
        return self.n / self.of if self.of else 0.0


def count(data: dict, view: str, f: Filters | None = None) -> dict[tuple[int, int], Cell]:
    """(row, col) -> Cell for `view` "kind" (row: kind, col: lane), "dtype" or "group" (col: column).
    The page's script implements the same rules; tests compare the two."""
    f = f or Filters()
    out: dict[tuple[int, int], Cell] = {}
    for lane_i, case_i, _status, kmask, nmask in data["records"]:
        lane = data["lanes"][lane_i]
        g, d = data["facets"][case_i]
        if ((f.surface != "all" and lane["surface"] != f.surface) or (f.dtype != "all" and data["dtypes"][d] != f.dtype)
                or (f.group != "all" and data["groups"][g] != f.group) or (f.text and f.text not in data["cases"][case_i])):
            continue
        shown = (nmask if f.new else 0) | ((kmask & ~nmask) if f.known else 0)
        if view == "kind":
            for k in range(len(data["kinds"])):
                cell = out.setdefault((k, lane_i), Cell(0, 0, 0))
                cell.of += 1
                if shown >> k & 1:
                    cell.n += 1
                    cell.new += nmask >> k & 1 and f.new
            continue
        row = d if view == "dtype" else g
        cell = out.setdefault((row, lane["column"]), Cell(0, 0, 0))
        cell.of += 1
        if shown:
            cell.n += 1
            cell.new += bool(nmask) and f.new
    return out


def colour(cell: Cell | None) -> str:
    """The cell's inline style: hue from known/new, depth from the share (the page's script: shade())."""
    if cell is None or not cell.of:
        return "background:#eeeeee;color:#666"
    if not cell.n:
        return "background:#eef8ec;color:#1d5b16"
    alpha = 0.18 + 0.82 * cell.share ** 0.5
    rgb = "214,40,40" if cell.new else "230,160,0"
    fg = "#fff" if cell.new and alpha > 0.55 else "#222"
    return f"background:rgba({rgb},{alpha:.2f});color:{fg}"


def label(cell: Cell | None) -> str:
    if cell is None or not cell.of:
        return "–"
    pct = 100 * cell.share
    share = f"{pct:.0f}%" if pct >= 1 or not cell.n else "<1%"
    return f"{cell.n} · {share}" if cell.n else "0"


def json_block(data) -> str:
    """JSON that is safe inside <script type="application/json">: no </script>, <!--, & or line
    separators survive as such (each is a \\u escape, which JSON.parse reads back unchanged)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def views(m: dict, data: dict) -> list[dict]:
    """The three views as the template renders them (unfiltered)."""
    kinds = {k["kind"]: k["description"] for k in m["matrix"]["kinds"]}
    by_kind, by_dtype, by_group = count(data, "kind"), count(data, "dtype"), count(data, "group")
    lanes = range(len(data["lanes"]))
    cols = range(len(data["columns"]))

    def row(name, desc, cells, href=None):
        return {"name": name, "desc": desc,
                "cells": [{"text": label(c), "style": colour(c), "href": href(i) if href and c and c.n else None,
                           "title": f"{c.n} of {c.of} records ({100 * c.share:.1f}%)" if c else "not run"}
                          for i, c in cells]}

    out = [{"id": "kind", "title": "difference kind", "rows": [
        row(k, kinds[k], [(i, by_kind.get((r, i))) for i in lanes],
            lambda i, k=k: cell_id(m["summary"][i]["column"], m["summary"][i]["surface"], k))
        for r, k in enumerate(data["kinds"])]}]
    out.append({"id": "dtype", "title": "dtype", "rows": [
        row(d, None, [(i, by_dtype.get((r, i))) for i in cols]) for r, d in enumerate(data["dtypes"])]})
    out.append({"id": "group", "title": "case group", "rows": [
        row(g, None, [(i, by_group.get((r, i))) for i in cols]) for r, g in enumerate(data["groups"])]})
    return out
