"""The tensor operations the porting layer needs, one small class per framework (einops `_backends` style).

A backend is considered only when its framework is already imported (in sys.modules): asking which
backend a tensor belongs to never imports a framework.
"""

from __future__ import annotations

import sys


class TorchOps:
    framework = "torch"
    native_dtypes = ("float16", "bfloat16", "float32", "float64")

    def __init__(self):
        import torch

        self.t = torch

        class KLTerm(torch.autograd.Function):
            @staticmethod
            def forward(ctx, y, x):
                ctx.save_for_backward(y, x)
                return y * (torch.log(y) - x)

            @staticmethod
            def backward(ctx, dout):
                y, x = ctx.saved_tensors
                return dout * (torch.log(y) + 1 - x), -dout * y

        self._kl_term = KLTerm

    @staticmethod
    def is_appropriate_type(x) -> bool:
        return "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor)

    def dtype_name(self, x):
        return str(x.dtype).removeprefix("torch.")

    def cast(self, x, dtype):
        return x if self.dtype_name(x) == dtype else x.to(getattr(self.t, dtype))

    def shape(self, x):
        return tuple(x.shape)

    def numel(self, x):
        return x.numel()

    def detach(self, x):
        return x.detach()

    def isnan(self, x):
        return self.t.isnan(x)

    def is_zero(self, x):
        return x == 0

    def is_neginf(self, x):
        return x == float("-inf")

    def where(self, cond, a, b):
        return self.t.where(cond, a, b)

    def zeros_like(self, x):
        return self.t.zeros_like(x)

    def ones_like(self, x):
        return self.t.ones_like(x)

    def log(self, x, round_to=None):
        return self._rounded(self.t.log(x), round_to)

    def exp(self, x, round_to=None):
        return self._rounded(self.t.exp(x), round_to)

    def kl_term(self, y, x):
        """y * (log y - x) with its derivatives formed directly: log y + 1 - x and -y (autograd's product
        rule would form grad * y first, which underflows for a subnormal y)."""
        return self._kl_term.apply(y, x)

    def _rounded(self, t, dtype):
        """`t` as a kernel computing in `dtype` holds it (the casts round the gradient on the way back)."""
        return t if dtype is None else self.cast(self.cast(t, dtype), self.dtype_name(t))

    def sum(self, x):
        return self.t.sum(x)

    def native(self, input, target, reduction, log_target, size_average, reduce):
        legacy = {k: v for k, v in (("size_average", size_average), ("reduce", reduce)) if v is not None}
        return self.t.nn.functional.kl_div(input, target, reduction=reduction, log_target=log_target, **legacy)


class PaddleOps:
    framework = "paddle"
    native_dtypes = ("float32", "float64")  # Paddle's CPU kernels for where/multiply lack float16/bfloat16

    def __init__(self):
        import paddle

        self.p = paddle
        self._log, self._exp, self._kl_term = _paddle_layers(paddle)

    @staticmethod
    def is_appropriate_type(x) -> bool:
        return "paddle" in sys.modules and isinstance(x, sys.modules["paddle"].Tensor)

    def dtype_name(self, x):
        return str(x.dtype).removeprefix("paddle.")

    def cast(self, x, dtype):
        return x if self.dtype_name(x) == dtype else x.astype(dtype)

    def shape(self, x):
        return tuple(x.shape)

    def numel(self, x):
        return int(x.numel())

    def detach(self, x):
        return x.detach()

    def isnan(self, x):
        return self.p.isnan(x)

    # Paddle's == on floating tensors means |a - b| < 1e-8, so `x == 0` holds for 1e-9 (and for every
    # subnormal): exact tests are spelled with ordered comparisons, which are exact.
    def is_zero(self, x):
        return (x >= 0) & (x <= 0)

    def is_neginf(self, x):
        return self.p.isinf(x) & (x < 0)

    def where(self, cond, a, b):
        return self.p.where(cond, a, b)

    def zeros_like(self, x):
        return self.p.zeros_like(x)

    def ones_like(self, x):
        return self.p.ones_like(x)

    def log(self, x, round_to=None):
        return self._log.apply(x, round_to)

    def kl_term(self, y, x):
        """y * (log y - x) with its derivatives formed directly (see TorchOps.kl_term)."""
        return self._kl_term.apply(y, x)

    def exp(self, x, round_to=None):
        return self._exp.apply(x, round_to)

    def sum(self, x):
        return self.p.sum(x)

    def native(self, input, target, reduction, log_target, size_average, reduce):
        if size_average is not None or reduce is not None:
            from .core import UnsupportedArgument

            raise UnsupportedArgument("paddle semantics: kl_div has no size_average/reduce arguments")
        kwargs = {"log_target": True} if log_target else {}
        return self.p.nn.functional.kl_div(input, target, reduction=reduction, **kwargs)


def _paddle_layers(paddle):
    """log and exp for Paddle with the backward formulas of torch (and of the calculus), optionally rounded
    through a narrower dtype as a native kernel in that dtype would round them, forward and backward.

    Paddle behaviours avoided here: its log backward is dout * (1 / x), which for a subnormal x is
    0 * inf = nan where dout / x is finite; and its vectorised CPU exp (tensors of 8 or more elements)
    returns 2**-128 (float32) or 2**-1024 (float64) wherever the true result is subnormal or 0, -inf
    included, so results below the normal range are computed as exp(x + 64 log 2) * 2**-64 (the scaling
    by a power of two is exact; the one rounding is the dtype's own), and 0 below the subnormal range.
    Subnormal inputs to log are scaled into the normal range too, so log's own range is never in doubt.
    """
    import math

    tiny = {"float32": 2.0 ** -126, "float64": 2.0 ** -1022}
    smallest = {"float32": 2.0 ** -149, "float64": 2.0 ** -1074}
    shift = 64 * math.log(2)
    from paddle.autograd import PyLayer

    def rounded(t, dtype):
        return t if dtype is None else t.astype(dtype).astype(t.dtype)

    class Log(PyLayer):
        @staticmethod
        def forward(ctx, x, round_to=None):
            ctx.save_for_backward(x)
            ctx.round_to = round_to
            limit = tiny.get(str(x.dtype).removeprefix("paddle."))
            if limit is None:
                return rounded(paddle.log(x), round_to)
            sub = (x > 0) & (x < limit)  # log(x) = log(x * 2**64) - 64 log 2, exactly scaled
            scaled = paddle.where(sub, x * 2.0 ** 64, x)
            out = paddle.log(scaled) - paddle.where(sub, paddle.full_like(x, shift), paddle.zeros_like(x))
            return rounded(out, round_to)

        @staticmethod
        def backward(ctx, dout):
            (x,) = ctx.saved_tensor()
            return rounded(rounded(dout, ctx.round_to) / x, ctx.round_to)

    class Exp(PyLayer):
        @staticmethod
        def forward(ctx, x, round_to=None):
            name = str(x.dtype).removeprefix("paddle.")
            out = paddle.exp(x)
            if name in tiny:
                low = x < math.log(tiny[name])  # the result is subnormal, or 0
                scaled = paddle.exp(paddle.where(low, x + shift, paddle.zeros_like(x))) * 2.0 ** -64
                out = paddle.where(low, scaled, out)
                out = paddle.where(x < math.log(smallest[name]) - 1, paddle.zeros_like(x), out)  # -inf too
            out = rounded(out, round_to)
            ctx.save_for_backward(out)
            ctx.round_to = round_to
            return out

        @staticmethod
        def backward(ctx, dout):
            (out,) = ctx.saved_tensor()
            return rounded(rounded(dout, ctx.round_to) * out, ctx.round_to)

    class KLTerm(PyLayer):
        @staticmethod
        def forward(ctx, y, x):
            ctx.save_for_backward(y, x)
            return y * (Log.apply(y) - x)

        @staticmethod
        def backward(ctx, dout):
            y, x = ctx.saved_tensor()
            return dout * (Log.apply(y) + 1 - x), -dout * y

    return Log, Exp, KLTerm


BACKENDS = (TorchOps, PaddleOps)
_instances: dict[type, object] = {}


def ops_for(x):
    for cls in BACKENDS:
        if cls.is_appropriate_type(x):
            if cls not in _instances:
                _instances[cls] = cls()
            return _instances[cls]
    raise TypeError(f"kl_compat.kl_div: no backend for {type(x).__module__}.{type(x).__name__}; "
                    "it takes torch or paddle tensors (NumPy arrays: kl_compat.spec.kl_div)")
