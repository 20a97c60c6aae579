"""kl_div with chosen semantics, written once over a small set of tensor operations (see backends.py).

Built from each framework's own differentiable operations, so autograd works natively. Gradient-safe:
where a branch is masked out, its inputs are replaced by harmless values first (a masked log(0) would
otherwise send nan back through `where`). This composite is the definition; where a backend has a fused
kernel for the semantics (one autograd function, a few passes over memory instead of a pass per masking
op), `_fast_kernel` sends the call there instead, only where the kernel's results are the composite's
(bit for bit for torch's kernel; for Paddle's C kernel every edge value and within rounding elsewhere:
see `_fast_kernel`).
"""

from __future__ import annotations

import builtins
import functools
import math
import warnings

from kl_compat import dtypes, spec
from kl_compat.errors import KlCompatError

from .semantics import Semantics
from .shapes import check_broadcast

_LOW = ("float16", "bfloat16")


class PortingError(KlCompatError):
    pass


class UnsupportedArgument(PortingError, TypeError):
    """The chosen semantics' framework has no such argument (e.g. Paddle has no size_average): `argument`
    names it, as the framework's own refusal would."""

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


def _resolve_reduction(sem: Semantics, reduction, size_average, reduce):
    """(reduction to apply, divide by the batch afterwards?) following the semantics' rules."""
    legacy = size_average is not None or reduce is not None
    if legacy:
        if sem.legacy == "unsupported":
            raise UnsupportedArgument(f"{sem.name} semantics: kl_div has no size_average/reduce arguments",
                                      "size_average/reduce")
        effective = spec.effective_reduction(spec.Call(reduction, False, size_average, reduce))
        if sem.legacy_warning:
            warnings.warn(sem.legacy_warning.format(reduction=effective), UserWarning, stacklevel=4)
        then_batch = sem.legacy == "override-then-batchmean" and reduction == "batchmean"
        return effective, then_batch
    if isinstance(reduction, str) and reduction in sem.aliases:
        warnings.warn(f"reduction={reduction!r} is deprecated, please use reduction="
                      f"{sem.aliases[reduction]!r} instead.", UserWarning, stacklevel=4)
        return sem.aliases[reduction], False
    if reduction is None and sem.null_reduction_raises:
        raise TypeError(f"{sem.name} semantics: reduction must not be None (NULL)")
    if not isinstance(reduction, str) or reduction not in spec.REDUCTIONS:
        if sem.unknown_reduction == "none":
            return "none", False
        if sem.unknown_reduction == "unsupported":
            raise UnsupportedArgument(f"{sem.name} semantics: kl_div has no reduction argument (got {reduction!r})",
                                      "reduction")
        if not isinstance(reduction, str):
            raise _error(sem, "S8-type", TypeError)(
                f"reduction must be a string, got {type(reduction).__name__} {reduction!r}")
        raise ValueError(f"unknown reduction {reduction!r}: expected one of {', '.join(map(repr, spec.REDUCTIONS))}")
    if reduction == "mean" and sem.mean_warning:
        warnings.warn(sem.mean_warning, UserWarning, stacklevel=4)
    return reduction, False


def _dtypes(ops, sem: Semantics, x, y):
    """(output dtype, dtype to compute in) or raise, following the semantics."""
    dx, dy = ops.dtype_name(x), ops.dtype_name(y)
    for role, d in (("input", dx), ("target", dy)):
        if not d.startswith(("float", "bfloat")):
            raise _error(sem, f"S7-{role}", TypeError)(f"{sem.name} semantics: kl_div is not defined for {role} dtype {d}")
        if d in _LOW and not sem.low_precision:
            raise RuntimeError(f"{sem.name} semantics: kl_div has no {d} kernel (float32 and float64 only)")
    if dx != dy and sem.mixed_dtypes == "float32-float64" and {dx, dy} != {"float32", "float64"}:
        raise TypeError(f"{sem.name} semantics: input {dx} and target {dy} differ")
    out = dtypes.result_dtype(dx, dy)
    # The spec computes in float64 and rounds once; where a framework lacks kernels for a low-precision
    # dtype, compute in float32 and return in `out`.
    if sem.compute_dtype:
        compute = sem.compute_dtype
    else:
        compute = "float32" if out in _LOW and out not in ops.native_dtypes else out
    return out, compute


def _error(sem: Semantics, rule: str, default: type[Exception]) -> type[Exception]:
    """The exception class the semantics' framework raises where a call breaks `rule` (Semantics.errors),
    else `default`, the spec's: a port is caught by the same `except` clauses as what it ports."""
    name = sem.errors.get(rule)
    cls = getattr(builtins, name, None) if name else None
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else default


def kl_div(ops, sem: Semantics, input, target, reduction="mean", log_target=False, size_average=None, reduce=None):
    if log_target and not sem.log_target:
        raise UnsupportedArgument(f"{sem.name} semantics: kl_div has no log_target argument", "log_target")
    reduction, then_batch = _resolve_reduction(sem, reduction, size_average, reduce)
    if sem.broadcast:  # (after the arguments, as the frameworks check them: R refuses log_target first)
        check_broadcast(sem, ops.shape(input), ops.shape(target))
    out_dtype, compute = _dtypes(ops, sem, input, target)
    in_shape, target_shape = ops.shape(input), ops.shape(target)
    if target_shape != in_shape and not sem.broadcast:
        raise ValueError(f"input shape {in_shape} and target shape {target_shape} differ: "
                         f"{sem.name} semantics need the same shape")
    kernel = _fast_kernel(ops, sem, input, target, log_target, then_batch, out_dtype, compute, in_shape, target_shape)
    if kernel is not None:
        # what `_reduce` divides the sum by (None: nothing)
        divisor = (math.prod(in_shape) if reduction == "mean" else None if reduction != "batchmean"
                   else in_shape[0] if in_shape else sem.batchmean_0d_divisor)
        # only "exact64" differentiates the composite itself under create_graph=True (built per call
        # only there: the partial costs microseconds against a small tensor's whole call)
        replay = (functools.partial(_composite, ops, sem, log_target=log_target, reduction=reduction,
                                    then_batch=then_batch, out_dtype=out_dtype, compute=compute)
                  if kernel == "exact64" else None)
        return ops.fast_kl_div(kernel, input, target, reduction, divisor, out_dtype, replay)
    return _composite(ops, sem, input, target, log_target, reduction, then_batch, out_dtype, compute)


def _fast_kernel(ops, sem: Semantics, x, y, log_target, then_batch, out_dtype, compute, x_shape, y_shape):
    """The fused kernel (backends.py: one autograd function per framework) for this call, or None for the
    composite. A kernel is taken only where it gives the composite's results (values, dtypes, shapes and
    both gradients: tests/test_porting_fast.py holds it to that over the whole matrix and tensors full of
    edge values), so where a call goes changes speed, never semantics: "exact64" bit for bit; "xlogy" (C)
    with the composite's operations in its order, so every nan, infinity and zero is the composite's and
    the rest within rounding (the C library's log against Paddle's, a pairwise sum against Paddle's).

    - "exact64" (torch tensors): the spec's family, y * (log y - x) computed in float64, a zero-probability
      term 0. Any float dtypes, mixed included: the composite casts each operand to float64 exactly and
      rounds the result once, which the kernel does too (nothing is emulated in a narrower dtype).
    - "xlogy" (Paddle tensors): torch's and R torch's family, xlogy(y, y) - y * x with torch's product-rule
      derivative (nan at y == 0), computed in the tensors' dtype: only where input and target share a
      dtype that Paddle computes natively (float32, float64). Low-precision dtypes stay on the composite,
      which rounds every intermediate through float16/bfloat16 as a native kernel would; mixed dtypes
      too (torch forms xlogy(y, y) in the target's dtype before promoting).
    Everywhere, the composite keeps: log_target=True (not fused yet); the legacy size_average/reduce
    (`then_batch`: a second division); broadcast shapes (gradients summed over broadcast dimensions);
    empty tensors (nothing to gain); and tensors the backend's fast_ok refuses (devices, strides, tracing).
    """
    if log_target or then_batch or not getattr(ops, "fast_kernels", ()):
        return None
    if x_shape != y_shape or 0 in x_shape:
        return None
    if not (sem.nonpositive_target == "nan" and sem.target_gradient):
        return None
    if sem.formula == "exact" and sem.compute_dtype == "float64" and sem.zero_times_inf == "zero":
        kernel = "exact64"
    elif (sem.formula == "xlogy" and sem.zero_times_inf == "ieee" and sem.zero_target_gradient == "nan"
          and compute == out_dtype == ops.dtype_name(x) == ops.dtype_name(y)):
        kernel = "xlogy"
    else:
        return None
    return kernel if kernel in ops.fast_kernels and ops.fast_ok(x, y) else None


def _composite(ops, sem: Semantics, input, target, log_target, reduction, then_batch, out_dtype, compute):
    """kl_div from the framework's own differentiable operations, after the arguments are checked."""
    in_shape = ops.shape(input)
    y = target if sem.target_gradient else ops.detach(target)
    target_dtype = ops.dtype_name(target)
    emulate = sem.round_like_native and compute != out_dtype
    # torch forms xlogy(y, y) and exp(y) in the target's own dtype, then promotes; and a native float16
    # kernel rounds each of them (forward and backward: the casts round the gradient too) to float16.
    own_terms = sem.target_terms_in_target_dtype and target_dtype != out_dtype
    terms_dtype = target_dtype if (own_terms or emulate) and target_dtype != compute else None
    emulated = out_dtype if emulate else None
    loss = _pointwise(ops, sem, ops.cast(input, compute), ops.cast(y, compute), log_target, terms_dtype, emulated)
    if sem.reductions == "optax" and reduction == "batchmean":
        in_shape = _last_axis_batch(ops.shape(loss))
    return _reduce(ops, loss, reduction, then_batch, in_shape, out_dtype, emulate, sem.batchmean_0d_divisor)


def _last_axis_batch(shape):
    """optax's 'batchmean' (a sum over the last axis, then the mean over the others) as a division of the
    sum: by the product of the unreduced loss's other dimensions, as a 1-tuple; a 0-d loss has no last axis."""
    if not shape:
        raise ValueError("optax semantics: 'batchmean' sums over axis -1, which a 0-d loss does not have")
    return (math.prod(shape[:-1]),)


def _round_through(ops, t, dtype):
    """`t` rounded to `dtype` and back: the value a kernel computing in `dtype` would hold (no-op for None)."""
    return t if dtype is None else ops.cast(ops.cast(t, dtype), ops.dtype_name(t))


def _pointwise(ops, sem, x, y, log_target, terms_dtype, emulated):
    """S1 with the semantics' edge rules, in the compute dtype. Terms of the target alone (y log y,
    exp y) are rounded through `terms_dtype` when given (torch's promotion order); with `emulated`, every
    intermediate is rounded through that dtype, as a native kernel computing in it would hold it."""
    def r(t):
        return _round_through(ops, t, emulated)

    nan_x = ops.isnan(x)
    if log_target:
        if sem.zero_times_inf == "ieee":
            return r(ops.exp(y, terms_dtype) * r(y - x))
        no_mass = ops.is_neginf(y)
        drop = no_mass & ~nan_x  # probability zero: the term is 0
        y_safe = ops.where(no_mass, ops.zeros_like(y), y)
        loss = r(ops.exp(y_safe, terms_dtype) * r(y_safe - ops.where(drop, ops.zeros_like(x), x)))
        return ops.where(drop, ops.zeros_like(loss), loss)
    # Entries forced to 0, with harmless stand-ins there so that no nan flows back through `where`.
    if sem.nonpositive_target == "zero":
        forced = y <= 0  # Paddle: every target <= 0 gives 0 (a nan target is not <= 0: it propagates)
    elif sem.zero_times_inf == "zero":
        forced = ops.is_zero(y) & ~nan_x  # the spec: a zero-probability term is 0, unless x is nan
    else:
        forced = None  # torch: IEEE arithmetic throughout (y == 0 with x == -inf gives 0 * inf = nan)
    # Where a zero-probability term is forced to 0, the stand-in 0 - y * x keeps S9/S10's derivatives
    # there (dl/dx = -y, so d2l/dx dy = -1). Both factors are 0 elsewhere (and an infinite x is 0), so
    # that no nan or inf flows back through the `where` from entries the stand-in does not stand for.
    stand_in = None
    if forced is not None and sem.nonpositive_target != "zero":
        keep_x = forced & ~(ops.is_neginf(x) | ops.is_neginf(-x))
        stand_in = ops.zeros_like(y) - ops.where(forced, y, ops.zeros_like(y)) * ops.where(keep_x, x, ops.zeros_like(x))
    if forced is not None:
        y, x = ops.where(forced, ops.ones_like(y), y), ops.where(forced, ops.zeros_like(x), x)
    if sem.formula == "exact":
        loss = ops.kl_term(ops.where(ops.is_zero(y), ops.ones_like(y), y), x)
    elif sem.formula == "xlogy":
        if sem.zero_target_gradient == "nan":
            # Unsafe on purpose: the masked branch's backward is 0 * log(0) = nan at y == 0, as torch's.
            ylogy = ops.where(ops.is_zero(y), ops.zeros_like(y), _round_through(ops, y * ops.log(y, terms_dtype), terms_dtype))
        else:
            y_safe = ops.where(ops.is_zero(y), ops.ones_like(y), y)  # log(1) = 0: no nan to send back
            ylogy = _round_through(ops, y_safe * ops.log(y_safe, terms_dtype), terms_dtype)
        loss = r(r(ylogy) - r(y * x))
    elif sem.zero_target_gradient == "nan":
        # optax's where(y == 0, 0, log y): log's backward at y == 0 sends 0 / 0 = nan through the `where`
        loss = r(y * r(ops.where(ops.is_zero(y), ops.zeros_like(y), ops.log(y, terms_dtype)) - x))
    else:
        y_safe = ops.where(ops.is_zero(y), ops.ones_like(y), y)
        loss = r(y * r(ops.log(y_safe, terms_dtype) - x))
    if forced is None:
        return loss
    return ops.where(forced, ops.zeros_like(loss) if stand_in is None else stand_in, loss)


def _reduce(ops, loss, reduction, then_batch, in_shape, out_dtype, emulate: bool, batchmean_0d_divisor: int):
    """S3. `emulate`: a native low-precision kernel's sums are emulated (rounded to `out_dtype`)."""
    if reduction == "none":
        result = loss
    else:
        # 'mean' of a float16/bfloat16 loss accumulates in float32 and rounds once, as torch's and XLA's
        # mean do (a float16 sum can overflow where the mean does not)
        wide = reduction == "mean" and ops.dtype_name(loss) in _LOW
        result = ops.sum(ops.cast(loss, "float32") if wide else loss)
        if reduction == "mean":
            result = result / ops.numel(loss)
        elif emulate:
            result = _round_through(ops, result, out_dtype)  # summed into the output dtype
    if reduction == "batchmean" or then_batch:
        result = result / (in_shape[0] if len(in_shape) > 0 else batchmean_0d_divisor)
    return ops.cast(result, out_dtype)
