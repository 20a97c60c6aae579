"""The porting layer's fused kernels (kl_compat/porting/backends.py) against the composite they replace.

tests/test_porting.py holds the porting adapters to the measured frameworks and the goldens; these tests
hold the fused kernels to the composite (core._composite) on every call the dispatcher sends them:
values, dtypes, shapes and both gradients identical (nan where nan; a zero's sign is not compared), over
the whole matrix, over random tensors full of edge values, through retain_graph and create_graph. One
exception, by design: the Paddle kernel (C, kl_compat/porting/xlogy_kernel.c) takes log with the C
library and sums pairwise, so its loss and target gradient equal the composite's within rounding
(`_within_rounding`): every nan, infinity and exception where the composite has them, dl/dx bit for bit.
"""

import os
import warnings
import zlib

import numpy as np
import pytest

import kl_compat
from kl_compat import spec
from kl_compat.porting import core

torch = pytest.importorskip("torch")
paddle = pytest.importorskip("paddle")

# (framework, semantics) pairs with a fused kernel, and the kernel
FUSED = [("torch", "spec", "exact64"), ("paddle", "torch", "xlogy"), ("paddle", "rtorch", "xlogy")]


def _adapter(framework):
    from kl_compat.adapters.paddle_backend import PaddleAdapter
    from kl_compat.adapters.torch_backend import TorchAdapter

    a = {"torch": TorchAdapter, "paddle": PaddleAdapter}[framework]()
    a.load()
    return a


@pytest.fixture(scope="module")
def adapters():
    return {f: _adapter(f) for f in ("torch", "paddle")}


class _Route:
    """Runs kl_compat.kl_div with the fused kernels allowed (recording which one ran) or forced off."""

    def __init__(self, monkeypatch, fused: bool):
        self.kernels = []
        real = core._fast_kernel

        def route(*args):
            kernel = real(*args) if fused else None
            self.kernels.append(kernel)
            return kernel

        monkeypatch.setattr(core, "_fast_kernel", route)


def _numpy(t):
    if t is None:
        return None
    if isinstance(t, torch.Tensor):
        t = t.detach()
        return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy(), str(t.dtype).removeprefix("torch.")
    return t.astype("float32").numpy() if str(t.dtype) == "paddle.bfloat16" else t.numpy(), \
        str(t.dtype).removeprefix("paddle.")


def _run(adapter, semantics, x, y, reduction="batchmean", log_target=False, upstream=None, **legacy):
    """(values, grad_input, grad_target) as NumPy arrays with dtype names, or the exception raised."""
    x, y = x(), y()
    _run.last = _numpy(x)[0], _numpy(y)[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = kl_compat.kl_div(x, y, reduction, log_target, semantics, **legacy)
    except Exception as e:  # noqa: BLE001 (both routes must raise alike)
        return type(e).__name__, str(e)
    value = _numpy(out)
    if upstream is not None and value[1] in ("float32", "float64"):  # (Paddle's CPU ops lack float16)
        out = out * upstream(out)
    adapter.backward(out)
    return value, _numpy(adapter.grad(x)), _numpy(adapter.grad(y))


def _identical(a, b):
    if isinstance(a[0], str) or isinstance(b[0], str):
        return a == b
    for p, q in zip(a, b):
        if (p is None) != (q is None):
            return False
        if p is not None and not (p[1] == q[1] and p[0].shape == q[0].shape
                                  and np.array_equal(p[0], q[0], equal_nan=True)):
            return False
    return True


def _within_rounding(got, want, reduction):
    """The Paddle kernel's results (from `_run`) against the composite's: the same exceptions, dtypes,
    shapes and missing gradients; the same nan and infinities (with their signs) everywhere; dl/dx = -dout
    * y bit for bit (no log in it); the loss and dl/dy within the rounding of log y (the C library's log
    against Paddle's: 8 ulps of each term's magnitude) and of the sum's order (n ulps of the sum of them)."""
    if isinstance(got[0], str) or isinstance(want[0], str):
        return got == want
    for p, q in zip(got, want):
        if (p is None) != (q is None) or p is not None and (p[1] != q[1] or p[0].shape != q[0].shape):
            return False
    if not _identical(got[1:2], want[1:2]):
        return False
    x, y = (np.asarray(a, np.float64) for a in _run.last)
    with np.errstate(all="ignore"):
        log_y = np.log(y)
        scale = np.nan_to_num(np.abs(y * log_y) + np.abs(y * x), nan=0, posinf=0)
        g, w = got[0][0].astype(np.float64), want[0][0].astype(np.float64)
        eps = np.finfo(got[0][0].dtype).eps
        if g.shape == y.shape:
            bound = 8 * eps * scale
        else:
            divisor = {"mean": y.size, "elementwise_mean": y.size, "batchmean": y.shape[0] if y.ndim else 1}
            bound = (8 + y.size) * eps * scale.sum() / divisor.get(reduction, 1)
        if not _close(g, w, bound):
            return False
        if got[2] is None:
            return True
        g, w = got[2][0].astype(np.float64), want[2][0].astype(np.float64)
        if want[1] is not None:  # dout, read back from dl/dx = -dout * y
            dout = np.abs(want[1][0].astype(np.float64) / y)
        else:  # (one number under a reduction: read where the terms are not small)
            terms = log_y - x + 1
            dout = np.max(np.abs(w / terms), where=np.isfinite(w / terms) & (np.abs(terms) > 0.5), initial=0)
        bound = 8 * eps * np.nan_to_num(dout * (np.abs(log_y) + np.abs(x) + 1), nan=0, posinf=0)
        return _close(g, w, bound)


def _close(g, w, bound):
    """Equal where either is not finite (nan with nan, an infinity with the same one), else within bound."""
    finite = np.isfinite(w)
    if not np.array_equal(np.isfinite(g), finite) or not np.array_equal(g[~finite], w[~finite], equal_nan=True):
        return False
    return bool(np.all(np.abs(g[finite] - w[finite]) <= np.broadcast_to(bound, w.shape)[finite]))


def _both_routes(monkeypatch, adapter, semantics, make_x, make_y, **kw):
    with monkeypatch.context() as m:
        fused = _Route(m, True)
        got = _run(adapter, semantics, make_x, make_y, **kw)
    with monkeypatch.context() as m:
        _Route(m, False)
        want = _run(adapter, semantics, make_x, make_y, **kw)
    return got, want, fused.kernels[0] if fused.kernels else None


@pytest.mark.parametrize("framework,semantics,kernel", FUSED, ids=[f"{f}-as-{s}" for f, s, _ in FUSED])
def test_fused_kernels_equal_the_composite_over_the_matrix(monkeypatch, adapters, golden_cases, framework, semantics,
                                                           kernel):
    adapter, fused, diffs = adapters[framework], 0, []
    for case in golden_cases:
        c = case.call
        for upstream in (None, lambda out: 3.7):  # dout = 1, and a scaled dout
            got, want, ran = _both_routes(
                monkeypatch, adapter, semantics, lambda: adapter.tensor(case.input, case.input_dtype, True),
                lambda: adapter.tensor(case.target, case.target_dtype, True), reduction=c.reduction,
                log_target=c.log_target, upstream=upstream, size_average=c.size_average, reduce=c.reduce)
            fused += ran == kernel
            if not (_identical(got, want) or kernel == "xlogy" and ran == kernel
                    and _within_rounding(got, want, c.reduction)):
                diffs.append(case.id)
    assert diffs == []
    assert fused >= {"exact64": 1200, "xlogy": 560}[kernel]  # runs (two per case): 636 cases fused, 309 (292 as R torch)


def _edge_arrays(rng, n, dtype):
    """x and y of n elements with every edge value the semantics have a rule for, in both."""
    tiny = np.finfo(dtype).tiny
    edges = [0.0, -0.0, tiny, tiny / 2, tiny / 64, np.finfo(dtype).smallest_subnormal, -0.25, -tiny / 4, np.nan,
             np.inf, -np.inf, 1.0, 1e30 if dtype == np.float32 else 1e300]
    x = np.log(rng.dirichlet(np.ones(n))).astype(dtype)
    y = rng.dirichlet(np.ones(n)).astype(dtype)
    for a in (x, y):
        at = rng.choice(n, 3 * len(edges), replace=False)
        a[at] = np.resize(np.array(edges, dtype), at.size)
    return x.reshape(4, -1), y.reshape(4, -1)


@pytest.mark.parametrize("framework,semantics,kernel", FUSED, ids=[f"{f}-as-{s}" for f, s, _ in FUSED])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean", "batchmean"])
@pytest.mark.parametrize("grads", ["both", "input", "target"])
def test_fused_kernels_equal_the_composite_at_edge_values(monkeypatch, adapters, framework, semantics, kernel, dtype,
                                                          reduction, grads):
    rng = np.random.default_rng(zlib.crc32(f"{framework}{semantics}{dtype}{reduction}{grads}".encode()))
    adapter = adapters[framework]
    name = np.dtype(dtype).name
    for edges in (True, False):
        x, y = _edge_arrays(rng, 4000, dtype) if edges else (
            np.log(rng.dirichlet(np.ones(500), 8)).astype(dtype), rng.dirichlet(np.ones(500), 8).astype(dtype))
        weights = rng.standard_normal(x.shape).astype(dtype)
        upstream = None if reduction != "none" else (
            lambda out: torch.from_numpy(weights) if framework == "torch" else paddle.to_tensor(weights))
        got, want, ran = _both_routes(
            monkeypatch, adapter, semantics, lambda: adapter.tensor(x, name, grads in ("both", "input")),
            lambda: adapter.tensor(y, name, grads in ("both", "target")), reduction=reduction, upstream=upstream)
        assert ran == kernel
        if kernel != "xlogy":
            assert _identical(got, want), (edges, got, want)
        else:
            assert _within_rounding(got, want, reduction), (edges, got, want)
        if edges:  # the edges do reach the outputs
            assert np.isnan(got[0][0]).any() if reduction == "none" else np.isnan(got[0][0])


def test_spec_float16_and_mixed_dtypes_run_fused_and_equal_the_composite(monkeypatch, adapters):
    rng = np.random.default_rng(5)
    adapter = adapters["torch"]
    x, y = _edge_arrays(rng, 400, np.float32)
    for dx, dy in (("float16", "float16"), ("bfloat16", "bfloat16"), ("float32", "float64"), ("bfloat16", "float16")):
        got, want, ran = _both_routes(monkeypatch, adapter, "spec", lambda: adapter.tensor(x, dx, True),
                                      lambda: adapter.tensor(y, dy, True), reduction="sum")
        assert ran == "exact64" and _identical(got, want), (dx, dy)


def test_spec_gradient_at_subnormal_targets_is_the_exact_formula():
    """dl/dy = (log y + 1 - x) / N at subnormal y: the product rule would form (dout * y) / y, which
    underflows to 0 and loses the + 1 (as torch's own gradient does)."""
    for dtype in (torch.float32, torch.float64):
        sub = torch.finfo(dtype).smallest_normal * torch.finfo(dtype).eps  # the smallest subnormal
        rows = 64
        x = torch.full((rows, 8), -2.0, dtype=dtype, requires_grad=True)
        y = torch.full((rows, 8), sub, dtype=dtype, requires_grad=True)
        kl_compat.kl_div(x, y, "batchmean", semantics="spec").backward()
        want = spec.reference(x.detach().double().numpy(), y.detach().double().numpy(), spec.Call("batchmean"),
                              str(dtype).removeprefix("torch."), str(dtype).removeprefix("torch."))
        got = y.grad.double().numpy()
        assert np.allclose(got, want.grad_target, rtol=4 * torch.finfo(dtype).eps, atol=0)
        assert np.all(got > (np.log(sub) + 0.5 + 2.0) / rows)  # the + 1 is there
        # torch's own kernel (the product rule) drops it: the difference is the semantics, not rounding
        xt, yt = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
        torch.nn.functional.kl_div(xt, yt, reduction="batchmean").backward()
        assert np.all(yt.grad.double().numpy() < (np.log(sub) + 0.5 + 2.0) / rows)


def test_a_second_backward_and_create_graph_equal_the_composite(monkeypatch, adapters):
    """torch: retain_graph (the forward's buffers are spent by the first backward; the second makes its
    own) and create_graph (the backward differentiates the composite itself): all bit for bit."""
    rng = np.random.default_rng(3)
    x, y = _edge_arrays(rng, 400, np.float64)
    x, y = np.where(np.isfinite(x), x, -1.0), np.where(np.isfinite(y) & (y > 0), y, 0.5)  # finite second derivatives

    def run(fused):
        with monkeypatch.context() as m:
            route = _Route(m, fused)
            xt, yt = (torch.tensor(a, requires_grad=True) for a in (x, y))
            out = kl_compat.kl_div(xt, yt, "batchmean", semantics="spec")
            assert route.kernels == ["exact64" if fused else None]
            out.backward(retain_graph=True)
            first = xt.grad.clone(), yt.grad.clone()
            out.backward()
            second = xt.grad - first[0], yt.grad - first[1]
            gx, gy = torch.autograd.grad(kl_compat.kl_div(xt, yt, "sum", semantics="spec"), (xt, yt), create_graph=True)
            hessian = torch.autograd.grad((gx * gy).sum(), (xt, yt))
            return [t.detach().numpy() for t in (*first, *second, gx, gy, *hessian)]

    got, want = run(True), run(False)
    for g, w in zip(got, want):
        assert np.array_equal(g, w, equal_nan=True)
    assert np.array_equal(got[0], got[2]) and np.array_equal(got[1], got[3])


@pytest.mark.parametrize("reduction", ["batchmean", "none"])
def test_paddle_create_graph_equals_the_composite(monkeypatch, reduction):
    """Paddle: create_graph=True gives the composite's gradients bit for bit (the backward writes out the
    composite's backward as ops), and second derivatives equal to rounding. (A second backward through
    any PyLayer, retain_graph=True, crashes Paddle 3.3 in GradNodePyLayer, the composite's included.)"""
    rng = np.random.default_rng(4)
    x, y = _edge_arrays(rng, 400, np.float64)
    x, y = np.where(np.isfinite(x), x, -1.0), np.where(np.isfinite(y) & (y >= 0), y, 0.5)

    def run(fused):
        with monkeypatch.context() as m:
            route = _Route(m, fused)
            xt, yt = (paddle.to_tensor(a, stop_gradient=False) for a in (x, y))
            out = kl_compat.kl_div(xt, yt, reduction, semantics="torch")
            assert route.kernels == ["xlogy" if fused else None]
            upstream = paddle.to_tensor(np.linspace(0.5, 2, out.size).reshape(out.shape))
            gx, gy = paddle.grad(out, [xt, yt], grad_outputs=upstream, create_graph=True)
            finite = paddle.to_tensor((y > 0).astype(np.float64))  # dl/dy is nan at y == 0
            hessian = paddle.grad((gx * paddle.where(finite > 0, gy, paddle.zeros_like(gy))).sum(), [xt, yt])
            return [t.numpy() for t in (gx, gy)], [t.numpy() for t in hessian]

    (got, got2), (want, want2) = run(True), run(False)
    for g, w in zip(got, want):
        assert np.array_equal(g, w, equal_nan=True)
    for g, w in zip(got2, want2):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-300)


def _tensors(framework, x, y, dx="float32", dy="float32"):
    if framework == "torch":
        return (torch.from_numpy(np.asarray(x, np.float32)).to(getattr(torch, dx)),
                torch.from_numpy(np.asarray(y, np.float32)).to(getattr(torch, dy)))
    return paddle.to_tensor(np.asarray(x, np.float32)).astype(dx), paddle.to_tensor(np.asarray(y, np.float32)).astype(dy)


@pytest.mark.parametrize("framework,semantics,kwargs,shapes,dtypes,kernel", [
    ("torch", "spec", {}, ((4, 5), (4, 5)), ("float32", "float32"), "exact64"),
    ("torch", "spec", {}, ((), ()), ("float16", "float64"), "exact64"),
    ("torch", "spec", {"log_target": True}, ((4, 5), (4, 5)), ("float32", "float32"), None),  # not fused yet
    ("torch", "spec", {"size_average": False}, ((4, 5), (4, 5)), ("float32", "float32"), "exact64"),  # = 'sum'
    ("torch", "spec", {}, ((0, 5), (0, 5)), ("float32", "float32"), None),  # empty
    ("torch", "rtorch", {}, ((4, 5), (4, 5)), ("float32", "float32"), None),  # no torch kernel for the family
    ("paddle", "torch", {}, ((4, 5), (4, 5)), ("float64", "float64"), "xlogy"),
    ("paddle", "rtorch", {"reduction": "avg"}, ((4, 5), (4, 5)), ("float32", "float32"), "xlogy"),  # 'none'
    ("paddle", "torch", {}, ((4, 5), (5,)), ("float32", "float32"), None),  # broadcast
    ("paddle", "torch", {"size_average": False}, ((4, 5), (4, 5)), ("float32", "float32"), None),  # sum, then / N
    ("paddle", "torch", {}, ((4, 5), (4, 5)), ("float16", "float16"), None),  # float16 rounding emulated
    ("paddle", "torch", {}, ((4, 5), (4, 5)), ("float32", "float64"), None),  # xlogy(y, y) in y's dtype first
    ("paddle", "torch", {"log_target": True}, ((4, 5), (4, 5)), ("float32", "float32"), None),
    ("paddle", "spec", {}, ((4, 5), (4, 5)), ("float32", "float32"), None),  # no Paddle kernel for the family
])
def test_which_calls_run_fused(monkeypatch, framework, semantics, kwargs, shapes, dtypes, kernel):
    rng = np.random.default_rng(0)
    x, y = _tensors(framework, rng.uniform(-3, 0, shapes[0]), rng.uniform(0.1, 1, shapes[1]), *dtypes)
    kwargs = {"reduction": "batchmean", **kwargs}
    route = _Route(monkeypatch, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kl_compat.kl_div(x, y, semantics=semantics, **kwargs)
    assert route.kernels == [kernel]


@pytest.mark.parametrize("framework,semantics", [("torch", "spec"), ("paddle", "torch")])
def test_strided_tensors_take_the_composite_with_the_same_results(monkeypatch, adapters, framework, semantics):
    rng = np.random.default_rng(1)
    x, y = np.log(rng.dirichlet(np.ones(6), 5)).astype(np.float32), rng.dirichlet(np.ones(6), 5).astype(np.float32)
    adapter = adapters[framework]

    def transposed(a):
        def make():
            t = adapter.tensor(a, "float32", False).T
            if framework == "torch":
                return t.requires_grad_(True)
            t.stop_gradient = False
            return t
        return make

    got, want, ran = _both_routes(monkeypatch, adapter, semantics, transposed(x), transposed(y), reduction="sum")
    assert ran is None and _identical(got, want)


def test_torch_function_transforms_and_forward_ad_take_the_composite(monkeypatch):
    """torch.func and forward-mode AD need rules a custom Function lacks: those calls take the composite,
    and do exactly what it does (today: the composite's own KLTerm Function has no such rules either)."""
    rng = np.random.default_rng(2)
    x = torch.tensor(np.log(rng.dirichlet(np.ones(6), 3)))
    y = torch.tensor(rng.dirichlet(np.ones(6), 3))
    import torch.autograd.forward_ad as fwAD

    def transformed():
        warnings.simplefilter("ignore")  # (torch.func's own deprecation warnings)
        out = []
        for f in (lambda: torch.func.grad(lambda a: kl_compat.kl_div(a, y, "batchmean", semantics="spec"))(x),
                  lambda: torch.func.vmap(lambda a, b: kl_compat.kl_div(a, b, "sum", semantics="spec"))(x, y)):
            try:
                out.append(f().numpy())
            except Exception as e:  # noqa: BLE001
                out.append(f"{type(e).__name__}: {e}")
        try:
            with fwAD.dual_level():
                dual = kl_compat.kl_div(fwAD.make_dual(x, torch.ones_like(x)), y, "batchmean", semantics="spec")
                out.append(fwAD.unpack_dual(dual).tangent.numpy())
        except Exception as e:  # noqa: BLE001
            out.append(f"{type(e).__name__}: {e}")
        return out

    with monkeypatch.context() as m, warnings.catch_warnings():
        route = _Route(m, True)
        got = transformed()
    assert route.kernels == [None, None, None]
    with monkeypatch.context() as m, warnings.catch_warnings():
        _Route(m, False)
        want = transformed()
    for g, w in zip(got, want):
        assert (g == w) if isinstance(w, str) else np.array_equal(g, w)


def _paddle_pair(x, y, stop_x=False, stop_y=False):
    return paddle.to_tensor(x, stop_gradient=stop_x), paddle.to_tensor(y, stop_gradient=stop_y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean"])
@pytest.mark.parametrize("edges", [False, True])
def test_paddle_kernel_on_large_tensors_equals_the_composite(monkeypatch, adapters, dtype, reduction, edges):
    """Past the C kernel's blocks of 128 terms (the pairwise sum's leaves, the backward's chunks): the
    composite's results within rounding, a sum of 70,000 terms included."""
    rng = np.random.default_rng(zlib.crc32(f"large{dtype}{reduction}{edges}".encode()))
    n = 70_000
    x, y = _edge_arrays(rng, n, dtype) if edges else (
        np.log(rng.dirichlet(np.ones(n // 8), 8)).astype(dtype), rng.dirichlet(np.ones(n // 8), 8).astype(dtype))
    adapter, name = adapters["paddle"], np.dtype(dtype).name
    got, want, ran = _both_routes(monkeypatch, adapter, "torch", lambda: adapter.tensor(x, name, True),
                                  lambda: adapter.tensor(y, name, True), reduction=reduction)
    assert ran == "xlogy"
    assert _within_rounding(got, want, reduction), (got, want)
    if edges:
        assert np.isnan(got[0][0]).any()


def test_paddle_target_gradient_is_torch_derivative():
    """The kernel's target gradient against torch's derivative computed in float64, and against central
    finite differences of the loss; its input gradient is -dout * y exactly."""
    rng = np.random.default_rng(11)
    x = np.log(rng.dirichlet(np.ones(50), 6))
    y = rng.dirichlet(np.ones(50), 6)
    for dtype in ("float32", "float64"):
        xt, yt = _paddle_pair(x.astype(dtype), y.astype(dtype))
        kl_compat.kl_div(xt, yt, "batchmean", semantics="torch").backward()
        want = (np.log(y) - x + 1) / 6
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(yt.grad.numpy(), want, rtol=0, atol=16 * eps * np.max(np.abs(np.log(y) - x) + 1) / 6)
        np.testing.assert_array_equal(xt.grad.numpy(), (-np.float64(1) / 6).astype(dtype) * y.astype(dtype))

    def loss(yy):
        return float(np.sum(yy * np.log(yy) - yy * x) / 6)

    h, i = 1e-6, (2, 7)
    up, down = y.copy(), y.copy()
    up[i] += h
    down[i] -= h
    xt, yt = _paddle_pair(x, y)
    kl_compat.kl_div(xt, yt, "batchmean", semantics="torch").backward()
    assert abs(yt.grad.numpy()[i] - (loss(up) - loss(down)) / (2 * h)) < 1e-7


@pytest.mark.parametrize("case", ["upstream-above-1", "infinite-target", "subnormal-product", "zero-target",
                                  "negative-target", "infinite-input", "none"])
def test_paddle_kernel_keeps_the_product_rule_at_edges(monkeypatch, case):
    """The target gradient is torch's product rule, (dout * log y + -dout * x) - (-dout * y) / y, as the
    composite forms it: nan at y == 0 and at y == inf, the quotient formed from a subnormal dout * y;
    everything the composite's within rounding, and the edge itself exactly."""
    rng = np.random.default_rng(12)
    x = np.log(rng.dirichlet(np.ones(20), 4)).astype(np.float32)
    y = rng.dirichlet(np.ones(20), 4).astype(np.float32)
    scale, reduction, at = 1.0, "sum", None
    if case == "upstream-above-1":
        scale = 3.0
    elif case == "infinite-target":
        y[1, 3], at = np.inf, (1, 3)
    elif case == "subnormal-product":
        y[0, 0], scale, at = np.float32(2.0 ** -120), 2.0 ** -20, (0, 0)  # dout * y = 2**-140: subnormal
    elif case == "zero-target":
        y[2, 2], at = 0, (2, 2)
    elif case == "negative-target":
        y[3, 1], at = -0.5, (3, 1)
    elif case == "infinite-input":
        x[0, 5] = -np.inf
    else:
        reduction = "none"

    def run(fused):
        with monkeypatch.context() as m:
            route = _Route(m, fused)
            xt, yt = _paddle_pair(x, y)
            out = kl_compat.kl_div(xt, yt, reduction, semantics="torch")
            (out * scale).backward(paddle.ones_like(out) if reduction == "none" else None)
            assert route.kernels == ["xlogy" if fused else None]
            return [t.numpy() for t in (out, xt.grad, yt.grad)]

    got, want = run(True), run(False)
    _run.last = x, y
    pack = [(a, str(a.dtype)) for a in got], [(a, str(a.dtype)) for a in want]
    assert _within_rounding(*pack, reduction), (got, want)
    if at is not None:
        assert np.array_equal(got[2][at], want[2][at], equal_nan=True)


def test_without_a_c_compiler_paddle_takes_the_composite(tmp_path):
    """No compiler (CC fails), or KL_COMPAT_C_KERNEL=0: the kernel is not loaded, the reason is kept,
    and kl_div gives the composite's results (a fresh process, a fresh cache: nothing built before)."""
    import subprocess
    import sys

    code = ("import numpy as np, paddle, kl_compat\n"
            "from kl_compat.porting import ckernel\n"
            "x = paddle.to_tensor(np.log(np.full((2, 3), 1 / 3)))\n"
            "y = paddle.to_tensor(np.array([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]]))\n"
            "out = kl_compat.kl_div(x, y, 'sum', semantics='torch')\n"
            "print(ckernel.load() is None, float(out), ckernel.unavailable, sep='\\n')\n")
    for env, reason in (({"CC": "false"}, "not built"), ({"KL_COMPAT_C_KERNEL": "0"}, "turned off")):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "KL_COMPAT_CACHE": str(tmp_path / "cache"), **env})
        assert done.returncode == 0, done.stderr
        unloaded, value, why = done.stdout.splitlines()[-3:]
        assert unloaded == "True" and reason in why
        y = np.array([0.2, 0.3, 0.5, 0.5, 0.5])
        assert float(value) == pytest.approx(np.sum(y * np.log(y)) + np.log(3) * 6 / 3 + 0, rel=1e-12)
    assert not list((tmp_path / "cache").glob("kernels/*.so"))
