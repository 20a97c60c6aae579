"""The results file's lines as typed records, and the structured difference every message is rendered from.

One results file (kl_compat/results.py writes and reads it) is JSON Lines, schema SCHEMA; each line is
one of these classes, by its "type", each with to_json() / from_json():

  RunLine      "run", first. schema, kl_compat, started, argv, python, numpy, platform, goldens,
               cases, selected, shard, patterns; a merge adds merged_from, and incomplete [why, ...]
               when it merged partial inputs.
  AdapterLine  "adapter", one per adapter before its records. adapter (the label), name, available,
               environment, framework, version, python, numpy, platform, executable, surfaces; reason
               and hint when unavailable; the runtime's r and libtorch where it reports them.
  Record       "record", one per case x adapter x surface. case, group, adapter, surface, version,
               status (STATUSES), differences [Difference], max_ulp, max_cond (the error relative to the
               operation's condition, kl_compat.tolerance; absent in older files: None), grad_max_ulp (either
               gradient's worst error in ULPs; the same), convention, observed (Observed:
               status, shape, dtype, warnings [{category, message}], error {type, message, classes (the
               class names a handler can catch it by, most specific first)}, value (a
               list when at most 64 elements, else null), grad_input and grad_target (GradientSummary:
               status, dtype, message), seconds, detail, unsupported; where observed, differentiable
               (whether the output requires grad) and second (spec S10: the four second derivatives'
               GradientSummary by spec.SECOND_KEYS)).
  EndLine      "end", last. finished, counts {adapter: {surface: {status: n}}}, known_problems (stale
               or fixed entries, as sentences), strict, unavailable {adapter: why}, known {entry id:
               reason} for the entries the records name (so that a file explains its own ids).

A Difference is facts, not a sentence: its kind (kl_compat.compare.KINDS), where it is ("out",
"out[3]", "out.shape", "out.dtype", "grad_input", "grad_target[2]", "warnings", "error", "call",
"worker"), what was expected and observed (as text), who expected it (`by`: the spec or the
reference), the call (`kl_div(reduction='sum')`), and `known`: the id of the known-differences entry
that explains it (kl_compat.known), or null. Its `form` names the sentence its message is rendered
in (FORMS); the file carries the rendered `message` too, for people and tools reading the file, but a
reader never takes facts from it: message is rendered again from the fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

SCHEMA = "kl-compat-results/2"
INLINE_VALUES = 64  # an observed value is kept in the file up to this many elements

# Record statuses (a record's verdict): the one set of names every reader uses.
MATCH, DIFFERS, UNSUPPORTED, ERROR, CRASHED, TIMEOUT, UNAVAILABLE = (
    "match", "differs", "unsupported", "error", "crashed", "timeout", "unavailable")
STATUSES = (MATCH, DIFFERS, UNSUPPORTED, ERROR, CRASHED, TIMEOUT, UNAVAILABLE)
BAD = (DIFFERS, ERROR, CRASHED, TIMEOUT)  # statuses that show something wrong
# Observation statuses (what the adapter saw) that the readers of `observed` test for.
OBSERVED_OK, OBSERVED_RAISED = "ok", "raised"


class RecordError(ValueError):
    """A line that does not make a record (results.read turns it into a ResultsError naming the line)."""


# ---- differences ----------------------------------------------------------------------------------------

def _wrt(where: str) -> str:
    return where.removeprefix("grad_").split("[")[0].split(".")[0]


# form -> the sentence (before " [call]"), from a Difference's fields.
FORMS = {
    "is": lambda d: f"{d.where}={d.observed}, but {d.by} says {d.expected}{d.note or ''}",
    "count": lambda d: f"{d.where} has {d.observed} elements, but {d.by} has {d.expected}; values not compared",
    "raised": lambda d: f"raised {d.observed} where {d.by} gives {d.expected}",
    "raised-other": lambda d: f"raised {d.observed}, but {d.by} raises {d.expected}",
    "raised-type": lambda d: f"raised {d.observed}, which `except {d.expected}` does not catch, as {d.by} "
                             f"raises {d.expected}{d.note or ''}",
    "returned": lambda d: f"returned {d.observed} where {d.by} raises {d.expected}",
    "missing-warning": lambda d: f"no {d.expected!r} warning, but {d.by} expects one",
    "warned": lambda d: f"warned {d.observed}, which {d.by} does not expect",
    "warned-none": lambda d: f"warned {d.observed}, and warnings='none' expects no warning",
    "warnings": lambda d: f"warnings about {d.observed}, but {d.by} warns about {d.expected}",
    "no-gradient": lambda d: f"no gradient for the {_wrt(d.where)}, but {d.by} defines one",
    "gradient-presence": lambda d: f"{d.observed} for the {_wrt(d.where)}, but {d.by} has {d.expected}",
    "backward-raised": lambda d: f"backward raised {d.observed}",
    "second-raised": lambda d: f"double backward ({d.where}) raised {d.observed}",
    "unsupported": lambda d: f"{d.observed} has no {d.expected}{d.note or ''}",
    "unsupported-here": lambda d: f"no {d.observed} where the other computes",
    "unsupported-there": lambda d: f"{d.by} has no {d.expected} where the other computes",
    "failed": lambda d: f"{d.observed}",  # the worker's own account (crashed, timeout)
    "text": lambda d: f"{d.observed}",  # a sentence given whole (a hand-made or foreign file)
}
# What a form says after the call, when anything.
_AFTER_CALL = {"raised-other": " (errors='any' accepts any exception)"}


@dataclass
class Difference:
    kind: str
    form: str
    where: str
    expected: str | None = None
    observed: str | None = None
    call: str = ""
    by: str = "the spec"
    note: str | None = None  # said right after the sentence: the error in ULPs and the elements affected
    follows: str | None = None  # a named convention the observed values follow instead of the spec's
    known: str | None = None  # the id of the known-differences entry that explains it

    @property
    def sentence(self) -> str:
        """What differs, in words, without the call: `out.shape=(1,), but the spec says ()`."""
        return FORMS[self.form](self)

    @property
    def message(self) -> str:
        """The one line people read, e.g. `out.shape=(1,), but the spec says () [kl_div(reduction='sum')]`."""
        text = self.sentence
        if self.call:
            text += f" [{self.call}]"
        text += _AFTER_CALL.get(self.form, "")
        if self.follows:
            text += f"; follows convention {self.follows}"
        return text

    @property
    def index(self) -> int | None:
        """The flat element index `where` names (`out[3]` -> 3), or None."""
        return element_index(self.where)

    @property
    def array(self) -> str:
        """The array `where` is about: "out", "grad_input", "grad_target", or another part ("warnings", ...)."""
        return self.where.split("[")[0].split(".")[0]

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["message"] = self.message
        return out

    @classmethod
    def from_json(cls, d: dict) -> "Difference":
        if "form" not in d:  # a sentence without its facts: kept whole
            return cls(d["kind"], "text", "", observed=d.get("message"), known=d.get("known"))
        if d["form"] not in FORMS:
            raise RecordError(f"difference: form {d['form']!r} is not one of {', '.join(FORMS)}")
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def copy(self) -> "Difference":
        return replace(self)


def element_index(where: str | None) -> int | None:
    """The flat element index a difference's `where` names ("out[3]", "grad_input[0]"), or None."""
    if not where or "[" not in where:
        return None
    try:
        return int(where.split("[", 1)[1].rstrip("]"))
    except ValueError:
        return None


# ---- records --------------------------------------------------------------------------------------------

@dataclass
class GradientSummary:
    status: str
    dtype: str | None = None
    message: str | None = None

    def to_json(self) -> dict:
        return {"status": self.status, "dtype": self.dtype, "message": self.message}

    @classmethod
    def from_json(cls, d: dict | None) -> "GradientSummary | None":
        return None if d is None else cls(d.get("status", ""), d.get("dtype"), d.get("message"))


@dataclass
class Observed:
    """What the adapter observed, as the file keeps it (values only when small)."""

    status: str
    shape: list[int] | None = None
    dtype: str | None = None
    warnings: list[dict] = field(default_factory=list)  # [{category, message}]
    error: dict | None = None  # {type, message, classes}
    value: Any = None  # nested lists, non-finite numbers as "nan", "inf", "-inf"; None when large
    grad_input: GradientSummary | None = None
    grad_target: GradientSummary | None = None
    seconds: float = 0.0
    detail: str | None = None
    unsupported: str | None = None
    differentiable: bool | None = None  # whether the output requires grad, where the framework says
    second: dict[str, GradientSummary] | None = None  # double backward (spec S10), by spec.SECOND_KEYS

    @classmethod
    def of(cls, obs) -> "Observed":
        """The summary of an adapter's Observation (kl_compat.adapters.base)."""
        import numpy as np

        from .jsonvalues import jsonable

        value = None
        if obs.value is not None and np.size(obs.value) <= INLINE_VALUES:
            value = jsonable(np.asarray(obs.value))
        grads = [None if g is None else GradientSummary(g.status, g.dtype, g.message)
                 for g in (obs.grad_input, obs.grad_target)]
        second = None if obs.second is None else {k: GradientSummary(g.status, g.dtype, g.message)
                                                  for k, g in obs.second.items()}
        return cls(obs.status, None if obs.shape is None else list(obs.shape), obs.dtype, obs.warnings, obs.error,
                   value, grads[0], grads[1], round(obs.seconds, 6), obs.detail, obs.unsupported,
                   obs.differentiable, second)

    def values(self):
        """The kept value as a float64 array (non-finite strings read back), or None."""
        import numpy as np

        from .jsonvalues import numbers

        if self.value is None:
            return None
        arr = np.asarray(self.value, dtype=object)
        return np.vectorize(numbers, otypes=[np.float64])(arr) if arr.size else arr.astype(np.float64)

    def to_json(self) -> dict:
        return {"status": self.status, "shape": self.shape, "dtype": self.dtype, "warnings": self.warnings,
                "error": self.error, "value": self.value,
                "grad_input": None if self.grad_input is None else self.grad_input.to_json(),
                "grad_target": None if self.grad_target is None else self.grad_target.to_json(),
                "seconds": self.seconds, "detail": self.detail, "unsupported": self.unsupported,
                # (written only where observed, so files without them stay as they were)
                **({} if self.differentiable is None else {"differentiable": self.differentiable}),
                **({} if self.second is None else {"second": {k: g.to_json() for k, g in self.second.items()}})}

    @classmethod
    def from_json(cls, d: dict | None) -> "Observed | None":
        if d is None:
            return None
        return cls(d.get("status", ""), d.get("shape"), d.get("dtype"), d.get("warnings") or [], d.get("error"),
                   d.get("value"), GradientSummary.from_json(d.get("grad_input")),
                   GradientSummary.from_json(d.get("grad_target")), d.get("seconds") or 0.0, d.get("detail"),
                   d.get("unsupported"), d.get("differentiable"),
                   None if d.get("second") is None else {k: GradientSummary(g.get("status", ""), g.get("dtype"),
                                                                            g.get("message"))
                                                         for k, g in d["second"].items()})


@dataclass
class Record:
    case: str
    adapter: str  # the adapter's label (its column), e.g. "paddle@paddle-2.6.2"
    surface: str
    status: str
    differences: list[Difference] = field(default_factory=list)
    group: str | None = None
    version: str | None = None
    max_ulp: float | None = None  # the worst finite value error, in ULPs of the expected dtype
    convention: str | None = None  # a named convention the observed values follow, where not the spec's
    observed: Observed | None = None
    max_cond: float | None = None  # the worst finite value error over eps * sum|terms| (kl_compat.tolerance)
    grad_max_ulp: float | None = None  # the worst finite error of either gradient, in ULPs of its dtype

    @property
    def ran(self) -> bool:
        """Whether the adapter observed the case (any status but unavailable)."""
        return self.status != UNAVAILABLE

    @property
    def measured(self) -> bool:
        """Whether the framework computed or refused the call itself (not: the API lacks an argument)."""
        return self.status not in (UNAVAILABLE, UNSUPPORTED)

    @property
    def new(self) -> list[Difference]:
        """The differences no known-differences entry explains."""
        return [d for d in self.differences if d.known is None] if self.ran else []

    def kinds(self, new_only: bool = False) -> list[str]:
        return sorted({d.kind for d in (self.new if new_only else self.differences)})

    def to_json(self) -> dict:
        return {"type": "record", "case": self.case, "group": self.group, "adapter": self.adapter,
                "surface": self.surface, "version": self.version, "status": self.status,
                "differences": [d.to_json() for d in self.differences], "max_ulp": self.max_ulp,
                "max_cond": self.max_cond, "grad_max_ulp": self.grad_max_ulp,
                "convention": self.convention, "observed": None if self.observed is None else self.observed.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> "Record":
        from .jsonvalues import numbers  # (NumPy, which it imports, only when a record is read)

        return cls(d["case"], d["adapter"], d["surface"], d["status"],
                   [Difference.from_json(x) for x in d.get("differences") or []], d.get("group"), d.get("version"),
                   numbers(d.get("max_ulp")), d.get("convention"), Observed.from_json(d.get("observed")),
                   numbers(d.get("max_cond")), numbers(d.get("grad_max_ulp")))

    def with_known(self, known: list[str | None]) -> "Record":
        """A copy whose differences carry these entry ids (one per difference, in order)."""
        return replace(self, differences=[replace(d, known=k) for d, k in zip(self.differences, known)])


# ---- run, adapter and end lines ------------------------------------------------------------------------

def _split(d: dict, names) -> tuple[dict, dict]:
    return {k: v for k, v in d.items() if k in names}, {k: v for k, v in d.items() if k not in names and k != "type"}


@dataclass
class RunLine:
    schema: str = SCHEMA
    kl_compat: str | None = None
    started: str | None = None
    argv: list[str] = field(default_factory=list)
    python: str | None = None
    numpy: str | None = None
    platform: str | None = None
    goldens: str | None = None
    cases: int | None = None
    selected: int | None = None
    shard: list[int] | None = None
    patterns: list[str] | None = None
    merged_from: list[str] | None = None
    incomplete: list[str] | None = None  # a merge of partial inputs: why each is partial
    extra: dict = field(default_factory=dict)  # fields of a newer writer, kept as they are

    _OPTIONAL = ("merged_from", "incomplete")

    def to_json(self) -> dict:
        out: dict = {"type": "run"}
        for f in fields(self):
            if f.name == "extra" or (f.name in self._OPTIONAL and getattr(self, f.name) is None):
                continue
            out[f.name] = getattr(self, f.name)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, d: dict) -> "RunLine":
        known, extra = _split(d, {f.name for f in fields(cls)} - {"extra"})
        return cls(**known, extra=extra)


@dataclass
class AdapterLine:
    adapter: str  # the label: a column of the report
    available: bool
    name: str | None = None  # the registry name (what known-differences entries name)
    environment: str | None = None
    framework: str | None = None
    version: str | None = None
    python: str | None = None
    numpy: str | None = None
    platform: str | None = None
    executable: str | None = None
    surfaces: list[str] | None = None
    reason: str | None = None
    hint: str | None = None
    runtime: dict = field(default_factory=dict)  # r, libtorch (results.RUNTIME_FIELDS) and any other field

    _AVAILABLE = ("framework", "version", "python", "numpy", "platform", "executable", "surfaces")

    def to_json(self) -> dict:
        out: dict = {"type": "adapter", "adapter": self.adapter, "name": self.name, "available": self.available,
                     "environment": self.environment}
        if self.available:
            out.update({k: getattr(self, k) for k in self._AVAILABLE})
        else:
            out.update(reason=self.reason, hint=self.hint)
            out.update({k: getattr(self, k) for k in self._AVAILABLE if getattr(self, k) is not None})
        return {**out, **self.runtime}

    @classmethod
    def from_json(cls, d: dict) -> "AdapterLine":
        known, runtime = _split(d, {f.name for f in fields(cls)} - {"runtime"})
        return cls(**known, runtime=runtime)

    @property
    def registry_name(self) -> str:
        return self.name or self.adapter


@dataclass
class EndLine:
    finished: str | None = None
    counts: dict = field(default_factory=dict)
    known_problems: list[str] = field(default_factory=list)
    strict: bool = False
    unavailable: dict = field(default_factory=dict)
    known: dict[str, str] = field(default_factory=dict)  # entry id -> reason, for the ids the records name

    def to_json(self) -> dict:
        return {"type": "end", "finished": self.finished, "counts": self.counts,
                "known_problems": self.known_problems, "strict": self.strict, "unavailable": self.unavailable,
                "known": self.known}

    @classmethod
    def from_json(cls, d: dict) -> "EndLine":
        return cls(d.get("finished"), d.get("counts") or {}, list(d.get("known_problems") or []),
                   bool(d.get("strict")), d.get("unavailable") or {}, dict(d.get("known") or {}))
