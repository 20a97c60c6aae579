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
    if sem.reductions == "keras":  # (its arguments are checked before the shapes)
        return keras_semantics.kl_div(ops, sem, input, target, reduction, log_target, size_average, reduce)
    return core.kl_div(ops, sem, input, target, reduction, log_target, size_average, reduce)

