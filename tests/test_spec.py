"""The spec against independent computations: SciPy, the seed documents' formulas, properties, and
central finite differences for the gradients."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kl_compat import spec
from kl_compat.spec import Call, Convention, SpecTypeError, SpecValueError

kl = spec.kl_div

try:  # SciPy is a test dependency, not the core's: the core-only check on Python 3.10 (.ci/py310.sh) lacks it
    import scipy.special
except ImportError:
    scipy = None
needs_scipy = pytest.mark.skipif(scipy is None, reason="SciPy is not installed (pip install 'kl-compat[test]')")


# ---- strategies -----------------------------------------------------------------------------------------

@st.composite
def distribution_pairs(draw):
    """(p, q): two (N, K) arrays of probabilities whose rows sum to 1; p may hold zeros, q does not."""
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 6)))
    p = draw(hnp.arrays(np.float64, shape, elements=st.floats(0, 100)))
    p[:, 0] += 1.0  # no all-zero row
    q = draw(hnp.arrays(np.float64, shape, elements=st.floats(1e-3, 100)))
    return p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)


positive = st.floats(1e-6, 1e3)


# ---- S1 and S2: pointwise, against SciPy and the seed documents' formulas ----------------------------------

@needs_scipy
@settings(max_examples=300, deadline=None)
@given(distribution_pairs())
def test_pointwise_matches_scipy_rel_entr(pq):
    p, q = pq
    # rel_entr(p, q) = p log(p/q): the same quantity as y (log y - x) with x = log q, including p = 0 -> 0.
    # The two forms round differently where p is close to q: log p - log q cancels, so each is exact only
    # to a few ulps of p (|log p| + |log q|), which can be far more than 1e-12 of a near-zero result.
    got, want = kl(np.log(q), p, "none"), scipy.special.rel_entr(p, q)
    safe_p = np.where(p > 0, p, 1.0)
    cancellation = np.where(p > 0, 8 * np.finfo(np.float64).eps * p * (np.abs(np.log(safe_p)) + np.abs(np.log(q))), 0.0)
    bound = 1e-12 * np.abs(want) + 1e-300 + cancellation
    assert np.all(np.abs(got - want) <= bound), (got, want, bound)


@needs_scipy
@settings(max_examples=300, deadline=None)
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=st.floats(-50, 50)), hnp.arrays(np.float64, n, elements=st.floats(0, 50)))))
def test_pointwise_matches_xlogy_form(xy):
    x, y = xy
    # xlogy(y, y) - y*x: the form PyTorch's implementation uses; equal to the spec wherever x is finite.
    np.testing.assert_allclose(kl(x, y, "none"), scipy.special.xlogy(y, y) - y * x, rtol=1e-12, atol=1e-12)


def test_hand_computed_from_the_documented_formulas():
    # l_n = y_n (log y_n - x_n) [torch, paddle, rtorch]; l = exp(y) (y - x) with log_target [torch, paddle]
    x = np.log(np.array([0.25, 0.75]))
    y = np.array([0.5, 0.5])
    terms = [0.5 * (math.log(0.5) - math.log(0.25)), 0.5 * (math.log(0.5) - math.log(0.75))]
    np.testing.assert_allclose(kl(x, y, "none"), terms, rtol=1e-15)
    assert kl(x, y, "sum") == pytest.approx(sum(terms), rel=1e-15)
    assert kl(x, y, "mean") == pytest.approx(sum(terms) / 2, rel=1e-15)
    assert kl(x, y[None].repeat(3, 0)[0], "batchmean") == pytest.approx(sum(terms) / 2, rel=1e-15)
    ly = np.log(y)
    np.testing.assert_allclose(kl(x, ly, "none", log_target=True), [math.exp(v) * (v - u) for u, v in zip(x, ly)],
                               rtol=1e-15)


def test_paddle_doc_example_shapes():
    # Paddle's example: (5, 20) uniform(-10, 10) inputs; every reduction but 'none' gives shape [].
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-10, 10, (2, 5, 20)).astype(np.float32)
    for reduction in ("batchmean", "mean", "sum"):
        assert kl(x, y, reduction).shape == ()
    assert kl(x, y, "none").shape == (5, 20)
    # ...and its log_target claim: kl(x, t) == kl(x, log t, log_target=True) for t in (0, 10)
    t = rng.uniform(0, 10, (5, 20))
    np.testing.assert_allclose(kl(x.astype(np.float64), t, "none"), kl(x.astype(np.float64), np.log(t), "none", log_target=True),
                               rtol=1e-12)


@pytest.mark.parametrize("x", [-np.inf, -3.0, 0.0, 5.0, np.inf])
def test_zero_target_contributes_nothing(x):
    assert kl(np.array([x]), np.array([0.0]), "none")[0] == 0.0
    assert kl(np.array([x]), np.array([-np.inf]), "none", log_target=True)[0] == 0.0


def test_edge_values():
    x = np.array([0.0, 0.0, np.nan, -np.inf, np.inf, 1.0, np.inf])
    y = np.array([-0.5, np.nan, 0.0, 0.5, 0.5, np.inf, np.inf])
    got = kl(x, y, "none")
    assert np.isnan(got[0]) and np.isnan(got[1]) and np.isnan(got[2])  # y < 0, y nan, x nan (even with y = 0)
    assert got[3] == np.inf and got[4] == -np.inf and got[5] == np.inf and np.isnan(got[6])


def test_conventions_name_the_alternatives():
    x, y = np.array([-np.inf, 1.0, np.nan]), np.array([0.0, -0.5, 0.0])
    np.testing.assert_array_equal(kl(x, y, "none", convention=Convention(nonpositive_target="zero")), [0, 0, 0])
    ieee = kl(x, y, "none", convention=Convention(zero_times_inf="ieee"))
    assert np.isnan(ieee).all()
    assert Convention(zero_times_inf="ieee").describe() == "zero_times_inf='ieee'"
    with pytest.raises(SpecValueError, match="nonpositive_target='maybe'"):
        Convention(nonpositive_target="maybe")


# ---- S3: reductions and shapes -------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(distribution_pairs())
def test_reduction_identities(pq):
    p, q = pq
    x = np.log(q)
    total = kl(x, p, "sum")
    assert kl(x, p, "batchmean") * p.shape[0] == pytest.approx(total, rel=1e-12, abs=1e-300)
    assert kl(x, p, "mean") * p.size == pytest.approx(total, rel=1e-12, abs=1e-300)
    assert total == pytest.approx(math.fsum(kl(x, p, "none").ravel()), rel=1e-15, abs=1e-300)


@settings(max_examples=200, deadline=None)
@given(distribution_pairs())
def test_kl_is_nonnegative_and_zero_on_itself(pq):
    p, q = pq
    assert kl(np.log(q), p, "batchmean") >= -1e-12
    p_pos = np.where(p > 0, p, 1e-12)
    p_pos /= p_pos.sum(axis=1, keepdims=True)
    assert abs(kl(np.log(p_pos), p_pos, "sum")) <= 1e-12


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 5)), elements=st.floats(-20, 5)),
       st.data())
def test_log_target_equivalence(x, data):
    log_y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-30, 3) | st.just(-np.inf)))
    np.testing.assert_allclose(kl(x, log_y, "none", log_target=True), kl(x, np.exp(log_y), "none"),
                               rtol=1e-9, atol=1e-12)  # exp(log(v)) != v in the last bits


def test_batchmean_of_0d_divides_by_one():
    x, y = np.array(np.log(0.3)), np.array(0.6)
    assert kl(x, y, "batchmean") == kl(x, y, "sum")
    assert kl(x, y, "none").shape == () and kl(x, y, "batchmean").shape == ()


@pytest.mark.parametrize("shape,reduction,want", [
    ((0,), "sum", 0.0), ((0,), "mean", np.nan), ((0,), "batchmean", np.nan),
    ((3, 0), "batchmean", 0.0), ((0, 4), "batchmean", np.nan), ((3, 0), "mean", np.nan),
])
def test_empty_inputs(shape, reduction, want):
    got = kl(np.zeros(shape), np.zeros(shape), reduction)
    assert got.shape == ()
    np.testing.assert_equal(got, want)
    assert kl(np.zeros(shape), np.zeros(shape), "none").shape == shape


def test_sums_are_exact():
    # Terms that cancel catastrophically in naive float64 summation; fsum gets the exact answer.
    y = np.array([1.0, 1.0, 1.0])
    x = np.array([-1e16, 1.0, 1e16])  # terms: 1e16, -1, -1e16  -> exactly -1
    assert kl(x, y, "sum") == -1.0


def test_result_is_rounded_once_to_the_result_dtype():
    x = np.array([-0.1, -0.2, -0.3], np.float32)
    y = np.array([0.2, 0.3, 0.5], np.float32)
    got = kl(x, y, "sum")
    assert got.dtype == np.float32
    exact = math.fsum(float(b) * (math.log(float(b)) - float(a)) for a, b in zip(x, y))
    assert got == np.float32(exact)


# ---- S4, S5: legacy arguments and warnings ---------------------------------------------------------------

@pytest.mark.parametrize("size_average,reduce,want", [
    (None, False, "none"), (True, False, "none"), (False, False, "none"), (False, None, "sum"),
    (False, True, "sum"), (True, None, "mean"), (None, True, "mean"), (True, True, "mean"),
])
def test_legacy_arguments_override_reduction(size_average, reduce, want):
    for reduction in ("batchmean", "sum", "none", "mean"):
        call = Call(reduction, False, size_average, reduce)
        assert spec.effective_reduction(call) == want
        assert spec.expected_warnings(call) == (spec.W_DEPRECATED,)


def test_mean_warns():
    assert spec.expected_warnings(Call("mean")) == (spec.W_MEAN,)
    assert spec.expected_warnings(Call("batchmean")) == ()


# ---- S6-S8: validation ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["avg", "MEAN", "", "elementwise_mean", "batch_mean"])
def test_unknown_reduction_is_an_error_naming_it(reduction):
    with pytest.raises(SpecValueError, match=f"unknown reduction {reduction!r}"):
        kl(np.zeros(2), np.zeros(2), reduction)


@pytest.mark.parametrize("reduction", [None, 1, ["mean"]])
def test_non_string_reduction_is_a_type_error(reduction):
    with pytest.raises(SpecTypeError, match="reduction must be a string"):
        kl(np.zeros(2), np.zeros(2), reduction)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(SpecValueError, match=r"input shape \(4, 5\) and target shape \(5,\) differ"):
        kl(np.zeros((4, 5)), np.zeros(5), "sum")
    got = kl(np.zeros((4, 5)), np.full(5, 0.2), "batchmean", convention=Convention(shapes="broadcast"))
    assert got == pytest.approx(5 * 0.2 * math.log(0.2))  # sum over 20 terms / N = 4


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_inputs_are_rejected(dtype):
    with pytest.raises(SpecTypeError, match="not a floating dtype"):
        kl(np.zeros(2, dtype), np.zeros(2), "sum")


@pytest.mark.parametrize("a,b,want", [(np.float16, np.float32, np.float32), (np.float32, np.float64, np.float64),
                                      (np.float16, np.float16, np.float16)])
def test_result_dtype_is_the_promotion(a, b, want):
    assert kl(np.zeros(2, a), np.full(2, 0.5, b), "sum").dtype == want


# ---- S9: gradients against central finite differences ------------------------------------------------------

def _numeric_grad(f, v, h=1e-6):
    g = np.zeros_like(v)
    for i in np.ndindex(v.shape):
        up, down = v.copy(), v.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up) - f(down)) / (2 * h)
    return g


@pytest.mark.parametrize("reduction", spec.REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
def test_gradients_match_finite_differences(reduction, log_target):
    rng = np.random.default_rng(1)
    x = np.log(rng.dirichlet(np.ones(5), size=3))
    y = np.log(rng.dirichlet(np.ones(5), size=3)) if log_target else rng.dirichlet(np.ones(5), size=3)
    r = spec.reference(x, y, Call(reduction, log_target))
    total = lambda a, b: float(np.sum(spec.reference(a, b, Call(reduction, log_target)).value))  # noqa: E731
    np.testing.assert_allclose(r.grad_input, _numeric_grad(lambda v: total(v, y), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r.grad_target, _numeric_grad(lambda v: total(x, v), y), rtol=1e-6, atol=1e-8)
    assert r.grad_input_defined.all() and r.grad_target_defined.all()


def test_gradients_undefined_where_the_spec_says():
    x = np.array([0.0, -np.inf, 1.0, np.nan, 0.0])
    y = np.array([0.0, 0.0, -1.0, 0.5, np.inf])
    r = spec.reference(x, y, Call("sum"))
    np.testing.assert_array_equal(r.grad_input_defined, [True, True, False, False, False])
    np.testing.assert_array_equal(r.grad_target_defined, [False, False, False, False, False])
    assert r.grad_input[0] == 0.0 and r.grad_input[1] == 0.0
    assert np.isnan(r.grad_target).all()


def test_broadcast_gradients_are_summed_back():
    x = np.log(np.full((3, 4), 0.25))
    y = np.full(4, 0.25)
    r = spec.reference(x, y, Call("sum"), convention=Convention(shapes="broadcast"))
    assert r.grad_target.shape == (4,) and r.grad_input.shape == (3, 4)
    np.testing.assert_allclose(r.grad_target, 3 * (np.log(0.25) + 1 - np.log(0.25)))


def _first_gradients(x, y, log_target, divisor):
    """S9's analytic first gradients at interior points (where every one is defined), elementwise."""
    gx, gy, _, _ = spec.gradients(x, y, log_target, divisor)
    return gx, gy


@pytest.mark.parametrize("reduction", spec.REDUCTIONS)
@pytest.mark.parametrize("log_target", [False, True])
def test_second_derivatives_match_finite_differences_of_the_first(reduction, log_target):
    rng = np.random.default_rng(2)
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    y = np.log(rng.dirichlet(np.ones(4), size=3)) if log_target else rng.dirichlet(np.ones(4), size=3)
    divisor = spec.divisor_of(reduction, x.size, x.shape)
    second = spec.second_derivatives(x, y, Call(reduction, log_target))
    for which, (wrt_x, wrt_y) in ((0, second.of_grad_input), (1, second.of_grad_target)):
        def total(a, b):
            return float(np.sum(_first_gradients(a, b, log_target, divisor)[which]))
        np.testing.assert_allclose(wrt_x, _numeric_grad(lambda v: total(v, y), x), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(wrt_y, _numeric_grad(lambda v: total(x, v), y), rtol=1e-6, atol=1e-7)
    assert all(m.all() for m in second.of_grad_input_defined + second.of_grad_target_defined)


def test_second_derivatives_of_grad_input_are_defined_where_the_loss_is_not():
    # y = 0, y < 0 and x = nan make the loss (or its y-derivative) undefined; g_x = -y does not care.
    x = np.array([0.5, 0.5, np.nan, -np.inf, 0.5])
    y = np.array([0.0, -1.0, 0.5, 0.5, np.nan])
    s = spec.second_derivatives(x, y, Call("sum"))
    np.testing.assert_array_equal(s.of_grad_input_defined[0], [True, True, True, True, False])
    np.testing.assert_array_equal(s.of_grad_input[1][:4], [-1.0, -1.0, -1.0, -1.0])
    np.testing.assert_array_equal(s.of_grad_target_defined[1], [False, False, False, False, False])


def test_second_derivatives_with_log_target_at_minus_inf_are_zero_not_nan():
    s = spec.second_derivatives(np.array([0.0]), np.array([-np.inf]), Call("sum", log_target=True))
    assert s.of_grad_input[1][0] == 0.0 and s.of_grad_input_defined[1][0]
    assert not s.of_grad_target_defined[1][0]


def test_second_derivatives_are_scaled_and_summed_back_under_broadcasting():
    x = np.log(np.full((3, 4), 0.25))
    y = np.full(4, 0.25)
    s = spec.second_derivatives(x, y, Call("mean"), convention=Convention(shapes="broadcast"))
    assert s.of_grad_target[1].shape == (4,) and s.of_grad_target[0].shape == (3, 4)
    np.testing.assert_allclose(s.of_grad_target[1], 3 * (1 / 0.25) / 12)
    np.testing.assert_allclose(s.of_grad_input[1], 3 * -1 / 12)
