"""The tensor operations the porting layer needs, one small class per framework (einops `_backends` style).

A backend is considered only when its framework is already imported (in sys.modules): asking which
backend a tensor belongs to never imports a framework.
"""

from __future__ import annotations

import math
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
        self._exact64 = _torch_exact64(torch)
        import torch.autograd.forward_ad as forward_ad

        self._forward_ad = forward_ad
        # What fast_ok asks torch (some of it private, present since torch 2.0): where any of it is
        # missing, every call takes the composite.
        self._transforms = getattr(getattr(torch._C, "_functorch", None), "peek_interpreter_stack", None)
        self._compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
        if self._transforms is None or self._compiling is None or not hasattr(forward_ad, "_current_level"):
            self.fast_kernels = ()

    @staticmethod
    def is_appropriate_type(x) -> bool:
        return "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor)

    fast_kernels = ("exact64",)

    def fast_ok(self, x, y) -> bool:
        """Whether the fused kernel may take these tensors: dense CPU tensors (where it is verified, and
        where its one read-back of a value costs no device sync), contiguous (the composite's outputs follow
        the inputs' strides, and the sums' order with them), in eager autograd only: no tracing or
        compiling (the kernel branches on data), no functorch transform or forward-mode AD (a custom
        Function without vmap/jvp rules), no __torch_function__ subclass."""
        t = self.t
        return (x.is_cpu and y.is_cpu and x.layout == t.strided and y.layout == t.strided
                and x.is_contiguous() and y.is_contiguous()
                and not t.overrides.has_torch_function((x, y)) and not t.jit.is_tracing()
                and not self._compiling() and self._transforms() is None and self._forward_ad._current_level < 0)

    def fast_kl_div(self, kernel, x, y, reduction, divisor, out_dtype, replay):
        assert kernel == "exact64", kernel
        return self._exact64.apply(x, y, (reduction, divisor, getattr(self.t, out_dtype), replay))

    def dtype_name(self, x):
        d = x.dtype  # (read several times per call)
        return _TORCH_DTYPE_NAMES.get(d) or _TORCH_DTYPE_NAMES.setdefault(d, str(d).removeprefix("torch."))

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

    def sum_axis(self, x, axis):
        return self.t.sum(x, axis)

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
        # The fused kernel is C (ckernel: compiled on first use); without a C compiler, or on Paddle 2
        # (where the kernel is not verified), every call takes the composite.
        from . import ckernel

        lib = ckernel.load() if int(paddle.__version__.split(".")[0] or 0) != 2 else None
        if lib is None:
            self.fast_kernels = ()
        else:
            self._xlogy = _paddle_xlogy(paddle, lib, self._log.apply)

    @staticmethod
    def is_appropriate_type(x) -> bool:
        return "paddle" in sys.modules and isinstance(x, sys.modules["paddle"].Tensor)

    fast_kernels = ("xlogy",)

    def fast_ok(self, x, y) -> bool:
        """Whether the fused kernel may take these tensors: CPU (the C kernel reads and writes their
        memory), contiguous, in dynamic (eager) mode."""
        return (x.place.is_cpu_place() and y.place.is_cpu_place() and x.is_contiguous() and y.is_contiguous()
                and self.p.in_dynamic_mode())

    def fast_kl_div(self, kernel, x, y, reduction, divisor, out_dtype, replay):
        assert kernel == "xlogy", kernel
        return self._xlogy.apply(x, y, (reduction, divisor, out_dtype))  # (no replay: see _paddle_graph_backward)

    def dtype_name(self, x):
        # (read several times per call: str() of a Paddle dtype costs microseconds, and so does hashing
        # one, so the names are found by identity: each dtype is one object)
        d = x.dtype
        for known, name in _PADDLE_DTYPE_NAMES:
            if d is known:
                return name
        name = str(d).removeprefix("paddle.")
        _PADDLE_DTYPE_NAMES.append((d, name))
        return name

    def cast(self, x, dtype):
        return x if self.dtype_name(x) == dtype else x.astype(dtype)

    def shape(self, x):
        return tuple(x.shape)

    def numel(self, x):
        return math.prod(x.shape)  # (x.numel() is an op, and int() of its result a copy to NumPy)

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

    def sum_axis(self, x, axis):
        return self.p.sum(x, axis=axis)

    def native(self, input, target, reduction, log_target, size_average, reduce):
        if size_average is not None or reduce is not None:
            from .core import UnsupportedArgument

            raise UnsupportedArgument("paddle semantics: kl_div has no size_average/reduce arguments",
                                      "size_average/reduce")
        kwargs = {"log_target": True} if log_target else {}
        return self.p.nn.functional.kl_div(input, target, reduction=reduction, **kwargs)


# Long, not split: its autograd classes live inside so that Paddle is imported only when it is called.
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
        def value(x, round_to=None):
            """The forward's values (no autograd)."""
            limit = tiny.get(str(x.dtype).removeprefix("paddle."))
            if limit is None:
                return rounded(paddle.log(x), round_to)
            sub = (x > 0) & (x < limit)  # log(x) = log(x * 2**64) - 64 log 2, exactly scaled
            scaled = paddle.where(sub, x * 2.0 ** 64, x)
            out = paddle.log(scaled) - paddle.where(sub, paddle.full_like(x, shift), paddle.zeros_like(x))
            return rounded(out, round_to)

        @staticmethod
        def forward(ctx, x, round_to=None):
            ctx.save_for_backward(x)
            ctx.round_to = round_to
            return Log.value(x, round_to)

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
            ctx.needs = (not y.stop_gradient, not x.stop_gradient)
            return y * (Log.apply(y) - x)

        @staticmethod
        def backward(ctx, dout):
            # (None for an operand that needs none: Paddle refuses a gradient for a stop_gradient input)
            y, x = ctx.saved_tensor()
            need_y, need_x = ctx.needs
            return (dout * (Log.apply(y) + 1 - x) if need_y else None), (-dout * y if need_x else None)

    return Log, Exp, KLTerm


# Long, not split: its autograd classes live inside so that torch is imported only when it is called.
def _torch_exact64(torch):
    """The spec's semantics (log_target=False) as one autograd function: bit for bit the composite of
    core._pointwise / core._reduce for formula="exact", compute_dtype="float64", zero_times_inf="zero"
    (a term with y == 0 is 0 unless x is nan), nonpositive_target="nan", with far fewer passes over memory.

    Forward: y * (log y - x) in float64 (four passes: the target's cast, log, subtract, multiply in place),
    summed; a zero target makes its term nan there (0 * -inf, or 0 * nan), so only when the sum is nan are
    the targets looked at for zeros, and those terms set to 0 as S2 says. Backward: the analytic
    derivatives, formed as core's KLTerm forms them (dl/dx = -dout * y, dl/dy = dout * (log y + 1 - x),
    so no dout * y underflows for a subnormal y), in the forward's loss buffer, each cast once to its
    input's dtype; at y == 0 the values the composite's `where`s give (0, and -dout for dl/dx where x is
    nan; dl/dy = -dout * x, the stand-in's, where the term is forced to 0). Saved: y in float64 and log y (the composite saves more). With create_graph=True the
    backward differentiates the composite itself (`replay`), so higher derivatives are the composite's.
    """
    f64 = torch.float64

    class Exact64(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, args):  # (the arguments in one tuple: apply's fixed cost grows with their number)
            reduction, divisor, out_dtype, replay = args
            # x is never cast: a float64 op takes it as it is, promoting each element exactly, without
            # a float64 copy of it in memory (fewer and smaller allocations: the faster, at every size)
            y64 = y.to(f64)  # (no copy for float64)
            log_y = torch.log(y64)
            terms = torch.sub(log_y, x)
            terms.mul_(y64)  # y * (log y - x); KLTerm's y2 * (log(y2) - x1), as the product commutes
            total = terms.sum()
            zero = forced = None
            if math.isnan(total.item()):
                z = y64 == 0
                if z.any():
                    zero, forced = z, z & ~torch.isnan(x)  # the composite's `forced`
                    terms.masked_fill_(forced, 0)
                    total = terms.sum()
            if reduction == "none":
                result = terms
            else:
                result = total if divisor is None else total / divisor
                ctx.scratch = terms  # free after the sum: the backward's workspace
            ctx.save_for_backward(x, y, y64, log_y)
            ctx.masks = zero, forced
            ctx.divisor, ctx.replay, ctx.reduced = divisor, replay, reduction != "none"
            return result.to(out_dtype)

        @staticmethod
        def backward(ctx, grad):
            x, y, y64, log_y = ctx.saved_tensors
            need_x, need_y = ctx.needs_input_grad[:2]
            if torch.is_grad_enabled():
                return _torch_replay(torch, ctx.replay, x, y, need_x, need_y, grad) + (None,)
            # dout: the cast's backward (to float64), then the division's (/ divisor, in float64 as
            # DivBackward divides), which the sum's backward expands; under a reduction one number, so
            # a Python float (the same double, and no tensor ops on it)
            if ctx.reduced:
                d = grad.item()
                d = d if ctx.divisor is None else d / ctx.divisor
            else:
                d = grad.to(f64)
            zero, forced = ctx.masks
            buf = ctx.__dict__.pop("scratch", None)  # (a second backward, retain_graph=True, allocates)
            gx = gy = None
            if need_x:
                buf = torch.mul(y64, -d, out=buf) if buf is not None else torch.mul(y64, -d)  # -dout * y
                if zero is not None:
                    buf.masked_fill_(forced, 0)
                    odd = zero & ~forced  # y == 0 with a nan x: the composite's y2 = 1 there, so -dout
                    if odd.any():
                        buf = torch.where(odd, -d, buf)
                gx = buf.to(x.dtype)
                buf = None if gx is buf else buf
            if need_y:
                buf = torch.add(log_y, 1, out=buf) if buf is not None else torch.add(log_y, 1)
                buf.sub_(x).mul_(d)  # dout * (log y + 1 - x)
                if zero is not None:
                    buf.masked_fill_(zero, 0)
                    if forced.any():  # the composite's stand-in 0 - y * x there (x = 0 where infinite)
                        finite_x = torch.where(torch.isinf(x), 0, x).to(f64)
                        buf = torch.where(forced, -d * finite_x, buf)
                gy = buf.to(y.dtype)
            return gx, gy, None

    return Exact64


def _paddle_xlogy(paddle, lib, log_apply):
    """torch's semantics (and R torch's; log_target=False) on Paddle tensors as one PyLayer around the C
    kernel (xlogy_kernel.c), in the tensors' own dtype (float32 or float64): xlogy(y, y) - y * x and torch's
    product-rule gradients, every operation the composite's (core._pointwise / core._reduce for
    formula="xlogy", zero_target_gradient="nan") in the composite's order and dtype, so the edge values
    (nan, inf, zeros) are the composite's everywhere; log is the C library's and a sum is pairwise, so
    finite values agree with the composite's within rounding.

    Passes over memory: the forward reads x and y and writes log y (kept for the backward, which writes
    dl/dy into its buffer) and, for reduction='none', the terms; the backward reads x, y and log y and
    writes dl/dx. Native paddle kl_div makes about as many (its loss, its sum, its backward), and computes
    no target gradient. With create_graph=True the backward is the composite's, as recorded ops.
    """
    from paddle.autograd import PyLayer

    forward_of = {"float32": lib.klc_xlogy_forward_f32, "float64": lib.klc_xlogy_forward_f64}
    backward_of = {"float32": lib.klc_xlogy_backward_f32, "float64": lib.klc_xlogy_backward_f64}
    ops = getattr(paddle, "_C_ops", None)
    if hasattr(ops, "empty_like") and hasattr(ops, "empty"):  # (a quarter of paddle.empty_like's cost: a
        # buffer costs as much as a kernel on a small tensor)
        def empty_like(t):
            return ops.empty_like(t, t.dtype, t.place)

        def empty_0d(t):
            return ops.empty([], t.dtype, t.place)
    else:
        empty_like = paddle.empty_like

        def empty_0d(t):
            return paddle.empty([], dtype=t.dtype)

    class XlogyKL(PyLayer):
        @staticmethod
        def forward(ctx, x, y, args):  # (the arguments in one tuple: apply's fixed cost grows with their number)
            reduction, divisor, dtype = args
            n = math.prod(y.shape)
            log_y = empty_like(y)
            loss = empty_like(y) if reduction == "none" else empty_0d(y)
            terms, result = (loss.data_ptr(), None) if reduction == "none" else (None, loss.data_ptr())
            forward_of[dtype](n, x.data_ptr(), y.data_ptr(), log_y.data_ptr(), terms, result, divisor or 0)
            ctx.save_for_backward(x, y)
            # log y is kept outside save_for_backward: the backward writes dl/dy into its buffer (a second
            # backward, retain_graph=True, takes log y again; Paddle 3.3 crashes on one through any PyLayer)
            ctx.log_y, ctx.n, ctx.dtype = log_y, n, dtype
            ctx.need = not x.stop_gradient, not y.stop_gradient
            ctx.divisor, ctx.reduced = divisor, reduction != "none"
            return loss

        @staticmethod
        def backward(ctx, grad):
            x, y = ctx.saved_tensor()
            need_x, need_y = ctx.need
            if paddle.is_grad_enabled():  # create_graph=True: the composite's backward, as differentiable ops
                return _paddle_graph_backward(paddle, log_apply, x, y, grad, ctx.divisor, need_x, need_y)
            log_y, ctx.log_y = ctx.log_y, None
            gx = empty_like(x) if need_x else None
            gy = (log_y if log_y is not None else empty_like(y)) if need_y else None
            if not grad.is_contiguous():
                grad = grad.contiguous()
            backward_of[ctx.dtype](ctx.n, x.data_ptr(), y.data_ptr(), None if log_y is None else log_y.data_ptr(),
                                   grad.data_ptr(), ctx.reduced, (ctx.divisor or 0) if ctx.reduced else 0,
                                   None if gx is None else gx.data_ptr(), None if gy is None else gy.data_ptr())
            return gx, gy

    return XlogyKL


def _paddle_graph_backward(paddle, log_apply, x, y, grad, divisor, need_x, need_y):
    """(grad_input, grad_target) for create_graph=True: the composite's backward, op for op, recorded.

    Paddle crashes (a segmentation fault in GradNodePyLayer) on paddle.grad inside a PyLayer's backward,
    so the composite cannot be differentiated here as the torch kernel does it; instead its backward
    graph is written out: the division's and the sum's backward, subtract's, the two multiplies', the
    `where` that masks y * log y at y == 0, and the composite's own Log (whose backward is dout / y). The
    gradients are the composite's bit for bit; derivatives of them go through these ops' backward where
    the composite's go through Paddle's double-grad kernels, so they agree to rounding.
    """
    d = grad if divisor is None else grad / divisor
    d = paddle.expand(d, y.shape) if d.shape != y.shape else d  # the sum's backward
    nd = -d  # subtract's backward, for y * x
    gx = nd * y
    if not need_y:
        return gx, None
    dp = paddle.where((y >= 0) & (y <= 0), paddle.zeros_like(d), d)  # the `where`'s backward
    log_y = log_apply(y)
    gy = dp * log_y + nd * x + (dp * y) / y  # (y * log y)'s two terms and y * x's, in the composite's order
    return (gx if need_x else None), gy


def _torch_replay(torch, replay, x, y, need_x, need_y, grad):
    """(grad_input, grad_target) of the composite at (x, y), with a graph (create_graph=True)."""
    with torch.enable_grad():
        out = replay(x, y)
    wanted = [t for t, need in ((x, need_x), (y, need_y)) if need]
    grads = iter(torch.autograd.grad(out, wanted, grad, create_graph=True, allow_unused=True))
    return tuple(next(grads) if need else None for need in (need_x, need_y))


_TORCH_DTYPE_NAMES: dict = {}
_PADDLE_DTYPE_NAMES: list = []  # (Paddle dtype, its name), in the order first seen
_instances: dict[type, object] = {}
_by_type: dict[type, object] = {}  # tensor type -> its backend's instance
_backends: list[type] = []


def backends() -> list[type]:
    """The tensor operations of every framework whose adapter's description names them
    (kl_compat.adapters.framework.Framework.porting_ops), in the registry's order: loaded once, never
    instantiated here (an instance imports its framework)."""
    if not _backends:
        import importlib

        from kl_compat.adapters import framework_of, registered

        for name in registered():
            described = framework_of(name)
            if described is not None and described.key == name and described.porting_ops:
                module, cls = described.porting_ops.split(":", 1)
                _backends.append(getattr(importlib.import_module(module), cls))
    return _backends


def ops_for(x):
    ops = _by_type.get(type(x))  # (a tensor type's backend never changes: looked up once per type)
    if ops is not None:
        return ops
    for cls in backends():
        if cls.is_appropriate_type(x):
            if cls not in _instances:
                _instances[cls] = cls()
            _by_type[type(x)] = _instances[cls]
            return _instances[cls]
    frameworks = " or ".join(cls.framework for cls in backends()) or "no framework's"
    raise TypeError(f"kl_compat.kl_div: no backend for {type(x).__module__}.{type(x).__name__}; "
                    f"it takes {frameworks} tensors (NumPy arrays: kl_compat.spec.kl_div)")
