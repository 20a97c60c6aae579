"""What changed between runs of one framework (wpt.fyi's "fixed" and "broken" lists per change).

Two sources of a timeline, per framework (the adapter's registry name):

- versions: a report whose inputs hold one framework at several versions (Paddle 2.6.2 and 3.3.1, as
  every `kl-compat report` does; or `kl-compat report A.jsonl B.jsonl`, one version each) has one
  column per version (model.py); its points are those columns, in version order (`timelines(m)`,
  from report.json's `records` alone);
- dates: `kl-compat report A.jsonl B.jsonl C.jsonl` given runs of the same version made on different
  days (the model merges those into one column) gets one point per results file, in version then
  date order (`runs(...)`, reading each file on its own; stored in the report as `history`).

Between consecutive points, case by case on the surfaces both ran: *fixed* (a difference before, a
match after), *broken* (the reverse), *changed* (differs in both, but in other kinds or another status).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field


@dataclass
class Point:
    label: str  # what the page shows: the column's title, or the framework, version and run date
    version: str | None
    run: int = 0
    match: int = 0
    known: int = 0  # records with differences, all explained
    new: int = 0  # records with a new difference


@dataclass
class Step:
    before: str  # the points' labels
    after: str
    fixed: list = field(default_factory=list)  # [(surface, case)]
    broken: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    same: int = 0


@dataclass
class Timeline:
    name: str  # the adapter's registry name
    by: str  # "version" or "date"
    points: list  # [Point], oldest first
    steps: list  # [Step] between consecutive points


def version_key(version: str | None):
    """Numeric parts compared as numbers ("2.13.0+cpu" after "2.6.2"); no version sorts first."""
    if not version:
        return (0, ())
    return (1, tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+\-]", version)))


def timelines(m: dict) -> list[Timeline]:
    """The report's timelines: by date where the report holds them (`history`), else by version."""
    if m.get("history"):
        return [from_json(t) for t in m["history"]]
    from .columns import column_title

    blocks: dict[str, list[dict]] = {}
    for b in m["records"]:
        blocks.setdefault(b["column"], []).append(b)
    by_name: dict[str, list[dict]] = {}
    for c in m["columns"]:
        if c["available"] and c["id"] in blocks:
            by_name.setdefault(c["name"], []).append(c)
    series = {name: [(column_title(m, c["id"]), c.get("version"), blocks[c["id"]])
                     for c in sorted(cols, key=lambda c: version_key(c.get("version")))]
              for name, cols in by_name.items() if len({c.get("version") for c in cols}) > 1}
    return [_timeline(name, "version", pts) for name, pts in series.items()]


def runs(paths, known_path, inputs: list[dict]) -> list[dict] | None:
    """Timelines by date (as JSON) when the same framework version was run on several days, one results
    file each; None otherwise (shards of one run, or versions only: `timelines` covers those).
    `inputs` is the report's run_info["inputs"] (started, shard), in the order of `paths`."""
    if len(paths) < 2 or any(i.get("shard") for i in inputs):
        return None
    from . import model

    series: dict[str, list] = {}
    for path, info in zip(paths, inputs):
        loaded = model.load([path])
        model.mark_known(loaded, known_path)
        blocks = model.records_dict(loaded)
        started = str(info.get("started") or "")
        for col in loaded.columns.values():
            if col.available:
                mine = [b for b in blocks if b["column"] == col.id]
                series.setdefault(col.name, []).append((started, col.version, mine))
    dated = {}
    for name, pts in series.items():
        versions = [v for _s, v, _b in pts]
        if len(pts) > 1 and len(set(versions)) < len(versions):  # a version run on several days
            pts.sort(key=lambda p: (version_key(p[1]), p[0]))
            dated[name] = [(f"{name} {v or ''} ({s[:10] or 'undated'})".replace("  ", " "), v, b) for s, v, b in pts]
    if not dated:
        return None
    return [to_json(_timeline(name, "date", pts)) for name, pts in dated.items()]


def _timeline(name: str, by: str, pts: list) -> Timeline:
    points = [point(label, version, blocks) for label, version, blocks in pts]
    steps = [_step(a[0], z[0], a[2], z[2]) for a, z in zip(pts, pts[1:])]
    return Timeline(name, by, points, steps)


def to_json(t: Timeline) -> dict:
    return asdict(t)


def from_json(d: dict) -> Timeline:
    return Timeline(d["name"], d["by"], [Point(**p) for p in d["points"]],
                    [Step(s["before"], s["after"], [tuple(x) for x in s["fixed"]], [tuple(x) for x in s["broken"]],
                          [tuple(x) for x in s["changed"]], s["same"]) for s in d["steps"]])


def point(label: str, version: str | None, blocks: list[dict]) -> Point:
    p = Point(label, version)
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


def _outcome(item: dict) -> tuple:
    return (item["status"], tuple(item.get("kinds", ())))


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
