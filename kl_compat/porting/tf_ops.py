"""The porting layer's tensor operations on TensorFlow tensors (see backends.py for the other frameworks').

TensorFlow's own operations: what core.py builds from them is differentiable under tf.GradientTape and
traces under tf.function, since core branches only on shapes, dtypes and arguments, never on values.
Considered only when TensorFlow is already imported.
"""

from __future__ import annotations

import math
import sys


class TFOps:
    framework = "tensorflow"
    native_dtypes = ("float16", "bfloat16", "float32", "float64")

    def __init__(self):
        import tensorflow as tf

        self.tf = tf

        @tf.custom_gradient
        def kl_term(y, x):
            def backward(dout):
                # the derivatives formed directly (see core's "exact" formula): no dout * y to underflow
                return dout * (tf.math.log(y) + 1 - x), -dout * y

            return y * (tf.math.log(y) - x), backward

        self._kl_term = kl_term

    @staticmethod
    def is_appropriate_type(x) -> bool:
        tf = sys.modules.get("tensorflow")
        return tf is not None and isinstance(x, (tf.Tensor, tf.Variable))

    def dtype_name(self, x):
        return x.dtype.name

    def cast(self, x, dtype):
        return x if self.dtype_name(x) == dtype else self.tf.cast(x, getattr(self.tf, dtype))

    def shape(self, x):
        return tuple(x.shape)

    def numel(self, x):
        return math.prod(x.shape)

    def detach(self, x):
        return self.tf.stop_gradient(x)

    def isnan(self, x):
        return self.tf.math.is_nan(x)

    def is_zero(self, x):
        return self.tf.equal(x, 0)

    def is_neginf(self, x):
        return self.tf.equal(x, float("-inf"))

    def where(self, cond, a, b):
        return self.tf.where(cond, a, b)

    def zeros_like(self, x):
        return self.tf.zeros_like(x)

    def ones_like(self, x):
        return self.tf.ones_like(x)

    def log(self, x, round_to=None):
        return self._rounded(self.tf.math.log(x), round_to)

    def exp(self, x, round_to=None):
        return self._rounded(self.tf.math.exp(x), round_to)

    def kl_term(self, y, x):
        return self._kl_term(y, x)

    def _rounded(self, t, dtype):
        return t if dtype is None else self.cast(self.cast(t, dtype), self.dtype_name(t))

    def sum(self, x):
        # float16/bfloat16 summed in float32 and rounded once, as torch and XLA accumulate them
        # (reduce_sum accumulates in the tensor's dtype, which overflows float16 where the result does not)
        low = self.dtype_name(x) in ("float16", "bfloat16")
        total = self.tf.reduce_sum(self.cast(x, "float32") if low else x)
        return self.cast(total, self.dtype_name(x)) if low else total

    def sum_axis(self, x, axis):
        low = self.dtype_name(x) in ("float16", "bfloat16")
        total = self.tf.reduce_sum(self.cast(x, "float32") if low else x, axis=axis)
        return self.cast(total, self.dtype_name(x)) if low else total
