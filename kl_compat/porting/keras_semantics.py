"""Keras' semantics (semantics.KERAS) on any framework's tensors: keras.losses.KLDivergence(reduction=...)
called as kl_compat's keras adapter calls it, (target, exp(input)), written over the porting layer's tensor
operations (backends.py).

Keras' loss is not torch's kl_div with other edge rules: it sums each sample's terms over the last axis
before any reduction, and clips probabilities, so it has a pipeline of its own here rather than a branch in
core.py. Its steps, after keras/src/losses/loss.py and losses.py:

  1. the prediction is exp(input), formed in the input's own dtype (by the caller, before Keras sees it);
  2. Loss.__call__ converts both operands to the loss's dtype (sem.compute_dtype: float32, integers too);
  3. kl_divergence clips both to [epsilon, 1] (sem.clip), then sums y * log(y / p) over the last axis;
  4. reduce_values returns the per-sample values as they are for 'none' (or None), and when they are 0-d
     or of shape (0,); otherwise sums them, and for 'sum_over_batch_size' ('batchmean' here) and 'mean'
     divides the sum by their number, with divide_no_nan.
"""

from __future__ import annotations

from .core import UnsupportedArgument
from .semantics import Semantics
from .shapes import check_broadcast

# The reductions Keras' standardize_reduction accepts that the matrix's call can name, and what they mean
# here: PyTorch's 'batchmean' is passed as Keras' 'sum_over_batch_size' (the keras adapter's mapping).
_REDUCTIONS = {"none": "none", None: "none", "sum": "sum", "mean": "mean", "batchmean": "mean",
               "sum_over_batch_size": "mean"}


def kl_div(ops, sem: Semantics, input, target, reduction, log_target, size_average, reduce):
    if log_target:
        raise UnsupportedArgument(f"{sem.name} semantics: kl_div has no log_target argument", "log_target")
    if size_average is not None or reduce is not None:
        raise UnsupportedArgument(f"{sem.name} semantics: kl_div has no size_average/reduce arguments",
                                  "size_average/reduce")
    if not (reduction is None or isinstance(reduction, str)) or reduction not in _REDUCTIONS:
        raise ValueError(f"{sem.name} semantics: invalid reduction {reduction!r}: expected one of "
                         f"{', '.join(repr(r) for r in _REDUCTIONS)}")
    if not ops.dtype_name(input).startswith(("float", "bfloat")):
        raise TypeError(f"{sem.name} semantics: exp(input) is not defined for input dtype {ops.dtype_name(input)}")
    check_broadcast(sem, ops.shape(input), ops.shape(target))
    compute = sem.compute_dtype or "float32"
    p = ops.cast(ops.exp(input), compute)
    y = ops.cast(target, compute)
    if sem.clip is not None:
        y, p = _clip(ops, y, sem.clip), _clip(ops, p, sem.clip)
    terms = y * ops.log(y / p)
    if not ops.shape(terms):
        raise ValueError(f"{sem.name} semantics: the loss sums over axis -1, which a 0-d input does not have")
    return _reduce(ops, ops.sum_axis(terms, -1), _REDUCTIONS[reduction])


def _clip(ops, t, bounds):
    """t clipped to [low, high] as tf.clip_by_value clips: the gradient passes where low <= t <= high (its
    ends included) and is 0 elsewhere; nan stays nan."""
    low, high = bounds
    zeros = ops.zeros_like(t)
    t = ops.where(t < low, zeros + low, t)
    return ops.where(t > high, zeros + high, t)


def _reduce(ops, values, reduction):
    """Keras' reduce_values for one sample value per row (no sample weights)."""
    shape = ops.shape(values)
    if reduction == "none" or shape == () or shape == (0,):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    count = ops.numel(values)
    return total / count if count else total * 0  # divide_no_nan: 0 where there is nothing to divide by
