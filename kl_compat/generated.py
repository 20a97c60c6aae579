"""Inputs too large to store, made again wherever they are needed from a named generator and a seed.

The large cases (a million terms or more, where summation accuracy shows) would be megabytes in the
goldens. Instead, the goldens' manifest records for each such sample its generator's name, the seed, the
shapes and dtypes and the sha256 of the arrays made (kl_compat.golden), and every process that loads the
goldens, each adapter's worker included, makes them again with the function here and checks that hash:
inputs that drift (another NumPy drawing other numbers) are an error naming the sample, never a silent
change of the cases.

Each generator draws integers only from NumPy's PCG64 (`Generator.integers`, whose stream NumPy keeps
from version to version) and scales them by powers of two with `ldexp`, which is exact: no libm function
(log, exp) whose last bit may differ from one platform to the next is involved, and every value is exact
in the narrower of the two dtypes.
"""

from __future__ import annotations

import numpy as np

from .dtypes import FLOAT_FORMATS


def _dyadic(rng, shape, precision: int, exponents: tuple[int, int]) -> np.ndarray:
    """Values m * 2**(e - precision) with m a `precision`-bit integer (leading bit set) and e drawn from
    `exponents` (low inclusive, high exclusive): exact in any format with that many bits of precision."""
    m = rng.integers(2 ** (precision - 1), 2 ** precision, size=shape, dtype=np.int64)
    e = rng.integers(exponents[0], exponents[1], size=shape, dtype=np.int64)
    return np.ldexp(m.astype(np.float64), (e - precision).astype(np.int32))


def dyadic(rng, input_shape, target_shape, log_space: bool, dtype=None, input_dtype=None):
    """(input, target): probabilities in [2**-9, 2**-6) (so a million of them sum to well under float16's
    largest value) and log-probability-like inputs in (-8, -0.25], with as many significant bits as the
    narrower dtype holds. In log space the target is given as a log-probability of the same kind."""
    dtypes = [d for d in (dtype, input_dtype) if d in FLOAT_FORMATS] or ["float64"]
    precision = min(FLOAT_FORMATS[d].mantissa_bits for d in dtypes) + 1
    y = _dyadic(rng, target_shape, precision, (-8, -5))
    x = -_dyadic(rng, input_shape, precision, (-1, 4))
    if log_space:
        y = -_dyadic(rng, target_shape, precision, (1, 4))
    return x, y


GENERATORS = {"dyadic": dyadic}
