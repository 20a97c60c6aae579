"""Tolerances, derived from the dtype and the size of what is computed: the one place they are defined.

A framework computing in dtype d cannot be held to better than a few roundings of d on each term it
forms. So the allowed error is

    ULP_FACTOR * eps(d) * magnitude  +  ULP_FACTOR * smallest_subnormal(d)

where `magnitude` bounds the sizes of the intermediate values, not of the result (the loss is a
difference, y*log(y) - y*x, and cancels near KL = 0):
    pointwise, log_target=False:  |y| * (|log y| + |x|)      (0 where y <= 0)
    pointwise, log_target=True:   exp(y) * (|y| + |x|)
    a reduction: sum of the pointwise magnitudes / divisor, times log2(n) for the summation's own
      error (pairwise and cascade sums grow like that), plus |result|.
    dl/dx: |y| (exp(y) with log_target), / divisor.   dl/dy: |log y| + 1 + |x| (times exp(y)), / divisor.
ULP_FACTOR is 8: three roundings per term in the worst case, with room for fused or reordered
arithmetic. Errors are also reported in ULPs of the expected value, so a reader sees how close it is.

Two measures of accuracy are recorded for every returned value (kl_compat.compare), not judged:
  max_ulp   the worst error in ULPs of the correctly rounded golden;
  max_cond  the worst error relative to the operation's condition, |result - golden| / condition_scale:
            eps(d) * |term| per element for 'none', eps(d) * sum|terms| / divisor for a reduction, plus
            the dtype's smallest subnormal (so an exact zero is measured as ULPs are). A backward-stable
            summation stays within about log2(n) of it, whatever the cancellation; a value can be
            thousands of ULPs off yet within a few units of its condition (KL near 0 cancels).

STRICT (`kl-compat run --tolerance strict`, the plugin's `tolerance="strict"`) holds a value to the bound
of a backward-stable evaluation instead of the default's generous one:
    pointwise:    STRICT_TERM * eps(d) * magnitude + floor
    a reduction:  eps(d) * ((STRICT_TERM + log2(n) / 2) * sum(magnitudes) / divisor + |result|) + floor
Each term costs at most three roundings of u = eps/2 (the log or exp, the subtraction, the product):
STRICT_TERM = 2 covers them with a little room. Pairwise (and blocked or cascade) summation adds at most
u * ceil(log2 n) * sum|terms|, and |term| <= magnitude; the final rounding and a mean's division add an
ULP of the result (the |result| term). Naive left-to-right accumulation may reach u * n * sum|terms|,
which the default tolerates for small n and strict does not. Gradients are elementwise and keep the
default's bound in both modes.
"""

from __future__ import annotations

import functools

import numpy as np

from .dtypes import FLOAT_FORMATS

ULP_FACTOR = 8.0
STRICT_TERM = 2.0
DEFAULT, STRICT = "default", "strict"
MODES = (DEFAULT, STRICT)


def _eps_and_floor(dtype: str) -> tuple[float, float]:
    fmt = FLOAT_FORMATS.get(dtype, FLOAT_FORMATS["float64"])
    return fmt.eps, fmt.smallest_subnormal


@functools.lru_cache(maxsize=None)  # called several times per record, with a handful of distinct arguments
def coarser(a: str | None, b: str | None) -> str:
    """The dtype with the larger eps (a framework answering in a coarser dtype is judged at its own)."""
    ds = [d for d in (a, b) if d in FLOAT_FORMATS]
    return max(ds, key=lambda d: FLOAT_FORMATS[d].eps) if ds else "float64"


def _finite(a):
    return np.where(np.isfinite(a), a, 0.0)


def pointwise_magnitude(x, y, log_target: bool) -> np.ndarray:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        if log_target:
            m = np.exp(y) * (np.abs(y) + np.abs(x))
        else:
            m = np.where(y > 0, np.abs(y) * (np.abs(np.log(y)) + np.abs(x)), 0.0)
    return _finite(m)


def value_tolerance(x, y, log_target: bool, reduction: str, divisor: float, expected, dtype: str,
                    mode: str = DEFAULT) -> np.ndarray:
    if mode == STRICT:
        return strict_value_tolerance(x, y, log_target, reduction, divisor, expected, dtype)
    eps, floor = _eps_and_floor(dtype)
    m = pointwise_magnitude(x, y, log_target)
    if reduction != "none":
        n = max(m.size, 1)
        with np.errstate(all="ignore"):
            m = np.float64(m.sum()) / max(divisor, 1) * max(1.0, np.log2(n)) + np.abs(_finite(expected))
    return ULP_FACTOR * eps * np.asarray(m) + ULP_FACTOR * floor


def strict_value_tolerance(x, y, log_target: bool, reduction: str, divisor: float, expected,
                           dtype: str) -> np.ndarray:
    """The bound of a backward-stable evaluation (the module's docstring: STRICT)."""
    eps, floor = _eps_and_floor(dtype)
    m = pointwise_magnitude(x, y, log_target)
    if reduction == "none":
        return STRICT_TERM * eps * m + floor
    n = max(m.size, 1)
    with np.errstate(all="ignore"):
        total = np.float64(m.sum()) / max(divisor, 1)
        bound = (STRICT_TERM + np.log2(n) / 2) * total + np.abs(_finite(expected))
    return eps * np.asarray(bound) + floor


def condition_scale(x, y, log_target: bool, reduction: str, divisor: float, dtype: str) -> np.ndarray:
    """eps(dtype) times what the result is conditioned by: |term| per element ('none'), or
    sum|terms| / divisor for a reduction; plus the smallest subnormal. The denominator of max_cond."""
    from .spec import pointwise  # (spec does not import this module; kept local all the same)

    eps, floor = _eps_and_floor(dtype)
    with np.errstate(all="ignore"):
        t = np.abs(_finite(pointwise(x, y, log_target)))
        if reduction != "none":
            t = np.float64(t.sum()) / max(divisor, 1)
    return eps * np.asarray(t) + floor


def gradient_tolerance(x, y, log_target: bool, divisor: float, wrt: str, dtype: str) -> np.ndarray:
    eps, floor = _eps_and_floor(dtype)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        weight = np.exp(y) if log_target else np.abs(y)
        if wrt == "input":
            m = weight
        else:
            inner = np.abs(y) if log_target else np.abs(np.log(np.where(y > 0, y, 1.0)))
            m = weight * (inner + 1.0 + np.abs(x)) if log_target else inner + 1.0 + np.abs(x)
        m = _finite(m) / max(divisor, 1)
    return ULP_FACTOR * eps * m + ULP_FACTOR * floor


def second_order_tolerance(x, y, log_target: bool, divisor: float, expected, dtype: str) -> np.ndarray:
    """A second derivative's (spec S10): a framework forms it by differentiating the terms of a first
    gradient, which cancel where it is 0 (exp(x) / exp(x), y / y): the bound is ULP_FACTOR roundings of
    the value and of those terms, each of the first gradients' magnitude (as gradient_tolerance)."""
    eps, floor = _eps_and_floor(dtype)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        if log_target:
            terms = np.exp(y) * (np.abs(y) + np.abs(x) + 2.0)
        else:
            terms = np.abs(y) + np.abs(np.log(np.where(y > 0, y, 1.0))) + 1.0 + np.abs(x)
        m = np.abs(_finite(np.asarray(expected, np.float64))) + _finite(terms) / max(divisor, 1)
    return ULP_FACTOR * eps * m + ULP_FACTOR * floor


def fitted(tol, reference, dtype: str) -> np.ndarray:
    """`tol` where it fits `reference` element for element; otherwise (a reference that reduced where the
    spec would not, or the reverse) the plain elementwise bound on the reference's own magnitude."""
    reference = np.asarray(reference, np.float64)
    if tol is not None and np.size(tol) in (1, reference.size):
        return np.reshape(tol, reference.shape) if np.size(tol) == reference.size else np.asarray(tol)
    eps, floor = _eps_and_floor(dtype)
    return ULP_FACTOR * eps * np.abs(_finite(reference)) + ULP_FACTOR * floor
