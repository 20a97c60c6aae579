"""Execution modes as surfaces: Paddle's static graph and paddle.jit.to_static, PyTorch's torch.compile.
A handful of cases per surface: each mode gives the eager surface's value and gradients on an ordinary case,
restores the framework's global state, reuses what it compiled or built, and its reproducer shows the mode."""

import os
import subprocess
import sys

import numpy as np
import pytest

from kl_compat import reproducer
from kl_compat.golden import make_case
from kl_compat.spec import Call


def _operands(shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    x = np.log(rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]))
    return x, rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


def _observe(adapter, surface, call, dtype="float64", shape=(3, 4)):
    x, y = _operands(shape)
    return adapter.observe("t", surface, x.astype(dtype), y.astype(dtype), call, dtype, dtype)


@pytest.fixture(scope="module")
def paddle_adapter():
    pytest.importorskip("paddle")
    from kl_compat.adapters.paddle_backend import PaddleAdapter

    a = PaddleAdapter()
    a.load()
    return a


@pytest.mark.parametrize("surface", ["static", "to_static"])
@pytest.mark.parametrize("call", [Call("none"), Call("sum", log_target=True), Call("batchmean")])
def test_paddle_modes_give_dynamic_modes_values_and_gradients(paddle_adapter, surface, call):
    eager, mode = (_observe(paddle_adapter, s, call, "float32") for s in ("functional", surface))
    assert mode.status == eager.status == "ok", mode.error
    assert (mode.dtype, mode.shape) == (eager.dtype, eager.shape)
    np.testing.assert_allclose(mode.value, eager.value, rtol=1e-6)
    assert mode.grad_input.status == "ok"
    np.testing.assert_allclose(mode.grad_input.value, eager.grad_input.value, rtol=1e-6)
    assert mode.grad_target.status == eager.grad_target.status  # Paddle gives the label none, in any mode
    assert mode.warnings == eager.warnings == []


def test_paddle_static_restores_dynamic_mode_and_reuses_programs(paddle_adapter):
    import paddle

    before = len(paddle_adapter._programs)
    for shape in ((3, 4), (3, 4), (2, 5)):
        _observe(paddle_adapter, "static", Call("mean"), shape=shape)
    assert len(paddle_adapter._programs) == before + 2  # one Program per shape, reused for the same one
    refused = _observe(paddle_adapter, "static", Call("sum"), "float16")  # no float16 CPU kernel
    assert refused.status == "raised"
    assert paddle.in_dynamic_mode()


def test_paddle_static_batchmean_divides_in_float32_under_pir(paddle_adapter):
    """The known difference's cause, measured: 1/N rounded to float32 scales a float64 loss."""
    import paddle

    if not paddle.__version__.startswith("3"):
        pytest.skip("PIR is Paddle 3's static IR")
    x, y = _operands((10,))
    eager, static = (paddle_adapter.observe("t", s, x, y, Call("batchmean"), "float64", "float64")
                     for s in ("functional", "static"))
    expected = float(eager.value * 10 * np.float64(np.float32(1 / 10)))
    assert static.value != eager.value and abs(float(static.value) - expected) < 1e-15 * abs(expected)


@pytest.mark.parametrize("requires_grad", ["both", "input", "target"])
def test_paddle_static_takes_second_derivatives_as_eager_does(paddle_adapter, requires_grad):
    """A static Program is differentiated twice as it is built: Paddle refuses there (kldiv_loss_grad has
    no grad op) where eager refuses at run time, each error with Paddle's own type and message; where only
    the target requires grad, Paddle's first gradients are none, so are the second, in both modes."""
    call = Call("sum", requires_grad=requires_grad, order=2)
    eager, static = (_observe(paddle_adapter, s, call) for s in ("functional", "static"))
    assert static.status == eager.status == "ok"
    assert set(static.second) == set(eager.second) and len(static.second) == 4
    for key, g in static.second.items():
        assert g.status == eager.second[key].status
        if requires_grad == "target":
            assert g.status == "none"
        else:
            assert g.status == "error" and g.message.startswith("ValueError: ") and "kldiv_loss_grad" in g.message
            assert eager.second[key].message.startswith("RuntimeError: ")
    first_order = _observe(paddle_adapter, "static", Call("sum", requires_grad=requires_grad))
    assert first_order.second is None and first_order.grad_input.status == static.grad_input.status


@pytest.fixture(scope="module")
def torch_adapter():
    pytest.importorskip("torch")
    from kl_compat.adapters.torch_backend import TorchAdapter

    a = TorchAdapter()
    a.load()
    return a


def test_torch_compile_gives_eager_values_and_gradients_and_shares_graphs(torch_adapter):
    from torch._dynamo.utils import counters

    call = Call("batchmean", log_target=True)
    eager = _observe(torch_adapter, "functional", call, "float32")
    graphs = counters["stats"]["unique_graphs"]
    compiled = _observe(torch_adapter, "compile", call, "float32")
    assert compiled.status == "ok", compiled.error
    assert (compiled.dtype, compiled.shape) == (eager.dtype, eager.shape)
    np.testing.assert_allclose(compiled.value, eager.value, rtol=1e-6)
    for g, e in ((compiled.grad_input, eager.grad_input), (compiled.grad_target, eager.grad_target)):
        np.testing.assert_allclose(g.value, e.value, rtol=1e-5)
    another_shape = _observe(torch_adapter, "compile", call, "float32", shape=(5, 7))
    assert another_shape.status == "ok"
    assert counters["stats"]["unique_graphs"] == graphs + 1  # dynamic shapes: one graph for both
    assert len(torch_adapter._compiled) == 1


def test_compile_is_a_surface_only_where_asked_for():
    code = "from kl_compat.adapters.torch_backend import TorchAdapter as T; print(','.join(T.surfaces))"
    for value, surfaces in (("", "functional,module"), ("1", "functional,module,compile")):
        env = {**os.environ, "KL_COMPAT_TORCH_COMPILE": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == surfaces


@pytest.mark.parametrize("name,surface,shows", [
    ("torch", "compile", "@torch.compile(backend=\"inductor\", dynamic=True)"),
    ("paddle", "to_static", "@paddle.jit.to_static"),
    ("paddle", "static", "paddle.static.gradients([loss], [x, y])"),
])
def test_reproducers_show_the_mode(name, surface, shows):
    x, y = _operands((2, 3))
    case = make_case("repro/t", x, y, Call("batchmean"), "float64", "float64")
    code = reproducer.render(name, surface, case, ["value", "gradient"])
    assert shows in code


def test_paddle_static_reproducer_runs(tmp_path):
    pytest.importorskip("paddle")
    x, y = _operands((2, 3))
    case = make_case("repro/t", x, y, Call("sum"), "float64", "float64")
    script = tmp_path / "repro.py"
    script.write_text(reproducer.render("paddle", "static", case, ["value", "gradient"]))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    first = out.stdout.strip().splitlines()[0]
    assert first.startswith("float64 []")


def test_an_entry_about_a_surface_that_did_not_run_is_neither_stale_nor_fixed(tmp_path):
    """torch's `compile` runs only where asked for: its entries are judged only in runs that observed it."""
    from kl_compat import known
    from kl_compat.record import Difference, Record

    path = tmp_path / "known.toml"
    path.write_text('[[difference]]\nadapter = "torch"\nsurface = "compile"\ncases = "core/*"\nkind = "value"\n'
                    'reason = "compiled only"\n')
    entries = known.load(path)
    eager = [Record("core/a", "torch", "functional", "match", [], version="2.13.0")]
    assert known.problems(entries, eager) == []
    compiled = Record("edge/a", "torch", "compile", "match", [], version="2.13.0")
    assert [p.kind for p in known.problems(entries, [*eager, compiled])] == ["stale"]
    shown = Record("core/a", "torch", "compile", "differs",
                   [Difference("value", "is", "out", "1.0", "2.0", "kl_div(reduction='sum')")], version="2.13.0")
    assert known.problems(entries, [*eager, shown]) == []
