"""The report's model: results files merged into columns, re-judged against the known-differences file.

A *column* is one adapter at one version, as a report shows it. It is named by the adapter's label in
the results file (normally its name, e.g. "paddle"); when the inputs hold one label at several versions
(two results files, Paddle 2.6.2 and 3.3.1), each version becomes its own column, "paddle@2.6.2".
Shards of one run (same label, same version) merge into one column.

The `known` id of every difference is set again here from the known-differences files the report is
made with (entries name adapters, so an entry for "paddle" applies to every paddle column, subject to
its `versions`), so a report, its staleness check and its "new difference" exit status all refer to
one file, whose sha256 the report records.

A *finding* is one distinct difference: for an explained difference, one known-differences entry on one
column; for a new one, one difference kind in one family of cases ("group/values", the first two parts
of a case id) on one column. Each has a reproducer (kl_compat.reproducer).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__, compare, golden, known, results
from ..errors import KlCompatError
from ..record import BAD, DIFFERS, ERROR, AdapterLine, Record  # noqa: F401 (BAD: re-exported)

SUMMARY_FIELDS = ("run", "match", "differs_known", "differs_new", "unsupported", "error", "error_new",
                  "crashed", "timeout")


class ReportError(KlCompatError):
    """Inputs a report cannot be made from (no records at all, unreadable files)."""


@dataclass
class Column:
    id: str  # unique in this report
    label: str  # the label in the results file
    name: str  # the adapter's registry name (what known-differences and claims entries name)
    version: str | None
    available: bool
    info: AdapterLine | None = None  # the results file's adapter line (None: records without one)
    sources: list = field(default_factory=list)  # results files it came from


@dataclass
class Loaded:
    inputs: list  # [{"path", "sha256", "run" (RunLine), "end" (EndLine or None), "truncated"}]
    columns: dict  # id -> Column, in first-seen order
    records: dict[tuple[str, str, str], Record]  # (column id, surface, case) -> record
    notes: list = field(default_factory=list)


def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def load(paths) -> Loaded:
    """Read and merge results files (several frameworks, versions, or shards of one run)."""
    if not paths:
        raise ReportError("no results files given")
    parsed = []
    for p in paths:
        try:
            parsed.append(results.read(Path(p)))
        except results.ResultsError as e:
            raise ReportError(str(e)) from None
    notes: list[str] = []
    column_id = _column_namer(parsed)
    inputs, columns = _columns(parsed, column_id, notes)
    records = _records(parsed, column_id, columns, notes)
    if not records and not any(not c.available for c in columns.values()):
        raise ReportError("the results files hold no records (never green on empty)")
    return Loaded(inputs, columns, records, notes)


def _column_namer(parsed):
    """column_id(label, version, available): a label that ran at several versions is one column per
    version (label@version, or label@unavailable where it could not run), any other its label."""
    versions: dict[str, set] = {}
    for res in parsed:
        for a in res.adapters:
            if a.available:
                versions.setdefault(a.adapter, set()).add(a.version)
    split = {label for label, vs in versions.items() if len(vs) > 1}

    def column_id(label, version, available):
        if label not in split:
            return label
        return f"{label}@{version}" if available else f"{label}@unavailable"

    return column_id


def _columns(parsed, column_id, notes: list[str]) -> tuple[list[dict], dict[str, Column]]:
    """The inputs as the report describes them, and the columns their adapter lines make."""
    columns: dict[str, Column] = {}
    inputs = []
    for res in parsed:
        inputs.append({"path": str(res.path), "sha256": sha256_file(res.path), "run": res.run, "end": res.end,
                       "truncated": res.truncated})
        if res.truncated:
            notes.append(f"{res.path}: the run stopped before its end line (killed?); its records are used as they are")
        for a in res.adapters:
            label = a.adapter
            cid = column_id(label, a.version, a.available)
            col = columns.get(cid)
            if col is None:
                col = columns[cid] = Column(cid, label, a.registry_name, a.version, a.available, a)
            elif a.available and not col.available:  # a shard where it ran beats one where it did not
                col.available, col.version, col.info = True, a.version, a
            if str(res.path) not in col.sources:
                col.sources.append(str(res.path))
    return inputs, columns


def _records(parsed, column_id, columns: dict[str, Column], notes: list[str]) -> dict:
    """(column id, surface, case) -> Record; a column a record names without an adapter line is added."""
    records: dict = {}
    duplicates = 0
    for res in parsed:
        for r in res.records:
            label = r.adapter
            cid = column_id(label, r.version, r.ran)
            if cid not in columns:  # a record without an adapter line (hand-made file)
                columns[cid] = Column(cid, label, label, r.version, r.ran)
            col = columns[cid]
            if not r.ran and col.available:
                continue  # this shard could not run the adapter; another could
            key = (cid, r.surface, r.case)
            if key in records:
                duplicates += 1
            records[key] = r
    if duplicates:
        notes.append(f"{duplicates} record(s) appear in more than one input; the last one read is used")
    return records


def input_problems(inputs, golden_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """(partial, mismatched): why a report of `inputs` (results.Results) would mislead, as `kl-compat diff`
    judges its two inputs. Partial: a run that did not end normally (cases are missing). Mismatched: inputs
    judged against different goldens, or against other goldens than this kl_compat's (the report's
    reproducers and case lists come from the current goldens). `report` refuses either unless allowed."""
    partial = [f"{res.path} is partial: its run did not end normally (killed or failed), so cases are missing"
               for res in inputs if res.truncated]
    now = golden.manifest_digest(golden.read_manifest(Path(golden_dir or golden.default_dir())))
    by_digest: dict[str, list[str]] = {}
    for res in inputs:
        if res.run.goldens:
            by_digest.setdefault(res.run.goldens, []).append(str(res.path))
    mismatched = []
    if len(by_digest) > 1:
        mismatched.append("the inputs were judged against different goldens ("
                          + "; ".join(f"{', '.join(paths)}: {g[:12]}" for g, paths in by_digest.items())
                          + "): the spec or the matrix changed between them")
    for g, paths in by_digest.items():
        if g != now:
            mismatched.append(f"{', '.join(paths)} {'was' if len(paths) == 1 else 'were'} judged against other "
                              f"goldens ({g[:12]}) than this kl_compat's ({now[:12]}): the spec or the matrix "
                              "changed since")
    return partial, mismatched


# ---- re-judging known differences ---------------------------------------------------------------------

def mark_known(loaded: Loaded, known_path) -> tuple[tuple, dict]:
    """Set each difference's `known` (an entry id, or None) from the known-differences file(s) (a path, a
    list of paths, or None for the package's); returns (entries, entry id -> entry)."""
    entries = known.load(known_path)
    for key, r in loaded.records.items():
        col = loaded.columns[key[0]]
        loaded.records[key] = known.explained(entries, r, name=col.name, version=col.version)
    return entries, {e.id: e for e in entries}


def known_problems(loaded: Loaded, entries) -> list[str]:
    """Stale and fixed entries, judged only on columns (adapter name and version) that ran every case."""
    total = max((i["run"].cases or 0 for i in loaded.inputs), default=0)
    per_column: dict[str, set] = {}
    for (cid, _surface, case), r in loaded.records.items():
        if r.ran:
            per_column.setdefault(cid, set()).add(case)
    ran: dict[str, set] = {}
    for cid, cases in per_column.items():
        if total and len(cases) >= total:
            col = loaded.columns[cid]
            ran.setdefault(col.name, set()).add(col.version)
    if not ran:
        return []
    keyed = [replace(r, adapter=cid) for (cid, _s, _c), r in loaded.records.items()]
    names = {cid: c.name for cid, c in loaded.columns.items()}
    versions = {cid: c.version for cid, c in loaded.columns.items()}
    return [str(p) for p in known.problems(entries, keyed, names=names, ran=ran, versions=versions)]


# ---- summary, matrix, findings ------------------------------------------------------------------------

def is_new(r: Record) -> bool:
    return bool(r.new)


def summary(loaded: Loaded) -> list[dict]:
    rows: dict = {}
    for (cid, surface, _case), r in loaded.records.items():
        if not r.ran:
            continue
        row = rows.setdefault((cid, surface), {"column": cid, "surface": surface, **{k: 0 for k in SUMMARY_FIELDS}})
        row["run"] += 1
        s = r.status
        if s == DIFFERS:
            row["differs_new" if is_new(r) else "differs_known"] += 1
        elif s in row:
            row[s] += 1
            if s == ERROR and is_new(r):
                row["error_new"] += 1
    order = list(loaded.columns)
    return sorted(rows.values(), key=lambda x: (order.index(x["column"]), x["surface"]))


def matrix(loaded: Loaded) -> dict:
    """Difference kinds x (column, surface): per cell, the cases showing that kind, known or new."""
    cells: dict = {}
    for (cid, surface, case), r in loaded.records.items():
        if not r.ran:
            continue
        for kind in compare.KINDS:
            ds = [d for d in r.differences if d.kind == kind]
            key = (cid, surface, kind)
            cell = cells.setdefault(key, {"column": cid, "surface": surface, "kind": kind, "known": 0, "new": 0,
                                          "cases": []})
            if not ds:
                continue
            new = any(d.known is None for d in ds)
            cell["new" if new else "known"] += 1
            cell["cases"].append({"case": case, "status": r.status, "new": new, "message": ds[0].message})
    order = list(loaded.columns)
    kinds = list(compare.KINDS)
    out = sorted(cells.values(), key=lambda c: (kinds.index(c["kind"]), order.index(c["column"]), c["surface"]))
    for c in out:
        c["cases"].sort(key=lambda x: x["case"])
    return {"kinds": [{"kind": k, "description": v} for k, v in compare.KINDS.items()], "cells": out}


def _family(case: str) -> str:
    return "/".join(case.split("/")[:2])


def _short_id(*parts) -> str:
    return hashlib.sha1("\x00".join(map(str, parts)).encode()).hexdigest()[:8]


def findings(loaded: Loaded, by_id: dict) -> list[dict]:
    """The distinct differences; `by_id` maps an entry id to its known-differences entry (mark_known)."""
    groups: dict = {}
    for (cid, surface, case), r in loaded.records.items():
        if not r.ran:
            continue
        for d in r.differences:
            entry = by_id.get(d.known) if d.known is not None else None
            key: tuple[str, ...]
            if d.known is not None:
                key = (cid, "known", d.known)
            else:
                key = (cid, "new", d.kind, _family(case))
            g = groups.get(key)
            if g is None:
                g = groups[key] = _finding(cid, key, entry, case, d.known)
            _add_to_finding(g, r, d, surface, case)
    out = list(groups.values())
    order = list(loaded.columns)
    kind_order = list(compare.KINDS)
    for g in out:
        g["kinds"].sort(key=kind_order.index)
        g["surfaces"].sort()
        g["count"] = len(g["cases"])
        g["examples"] = [dict(g["messages"][k], kind=k) for k in g["kinds"]]
        del g["messages"]
        g["title"] = _title(g)
    # New findings first (they need attention), then by column, then the largest first.
    out.sort(key=lambda g: (g["known"], order.index(g["column"]), -g["count"], g["id"]))
    return out


def _finding(cid: str, key: tuple, entry, case: str, entry_id: str | None) -> dict:
    # A known finding's id hashes its entry's reason (as it always has), so its anchor outlives renumbering.
    hashed = (cid, "known", entry.reason) if entry is not None else key
    return {
        "id": f"{cid}-{_short_id(*hashed)}", "column": cid, "known": entry_id is not None,
        "reason": entry.reason if entry else entry_id, "link": entry.link if entry else None,
        "advice": entry.advice if entry else None, "advice_code": dict(entry.advice_code) if entry else {},
        "entry": entry.index if entry else None, "entry_id": entry_id,
        "family": None if entry_id is not None else _family(case),
        "kinds": [], "surfaces": [], "cases": [], "messages": {}, "conventions": [], "reproducer": None,
    }


def _add_to_finding(g: dict, r: Record, d, surface: str, case: str) -> None:
    if d.kind not in g["kinds"]:
        g["kinds"].append(d.kind)
    if surface not in g["surfaces"]:
        g["surfaces"].append(surface)
    item = {"case": case, "surface": surface, "status": r.status}
    if not g["cases"] or g["cases"][-1] != item:
        g["cases"].append(item)
    g["messages"].setdefault(d.kind, {"case": case, "surface": surface, "message": d.message, "where": d.where})
    if d.kind in ("value", "nan-inf") and r.convention and r.convention not in g["conventions"]:
        g["conventions"].append(r.convention)


def _title(g: dict) -> str:
    if not g["known"]:
        return f"new {'/'.join(g['kinds'])} difference in {g['family']}"
    first = " ".join(g["reason"].split())
    for stop in (". ", "; ", ": "):
        if stop in first[:150]:
            first = first[:first.index(stop)]
            break
    return first if len(first) <= 150 else first[:147] + "..."


def representative(finding: dict, goldens_by_id: dict | None = None) -> dict:
    """The record a finding's reproducer starts from: functional first, then the smallest input."""
    def size(item):
        c = goldens_by_id.get(item["case"]) if goldens_by_id else None
        return c.input.size + c.target.size if c is not None else 10**9
    def plain_dtypes(item):  # float32/float64 cases: no dtype-specific behaviour gets in the way
        c = goldens_by_id.get(item["case"]) if goldens_by_id else None
        return c is not None and {c.input_dtype, c.target_dtype} <= {"float32", "float64"}

    first = ("functional", "nnf_kl_div")  # the function, not the module, where there is one
    return min(finding["cases"], key=lambda it: (it["surface"] not in first, not plain_dtypes(it), size(it) == 0,
                                                 size(it), it["case"]))


# ---- run information ----------------------------------------------------------------------------------

def r_version() -> str | None:
    """R's version on this machine (R torch runs in R), or None when R is not installed."""
    exe = shutil.which("R")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.splitlines()[0] if out else ""
    return first.removeprefix("R version ").strip() or None


def shown_path(path: Path) -> str:
    """A path as reports show it: relative to the current directory when inside it (reports are committed)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _known_files(known_path) -> dict:
    """{path, sha256} of the known-differences file; given several, the first's, and all under "files"."""
    paths = [Path(p) for p in known_path] if isinstance(known_path, (list, tuple)) else [Path(known_path)]
    files = [{"path": shown_path(p), "sha256": sha256_file(p)} for p in paths]
    return dict(files[0], files=files) if len(files) > 1 else files[0]


def run_info(loaded: Loaded, known_path, claims_path: Path, golden_dir: Path | None) -> dict:
    goldens_now = golden.manifest_digest(golden.read_manifest(Path(golden_dir or golden.default_dir())))
    in_results = sorted({i["run"].goldens for i in loaded.inputs if i["run"].goldens})
    return {
        "kl_compat": __version__,
        "goldens": goldens_now,
        "goldens_in_results": in_results,
        "known_differences": _known_files(known_path),
        "claims": {"path": shown_path(claims_path), "sha256": sha256_file(claims_path)},
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
                    "r": r_version()},
        "inputs": [{"path": shown_path(i["path"]), "sha256": i["sha256"], "truncated": i["truncated"],
                    **{k: getattr(i["run"], k) for k in ("kl_compat", "started", "python", "numpy", "platform",
                                                          "goldens", "cases", "selected", "shard", "patterns", "argv")},
                    "finished": i["end"].finished if i["end"] is not None else None} for i in loaded.inputs],
    }


def column_dict(col: Column) -> dict:
    i = col.info or AdapterLine(col.label, col.available)
    return {"id": col.id, "label": col.label, "name": col.name, "version": col.version, "available": col.available,
            "framework": i.framework, "python": i.python, "numpy": i.numpy, "platform": i.platform,
            "r": i.runtime.get("r") or i.runtime.get("r_version"), "libtorch": i.runtime.get("libtorch"),
            "executable": i.executable, "environment": i.environment, "surfaces": i.surfaces or [],
            "reason": i.reason, "hint": i.hint, "sources": col.sources}


def records_dict(loaded: Loaded) -> list[dict]:
    """Per column and surface, each case's status and difference kinds (what `kl-compat diff` reads)."""
    out: dict = {}
    for (cid, surface, case), r in sorted(loaded.records.items()):
        if not r.ran:
            continue
        col = loaded.columns[cid]
        block = out.setdefault((cid, surface), {"column": cid, "name": col.name, "version": col.version,
                                               "surface": surface, "cases": {}})
        item: dict = {"status": r.status}
        kinds, new = r.kinds(), r.kinds(new_only=True)
        if kinds:
            item["kinds"] = kinds
        if new:
            item["new"] = new
        block["cases"][case] = item
    return list(out.values())
