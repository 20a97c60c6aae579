"""Judging an observation against its golden: one status per record, one structured difference per
disagreement (kl_compat.record.Difference: kind, where, expected, observed, call; its one-line message
is rendered from those fields).

Statuses (kl_compat.record): match | differs | unsupported | error (raised where the spec gives a value) |
crashed | timeout | unavailable. Difference kinds, each checked on its own so one never hides another:
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field

import numpy as np

from . import spec, tolerance
from .adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, OK, RAISED
from .dtypes import ulp
from .golden import GoldenCase
from .record import (CRASHED, DIFFERS, ERROR, MATCH, TIMEOUT, UNAVAILABLE,  # noqa: F401 (re-exported)
                     UNSUPPORTED, Difference)

KINDS = {
    "value": "a finite value outside the dtype's tolerance",
    "nan-inf": "nan or infinity where the spec has another value, or the reverse",
    "shape": "the output's shape",
    "dtype": "the output's dtype",
    "error-vs-value": "raised where the spec computes, or computed where the spec raises",
    "error-type": "raised where the spec raises, but an exception of another kind: a handler for the spec's "
                  "(`except ValueError:`, R's `value_error`) does not catch it",
    "warning": "a warning the spec expects is missing, or one it does not expect is raised",
    "gradient": "a gradient that is missing, raises, or differs where the spec defines it; one where the operand"
                " does not require grad; an output that is differentiable or not, unlike the spec",
    "second-order": "a second derivative (double backward) that raises, is missing, or differs where the spec"
                    " defines it; a framework's no gradient counts as zero",
    "unsupported-argument": "the API lacks an argument the case needs",
    "crashed": "the worker process died during the case",
    "timeout": "the case did not finish within the time limit",
}
__doc__ += "".join(f"\n  {k:22s} {v}" for k, v in KINDS.items())

# Alternative conventions tried when values differ, so a report can name the one a framework follows.
_CONVENTIONS = (spec.Convention(nonpositive_target="zero"), spec.Convention(zero_times_inf="ieee"),
                spec.Convention(nonpositive_target="zero", zero_times_inf="ieee"))


@dataclass
class Verdict:
    status: str
    differences: list[Difference] = field(default_factory=list)
    max_ulp: float | None = None  # the worst finite value error, in ULPs of the expected dtype
    convention: str | None = None  # a named convention the observed values follow, where not the spec's
    max_cond: float | None = None  # the worst finite value error relative to the sum's condition (condition_scale)
    grad_max_ulp: float | None = None  # the worst finite error of either gradient, in ULPs of its dtype

    def copy(self) -> "Verdict":
        return Verdict(self.status, [d.copy() for d in self.differences], self.max_ulp,
                       self.convention, self.max_cond, self.grad_max_ulp)


def judge(case: GoldenCase, obs, mode: str = tolerance.DEFAULT) -> Verdict:
    """The verdict on one observation of `case`. An observation identical to the last one judged for
    the case (the module form usually computes exactly what the functional form did) gets a copy of
    the same verdict: judging is a function of what was observed, not of which surface observed it.
    `mode`: the value's tolerance (kl_compat.tolerance.MODES; "strict": a backward-stable evaluation's)."""
    prepared = _prepared(case)
    if obs.status != OK:
        return _judge(prepared, obs, mode)
    key = (mode, _observed(obs))
    if prepared.last is not None and prepared.last[0] == key:
        return prepared.last[1].copy()
    verdict = _judge(prepared, obs, mode)
    prepared.last = (key, verdict.copy())
    return verdict


def _observed(obs) -> tuple:
    """Everything `judge` looks at in an observation with status ok, as one comparable value."""
    def array(a):
        return None if a is None else (a.dtype.str, a.shape, a.tobytes()) if isinstance(a, np.ndarray) else repr(a)

    def grad(g):
        return None if g is None else (g.status, g.dtype, g.message, array(g.value))

    second = None if obs.second is None else tuple((k, grad(g)) for k, g in sorted(obs.second.items()))
    return (obs.dtype, obs.shape, array(obs.value), grad(obs.grad_input), grad(obs.grad_target),
            tuple((w.get("category"), w.get("message")) for w in obs.warnings), obs.differentiable, second)


def _judge(prepared: "_PreparedCase", obs, mode: str = tolerance.DEFAULT) -> Verdict:
    case = prepared.case
    call = prepared.call
    if obs.status in (CRASHED, TIMEOUT, UNAVAILABLE):
        return Verdict(obs.status, [_failed(obs, call)] if obs.status != UNAVAILABLE else [])
    if obs.status == UNSUPPORTED:
        said = f" ({obs.error['type']}: {_one_line(obs.error['message'])})" if obs.error else ""
        return Verdict(UNSUPPORTED, [Difference("unsupported-argument", "unsupported", "call", str(obs.unsupported),
                                                f"{obs.adapter}.{obs.surface}", call, note=said or None)])
    exp = case.expects
    if exp.outcome == "error":
        if obs.status == RAISED:
            if caught_by(obs.error, str(exp.error)):
                return Verdict(MATCH)
            return Verdict(DIFFERS, [_error_type(str(exp.error), obs.error, call, "the spec")])
        return Verdict(DIFFERS, [Difference("error-vs-value", "returned", "out", f"{exp.error}: {exp.message}",
                                            f"a {obs.dtype} of shape {obs.shape}", call)])
    if obs.status == RAISED:
        err = obs.error or {}
        return Verdict(ERROR, [Difference("error-vs-value", "raised", "error", f"a {exp.dtype} of shape {exp.shape}",
                                          f"{err.get('type')}: {_one_line(err.get('message', ''))}", call)])
    if obs.status != OK:
        raise ValueError(f"observation of {case.id} has an unknown status {obs.status!r}")

    verdict = Verdict(MATCH)
    diffs = verdict.differences
    diffs.extend(_shape_and_dtype(obs, exp.shape, exp.dtype, "the spec", call))
    dtype = tolerance.coarser(exp.dtype, obs.dtype)
    max_ulp = _all_within(prepared, obs, dtype, mode)
    one_by_one = max_ulp is False  # something is off: compare value and gradients one by one, and say what
    if one_by_one:
        value_diffs, max_ulp = _compare_arrays("out", obs.value, prepared.value(dtype, mode), dtype, call,
                                                with_ulps=True)
        diffs.extend(value_diffs)
        if value_diffs:
            verdict.convention = _matching_convention(prepared, obs, dtype)
            for d in value_diffs:
                d.follows = verdict.convention
    verdict.max_ulp = max_ulp
    verdict.max_cond = _worst_cond(prepared, obs.value, dtype)
    verdict.grad_max_ulp = _worst_gradient_ulps(prepared, obs)
    if exp.warnings or obs.warnings:
        diffs.extend(_compare_warnings(exp.warnings, obs.warnings, call))
    if one_by_one:
        for wrt, grad, gdtype in (("input", obs.grad_input, case.input_dtype),
                                  ("target", obs.grad_target, case.target_dtype)):
            diffs.extend(_compare_gradient(prepared, wrt, grad, gdtype, call))
    diffs.extend(_compare_differentiable(case.call, obs.differentiable, "the spec", call))
    if exp.second is not None and obs.second is not None:
        diffs.extend(_compare_second(prepared, exp.second, obs.second, call))
    verdict.status = DIFFERS if diffs else MATCH
    return verdict


def _all_within(prepared: "_PreparedCase", obs, dtype: str, mode: str = tolerance.DEFAULT):
    """The worst ULP error of the value (None when no element is finite on both sides) if the value and
    both gradients are all within tolerance, else False. One comparison over the three arrays at once:
    most observations match, and for those this is the whole of judging's arithmetic."""
    gi, gt = obs.grad_input, obs.grad_target
    if prepared.case.call.requires_grad != "both":  # (a gradient where none is required is a difference)
        return False
    if gi is None or gt is None or gi.status != GRAD_OK or gt.status != GRAD_OK or obs.value is None:
        return False
    case = prepared.case
    gdt_i, gdt_t = tolerance.coarser(case.input_dtype, gi.dtype), tolerance.coarser(case.target_dtype, gt.dtype)
    ref, value_ref = prepared.whole(dtype, gdt_i, gdt_t, mode)
    parts = (obs.value, gi.value, gt.value)
    if sum(np.size(p) for p in parts) != ref.flat.size or np.size(obs.value) != value_ref.flat.size \
            or np.shape(gi.value) != case.input.shape or np.shape(gt.value) != case.target.shape:
        return False
    flat = np.concatenate([np.ravel(p) for p in parts]).astype(np.float64, copy=False)
    ok, err = _within(flat, ref)
    return _worst_ulps(err[:value_ref.flat.size], value_ref) if ok else False


class Reference:
    """The expected side of one array comparison, flattened, with its tolerance and ULP spacing: what
    judging needs of a golden, computed once per case and dtype (each case is judged once per surface
    and adapter, and these cost more than the comparison itself)."""

    __slots__ = ("flat", "tol", "mask", "dtype", "nan", "_spacing")

    def __init__(self, expected, tol, dtype: str, defined=None):
        self.flat = np.asarray(expected, np.float64).reshape(-1)
        self.tol = np.broadcast_to(np.asarray(tol, np.float64), np.shape(expected)).reshape(-1)
        self.mask = None if defined is None else np.asarray(defined, bool).reshape(-1)
        self.dtype: str | None = dtype  # (None for a joined Reference)
        self.nan = np.isnan(self.flat)
        self._spacing: np.ndarray | None = None

    @classmethod
    def joined(cls, refs) -> "Reference":
        """One Reference for several, end to end, each keeping its tolerance and mask (for a match test:
        its ULP spacing is not filled in)."""
        ref = cls.__new__(cls)
        ref.flat = np.concatenate([r.flat for r in refs])
        ref.tol = np.concatenate([r.tol for r in refs])
        ref.mask = np.concatenate([np.ones(r.flat.size, bool) if r.mask is None else r.mask for r in refs])
        ref.dtype, ref.nan, ref._spacing = None, np.isnan(ref.flat), None
        return ref

    @property
    def spacing(self) -> np.ndarray:
        if self._spacing is None:
            if self.dtype is None:
                raise ValueError("a joined Reference has no ULP spacing: its parts may be of several dtypes")
            self._spacing = ulp(self.flat, self.dtype)
        return self._spacing


class _PreparedCase:
    """Per golden case: its call's text, the divisor, and a Reference per (array, dtype), made on demand."""

    def __init__(self, case: GoldenCase):
        self.case = case
        self.call = str(case.call)
        exp = case.expects
        self.divisor = spec.divisor_of(exp.reduction, case.input.size, case.input.shape) \
            if exp.outcome == "value" and exp.reduction is not None else None
        self._refs: dict[tuple[str, str], object] = {}
        self.last: tuple | None = None  # (observed, verdict) of the last observation judged

    def _made(self, key: tuple, make):
        got = self._refs.get(key)
        if got is None:
            got = self._refs[key] = make()
        return got

    def value(self, dtype: str, mode: str = tolerance.DEFAULT) -> Reference:
        def make():
            c, exp = self.case, self.case.expects
            tol = tolerance.value_tolerance(c.input, c.target, c.call.log_target, exp.reduction, self.divisor,
                                            exp.value, dtype, mode)
            return Reference(exp.value, tol, dtype)
        return self._made(("out", dtype) if mode == tolerance.DEFAULT else ("out", dtype, mode), make)

    def condition(self, dtype: str) -> np.ndarray:
        """The denominator of the condition-relative error (tolerance.condition_scale), flat."""
        def make():
            c, exp = self.case, self.case.expects
            return np.asarray(tolerance.condition_scale(c.input, c.target, c.call.log_target, exp.reduction,
                                                        self.divisor, dtype), np.float64).reshape(-1)
        return self._made(("condition", dtype), make)

    def gradient(self, wrt: str, dtype: str) -> Reference:
        def make():
            c, exp = self.case, self.case.expects
            tol = tolerance.gradient_tolerance(c.input, c.target, c.call.log_target, self.divisor, wrt, dtype)
            return Reference(getattr(exp, f"grad_{wrt}"), tol, dtype, getattr(exp, f"grad_{wrt}_defined"))
        return self._made((wrt, dtype), make)

    def whole(self, dtype: str, grad_input_dtype: str, grad_target_dtype: str,
              mode: str = tolerance.DEFAULT) -> tuple[Reference, Reference]:
        """The value and both gradients as one Reference (value first), and the value's own."""
        def make():
            parts = (self.value(dtype, mode), self.gradient("input", grad_input_dtype),
                     self.gradient("target", grad_target_dtype))
            return Reference.joined(parts), parts[0]
        return self._made(("whole", dtype, grad_input_dtype, grad_target_dtype, mode), make)

    def alternatives(self, dtype: str) -> list[tuple[str, Reference]]:
        """(description, Reference) for each alternative convention the spec can evaluate on this case."""
        def make():
            c, alts = self.case, []
            for conv in _CONVENTIONS:
                try:
                    alt = spec.reference(c.input, c.target, c.call, c.input_dtype, c.target_dtype, conv)
                except spec.SpecError:
                    continue
                alt_value = alt.rounded()
                divisor = spec.divisor_of(alt.reduction, c.input.size, c.input.shape)
                tol = tolerance.value_tolerance(c.input, c.target, c.call.log_target, alt.reduction, divisor,
                                                alt_value, dtype)
                alts.append((conv.describe(), Reference(alt_value, tol, dtype)))
            return alts
        return self._made(("conventions", dtype), make)


def prepare(cases) -> None:
    """Prepare the judging of `cases` ahead of their observations, for the dtypes the spec expects (a
    run does this while its workers import their frameworks); other dtypes are prepared when seen."""
    for case in cases:
        exp = case.expects
        if exp.outcome == "value":
            p = _prepared(case)
            p.whole(exp.dtype, case.input_dtype, case.target_dtype)[1].spacing  # computed on first access
            p.alternatives(exp.dtype)


def _prepared(case: GoldenCase) -> _PreparedCase:
    # Kept on the case itself, so it lives exactly as long as the goldens it was derived from.
    p = case.__dict__.get("_judging")
    if p is None:
        p = case.__dict__["_judging"] = _PreparedCase(case)
    return p


def _failed(obs, call: str) -> Difference:
    """A worker that crashed or timed out on the observation, in its own words (kind: its status)."""
    return Difference(obs.status, "failed", "worker", observed=str(obs.detail), call=call)


def _shape_and_dtype(obs, shape, dtype, who: str, call: str) -> list[Difference]:
    out = []
    if tuple(obs.shape) != tuple(shape):
        out.append(Difference("shape", "is", "out.shape", str(tuple(shape)), str(tuple(obs.shape)), call, who))
    if obs.dtype != dtype:
        out.append(Difference("dtype", "is", "out.dtype", str(dtype), str(obs.dtype), call, who))
    return out


def _one_line(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit] + "..."


def _fmt(v) -> str:
    return repr(float(v)) if np.ndim(v) == 0 else repr(v)


def _compare_arrays(name, observed, ref: Reference, dtype, call, kind_value="value", kind_nonfinite="nan-inf",
                    with_ulps=False):
    """Differences between `observed` and a Reference of equal size; positions outside its mask skipped.
    Returns (differences, the worst finite error in ULPs or None; computed only `with_ulps`).

    Most observations match: a few whole-array operations establish that, and only an observation
    that does not match is described element by element (`_describe`, which also defines the result)."""
    obs = np.asarray(observed, np.float64).reshape(-1)
    if obs.size != ref.flat.size:
        return [Difference(kind_value, "count", name, str(ref.flat.size), str(obs.size), call)], None
    ok, err = _within(obs, ref)
    if not ok:
        return _describe(name, obs, ref, dtype, call, kind_value, kind_nonfinite)
    return [], (_worst_ulps(err, ref) if with_ulps else None)


def _within(obs, ref: Reference) -> tuple[bool, np.ndarray]:
    """Whether every element of `obs` (flat float64) is within tolerance of `ref`, equal to it, nan
    where it is nan, or masked out; and |obs - ref| (nan where either is nan or both the same infinity)."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(obs - ref.flat)
        ok = (err <= ref.tol) | (obs == ref.flat) | (np.isnan(obs) & ref.nan)
    if ref.mask is not None:
        ok |= ~ref.mask
    return bool(ok.all()), err


def _worst_ulps(err, ref: Reference) -> float | None:
    """The largest finite error in ULPs of `ref`'s dtype, over its unmasked elements (None if none).
    A finite error means both sides are finite."""
    counted = np.isfinite(err) if ref.mask is None else np.isfinite(err) & ref.mask
    return float((err[counted] / ref.spacing[counted]).max()) if counted.any() else None


def _worst_gradient_ulps(prepared: "_PreparedCase", obs) -> float | None:
    """The largest finite error of either gradient in ULPs of its dtype, where the spec defines it (None
    when no gradient was read back, or none has a finite element to compare). Gradients are elementwise,
    so their error relative to their own size is this measure too."""
    worst = None
    for wrt, g, dtype in (("input", obs.grad_input, prepared.case.input_dtype),
                          ("target", obs.grad_target, prepared.case.target_dtype)):
        if g is None or g.status != GRAD_OK or g.value is None:
            continue
        ref = prepared.gradient(wrt, tolerance.coarser(dtype, g.dtype))
        value = np.asarray(g.value, np.float64).reshape(-1)
        if value.size != ref.flat.size:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            u = _worst_ulps(np.abs(value - ref.flat), ref)
        if u is not None:
            worst = u if worst is None else max(worst, u)
    return worst


def _worst_cond(prepared: "_PreparedCase", value, dtype: str) -> float | None:
    """The largest finite error of `value` relative to the operation's condition (None when no element
    is finite on both sides, or the value has the wrong number of elements)."""
    if value is None:
        return None
    ref, scale = prepared.value(dtype), prepared.condition(dtype)
    obs = np.asarray(value, np.float64).reshape(-1)
    if obs.size != ref.flat.size or scale.size not in (1, obs.size):
        return None
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(obs - ref.flat)
    finite = np.isfinite(err)
    if not finite.any():
        return None
    with np.errstate(over="ignore"):  # (an error beyond float64's range relative to a tiny sum is inf)
        return float((err[finite] / (scale if scale.size == 1 else scale[finite])).max())


def _describe(name, obs, ref: Reference, dtype, call, kind_value="value", kind_nonfinite="nan-inf"):
    """The differences of `obs` (flat float64) from `ref`, element by element, and the worst ULP error."""
    exp, tol = ref.flat, ref.tol
    mask = np.ones(exp.shape, bool) if ref.mask is None else ref.mask
    out = []
    both_finite = np.isfinite(obs) & np.isfinite(exp)
    same_nonfinite = (np.isnan(obs) & np.isnan(exp)) | (np.isinf(obs) & (obs == exp))
    nonfinite_bad = mask & ~both_finite & ~same_nonfinite
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.where(both_finite, np.abs(obs - exp), 0.0)
        ulp_err = np.abs(obs - exp) / ref.spacing
    value_bad = mask & both_finite & (err > tol)
    finite_ulps = ulp_err[mask & both_finite]
    max_ulp = float(finite_ulps.max()) if finite_ulps.size else None
    where = lambda i: f"{name}[{i}]" if exp.size > 1 else name  # noqa: E731
    for bad, kind in ((nonfinite_bad, kind_nonfinite), (value_bad, kind_value)):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            extra = f"; error {ulp_err[i]:.3g} ulp, tolerance {tol[i]:.3g}" if kind == kind_value else ""
            count = f" ({int(bad.sum())} of {exp.size} elements)" if exp.size > 1 else ""
            out.append(Difference(kind, "is", where(i), _fmt(exp[i]), _fmt(obs[i]), call,
                                  note=f"{extra}{count}" or None))
    return out, max_ulp


# What a warning is about, recognised in each framework's own words (the same warning is worded
# differently, or cut short, from one framework to the next):
#   deprecated-argument  torch: "size_average and reduce args will be deprecated, please use
#                        reduction='sum' instead."
#   mean-is-not-kl       torch: "reduction: 'mean' divides the total loss by both the batch size and the
#                        support size.'batchmean' divides only by the batch size, and aligns with the KL
#                        div math definition. ..."; R torch 0.17.0 passes the same three sentences to its
#                        warn(), which keeps only the first (gettext(...)[[1]] in R/utils.R), so its
#                        message is that first sentence alone.
_TOPICS = (
    (spec.W_DEPRECATED, re.compile(r"(size_average|\breduce\b).*(deprecat|reduction=)", re.I | re.S)),
    (spec.W_MEAN, re.compile(r"batchmean|'mean' divides the total loss by both the batch size and the support size",
                             re.I)),
)


def warning_topic(message: str) -> str:
    """What a framework's warning is about (a spec warning name, or "other"), whatever its wording."""
    for topic, pattern in _TOPICS:
        if pattern.search(message):
            return topic
    return "other"


def _compare_warnings(expected, observed, call):
    got = [(warning_topic(w["message"]), w) for w in observed]
    out = []
    for topic in expected:
        if not any(t == topic for t, _ in got):
            out.append(Difference("warning", "missing-warning", "warnings", expected=topic, call=call))
    for topic, w in got:
        if topic not in expected:
            out.append(Difference("warning", "warned", "warnings",
                                  observed=f"{w['category']}: {_one_line(w['message'])!r}", call=call))
    return out


# R has no exception hierarchy of Python's kind: a condition carries a class vector, and a tryCatch handler
# names one of its classes. R torch's classed errors (R/conditions.R: value_error(), type_error(),
# runtime_error() and not_implemented_error() call rlang::abort(class = ...)) are what an R user catches
# where a Python user writes `except ValueError:` and the like; any other R error (stop()'s simpleError,
# Rcpp's C++Error from libtorch) is caught only by the handler for every error, `error`: Python's
# `except Exception:`.
_R_CLASSES = {"value_error": "ValueError", "type_error": "TypeError", "runtime_error": "RuntimeError",
              "not_implemented_error": "NotImplementedError", "error": "Exception"}


def error_classes(error: dict | None) -> tuple[str, ...]:
    """The class names a handler can catch an observed error by, most specific first: a Python exception's
    classes (its MRO), an R condition's class vector with R torch's error classes also by their Python
    names. A record without `classes` (an older file) gives its type alone."""
    if not error:
        return ()
    names = error.get("classes") or str(error.get("type", "")).split("/")
    out: list[str] = []
    for name in names:
        out += [name] if name not in _R_CLASSES else [name, _R_CLASSES[name]]
    return tuple(out)


def _is_r(error: dict | None) -> bool:
    """Whether an observed error is an R condition (its class vector ends with R's `condition`)."""
    names = error_classes(error)
    return bool(names) and names[-1] == "condition"


def caught_by(error: dict | None, expected: str) -> bool:
    """Whether a handler for `expected` (a Python exception class name) catches the observed error."""
    return expected in error_classes(error)


def catchable(error: dict | None) -> str | None:
    """The most specific Python built-in exception class an observed error is caught by (R's errors read
    as above): what code written for it names in its `except`, and what a port must raise too."""
    for name in error_classes(error):
        cls = getattr(builtins, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            return name
    return None


def _error_type(expected: str, error: dict | None, call: str, by: str) -> Difference:
    err = error or {}
    return Difference("error-type", "raised-type", "error", expected, str(err.get("type")), call, by,
                      note=f" ({_one_line(err.get('message', ''), 100)})" if err.get("message") else None)


def _compare_gradient(prepared: _PreparedCase, wrt, grad, dtype, call):
    name = f"grad_{wrt}"
    if not prepared.case.call.requires(wrt):  # S9: no gradient for an operand that does not require grad
        if grad is not None and grad.status == GRAD_OK:
            return [Difference("gradient", "gradient-presence", name, "none", "a gradient", call)]
        return []
    exp = prepared.case.expects
    want, defined = getattr(exp, name), getattr(exp, f"{name}_defined")
    if grad is None or not defined.any():
        return []
    if grad.status == GRAD_NONE:
        return [Difference("gradient", "no-gradient", name, call=call)]
    if grad.status == GRAD_ERROR:
        return [Difference("gradient", "backward-raised", name, observed=_one_line(grad.message), call=call)]
    value = np.asarray(grad.value)
    if value.shape != want.shape:
        return [Difference("gradient", "is", f"{name}.shape", str(want.shape), str(value.shape), call)]
    gdt = tolerance.coarser(dtype, grad.dtype)
    diffs, _ = _compare_arrays(name, value, prepared.gradient(wrt, gdt), gdt, call, "gradient", "gradient")
    return diffs


def _compare_differentiable(c: spec.Call, differentiable: bool | None, who: str, call: str) -> list[Difference]:
    """S9: the output is differentiable exactly when an operand requires grad (None: not observed)."""
    want = c.requires_grad != "neither"
    if differentiable is None or differentiable == want:
        return []
    return [Difference("gradient", "is", "out.requires_grad", str(want), str(differentiable), call, who)]


_SECOND_WHERE = {k: f"d(sum grad_{k.split('_')[1]})/d({k.split('_')[2]})" for k in spec.SECOND_KEYS}


def _compare_second(prepared: _PreparedCase, expected: dict, second: dict, call: str) -> list[Difference]:
    """S10's four second derivatives, each on its own: raised, missing (no gradient from the framework
    is zero: the first gradient does not depend on that operand), or values where the spec defines them."""
    case, out = prepared.case, []
    raised = {g.message for g in second.values() if g.status == GRAD_ERROR}
    if len(raised) == 1 and all(g.status == GRAD_ERROR for g in second.values()):  # one error: said once
        return [Difference("second-order", "second-raised", "d2(out)", observed=_one_line(raised.pop()), call=call)]
    for key in spec.SECOND_KEYS:
        want, g, where = expected[key], second.get(key), _SECOND_WHERE[key]
        defined = ~np.isnan(want)
        if g is None or not defined.any():
            continue
        if g.status == GRAD_ERROR:
            out.append(Difference("second-order", "second-raised", where, observed=_one_line(g.message), call=call))
            continue
        value = np.zeros(want.shape) if g.status == GRAD_NONE else np.asarray(g.value)
        if value.shape != want.shape:
            out.append(Difference("second-order", "is", f"{where}.shape", str(want.shape), str(value.shape), call))
            continue
        wrt_dtype = case.input_dtype if key.endswith("_input") else case.target_dtype
        gdt = tolerance.coarser(wrt_dtype, g.dtype)
        tol = tolerance.second_order_tolerance(case.input, case.target, case.call.log_target,
                                               prepared.divisor or 1, want, gdt)
        if g.status == GRAD_NONE and not np.all(want[defined] == 0):
            out.append(Difference("second-order", "no-gradient", where, call=call))
            continue
        diffs, _ = _compare_arrays(where, value, Reference(want, tol, gdt, defined), gdt, call, "second-order",
                                   "second-order")
        out.extend(diffs)
    return out


def _matching_convention(prepared: _PreparedCase, obs, dtype) -> str | None:
    """The first alternative convention whose values the observation matches, described."""
    observed = np.asarray(obs.value, np.float64).reshape(-1)
    for description, ref in prepared.alternatives(dtype):
        # Only whether it matches: describing each convention it does not follow cost more than the rest
        # of judging an observation that differs.
        if observed.size == ref.flat.size and _within(observed, ref)[0]:
            return description
    return None


def judge_against(case: GoldenCase, reference, obs) -> Verdict:
    """Hold `obs` to another implementation's observation `reference` of the same case and surface.

    The porting layer's proof: paddle-as-torch must do what torch measurably does, edge cases and
    quirks included. Same kinds and messages as `judge`, with "the reference says" for "the spec says";
    tolerances are the spec's for the coarser dtype; gradient entries the spec leaves undefined are not
    compared (any value there is as right as any other).
    """
    call = str(case.call)
    settled = _outcome_against(reference, obs, call)
    if settled is not None:
        return settled
    verdict = Verdict(MATCH)
    diffs = verdict.differences
    diffs.extend(_shape_and_dtype(obs, reference.shape, reference.dtype, _REFERENCE, call))
    reduction = spec.effective_reduction(case.call) if isinstance(case.call.reduction, str) and \
        (case.call.reduction in spec.REDUCTIONS or case.call.uses_legacy()) else "none"
    divisor = spec.divisor_of(reduction, case.input.size, case.input.shape)
    value_diffs, verdict.max_ulp = _value_against(case, reference, obs, reduction, divisor, call)
    diffs.extend(value_diffs)
    ref_topics = sorted({warning_topic(w["message"]) for w in reference.warnings})
    got_topics = sorted({warning_topic(w["message"]) for w in obs.warnings})
    if ref_topics != got_topics:
        diffs.append(Difference("warning", "warnings", "warnings", str(ref_topics), str(got_topics), call, _REFERENCE))
    for wrt, g, r, dtype in (("input", obs.grad_input, reference.grad_input, case.input_dtype),
                             ("target", obs.grad_target, reference.grad_target, case.target_dtype)):
        if g is not None and r is not None:
            diffs.extend(_gradient_against(case, wrt, g, r, dtype, divisor, call))
    verdict.status = DIFFERS if diffs else MATCH
    return verdict


def _outcome_against(reference, obs, call: str) -> Verdict | None:
    """The verdict when either side did not return a value (crashed, unsupported, raised), or None when
    both returned one and their values are to be compared."""
    if reference.status in (CRASHED, TIMEOUT, UNAVAILABLE):
        return Verdict(UNAVAILABLE, [])
    if obs.status in (CRASHED, TIMEOUT, UNAVAILABLE):
        return Verdict(obs.status, [_failed(obs, call)] if obs.status != UNAVAILABLE else [])
    if (obs.status == UNSUPPORTED) != (reference.status == UNSUPPORTED):
        if obs.status == UNSUPPORTED:
            d = Difference("unsupported-argument", "unsupported-here", "call", observed=str(obs.unsupported), call=call)
        else:
            d = Difference("unsupported-argument", "unsupported-there", "call", expected=str(reference.unsupported),
                           call=call, by=_REFERENCE)
        return Verdict(DIFFERS, [d])
    if obs.status == UNSUPPORTED:
        return Verdict(MATCH)
    if (obs.status == RAISED) != (reference.status == RAISED):
        if obs.status == RAISED:
            return Verdict(ERROR, [Difference("error-vs-value", "raised", "error", "a value",
                                              f"{obs.error['type']}: {_one_line(obs.error['message'])}", call,
                                              _REFERENCE)])
        return Verdict(DIFFERS, [Difference("error-vs-value", "returned", "out", str(reference.error['type']),
                                            f"a {obs.dtype} of shape {obs.shape}", call, _REFERENCE)])
    if obs.status == RAISED:
        wanted = catchable(reference.error)
        if wanted is None or caught_by(obs.error, wanted) or _is_r(obs.error) != _is_r(reference.error):
            # (a port in R held to a Python framework, or the reverse: no handler is written in both
            # languages, so only that both raise is compared)
            return Verdict(MATCH)
        return Verdict(DIFFERS, [_error_type(wanted, obs.error, call, _REFERENCE)])
    return None


def _value_against(case: GoldenCase, reference, obs, reduction: str, divisor, call: str):
    """The value's differences from the reference's (with the spec's tolerance for the coarser dtype), and
    the worst error in ULPs."""
    dtype = tolerance.coarser(reference.dtype, obs.dtype)
    tol = tolerance.value_tolerance(case.input, case.target, case.call.log_target, reduction, divisor,
                                    reference.value, dtype) if case.input.shape == case.target.shape else None
    tol = tolerance.fitted(tol, reference.value, dtype)
    diffs, max_ulp = _compare_arrays("out", obs.value, Reference(reference.value, tol, dtype), dtype, call,
                                     with_ulps=True)
    return [_rename(d) for d in diffs], max_ulp


def _gradient_against(case: GoldenCase, wrt: str, g, r, dtype: str, divisor, call: str) -> list[Difference]:
    """One gradient's differences from the reference's: presence, shape, then values where the spec
    defines them."""
    if (g.status == GRAD_NONE) != (r.status == GRAD_NONE):
        have = "no gradient" if g.status == GRAD_NONE else "a gradient"
        return [Difference("gradient", "gradient-presence", f"grad_{wrt}",
                           "one" if g.status == GRAD_NONE else "none", have, call, _REFERENCE)]
    if g.status != "ok" or r.status != "ok":
        return []
    gv, rv = np.asarray(g.value), np.asarray(r.value)
    if gv.shape != rv.shape:
        return [Difference("gradient", "is", f"grad_{wrt}.shape", str(rv.shape), str(gv.shape), call, _REFERENCE)]
    exp = case.expects
    defined = getattr(exp, f"grad_{wrt}_defined") if exp.outcome == "value" else None
    if defined is not None and np.shape(defined) != rv.shape:
        defined = None
    gdt = tolerance.coarser(dtype, g.dtype)
    gtol = tolerance.gradient_tolerance(case.input, case.target, case.call.log_target, divisor, wrt, gdt) \
        if case.input.shape == case.target.shape else None
    gtol = tolerance.fitted(gtol, rv, gdt)
    gd, _ = _compare_arrays(f"grad_{wrt}", gv, Reference(rv, gtol, gdt, defined), gdt, call, "gradient", "gradient")
    return [_rename(d) for d in gd]


_REFERENCE = "the reference"


def _rename(d: Difference) -> Difference:
    if d.form == "is":  # (the element count's sentence keeps "the spec": it always has)
        d.by = _REFERENCE
    return d
