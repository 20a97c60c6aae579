"""The porting layer: one framework's KL-divergence semantics, exactly, in another.

    kl_compat.kl_div(input, target, reduction="mean", log_target=False, semantics="torch")

takes torch or Paddle tensors, JAX arrays or TensorFlow tensors (dispatching on their type without
importing any other framework) and returns that framework's tensor, computed with the chosen semantics
("spec", or a framework's adapter name: "torch", "paddle", "rtorch", "jax" (alias "optax"), "keras"; see
semantics.py). Where the chosen semantics are the tensors' own framework's, the native op is called: it is
the definition. Keras' loss, which sums each sample over the last axis and clips probabilities, has its
own pipeline (keras_semantics.py). Elsewhere core.py computes them: a fused
kernel (backends.py) where one gives the composite's results (exactly, but for one gradient within
rounding: see core._fast_kernel), the composite of framework ops otherwise. Module forms:
kl_compat.porting.torch_module.KLDivLoss and kl_compat.porting.paddle_module.KLDivLoss.
"""

from __future__ import annotations

import builtins

from . import core, keras_semantics
from .backends import ops_for
from .semantics import Semantics, get

__all__ = ["kl_div", "Semantics", "UnsupportedArgument"]
UnsupportedArgument = core.UnsupportedArgument


def kl_div(input, target, reduction="mean", log_target: bool = False, semantics: str = "torch", *,
           size_average=None, reduce=None):
    ops = ops_for(input)
    if ops_for(target) is not ops:
        raise TypeError("kl_compat.kl_div: input and target belong to different frameworks")
    sem = get(semantics)
    if sem.name == ops.framework:
        return ops.native(input, target, reduction, log_target, size_average, reduce)
    if sem.broadcast:
        _check_broadcast(sem, ops.shape(input), ops.shape(target))
    if sem.reductions == "keras":
        return keras_semantics.kl_div(ops, sem, input, target, reduction, log_target, size_average, reduce)
    return core.kl_div(ops, sem, input, target, reduction, log_target, size_average, reduce)


def _check_broadcast(sem: Semantics, a: tuple, b: tuple) -> None:
    """Shapes that do not broadcast raise what the semantics' framework raises (sem.broadcast_error), not
    whatever the tensors' framework's arithmetic would raise."""
    if a == b:
        return
    for m, n in zip(reversed(a), reversed(b)):
        if m != n and 1 not in (m, n):
            raise getattr(builtins, sem.broadcast_error)(
                f"{sem.name} semantics: input shape {a} and target shape {b} do not broadcast")
