"""The porting layer. The proof that matters is the matrix: every porting adapter shows zero
differences from what it ports (torch's and Paddle's measured behaviour, or the spec's goldens)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import kl_compat
from kl_compat import compare, runner

torch = pytest.importorskip("torch")
paddle = pytest.importorskip("paddle")


def _observe(name, cases):
    out = {}  # (the surfaces the porting adapters have: the native adapters' compiled ones are not ported)
    state = runner.run_adapter(name, cases, lambda o: out.__setitem__((o.case_id, o.surface), o),
                               surfaces=("functional", "module"))
    assert state.available, state.reason
    return out


@pytest.fixture(scope="module")
def measured(golden_cases):
    names = ("torch", "paddle", "paddle-as-torch", "torch-as-paddle", "torch-as-spec", "paddle-as-spec")
    return {n: _observe(n, golden_cases) for n in names}


@pytest.mark.parametrize("port,reference", [("paddle-as-torch", "torch"), ("torch-as-paddle", "paddle")])
def test_porting_adapter_shows_zero_differences_from_measured_behaviour(measured, golden_by_id, port, reference):
    p, r = measured[port], measured[reference]
    assert p.keys() == r.keys() and len(p) == 2 * len(golden_by_id)
    diffs = [f"{case}.{surface}: {d.message}" for (case, surface), o in p.items()
             for d in compare.judge_against(golden_by_id[case], r[(case, surface)], o).differences]
    assert diffs == []


@pytest.mark.parametrize("port", ["torch-as-spec", "paddle-as-spec"])
def test_spec_semantics_show_zero_differences_from_the_goldens(measured, golden_by_id, port):
    diffs = [f"{case}.{surface}: {d.message}" for (case, surface), o in measured[port].items()
             for d in compare.judge(golden_by_id[case], o).differences]
    assert diffs == []


@pytest.fixture(scope="module")
def measured_rtorch(golden_cases):
    """R torch measured in its own worker process (its libtorch never loads beside PyTorch's here)."""
    out = {}
    state = runner.run_adapter("rtorch", golden_cases, lambda o: out.__setitem__((o.case_id, o.surface), o))
    if not state.available:
        pytest.skip(f"R torch is not available: {state.reason}")
    return out


# The porting adapters' surfaces and the R torch surfaces they stand for.
_RTORCH_SURFACE = {"functional": "nnf_kl_div", "module": "nn_kl_div_loss"}


@pytest.mark.r
@pytest.mark.rtorch
@pytest.mark.parametrize("port", ["torch-as-rtorch", "paddle-as-rtorch"])
def test_rtorch_semantics_show_zero_differences_from_measured_r_torch(measured_rtorch, golden_cases, golden_by_id,
                                                                      port):
    p = _observe(port, golden_cases)
    assert len(p) == 2 * len(golden_by_id)
    diffs = [f"{case}.{surface}: {d.message}" for (case, surface), o in p.items()
             for d in compare.judge_against(golden_by_id[case], measured_rtorch[(case, _RTORCH_SURFACE[surface])],
                                            o).differences]
    assert diffs == []


def test_judge_against_sees_a_real_difference(measured, golden_by_id):
    # The comparison is not blind: native Paddle is not torch.
    case = "edge/negative-target/2d/float32/sum/prob"
    v = compare.judge_against(golden_by_id[case], measured["torch"][(case, "functional")],
                              measured["paddle"][(case, "functional")])
    assert v.status == "differs" and "nan-inf" in {d.kind for d in v.differences}


# ---- the worked example: a distillation loss written once -------------------------------------------------

def distillation_loss(student_logits, teacher_logits, T, log_softmax, softmax):
    """kl_div(log_softmax(s/T), softmax(t/T), 'batchmean') * T^2, with PyTorch's semantics everywhere."""
    return kl_compat.kl_div(log_softmax(student_logits / T), softmax(teacher_logits / T),
                            reduction="batchmean", semantics="torch") * T * T


def test_distillation_loss_matches_across_frameworks():
    rng = np.random.default_rng(7)
    # Finite logits: for masked (-inf) logits Paddle's softmax returns tiny non-zeros where torch's
    # returns exact zeros (Paddle's vectorised exp(-inf) is 2**-128), so the inputs to kl_div would differ.
    s, t = rng.normal(0, 3, (2, 8, 10))
    T = 2.0

    ts, tt = torch.tensor(s, requires_grad=True), torch.tensor(t, requires_grad=True)
    lt = distillation_loss(ts, tt, T, lambda z: torch.log_softmax(z, -1), lambda z: torch.softmax(z, -1))
    lt.backward()

    ps, pt = paddle.to_tensor(s, stop_gradient=False), paddle.to_tensor(t, stop_gradient=False)
    lp = distillation_loss(ps, pt, T, lambda z: paddle.nn.functional.log_softmax(z, -1),
                           lambda z: paddle.nn.functional.softmax(z, -1))
    lp.backward()

    assert lt.dtype == torch.float64 and str(lp.dtype) == "paddle.float64" and lp.shape == []
    np.testing.assert_allclose(lp.numpy(), lt.detach().numpy(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(ps.grad.numpy(), ts.grad.numpy(), rtol=1e-12, atol=1e-15)
    # Paddle's own kl_div gives the teacher no gradient; with torch's semantics it gets torch's.
    assert pt.grad is not None
    np.testing.assert_allclose(pt.grad.numpy(), tt.grad.numpy(), rtol=1e-12, atol=1e-15)


# ---- unit details ---------------------------------------------------------------------------------------------

def test_paddle_exp_of_minus_infinity_is_exactly_zero_in_the_porting_layer():
    from kl_compat.porting.backends import PaddleOps

    x = paddle.to_tensor(np.full(16, -np.inf))
    assert (PaddleOps().exp(x).numpy() == 0).all()
    y = paddle.to_tensor(np.r_[np.full(8, -np.inf), np.zeros(8)], stop_gradient=False)
    out = kl_compat.kl_div(paddle.zeros([16], dtype="float64"), y, "sum", log_target=True, semantics="spec")
    assert float(out) == 0.0


def test_paddle_float16_is_computed_wider_and_returned_in_float16():
    x = paddle.to_tensor(np.log([[0.25, 0.75]])).astype("float16")
    y = paddle.to_tensor(np.array([[0.5, 0.5]])).astype("float16")
    x.stop_gradient = y.stop_gradient = False
    with pytest.raises(RuntimeError):  # Paddle's own kernel has no float16 on CPU
        paddle.nn.functional.kl_div(x, y, reduction="sum")
    out = kl_compat.kl_div(x, y, reduction="sum", semantics="torch")
    assert str(out.dtype) == "paddle.float16"
    want = 0.5 * (np.log(0.5) - np.log(0.25)) + 0.5 * (np.log(0.5) - np.log(0.75))
    assert float(out.astype("float32")) == pytest.approx(want, abs=2e-3)
    out.backward()
    assert str(x.grad.dtype) == "paddle.float16" and y.grad is not None


def test_each_semantics_keeps_its_rules():
    x = torch.tensor([0.0, -np.inf, 1.0], dtype=torch.float64)
    y = torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec_out = kl_compat.kl_div(x, y, "none", semantics="spec")
        paddle_out = kl_compat.kl_div(x, y, "none", semantics="paddle")
        torch_out = kl_compat.kl_div(x, y, "none", semantics="torch")
    assert np.isnan(spec_out[0]) and spec_out[1] == 0  # S2
    assert paddle_out[0] == 0 and paddle_out[1] == 0  # every target <= 0 gives 0
    assert np.isnan(torch_out[0]) and np.isnan(torch_out[1])  # 0 * inf = nan
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        kl_compat.kl_div(x, y, "avg", semantics="spec")
    assert kl_compat.kl_div(x.abs(), y.abs(), "avg", semantics="paddle").shape == (3,)  # unreduced, like Paddle
    with pytest.raises(kl_compat.porting.UnsupportedArgument, match="no size_average"):
        kl_compat.kl_div(x, y, "sum", semantics="paddle", size_average=False)
    with pytest.raises(kl_compat.porting.UnsupportedArgument, match="no log_target"):
        kl_compat.kl_div(x, y, "sum", log_target=True, semantics="rtorch")


def test_mean_warning_follows_the_semantics():
    x, y = torch.zeros(2, dtype=torch.float64), torch.full((2,), 0.5, dtype=torch.float64)
    for semantics, warns in (("torch", True), ("paddle", False), ("spec", True), ("rtorch", True)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kl_compat.kl_div(x, y, "mean", semantics=semantics)
        assert bool(caught) == warns, semantics
        assert all(compare.warning_topic(str(w.message)) == "mean-is-not-kl" for w in caught)


def test_module_forms():
    from kl_compat.porting.paddle_module import KLDivLoss as PaddleLoss
    from kl_compat.porting.torch_module import KLDivLoss as TorchLoss

    x = np.log(np.array([[0.2, 0.8]]))
    y = np.array([[0.5, 0.5]])
    a = TorchLoss(reduction="batchmean", semantics="spec")(torch.tensor(x), torch.tensor(y))
    b = PaddleLoss(reduction="batchmean", semantics="spec")(paddle.to_tensor(x), paddle.to_tensor(y))
    assert float(a) == pytest.approx(float(b), rel=1e-15)
    assert isinstance(TorchLoss(), torch.nn.Module) and isinstance(PaddleLoss(), paddle.nn.Layer)


def test_bad_calls_name_the_problem():
    with pytest.raises(TypeError, match="no backend for numpy.ndarray"):
        kl_compat.kl_div(np.zeros(2), np.zeros(2))
    with pytest.raises(TypeError, match="different frameworks"):
        kl_compat.kl_div(torch.zeros(2), paddle.zeros([2]))
    with pytest.raises(ValueError, match="unknown semantics 'mxnet'"):
        kl_compat.kl_div(torch.zeros(2), torch.zeros(2), semantics="mxnet")
    with pytest.raises(ValueError, match=r"input shape \(2, 3\) and target shape \(3,\) differ"):
        kl_compat.kl_div(paddle.zeros([2, 3]), paddle.zeros([3]), "sum", semantics="spec")


def test_dispatch_imports_no_other_framework():
    code = ("import sys, kl_compat, paddle; "
            "kl_compat.kl_div(paddle.zeros([2]), paddle.full([2], 0.5), 'sum', semantics='torch'); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
