"""How close each framework comes to the spec where it returns a value: the records' `max_ulp` (the
worst finite error of a case's output, in ULPs of its dtype), summarised per column and dtype as the
median, the 99th percentile and the maximum. Added to the report as `accuracy` (report.json) and
drawn by plots.accuracy_svg."""

from __future__ import annotations

import math

from .heatmap import facets

DTYPES = ("float16", "bfloat16", "float32", "float64")
MIXED = "mixed"  # cases whose input and target dtypes differ


def dtype_row(case: str) -> str | None:
    d = facets(case)[1]
    if d in DTYPES:
        return d
    return MIXED if "-" in d and "int" not in d else None


def summary(records: dict, columns: list[dict]) -> list[dict]:
    """[{column, dtype, n, median, p99, max}] from model records ((column, surface, case) -> kl_compat.record.Record),
    over every surface; records without a finite max_ulp (errors, nan outputs) are not counted."""
    values: dict[tuple[str, str], list[float]] = {}
    for (cid, _surface, case), r in records.items():
        u = r.get("max_ulp") if isinstance(r, dict) else r.max_ulp  # a results-file dict, or a typed Record
        row = dtype_row(case)
        if row is None or not isinstance(u, (int, float)) or not math.isfinite(u):
            continue
        values.setdefault((cid, row), []).append(float(u))
    out = []
    for col in columns:
        for d in (*DTYPES, MIXED):
            vs = sorted(values.get((col["id"], d), []))
            if vs:
                out.append({"column": col["id"], "dtype": d, "n": len(vs), "median": _quantile(vs, 0.5),
                            "p99": _quantile(vs, 0.99), "max": vs[-1]})
    return out


def _quantile(sorted_values: list[float], q: float) -> float:
    """The q-quantile, nearest rank (a value that occurred, as ULP counts are)."""
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[k]
