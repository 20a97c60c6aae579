"""The porting layer's tensor operations on JAX arrays (see backends.py for the other frameworks').

Pure jax.numpy: what core.py builds from them is differentiable with jax.grad / jax.vjp and traces under
jax.jit, since core branches only on shapes, dtypes and arguments, never on values. Considered only when
JAX is already imported. float64 needs `jax_enable_x64` (JAX's own switch, left to the caller).
"""

from __future__ import annotations

import math
import sys


class JaxOps:
    framework = "jax"
    native_dtypes = ("float16", "bfloat16", "float32", "float64")

    def __init__(self):
        import jax
        import jax.numpy as jnp

        self.jax, self.n = jax, jnp

        @jax.custom_vjp
        def kl_term(y, x):
            return y * (jnp.log(y) - x)

        def forward(y, x):
            return kl_term(y, x), (y, x)

        def backward(saved, dout):
            # the derivatives formed directly (see core's "exact" formula): no dout * y to underflow
            y, x = saved
            return dout * (jnp.log(y) + 1 - x), -dout * y

        kl_term.defvjp(forward, backward)
        self._kl_term = kl_term

    @staticmethod
    def is_appropriate_type(x) -> bool:
        jax = sys.modules.get("jax")
        return jax is not None and isinstance(x, jax.Array)

    def dtype_name(self, x):
        return str(x.dtype)

    def cast(self, x, dtype):
        return x if self.dtype_name(x) == dtype else x.astype(getattr(self.n, dtype))

    def shape(self, x):
        return tuple(x.shape)

    def numel(self, x):
        return math.prod(x.shape)

    def detach(self, x):
        return self.jax.lax.stop_gradient(x)

    def isnan(self, x):
        return self.n.isnan(x)

    def is_zero(self, x):
        return x == 0

    def is_neginf(self, x):
        return self.n.isneginf(x)

    def where(self, cond, a, b):
        return self.n.where(cond, a, b)

    def zeros_like(self, x):
        return self.n.zeros_like(x)

    def ones_like(self, x):
        return self.n.ones_like(x)

    def log(self, x, round_to=None):
        return self._rounded(self.n.log(x), round_to)

    def exp(self, x, round_to=None):
        return self._rounded(self.n.exp(x), round_to)

    def kl_term(self, y, x):
        return self._kl_term(y, x)

    def _rounded(self, t, dtype):
        return t if dtype is None else self.cast(self.cast(t, dtype), self.dtype_name(t))

    def sum(self, x):
        return self.n.sum(x)

    def sum_axis(self, x, axis):
        return self.n.sum(x, axis=axis)

    def native(self, input, target, reduction, log_target, size_average, reduce):
        """optax's loss, called as kl_compat's jax adapter maps the arguments onto it."""
        import optax

        from kl_compat.adapters.jax_backend import optax_call
        from kl_compat.spec import Call

        name, kwargs, mean = optax_call(Call(reduction, log_target, size_average, reduce))
        out = getattr(optax.losses, name)(input, target, **kwargs)
        return out.mean() if mean else out
