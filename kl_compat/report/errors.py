"""The errors table: for every kind of call the spec raises on, what each framework version does instead
or too, by exception type, and whether a handler for the spec's exception catches it.

A user porting `except ValueError:` needs to know, per framework, which exception a bad call really
raises: the differences list says where the kind differs ("error-type"), this table shows every error
case's outcome, matching or not. One row per rule the call breaks first (kl_compat.spec.broken_rule) and
the spec's exception class; one cell per column: [{outcome, caught, count}], most frequent first, where
outcome is the exception's type (R: its class vector), "value" (returned one) or "unsupported: ARG".
"""

from __future__ import annotations

from collections import Counter

from .. import compare, spec
from ..record import OBSERVED_OK, OBSERVED_RAISED, UNSUPPORTED

# What breaking each rule means, in a reader's words (the spec's exception class completes the row).
_WHAT = {("S8", "ValueError"): "a reduction that is not one of the four names",
         ("S8", "TypeError"): "a reduction that is not a string",
         ("S7", "TypeError"): "an integer (or bool) input or target",
         ("S6", "ValueError"): "input and target shapes that differ"}


def table(records: dict, columns: list[dict], goldens) -> list[dict]:
    """The rows, from the report's records ({(column, surface, case): Record}) and the golden cases."""
    rows: dict[tuple[str, str], dict] = {}
    key_of: dict[str, tuple[str, str]] = {}
    for case in goldens:
        exp = case.expects
        if exp.outcome != "error":
            continue
        key = (spec.broken_rule(case.call, case.input_dtype, case.target_dtype), str(exp.error))
        key_of[case.id] = key
        row = rows.setdefault(key, {"rule": key[0], "expected": key[1], "what": _WHAT.get(key, key[0]),
                                    "cases": 0, "columns": {}})
        row["cases"] += 1
    counts: dict[tuple, Counter] = {}
    for (cid, _surface, case), r in records.items():
        if case in key_of and r.ran:
            counts.setdefault((key_of[case], cid), Counter())[_outcome(r, key_of[case][1])] += 1
    for (key, cid), counter in counts.items():
        rows[key]["columns"][cid] = [{"outcome": o, "caught": caught, "count": n}
                                     for (o, caught), n in sorted(counter.items(), key=lambda x: (-x[1], x[0]))]
    order = [c["id"] for c in columns]
    for row in rows.values():
        row["columns"] = {c: row["columns"][c] for c in order if c in row["columns"]}
    return sorted(rows.values(), key=lambda r: (r["rule"], r["expected"]))


def _outcome(r, expected: str) -> tuple[str, bool]:
    """(what the record observed, whether a handler for `expected` catches it)."""
    o = r.observed
    if r.status == UNSUPPORTED or (o is not None and o.status == UNSUPPORTED):
        return f"unsupported: {o.unsupported if o is not None else '?'}", False
    if o is None:
        return r.status, False
    if o.status == OBSERVED_RAISED:
        return str((o.error or {}).get("type")), compare.caught_by(o.error, expected)
    if o.status == OBSERVED_OK:
        return "value", False
    return o.status, False


def cell_text(items: list[dict]) -> str:
    """A cell in words: `RuntimeError ×16 (not caught)`, `ValueError ×8`, `value ×4`."""
    parts = []
    for it in items:
        note = "" if it["caught"] or not _is_exception(it["outcome"]) else " (not caught)"
        parts.append(f"{it['outcome']} ×{it['count']}{note}")
    return "; ".join(parts)


def _is_exception(outcome: str) -> bool:
    return outcome != "value" and not outcome.startswith("unsupported:") and outcome not in ("crashed", "timeout")
