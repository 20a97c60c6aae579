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

    def where(self, cond, a, b):
        return self.t.where(cond, a, b)

    def zeros_like(self, x):
        return self.t.zeros_like(x)

    def ones_like(self, x):
        return self.t.ones_like(x)

    def log(self, x):
        return self.t.log(x)

    def exp(self, x):
        return self.t.exp(x)

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

    def where(self, cond, a, b):
        return self.p.where(cond, a, b)

    def zeros_like(self, x):
        return self.p.zeros_like(x)

    def ones_like(self, x):
        return self.p.ones_like(x)

    def log(self, x):
        return self.p.log(x)

    def exp(self, x):
        # Paddle's vectorised CPU exp returns 2**-128 (float32) or 2**-1024 (float64) for -inf on
        # tensors of 8 or more elements, not 0: exp(-inf) must be 0 here (a zero-probability term).
        return self.p.where(x == float("-inf"), self.p.zeros_like(x), self.p.exp(x))

    def sum(self, x):
        return self.p.sum(x)

    def native(self, input, target, reduction, log_target, size_average, reduce):
        if size_average is not None or reduce is not None:
            from .core import UnsupportedArgument

            raise UnsupportedArgument("paddle semantics: kl_div has no size_average/reduce arguments")
        kwargs = {"log_target": True} if log_target else {}
        return self.p.nn.functional.kl_div(input, target, reduction=reduction, **kwargs)


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
