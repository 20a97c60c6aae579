"""Dtype names, promotion and rounding, framework-neutral.

Dtypes are named by strings ("float32", "bfloat16", ...) rather than NumPy dtypes because NumPy has no
bfloat16. Values travel as float64 (every value of every float dtype here is exact in float64) and are
rounded once, to the declared dtype, at the end: that is how goldens stay correctly rounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE-754 binary format: `mantissa_bits` counts the explicit fraction bits."""

    name: str
    mantissa_bits: int
    min_exponent: int  # exponent of the smallest normal number, 2**min_exponent
    max_exponent: int  # exponent of the largest finite number's leading bit
    storage: type  # the NumPy dtype that holds every value of this format exactly

    @property
    def eps(self) -> float:
        return 2.0 ** -self.mantissa_bits

    @property
    def max(self) -> float:
        return (2.0 - 2.0 ** -self.mantissa_bits) * 2.0 ** self.max_exponent

    @property
    def smallest_subnormal(self) -> float:
        return 2.0 ** (self.min_exponent - self.mantissa_bits)


FLOAT_FORMATS: dict[str, FloatFormat] = {
    f.name: f
    for f in (
        FloatFormat("float16", 10, -14, 15, np.float16),
        # bfloat16 has no NumPy dtype; float32 holds all its values exactly.
        FloatFormat("bfloat16", 7, -126, 127, np.float32),
        FloatFormat("float32", 23, -126, 127, np.float32),
        FloatFormat("float64", 52, -1022, 1023, np.float64),
    )
}
INT_DTYPES: dict[str, type] = {"int32": np.int32, "int64": np.int64, "bool": np.bool_}
ALL_DTYPES = tuple(FLOAT_FORMATS) + tuple(INT_DTYPES)

# Promotion rank. float16 and bfloat16 share a rank because neither holds the other: mixing them
# promotes to float32 (the rule of PyTorch and JAX; the array API standard does not cover bfloat16).
_RANK = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_FORMATS


def check_dtype_name(dtype: str) -> str:
    if dtype not in FLOAT_FORMATS and dtype not in INT_DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: expected one of {', '.join(ALL_DTYPES)}")
    return dtype


def result_dtype(a: str, b: str) -> str:
    """The floating dtype of an operation between float dtypes `a` and `b`."""
    for d in (a, b):
        if not is_float(d):
            raise TypeError(f"{d} is not a floating dtype")
    if a == b:
        return a
    if _RANK[a] == _RANK[b]:  # float16 with bfloat16
        return "float32"
    return a if _RANK[a] > _RANK[b] else b


def dtype_name(array: np.ndarray) -> str:
    """The dtype name of a NumPy array (bfloat16 arrays from ml_dtypes are recognised by name)."""
    name = np.dtype(array.dtype).name
    if name in FLOAT_FORMATS or name in INT_DTYPES:
        return name
    raise TypeError(f"unsupported dtype {name!r}: expected one of {', '.join(ALL_DTYPES)}")


def round_to(values, dtype: str) -> np.ndarray:
    """Round float64 `values` once, to nearest-even, into `dtype`; returned in its storage dtype.

    float16, float32 and float64 use NumPy's casts, which round float64 correctly in one step. bfloat16
    cannot go through float32 (that would round twice), so it is rounded here from float64 directly.
    """
    x = np.asarray(values, dtype=np.float64)
    if dtype in INT_DTYPES:
        return x.astype(INT_DTYPES[dtype])
    fmt = FLOAT_FORMATS[dtype]
    if dtype != "bfloat16":
        with np.errstate(over="ignore"):
            return x.astype(fmt.storage)
    return round_to_format(x, fmt).astype(np.float32)


def round_to_format(x: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Correctly rounded (nearest, ties to even) float64 -> `fmt`, returned as float64.

    Written for bfloat16, which NumPy lacks; the tests check it against NumPy's own casts for float16
    and float32, which exercise the same code with other parameters.
    """
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    finite = np.isfinite(x) & (x != 0)
    xf = x[finite]
    _, exp = np.frexp(xf)  # xf = m * 2**exp, 0.5 <= |m| < 1
    # The quantum (ulp) of the target format at xf's binade; subnormals share the smallest one.
    q_exp = np.maximum(exp - 1, fmt.min_exponent) - fmt.mantissa_bits
    with np.errstate(over="ignore"):  # near float64's own limit; such values overflow the format below
        rounded = np.ldexp(np.rint(np.ldexp(xf, -q_exp)), q_exp)  # np.rint rounds half to even
    # Past the largest finite value by half an ulp or more, IEEE rounding gives infinity.
    overflow_at = fmt.max + 2.0 ** (fmt.max_exponent - fmt.mantissa_bits - 1)
    rounded = np.where(np.abs(xf) >= overflow_at, np.copysign(np.inf, xf), rounded)
    out[finite] = rounded
    return out


def ulp(values, dtype: str) -> np.ndarray:
    """The spacing of `dtype` at each value (the smallest subnormal near zero); inf where not finite."""
    fmt = FLOAT_FORMATS[dtype]
    x = np.abs(np.asarray(values, dtype=np.float64))
    _, exp = np.frexp(np.where(np.isfinite(x) & (x > 0), x, 1.0))
    q = np.ldexp(1.0, np.maximum(exp - 1, fmt.min_exponent) - fmt.mantissa_bits)
    q = np.where(x == 0, fmt.smallest_subnormal, q)
    return np.where(np.isfinite(x), q, np.inf)


def storage_array(values, dtype: str) -> np.ndarray:
    """`values`, already representable in `dtype`, in the NumPy dtype that stores it."""
    if dtype in INT_DTYPES:
        return np.asarray(values).astype(INT_DTYPES[dtype])
    return np.asarray(values).astype(FLOAT_FORMATS[dtype].storage)
