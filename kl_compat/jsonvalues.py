"""Values as JSON writes them: arrays as nested lists, NumPy scalars as Python numbers, and the
non-finite floats, which JSON has no numbers for, as the strings "nan", "inf" and "-inf"; and those
values read back as numbers."""

from __future__ import annotations

import math

import numpy as np

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def jsonable(v):
    """Arrays and floats as JSON, non-finite floats as strings."""
    if isinstance(v, np.ndarray):
        if v.dtype.kind != "f" or np.isfinite(v).all():
            return v.tolist()
        named = v.astype(object)  # whole-array steps: element by element costs ~2 µs an element
        named[np.isnan(v)], named[v == np.inf], named[v == -np.inf] = "nan", "inf", "-inf"
        return named.tolist()
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if np.isfinite(f) else ("nan" if np.isnan(f) else ("inf" if f > 0 else "-inf"))
    if isinstance(v, np.integer):
        return int(v)
    return v


def numbers(v):
    """A value as JSON holds it (nested lists, non-finite floats as "nan", "inf", "-inf") with those
    strings turned back into floats, so that it prints as nan, inf, -inf. Other values are kept."""
    if isinstance(v, list):
        return [numbers(x) for x in v]
    if isinstance(v, str) and v in _NON_FINITE:
        return _NON_FINITE[v]
    return v
