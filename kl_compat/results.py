"""The results file: JSON Lines, one object a line, written as the run goes (schema "kl-compat-results/1").

Streaming means a run that is killed keeps the records judged up to a moment before (Writer flushes at
most every 0.2 s); a reader accepts a file whose last line was cut off and says so. Lines, by "type":

  run      first line. schema, kl_compat version, started (ISO 8601 UTC), argv, python, numpy,
           platform, goldens (manifest sha256), cases (how many the matrix holds), shard.
  adapter  one per adapter, before its records. adapter, available, framework, version, python,
           numpy, executable, environment (a named environment, or null), reason and hint when
           unavailable; what the adapter's runtime() reports among RUNTIME_FIELDS (r, libtorch) when
           it reports it. Shown to people as version_label() formats it.
  record   one per case x adapter x surface. case, group, adapter, surface, version, status
           (kl_compat.compare.STATUSES), differences [{kind, message, known}], max_ulp, convention,
           observed {status, shape, dtype, warnings [{category, message}], error {type, message},
           value (a list when at most 64 elements, else null), grad_input and grad_target
           {status, dtype, message}, seconds, detail, unsupported}.
  end      last line. finished, counts {adapter: {surface: {status: n}}}, known_problems (stale or
           fixed entries of the known-differences file), strict.
Non-finite numbers are written as the strings "nan", "inf" and "-inf" (JSON has no such numbers).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEMA = "kl-compat-results/1"
INLINE_VALUES = 64


class ResultsError(Exception):
    pass


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


# Fields of an adapter's runtime() that the adapter line carries when the runtime reports them: R's
# version, and the version of the libtorch a framework runs on where it is not its own (R torch).
RUNTIME_FIELDS = ("r", "libtorch")


def version_label(name, version, runtime: dict | None = None) -> str:
    """An adapter's version as people are shown it: "<name> <version>", then " on libtorch <libtorch>"
    when its runtime (runtime() fields: a worker's hello, an adapter line, a report column) names the
    libtorch it runs on, e.g. "torch (R) 0.17.0 on libtorch 2.13.0". `name` or `version` may be None
    (left out). `version` stays the bare version elsewhere: known-differences ranges match on it."""
    label = " ".join(str(p) for p in (name, version) if p)
    libtorch = (runtime or {}).get("libtorch")
    return f"{label} on libtorch {libtorch}".strip() if libtorch else label


def observed_summary(obs) -> dict:
    value = None
    if obs.value is not None and np.size(obs.value) <= INLINE_VALUES:
        value = jsonable(np.asarray(obs.value))
    grads = {}
    for name in ("grad_input", "grad_target"):
        g = getattr(obs, name)
        grads[name] = None if g is None else {"status": g.status, "dtype": g.dtype, "message": g.message}
    return {"status": obs.status, "shape": None if obs.shape is None else list(obs.shape), "dtype": obs.dtype,
            "warnings": obs.warnings, "error": obs.error, "value": value, **grads,
            "seconds": round(obs.seconds, 6), "detail": obs.detail, "unsupported": obs.unsupported}


_encode = json.JSONEncoder(allow_nan=False).encode  # (json.dumps would build an encoder per line)


class Writer:
    """Appends lines, flushing at most every FLUSH_SECONDS (a flush per line costs as much as judging a
    line): a run killed outright loses at most that long's lines; one that fails with an exception, or
    ends, loses none."""

    FLUSH_SECONDS = 0.2

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", encoding="utf-8")
        self._flushed = time.monotonic()

    def write(self, obj: dict) -> None:
        try:
            line = _encode(obj)
        except (ValueError, TypeError):  # non-finite floats or NumPy scalars: the slower, general route
            line = _encode(jsonable(obj))
        self._f.write(line + "\n")
        if time.monotonic() - self._flushed >= self.FLUSH_SECONDS:
            self._f.flush()
            self._flushed = time.monotonic()

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Results:
    path: Path
    run: dict
    adapters: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    end: dict | None = None
    truncated: bool = False  # the file stops before its "end" line (the run was killed)

    def counts(self) -> dict:
        out: dict = {}
        for r in self.records:
            by_status = out.setdefault(r["adapter"], {}).setdefault(r["surface"], {})
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        return out


def read(path: Path) -> Results:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except UnicodeDecodeError as e:
        raise ResultsError(f"{path}: not a text file ({e})") from None
    res = None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(lines) and res is not None:  # a run killed mid-line: keep what came before
                res.truncated = True
                break
            raise ResultsError(f"{path}:{n}: not JSON ({e})") from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if res is None:
            if kind != "run" or obj.get("schema") != SCHEMA:
                raise ResultsError(f"{path}:{n}: not a kl-compat results file (first line must be a "
                                   f"'run' line with schema {SCHEMA!r})")
            res = Results(path, obj)
        elif kind == "adapter":
            res.adapters.append(obj)
        elif kind == "record":
            res.records.append(obj)
        elif kind == "end":
            res.end = obj
        else:
            raise ResultsError(f"{path}:{n}: unknown line type {kind!r}")
    if res is None:
        raise ResultsError(f"{path}: empty results file")
    if res.end is None:
        res.truncated = True
    return res
