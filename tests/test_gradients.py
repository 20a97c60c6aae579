"""Gradients as users take them: which operands require grad (S9), derivatives defined wherever they
exist (S9), and double backward (S10), through the goldens, the wire, the results file and judging."""

import numpy as np
import pytest

from kl_compat import compare, golden, spec
from kl_compat.adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, Gradient
from kl_compat.record import Observed
from kl_compat.spec import Call
from observing import expected_observation  # tests/ is on sys.path (rootdir conftest)


# ---- S9: each derivative wherever it exists ------------------------------------------------------------

def test_grad_input_exists_where_the_loss_is_infinite():
    # l = y (log y - x) is linear in x: its slope -y is the same at x = +-inf; not for y = +inf, y < 0 or nan x.
    x = np.array([-np.inf, np.inf, 0.0, 1.0, np.nan])
    y = np.array([0.25, 0.5, np.inf, -1.0, 0.5])
    r = spec.reference(x, y, Call("sum"))
    np.testing.assert_array_equal(r.grad_input_defined, [True, True, False, False, False])
    np.testing.assert_array_equal(r.grad_input[:2], [-0.25, -0.5])
    assert not r.grad_target_defined.any()  # log y + 1 - x is infinite for an infinite x


def test_log_target_derivatives_where_they_exist():
    x = np.array([-np.inf, 0.5, 0.5, np.inf])
    y = np.array([np.log(0.5), -np.inf, np.inf, np.log(0.25)])
    r = spec.reference(x, y, Call("none", log_target=True))
    np.testing.assert_array_equal(r.grad_input_defined, [True, True, False, True])
    np.testing.assert_array_equal(r.grad_input[[0, 1, 3]], [-0.5, -0.0, -0.25])
    np.testing.assert_array_equal(r.grad_target_defined, [False, False, False, False])


def test_no_derivative_is_held_where_finite_operands_overflow_the_loss():
    y = np.array([800.0])  # exp(800) overflows float64: the loss and both derivatives' terms with it
    r = spec.reference(y.copy(), y, Call("sum", log_target=True))
    assert not r.grad_input_defined[0] and not r.grad_target_defined[0]


# ---- which operands require grad ------------------------------------------------------------------------

def test_call_says_which_operands_require_grad():
    assert Call("sum").requires("input") and Call("sum").requires("target")
    only = Call("sum", requires_grad="input")
    assert only.requires("input") and not only.requires("target")
    assert str(Call("sum", requires_grad="neither")) == "kl_div(reduction='sum'), requires_grad on neither operand"
    assert str(Call("mean", order=2)) == "kl_div(reduction='mean'), double backward"


def test_the_goldens_record_how_gradients_are_taken(golden_by_id):
    neither = golden_by_id["requires-grad/neither/proper/2d/float32/batchmean/prob"]
    assert neither.call.requires_grad == "neither" and neither.call.order == 1
    second = golden_by_id["second-order/neginf-input/2d/float64/mean/log"]
    assert second.call.order == 2 and second.call.requires_grad == "both"
    want = spec.second_derivatives(second.input, second.target, second.call)
    np.testing.assert_array_equal(second.expected.second["grad2_input_target"], want.of_grad_input[1])
    np.testing.assert_array_equal(second.expected.second["grad2_target_target"], want.of_grad_target[1])
    assert golden_by_id["core/proper/2d/float32/sum/prob"].expected.second is None


def test_neither_requiring_grad_is_no_gradient_and_no_differentiable_output(golden_by_id):
    case = golden_by_id["requires-grad/neither/proper/2d/float32/batchmean/prob"]
    none = Gradient(GRAD_NONE)
    neither = expected_observation(case, grad_input=none, grad_target=none, differentiable=False)
    assert compare.judge(case, neither).status == "match"
    v = compare.judge(case, expected_observation(case, grad_input=none, grad_target=none, differentiable=True))
    assert [d.message for d in v.differences] == [
        "out.requires_grad=True, but the spec says False [kl_div(reduction='batchmean'), requires_grad on neither "
        "operand]"]


def test_a_gradient_for_an_operand_that_requires_none_differs(golden_by_id):
    case = golden_by_id["requires-grad/input/proper/2d/float32/none/prob"]
    v = compare.judge(case, expected_observation(case, differentiable=True))  # the target got a gradient too
    assert [(d.kind, d.where, d.form) for d in v.differences] == [("gradient", "grad_target", "gradient-presence")]
    assert compare.judge(case, expected_observation(case, grad_target=Gradient(GRAD_NONE))).status == "match"


# ---- double backward --------------------------------------------------------------------------------------

def _second(case, **changed):
    out = {k: Gradient(GRAD_OK, np.asarray(a, np.float64), case.input_dtype) for k, a in case.expected.second.items()}
    out.update(changed)
    return out


def test_second_derivatives_match_where_the_spec_defines_them(golden_by_id):
    case = golden_by_id["second-order/neginf-input/2d/float32/sum/prob"]
    s = _second(case)
    s["grad2_target_input"].value = np.where(np.isnan(s["grad2_target_input"].value), 7.0, s["grad2_target_input"].value)
    assert compare.judge(case, expected_observation(case, second=s)).status == "match"  # any value where undefined
    # dg_x/dx = 0 everywhere: a framework's "no gradient" (g_x does not depend on x) is that zero
    unused = expected_observation(case, second=_second(case, grad2_input_input=Gradient(GRAD_NONE)))
    assert compare.judge(case, unused).status == "match"
    v = compare.judge(case, expected_observation(case, second=_second(case, grad2_input_target=Gradient(GRAD_NONE))))
    assert [d.message for d in v.differences] == [
        "no gradient for the d(sum grad_input)/d(target), but the spec defines one [kl_div(reduction='sum'), "
        "double backward]"]


def test_a_wrong_second_derivative_is_a_second_order_difference(golden_by_id):
    case = golden_by_id["second-order/proper/0d/float64/mean/log"]
    wrong = Gradient(GRAD_OK, np.asarray(case.expected.second["grad2_target_target"]) * 1.01, "float64")
    v = compare.judge(case, expected_observation(case, second=_second(case, grad2_target_target=wrong)))
    assert [(d.kind, d.where) for d in v.differences] == [("second-order", "d(sum grad_target)/d(target)")]


def test_double_backward_raising_is_one_difference(golden_by_id):
    case = golden_by_id["second-order/proper/2d/float64/batchmean/prob"]
    err = Gradient(GRAD_ERROR, message="RuntimeError: no grad op")
    v = compare.judge(case, expected_observation(case, second=dict.fromkeys(spec.SECOND_KEYS, err)))
    assert [d.message for d in v.differences] == [
        "double backward (d2(out)) raised RuntimeError: no grad op [kl_div(reduction='batchmean'), double backward]"]


def test_second_derivatives_and_differentiable_cross_the_wire_and_the_results_file(golden_by_id):
    from kl_compat import wire

    case = golden_by_id["second-order/proper/2d/float64/batchmean/prob"]
    obs = expected_observation(case, differentiable=True, second=_second(case, grad2_input_input=Gradient(GRAD_NONE)))
    back = wire.decode(wire.encode(wire.Answers([3], [obs]))[4:]).observations[0]  # (after the frame length)
    assert back.differentiable is True and back.second.keys() == obs.second.keys()
    np.testing.assert_array_equal(back.second["grad2_target_target"].value, obs.second["grad2_target_target"].value)
    assert back.second["grad2_input_input"].status == GRAD_NONE
    summary = Observed.from_json(Observed.of(back).to_json())
    assert summary.differentiable is True and summary.second["grad2_input_input"].status == GRAD_NONE
    assert "second" not in Observed.of(expected_observation(case)).to_json()  # files without them stay as they were


# ---- the frameworks ------------------------------------------------------------------------------------------

def _observe(name, case):
    from kl_compat.adapters import adapter_class

    adapter = adapter_class(name)()
    adapter.load()
    return adapter.observe(case.id, "functional", case.input, case.target, case.call, case.input_dtype,
                           case.target_dtype)


@pytest.mark.torch
def test_torch_double_backward_matches_the_spec(golden_by_id):
    pytest.importorskip("torch")
    for cid in ("second-order/neginf-input/2d/float64/batchmean/prob", "second-order/zero-target/0d/float32/sum/prob",
                "second-order/proper/2d/float32/none/log"):
        obs = _observe("torch", golden_by_id[cid])
        assert obs.second is not None and obs.differentiable is True
        assert compare.judge(golden_by_id[cid], obs).status == "match", cid


@pytest.mark.torch
def test_torch_with_neither_requiring_grad(golden_by_id):
    pytest.importorskip("torch")
    case = golden_by_id["requires-grad/neither/proper/0d/float64/none/log"]
    obs = _observe("torch", case)
    assert obs.status == "ok" and obs.differentiable is False
    assert (obs.grad_input.status, obs.grad_target.status) == (GRAD_NONE, GRAD_NONE)


@pytest.mark.paddle
def test_paddle_kl_div_has_no_double_backward(golden_by_id):
    pytest.importorskip("paddle")
    obs = _observe("paddle", golden_by_id["second-order/proper/2d/float32/sum/prob"])
    assert {g.status for g in obs.second.values()} == {GRAD_ERROR}
    assert "kldiv_loss_grad" in obs.second["grad2_input_input"].message


@pytest.mark.r
def test_the_r_bridge_carries_which_operands_require_grad():
    # The base-R TEST kernel of rtorch.R (no R torch needed): the task's requires_grad reaches verbs$make,
    # and a kernel without verbs$second takes no second derivatives (None, not an error).
    pytest.importorskip("rpy2")
    from kl_compat.adapters import rtorch_backend as rb

    try:
        rb.r_session()
    except ImportError as e:
        pytest.skip(f"R cannot be started through rpy2: {e}")
    bridge = rb.RBridge("TEST_base_r", "TEST")
    x, y = np.log(np.full((2, 3), 0.5)), np.full((2, 3), 0.5)
    tasks = [(f"c{w}", "kl_div", x, y, Call("sum", requires_grad=w, order=2), "float64", "float64")
             for w in ("input", "neither")]
    only_input, neither = bridge.observe(tasks)
    assert (only_input.grad_input.status, only_input.grad_target.status) == (GRAD_OK, GRAD_NONE)
    assert (neither.grad_input.status, neither.grad_target.status) == (GRAD_NONE, GRAD_NONE)
    assert only_input.second is None and only_input.differentiable is None


def test_jax_double_backward_and_gradients_by_request(golden_by_id):
    pytest.importorskip("optax")
    case = golden_by_id["second-order/proper/2d/float64/sum/log"]
    obs = _observe("jax", case)
    assert obs.second is not None and compare.judge(case, obs).status == "match"
    only = _observe("jax", golden_by_id["requires-grad/input/proper/2d/float64/batchmean/prob"])
    assert only.grad_input.status == GRAD_OK and only.grad_target is None  # (JAX is asked for the input's only)
