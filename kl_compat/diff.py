"""`kl-compat diff OLD NEW`: what changed between two runs, the table test262 runners post on pull requests.

OLD and NEW are results files (.jsonl) or JSON reports (report.json, which keep every record's status
and difference kinds). Records are compared by (adapter, surface, case), where "adapter" is the adapter's
NAME (record["adapter"] as registered: "paddle"), so a framework upgrade diffs as one column:
Paddle 2.6.2 in OLD against Paddle 3.3.1 in NEW. The versions are printed at the top as context.
With --by-label, records are keyed by the report column instead ("paddle@2.6.2"), which suits files
that hold several versions side by side ("versions as columns"). An adapter name that either file holds at
several versions is keyed by column automatically, on both sides, since the name alone would be ambiguous:
"paddle@3.3.1" then diffs against "paddle@3.3.1", and a version present on one side only is "not compared".

Per record present in both:
  fixed    was differs / error / crashed / timeout, now match
  broken   was match or unsupported, now differs / error / crashed / timeout; or was match, now
           unsupported (an argument went away); or still failing with a difference kind it did not have
  changed  any other change of status or kinds (kinds that went away, error <-> differs, ...)
Cases only in NEW are "new", cases only in OLD "removed"; an adapter that did not run on one side is
"not compared" (an absent framework proves nothing).

Accuracy, per framework (as records are keyed), dtype, reduction and measure (ulp: max_ulp; cond:
max_cond, the error relative to eps * sum|terms|; grad_ulp: grad_max_ulp; kl_compat/report/accuracy.py): "worse" when NEW's 99th
percentile is more than WORSE_FACTOR times OLD's, OLD's counted as at least WORSE_FLOOR (so 0 -> 0.5 ulp,
one rounding, is not worse; 0 -> 3 is). Worse accuracy is listed on its own, apart from broken verdicts:
a slower-converging sum is not a wrong answer. It changes the exit status only with --fail-on-worse.

A broken record whose new differences are all explained by the known-differences file NEW was judged
with is marked [known] (a framework upgrade is often such: Paddle 3 accepts log_target, and those cases
now run into Paddle's known float16 gap instead of being unsupported).

OLD and NEW must be comparable: a partial input (a run that did not end normally, e.g. a
`*.partial.jsonl` file) is refused unless --allow-partial, and inputs judged against different goldens,
matrix sizes or selections of cases (another --cases or --shard) unless --allow-mismatch; either way the
problem is said on stderr.

Exit status: 1 when something broke (with --ignore-known: something broke that NEW's known-differences
file does not explain), or with --fail-on-worse when accuracy got worse; 2 for unreadable, malformed, partial or mismatched inputs (see above); 4 when NEW
holds no records that could be compared (never green on empty); else 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import KlCompatError
from .exitcode import ExitCode
from .record import BAD, MATCH, UNSUPPORTED

CATEGORIES = ("broken", "fixed", "changed", "new", "removed")
WORSE_FACTOR = 2.0  # p99 more than doubled
WORSE_FLOOR = 1.0  # an OLD p99 under one unit counts as one: rounding noise is not a regression
# What an input's run line says about what it checked (results file run line; report.json run_info.inputs).
_RUN_KEYS = ("truncated", "goldens", "cases", "selected", "shard", "patterns")


class DiffError(KlCompatError):
    pass


@dataclass
class Snapshot:
    path: str
    columns: dict  # column id -> {"name", "version", "available", "reason"}
    records: dict  # (column id, surface, case) -> (status, tuple of kinds, tuple of unexplained kinds)
    notes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # per results file read: {path, truncated, goldens, cases, ...}
    accuracy: dict = field(default_factory=dict)  # (column id, dtype, reduction, measure) -> {"n", "p99"}


def load(path) -> Snapshot:
    path = Path(path)
    if not path.exists():
        raise DiffError(f"{path}: no such file")
    if path.is_dir():
        raise DiffError(f"{path}: is a directory; give a results file (.jsonl) or a report.json")
    if path.suffix == ".json":
        from .report import json_report

        try:
            m = json_report.read(path)
        except json_report.ReportJSONError as e:
            raise DiffError(str(e)) from None
        try:
            columns = {c["id"]: {"name": c["name"], "version": c.get("version"), "available": c["available"],
                                 "reason": c.get("reason")} for c in m["columns"]}
            records = {}
            for block in m["records"]:
                for case, item in block["cases"].items():
                    records[(block["column"], block["surface"], case)] = (
                        str(item["status"]), tuple(item.get("kinds", ())), tuple(item.get("new", ())))
            inputs = [{"path": i.get("path"), **{k: i.get(k) for k in _RUN_KEYS}}
                      for i in (m.get("run_info") or {}).get("inputs") or []]
            acc = {(r["column"], r["dtype"], r["reduction"], r["measure"]): {"n": r["n"], "p99": float(r["p99"])}
                   for r in m.get("accuracy_by_reduction") or []}
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise DiffError(f"{path}: a malformed kl-compat report ({type(e).__name__}: {e})") from None
        return Snapshot(str(path), columns, records, inputs=inputs, accuracy=acc)
    from .report import model

    try:
        loaded = model.load([path])
    except model.ReportError as e:
        raise DiffError(str(e)) from None
    columns = {c.id: {"name": c.name, "version": c.version, "available": c.available,
                      "reason": c.info.reason if c.info else None} for c in loaded.columns.values()}
    records = {key: (r.status, tuple(r.kinds()), tuple(r.kinds(new_only=True)))
               for key, r in loaded.records.items() if r.ran}
    inputs = [{"path": i["path"], "truncated": i["truncated"], **{k: getattr(i["run"], k) for k in _RUN_KEYS[1:]}}
              for i in loaded.inputs]
    return Snapshot(str(path), columns, records, list(loaded.notes), inputs, _accuracy(loaded.records))


def _accuracy(records: dict) -> dict:
    """(column id, dtype, reduction, measure) -> {"n", "p99"} of the records that ran."""
    from .report import accuracy

    groups = accuracy.grouped((cid, case, r) for (cid, _surface, case), r in records.items() if r.ran)
    return {k: {"n": len(v), "p99": accuracy.quantile(sorted(v), 0.99)} for k, v in groups.items()}


def worse(old: Snapshot, new: Snapshot, ko: dict, kn: dict, comparable: set) -> list[dict]:
    """The accuracy groups whose p99 grew past WORSE_FACTOR times OLD's (floored at WORSE_FLOOR), in order."""
    before = {(ko[c], d, r, m): v for (c, d, r, m), v in old.accuracy.items() if c in ko}
    out = []
    for (c, d, r, m), v in sorted(new.accuracy.items()):
        key = (kn.get(c), d, r, m)
        was = before.get(key)
        if key[0] not in comparable or was is None:
            continue
        if v["p99"] > WORSE_FACTOR * max(was["p99"], WORSE_FLOOR):
            out.append({"adapter": key[0], "dtype": d, "reduction": r, "measure": m, "old_p99": was["p99"],
                        "new_p99": v["p99"], "old_n": was["n"], "new_n": v["n"]})
    return out


def problems(old: Snapshot, new: Snapshot) -> tuple[list[str], list[str]]:
    """(partial, mismatched): why OLD and NEW may not be fairly compared. Partial: an input whose run did
    not end normally. Mismatched: other goldens, another matrix size, another selection of cases."""
    partial, mismatched = [], []
    for side, snap in (("OLD", old), ("NEW", new)):
        for i in snap.inputs:
            if i.get("truncated"):
                partial.append(f"{side} {i.get('path') or snap.path} is partial: its run did not end normally "
                               "(killed or failed), so cases are missing")

    def values(snap, key):
        return sorted({json.dumps(i.get(key), sort_keys=True) for i in snap.inputs if i.get(key) is not None})

    goldens = values(old, "goldens"), values(new, "goldens")
    if all(goldens) and goldens[0] != goldens[1]:
        mismatched.append(f"OLD and NEW were judged against different goldens (OLD {', '.join(g[1:13] for g in goldens[0])}, "
                          f"NEW {', '.join(g[1:13] for g in goldens[1])}): the spec or the matrix changed between them")
    cases = values(old, "cases"), values(new, "cases")
    if all(cases) and cases[0] != cases[1]:
        mismatched.append(f"OLD's matrix holds {' / '.join(cases[0])} cases, NEW's {' / '.join(cases[1])}")

    def selection(snap):
        return sorted({_selection(i) for i in snap.inputs if i.get("selected") is not None})

    sel = selection(old), selection(new)
    if all(sel) and sel[0] != sel[1]:
        mismatched.append(f"OLD ran {'; '.join(sel[0])}, NEW ran {'; '.join(sel[1])}: cases only on one side "
                          "show as new or removed")
    return partial, mismatched


def _selection(i: dict) -> str:
    how = []
    if i.get("patterns"):
        how.append("--cases " + " ".join(i["patterns"]))
    if i.get("shard"):
        how.append(f"shard {i['shard'][0]}/{i['shard'][1]}")
    return f"{i.get('selected')} case(s)" + (f" ({', '.join(how)})" if how else "")


def _ambiguous(*snaps: Snapshot) -> tuple[set, list]:
    """Adapter names that some file holds at several versions (as columns): those are keyed by column."""
    out, notes = set(), []
    for snap in snaps:
        names: dict = {}
        for cid, c in snap.columns.items():
            if c["available"]:
                names.setdefault(c["name"], []).append(cid)
        for name, cids in names.items():
            if len(cids) > 1:
                out.add(name)
                notes.append(f"{snap.path} holds {name} at several versions ({', '.join(cids)}): keyed by column")
    return out, notes


def _keys(snap: Snapshot, by_label: bool, ambiguous: set) -> dict:
    """column id -> the key it is compared under."""
    return {cid: cid if by_label or c["name"] in ambiguous else c["name"] for cid, c in snap.columns.items()}


def classify(old: tuple, new: tuple) -> str | None:
    (s0, k0), (s1, k1) = old[:2], new[:2]
    if s0 == s1 and set(k0) == set(k1):
        return None
    if s0 in BAD and s1 == MATCH:
        return "fixed"
    if s0 in (MATCH, UNSUPPORTED) and s1 in BAD:
        return "broken"
    if s0 == MATCH and s1 == UNSUPPORTED:
        return "broken"
    if s0 in BAD and s1 in BAD and set(k1) - set(k0):
        return "broken"
    return "changed"


def diff(old: Snapshot, new: Snapshot, by_label: bool = False) -> dict:
    ambiguous, notes = _ambiguous(old, new)
    ko, kn = _keys(old, by_label, ambiguous), _keys(new, by_label, ambiguous)
    cols: dict = {}
    for side, snap, keys in (("old", old, ko), ("new", new, kn)):
        for cid, c in snap.columns.items():
            entry = cols.setdefault(keys[cid], {"key": keys[cid], "old": None, "new": None})
            if entry[side] is None or c["available"]:
                entry[side] = {"column": cid, **c}
    comparable = {k for k, e in cols.items() if e["old"] and e["new"] and e["old"]["available"] and e["new"]["available"]}
    ro = {(ko[c], s, case): v for (c, s, case), v in old.records.items()}
    rn = {(kn[c], s, case): v for (c, s, case), v in new.records.items()}
    rows: dict[str, list[dict]] = {c: [] for c in CATEGORIES}
    for key in sorted(set(ro) | set(rn)):
        if key[0] not in comparable:
            continue
        a, b = ro.get(key), rn.get(key)
        if a is None:
            if b is not None:  # (always: the key is one of theirs)
                rows["new"].append({"adapter": key[0], "surface": key[1], "case": key[2], "new": _state(b)})
            continue
        if b is None:
            rows["removed"].append({"adapter": key[0], "surface": key[1], "case": key[2], "old": _state(a)})
            continue
        cat = classify(a, b)
        if cat:
            rows[cat].append({"adapter": key[0], "surface": key[1], "case": key[2], "old": _state(a), "new": _state(b),
                              "explained": not b[2]})
    counts: dict = {}
    for cat, items in rows.items():
        for it in items:
            c = counts.setdefault(f"{it['adapter']}.{it['surface']}", {k: 0 for k in CATEGORIES})
            c[cat] += 1
    context = []
    for key, e in sorted(cols.items()):
        o, n = e["old"], e["new"]
        if key in comparable:
            vo, vn = o.get("version"), n.get("version")
            context.append(f"{key}: {vo} -> {vn}" if vo != vn else f"{key}: {vn} (same version)")
        else:
            why = [f"not in {side.upper()}" if not x else
                   f"not run in {side.upper()}" + (f" ({x['reason']})" if x.get("reason") else "")
                   for side, x in (("old", o), ("new", n)) if not x or not x["available"]]
            context.append(f"{key}: not compared: {'; '.join(why)}")
    return {"old": old.path, "new": new.path, "by_label": by_label, "context": context,
            "notes": old.notes + new.notes + notes, "counts": counts, "rows": rows,
            "worse": worse(old, new, ko, kn, comparable),
            "empty": not rn,
            "broke": bool(rows["broken"]),
            "broke_unexplained": any(not r["explained"] for r in rows["broken"])}


def _state(v: tuple) -> str:
    status, kinds = v[:2]
    return f"{status} ({', '.join(kinds)})" if kinds else status


def render_text(d: dict, limit: int = 50) -> str:
    out = [f"kl-compat diff {d['old']} -> {d['new']}"]
    out += [f"  {c}" for c in d["context"]]
    out += [f"  note: {n}" for n in d["notes"]]
    out.append("")
    width = max([len(k) for k in d["counts"]] + [16])
    out.append(f"{'adapter.surface':<{width}}  " + "  ".join(f"{c:>7}" for c in CATEGORIES))
    for k, c in sorted(d["counts"].items()):
        out.append(f"{k:<{width}}  " + "  ".join(f"{c[cat]:>7}" for cat in CATEGORIES))
    if not d["counts"]:
        out.append("(no differences between the two)")
    for cat, title in (("broken", "Broken"), ("fixed", "Fixed"), ("changed", "Changed"), ("new", "New cases"),
                       ("removed", "Removed cases")):
        items = d["rows"][cat]
        if not items:
            continue
        explained = sum(bool(it.get("explained")) for it in items) if cat == "broken" else 0
        note = f"; {explained} of them explained by NEW's known-differences entries, marked [known]" if explained else ""
        out += ["", f"{title} ({len(items)}{note}):"]
        for it in items[:limit]:
            change = f"{it['old']} -> {it['new']}" if "old" in it and "new" in it else it.get("new") or it.get("old")
            mark = " [known]" if cat == "broken" and it.get("explained") else ""
            out.append(f"  {it['adapter']}.{it['surface']} {it['case']}: {change}{mark}")
        if len(items) > limit:
            out.append(f"  ... and {len(items) - limit} more")
    if d["worse"]:
        out += ["", f"Worse accuracy ({len(d['worse'])}; p99 more than {WORSE_FACTOR:g}x OLD's, verdicts unchanged):"]
        out += [f"  {_worse_line(w)}" for w in d["worse"][:limit]]
        if len(d["worse"]) > limit:
            out.append(f"  ... and {len(d['worse']) - limit} more")
    out.append("")
    if d["empty"]:
        out.append("NEW holds no records that could be compared (never green on empty).")
    out.append(f"{len(d['rows']['broken'])} broken, {len(d['rows']['fixed'])} fixed, "
               f"{len(d['rows']['changed'])} changed, {len(d['worse'])} worse accuracy")
    return "\n".join(out) + "\n"


_MEASURE_UNITS = {"ulp": "ulp", "cond": "x eps*sum|terms|", "grad_ulp": "ulp (gradients)"}


def _worse_line(w: dict) -> str:
    unit = _MEASURE_UNITS.get(w["measure"], w["measure"])
    return (f"{w['adapter']} {w['dtype']} {w['reduction']} ({w['measure']}): p99 {w['old_p99']:.3g} -> "
            f"{w['new_p99']:.3g} {unit} ({w['old_n']} -> {w['new_n']} records)")


def render_markdown(d: dict, limit: int = 50) -> str:
    """The diff as a pull-request comment. Everything from the inputs (paths, adapter names and versions,
    surfaces, case ids, statuses, kinds) is escaped (report.markdown's text and code): it shows as its
    characters and nothing else, never as HTML, a link or a broken table row."""
    from .text import code, text

    out = ["### kl-compat diff", "", f"{code(d['old'], table=False)} → {code(d['new'], table=False)}", ""]
    out += [f"- {text(c)}" for c in d["context"]] + [f"- note: {text(n)}" for n in d["notes"]] + [""]
    out += ["| adapter.surface | " + " | ".join(CATEGORIES) + " |", "|---|" + "--:|" * len(CATEGORIES)]
    for k, c in sorted(d["counts"].items()):
        out.append(f"| {text(k)} | " + " | ".join(text(c[cat]) for cat in CATEGORIES) + " |")
    for cat in ("broken", "fixed", "changed"):
        items = d["rows"][cat]
        if items:
            out += ["", f"<details><summary>{cat} ({len(items)})</summary>", ""]
            out += [f"- {code(str(it['adapter']) + '.' + str(it['surface']), table=False)} "
                    f"{code(it['case'], table=False)}: {text(it['old'])} → {text(it['new'])}" for it in items[:limit]]
            if len(items) > limit:
                out.append(f"- ... and {len(items) - limit} more")
            out += ["", "</details>"]
    if d["worse"]:
        out += ["", f"<details><summary>worse accuracy ({len(d['worse'])})</summary>", ""]
        out += [f"- {text(_worse_line(w))}" for w in d["worse"][:limit]]
        if len(d["worse"]) > limit:
            out.append(f"- ... and {len(d['worse']) - limit} more")
        out += ["", "</details>"]
    return "\n".join(out) + "\n"


def command(args) -> int:
    import sys

    from .results import refuse_or_warn

    old, new = load(args.old), load(args.new)
    partial, mismatched = problems(old, new)
    refuse_or_warn("kl-compat diff", "diff", partial, mismatched, args.allow_partial, args.allow_mismatch, DiffError)
    d = diff(old, new, by_label=args.by_label)
    d["notes"] += partial + mismatched
    if args.format == "json":
        print(json.dumps(d, indent=1))
    elif args.format == "markdown":
        print(render_markdown(d, args.limit), end="")
    else:
        print(render_text(d, args.limit), end="")
    if d["empty"]:
        print("kl-compat diff: error: nothing was compared: NEW holds no records that could be compared "
              "(never green on empty)", file=sys.stderr)
        return ExitCode.NOTHING_CHECKED
    broke = d["broke_unexplained"] if args.ignore_known else d["broke"]
    return ExitCode.FAILED if broke or (getattr(args, "fail_on_worse", False) and d["worse"]) else ExitCode.OK
