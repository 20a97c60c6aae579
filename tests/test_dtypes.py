import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kl_compat import dtypes

finite64 = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=2000, deadline=None)
@given(st.lists(finite64, min_size=1, max_size=20))
@pytest.mark.parametrize("name", ["float16", "float32"])
def test_hand_rounding_agrees_with_numpy_casts(name, values):
    # round_to_format is what rounds bfloat16; NumPy's casts check the same code on two other formats.
    x = np.array(values)
    with np.errstate(over="ignore"):
        want = x.astype(dtypes.FLOAT_FORMATS[name].storage).astype(np.float64)
    got = dtypes.round_to_format(x, dtypes.FLOAT_FORMATS[name])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["float16", "float32"])
def test_hand_rounding_on_ties_and_subnormals(name):
    fmt = dtypes.FLOAT_FORMATS[name]
    one_ulp = 2.0 ** -fmt.mantissa_bits
    x = np.array([1 + one_ulp / 2, 1 + 1.5 * one_ulp, fmt.smallest_subnormal / 2, fmt.smallest_subnormal * 1.5,
                  fmt.max * (1 + one_ulp / 4), fmt.max * (1 + one_ulp), -0.0, np.inf, -np.inf, np.nan])
    with np.errstate(over="ignore"):
        want = x.astype(fmt.storage).astype(np.float64)
    np.testing.assert_array_equal(dtypes.round_to_format(x, fmt), want)


def test_bfloat16_known_values():
    bf = dtypes.FLOAT_FORMATS["bfloat16"]
    # 1 + 2**-8 is a tie between 1 and 1 + 2**-7: ties go to even (1.0); just above it rounds up.
    x = np.array([1 + 2.0 ** -8, 1 + 2.0 ** -8 + 2.0 ** -30, 3.0e38 * 1.2, 2.0 ** -133, 2.0 ** -134])
    np.testing.assert_array_equal(dtypes.round_to(x, "bfloat16"),
                                  np.array([1.0, 1 + 2.0 ** -7, np.inf, 2.0 ** -133, 0.0], np.float32))
    assert bf.eps == 2.0 ** -7


@pytest.mark.torch
def test_bfloat16_rounding_matches_torch_for_float32_values():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(10000) * 10.0 ** rng.integers(-40, 38, 10000)).astype(np.float32)
    want = torch.from_numpy(x).to(torch.bfloat16).to(torch.float64).numpy()
    np.testing.assert_array_equal(dtypes.round_to(x.astype(np.float64), "bfloat16").astype(np.float64), want)


@pytest.mark.parametrize("a,b,want", [("float16", "bfloat16", "float32"), ("float32", "float64", "float64"),
                                      ("bfloat16", "float32", "float32"), ("float16", "float16", "float16")])
def test_result_dtype(a, b, want):
    assert dtypes.result_dtype(a, b) == want == dtypes.result_dtype(b, a)


def test_result_dtype_rejects_integers():
    with pytest.raises(TypeError, match="int64 is not a floating dtype"):
        dtypes.result_dtype("int64", "float32")


def test_unknown_dtype_name():
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        dtypes.check_dtype_name("float8")


def test_ulp():
    assert dtypes.ulp(1.0, "float32") == 2.0 ** -23
    assert dtypes.ulp(0.0, "float16") == 2.0 ** -24
    assert np.isinf(dtypes.ulp(np.inf, "float64"))
