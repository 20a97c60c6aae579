"""How close each framework comes to the spec where it returns a value, summarised per column as the
median, the 99th percentile and the maximum of the records' worst errors. Two measures
(kl_compat/tolerance.py defines them):

  ulp   max_ulp: the error in ULPs of the correctly rounded golden;
  cond  max_cond: the error relative to the operation's condition, |result - golden| / (eps * sum|terms|)
        for a reduction (per element |term| for 'none'): what a summation algorithm can be held to.
  grad_ulp  grad_max_ulp: either gradient's worst error in ULPs of its dtype (gradients are elementwise:
        relative to their own size, this is their condition-relative error too).

`summary` is report.json's `accuracy` (max_ulp per column and dtype, as before); `by_reduction` is its
`accuracy_by_reduction` (both measures per column, dtype and reduction), drawn by plots.accuracy_svg and
compared run against run by `kl-compat diff` (`worse`)."""

from __future__ import annotations

import math

from .heatmap import facets

DTYPES = ("float16", "bfloat16", "float32", "float64")
MIXED = "mixed"  # cases whose input and target dtypes differ
REDUCTIONS = ("none", "sum", "mean", "batchmean")
OTHER = "other"  # legacy arguments and the like: a reduction the case id names in another way
MEASURES = {"ulp": "max_ulp", "cond": "max_cond", "grad_ulp": "grad_max_ulp"}


def dtype_row(case: str) -> str | None:
    d = facets(case)[1]
    if d in DTYPES:
        return d
    return MIXED if "-" in d and "int" not in d else None


def reduction_of(case: str) -> str:
    parts = case.split("/")
    r = parts[4] if len(parts) > 4 else ""
    return r if r in REDUCTIONS else OTHER


def _measure(r, field: str):
    """A record's measure: a results-file dict or a typed Record; None when absent or not finite."""
    u = r.get(field) if isinstance(r, dict) else getattr(r, field, None)
    return float(u) if isinstance(u, (int, float)) and math.isfinite(u) else None


def summary(records: dict, columns: list[dict]) -> list[dict]:
    """[{column, dtype, n, median, p99, max}] from model records ((column, surface, case) -> kl_compat.record.Record),
    over every surface; records without a finite max_ulp (errors, nan outputs) are not counted."""
    values: dict[tuple[str, str], list[float]] = {}
    for (cid, _surface, case), r in records.items():
        u, row = _measure(r, "max_ulp"), dtype_row(case)
        if row is not None and u is not None:
            values.setdefault((cid, row), []).append(u)
    out = []
    for col in columns:
        for d in (*DTYPES, MIXED):
            vs = sorted(values.get((col["id"], d), []))
            if vs:
                out.append({"column": col["id"], "dtype": d, "n": len(vs), **stats(vs)})
    return out


def by_reduction(records: dict, columns: list[dict]) -> list[dict]:
    """[{column, dtype, reduction, measure ("ulp" | "cond" | "grad_ulp"), n, median, p99, max}], over every surface,
    in the columns' order, then dtype, reduction and measure; groups with no finite measure are left out."""
    values = grouped(((cid, case, r) for (cid, _surface, case), r in records.items()))
    out = []
    for col in columns:
        for d in (*DTYPES, MIXED):
            for red in (*REDUCTIONS, OTHER):
                for measure in MEASURES:
                    vs = sorted(values.get((col["id"], d, red, measure), []))
                    if vs:
                        out.append({"column": col["id"], "dtype": d, "reduction": red, "measure": measure,
                                    "n": len(vs), **stats(vs)})
    return out


def grouped(items) -> dict[tuple[str, str, str, str], list[float]]:
    """(column, dtype, reduction, measure) -> the finite measures of the records (column, case id, record)."""
    values: dict[tuple[str, str, str, str], list[float]] = {}
    for cid, case, r in items:
        row = dtype_row(case)
        if row is None:
            continue
        red = reduction_of(case)
        for measure, field in MEASURES.items():
            u = _measure(r, field)
            if u is not None:
                values.setdefault((cid, row, red, measure), []).append(u)
    return values


def stats(sorted_values: list[float]) -> dict:
    return {"median": quantile(sorted_values, 0.5), "p99": quantile(sorted_values, 0.99), "max": sorted_values[-1]}


def quantile(sorted_values: list[float], q: float) -> float:
    """The q-quantile, nearest rank (a value that occurred, as ULP counts are)."""
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[k]
