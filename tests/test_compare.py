"""Judging observations: statuses, kinds and messages, each difference on its own."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kl_compat import compare
from kl_compat.adapters.base import GRAD_NONE, GRAD_OK, Gradient, Observation
from observing import expected_observation  # tests/ is on sys.path (rootdir conftest)


@pytest.fixture
def batchmean(golden_by_id):
    return golden_by_id["core/proper/2d/float32/batchmean/prob"]


def test_the_spec_itself_matches(batchmean):
    v = compare.judge(batchmean, expected_observation(batchmean))
    assert v.status == "match" and v.differences == [] and v.max_ulp == 0


def test_shape_message_in_the_house_style(batchmean):
    v = compare.judge(batchmean, expected_observation(batchmean, shape=(1,),
                                                      value=np.asarray(batchmean.expected.value).reshape(1)))
    assert v.status == "differs"
    assert [d.kind for d in v.differences] == ["shape"]
    assert v.differences[0].message == "out.shape=(1,), but the spec says () [kl_div(reduction='batchmean')]"


def test_dtype_and_value_are_separate_differences(batchmean):
    v = compare.judge(batchmean, expected_observation(batchmean, dtype="float64",
                                                      value=np.float64(batchmean.expected.value) * 1.01))
    assert {d.kind for d in v.differences} == {"dtype", "value"}
    value = next(d for d in v.differences if d.kind == "value")
    assert "ulp" in value.message and "but the spec says" in value.message


def test_a_repeated_observation_gets_its_own_copy_of_the_same_verdict(batchmean):
    off = np.float64(batchmean.expected.value) * 1.01
    first = compare.judge(batchmean, expected_observation(batchmean, value=off))
    first.differences[0].known = "marked by the known-differences file for this surface only"
    again = compare.judge(batchmean, expected_observation(batchmean, surface="module", value=off))
    assert [d.message for d in again.differences] == [d.message for d in first.differences]
    assert again.status == "differs" and again.differences[0].known is None
    # anything observed differently is judged afresh
    assert compare.judge(batchmean, expected_observation(batchmean, surface="module")).status == "match"
    assert compare.judge(batchmean, expected_observation(batchmean, value=off, warnings=[
        {"category": "UserWarning", "message": "something else"}])).status == "differs"
    assert len(compare.judge(batchmean, expected_observation(batchmean, value=off, warnings=[
        {"category": "UserWarning", "message": "something else"}])).differences) == 2


def test_values_within_a_few_ulps_match(batchmean):
    exp = np.float32(batchmean.expected.value)
    nudged = np.nextafter(np.nextafter(exp, np.float32(np.inf)), np.float32(np.inf))
    v = compare.judge(batchmean, expected_observation(batchmean, value=np.float64(nudged)))
    assert v.status == "match" and v.max_ulp == pytest.approx(2.0)


def test_nan_where_the_spec_has_a_number(golden_by_id):
    case = golden_by_id["edge/zero-target/2d/float32/none/log"]
    value = np.asarray(case.expected.value, np.float64).copy()
    value[case.target == -np.inf] = np.nan
    v = compare.judge(case, expected_observation(case, value=value))
    assert [d.kind for d in v.differences] == ["nan-inf"]
    assert v.convention == "zero_times_inf='ieee'"
    assert "follows convention zero_times_inf='ieee'" in v.differences[0].message


def test_error_where_the_spec_computes(batchmean):
    v = compare.judge(batchmean, expected_observation(batchmean, status="raised", value=None, error={
        "type": "RuntimeError", "message": "no kernel\nfor float16"}))
    assert v.status == "error"
    assert v.differences[0].kind == "error-vs-value"
    assert "raised RuntimeError: no kernel for float16 where the spec gives a float32 of shape ()" in v.differences[0].message


def test_value_where_the_spec_raises(golden_by_id):
    case = golden_by_id["invalid/proper/2d/float32/avg/prob"]
    v = compare.judge(case, Observation(case.id, "t", "functional", "ok", value=np.zeros((4, 5)), shape=(4, 5), dtype="float32"))
    assert v.status == "differs"
    assert v.differences[0].kind == "error-vs-value"
    assert "where the spec raises ValueError: unknown reduction 'avg'" in v.differences[0].message
    assert compare.judge(case, Observation(case.id, "t", "functional", "raised", error={"type": "ValueError", "message": "x"})).status == "match"


def test_missing_and_unexpected_warnings(golden_by_id, batchmean):
    mean = golden_by_id["core/proper/2d/float32/mean/prob"]
    v = compare.judge(mean, expected_observation(mean, warnings=[]))
    assert [d.kind for d in v.differences] == ["warning"]
    assert "no 'mean-is-not-kl' warning" in v.differences[0].message
    v = compare.judge(batchmean, expected_observation(batchmean, warnings=[
        {"category": "FutureWarning", "message": "something else"}]))
    assert "warned FutureWarning: 'something else', which the spec does not expect" in v.differences[0].message


def test_missing_target_gradient(batchmean):
    v = compare.judge(batchmean, expected_observation(batchmean, grad_target=Gradient(GRAD_NONE)))
    assert [d.kind for d in v.differences] == ["gradient"]
    assert "no gradient for the target, but the spec defines one" in v.differences[0].message


def test_undefined_gradient_entries_are_not_judged(golden_by_id):
    case = golden_by_id["edge/zero-target/2d/float32/sum/prob"]
    assert not case.expected.grad_target_defined.all()
    g = np.asarray(case.expected.grad_target, np.float64).copy()
    g[~case.expected.grad_target_defined] = 12345.0  # anything goes where the spec says undefined
    v = compare.judge(case, expected_observation(case, grad_target=Gradient(GRAD_OK, g, "float32")))
    assert v.status == "match"


def test_crash_timeout_unsupported(batchmean):
    assert compare.judge(batchmean, Observation(batchmean.id, "t", "f", "crashed", detail="killed by SIGSEGV")).status == "crashed"
    assert compare.judge(batchmean, Observation(batchmean.id, "t", "f", "timeout", detail="no answer")).status == "timeout"
    v = compare.judge(batchmean, Observation(batchmean.id, "t", "f", "unsupported", unsupported="log_target"))
    assert v.status == "unsupported" and v.differences[0].kind == "unsupported-argument"
    assert v.differences[0].message == "t.f has no log_target [kl_div(reduction='batchmean')]"


def test_warning_topics():
    assert compare.warning_topic("size_average and reduce args will be deprecated, please use reduction='sum' instead.") == "deprecated-argument"
    assert compare.warning_topic("reduction: 'mean' divides the total loss ... 'batchmean' divides only") == "mean-is-not-kl"
    assert compare.warning_topic("Casting complex values to real") == "other"


_ELEMENTS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                      st.sampled_from([0.0, -0.0, 1.0, 1.0 + 2**-20, np.inf, -np.inf, np.nan, 5e-324]))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), n=st.integers(1, 6), dtype=st.sampled_from(["float16", "bfloat16", "float32", "float64"]),
       masked=st.booleans())
def test_whole_array_match_test_agrees_with_element_by_element_description(data, n, dtype, masked):
    """`_compare_arrays` decides "no difference" with a few whole-array operations and hands anything
    else to `_describe`; the shortcut must never change a verdict, a message or the worst ULP error."""
    exp = np.array(data.draw(st.lists(_ELEMENTS, min_size=n, max_size=n)))
    # observations near the expected values (as most are), or anything at all
    with np.errstate(all="ignore"):
        near = exp + np.array(data.draw(st.lists(st.floats(-1e-3, 1e-3), min_size=n, max_size=n))) * np.abs(exp)
    obs = np.where(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)), near,
                   np.array(data.draw(st.lists(_ELEMENTS, min_size=n, max_size=n))))
    tol = np.array(data.draw(st.lists(st.floats(0, 1e-2), min_size=n, max_size=n)))
    defined = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n))) if masked else None
    ref = compare.Reference(exp, tol, dtype, defined)
    with np.errstate(all="ignore"):
        fast = compare._compare_arrays("out", obs, ref, dtype, "[call]", with_ulps=True)
        full = compare._describe("out", obs, ref, dtype, "[call]")
    assert [d.message for d in fast[0]] == [d.message for d in full[0]]
    assert fast[1] == full[1]
