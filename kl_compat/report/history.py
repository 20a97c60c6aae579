"""What changed between versions of one framework (wpt.fyi's "fixed" and "broken" lists per change).

A report whose inputs hold one framework at several versions (Paddle 2.6.2 and 3.3.1, as every
`kl-compat report` does; or `kl-compat report A.jsonl B.jsonl C.jsonl`, one version each) has one
column per version (model.py). Per framework, its columns in version order, and between consecutive
ones, case by case on the surfaces both ran: *fixed* (a difference before, a match after), *broken*
(the reverse), *changed* (differs in both, but in other kinds or another status). Computed from
report.json's `records`, so a report.json alone is enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Point:
    column: str
    version: str | None
    run: int = 0
    match: int = 0
    known: int = 0  # records with differences, all explained
    new: int = 0  # records with a new difference


@dataclass
class Step:
    before: str  # column ids
    after: str
    fixed: list = field(default_factory=list)  # [(surface, case)]
    broken: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    same: int = 0


@dataclass
class Timeline:
    name: str  # the adapter's registry name
    points: list  # [Point], oldest version first
    steps: list  # [Step] between consecutive points


def version_key(version: str | None):
    """Numeric parts compared as numbers ("2.13.0+cpu" after "2.6.2"); no version sorts first."""
    if not version:
        return (0, ())
    return (1, tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+\-]", version)))


def _outcome(item: dict) -> tuple:
    return (item["status"], tuple(item.get("kinds", ())))


def timelines(m: dict) -> list[Timeline]:
    blocks: dict[str, list[dict]] = {}
    for b in m["records"]:
        blocks.setdefault(b["column"], []).append(b)
    by_name: dict[str, list[dict]] = {}
    for c in m["columns"]:
        if c["available"] and c["id"] in blocks:
            by_name.setdefault(c["name"], []).append(c)
    out = []
    for name, cols in by_name.items():
        if len({c.get("version") for c in cols}) < 2:
            continue
        cols = sorted(cols, key=lambda c: version_key(c.get("version")))
        points = [point(c, blocks[c["id"]]) for c in cols]
        steps = [_step(a["id"], b["id"], blocks[a["id"]], blocks[b["id"]]) for a, b in zip(cols, cols[1:])]
        out.append(Timeline(name, points, steps))
    return out


def point(col: dict, blocks: list[dict]) -> Point:
    p = Point(col["id"], col.get("version"))
    for b in blocks:
        for item in b["cases"].values():
            p.run += 1
            if item["status"] == "match":
                p.match += 1
            elif item.get("new"):
                p.new += 1
            elif item.get("kinds"):
                p.known += 1
    return p


def _step(before: str, after: str, old: list[dict], new: list[dict]) -> Step:
    step = Step(before, after)
    old_by_surface = {b["surface"]: b["cases"] for b in old}
    for b in new:
        was = old_by_surface.get(b["surface"])
        if was is None:
            continue
        for case, item in sorted(b["cases"].items()):
            prev = was.get(case)
            if prev is None:
                continue
            a, z = _outcome(prev), _outcome(item)
            if a == z:
                step.same += 1
            elif z[0] == "match":
                step.fixed.append((b["surface"], case))
            elif a[0] == "match":
                step.broken.append((b["surface"], case))
            else:
                step.changed.append((b["surface"], case))
    return step
