"""The conformance matrix, declared as data.

Vocabulary from PyTorch's OpInfo: a *sample* is a pair of tensors (input, target) made deterministically
from its id; a *case* is a sample plus the call's arguments. Groups play OpInfo's roles:
`sample_inputs` (core: small, everyday), `reference_inputs` (edges, empty, broadcast, dtypes, legacy,
large), and `error_inputs` (invalid arguments the spec rejects). The expected outcome of every case
comes from `kl_compat.spec`, never from here.

Ids read as paths, so known-differences patterns can be globs:
    {group}/{values}/{shape}/{dtypes}/{reduction}/{prob|log}
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable

import numpy as np

from kl_compat import dtypes as _dt
from kl_compat.generated import dyadic
from kl_compat.spec import REDUCTIONS, Call

FLOATS = ("float16", "bfloat16", "float32", "float64")
SPACES = {"prob": False, "log": True}  # target space -> log_target

SHAPES: dict[str, tuple[int, ...]] = {"0d": (), "1d": (7,), "2d": (4, 5), "3d": (2, 3, 4), "4d": (2, 3, 2, 2)}
EMPTY_SHAPES = {"empty-1d": (0,), "empty-cols": (3, 0), "empty-batch": (0, 4), "empty-3d": (0, 0, 2)}
BROADCAST_PAIRS = {  # input shape, target shape
    "bcast-row": ((4, 5), (5,)),
    "bcast-col": ((4, 5), (4, 1)),
    "bcast-scalar-target": ((4, 5), ()),
    "bcast-input-smaller": ((5,), (4, 5)),
    "mismatch": ((4, 5), (3,)),  # does not broadcast either
}
LARGE_SHAPE = {"large": (128, 512)}
# A million terms, where how a framework sums shows (cascade, pairwise, blocked, naive); in every float
# dtype. Too large to store: the goldens record how to make the inputs again (kl_compat.generated).
MILLION_SHAPE = {"large-1m": (1000, 1000)}


# ---- value families: (rng, input shape, target shape, log_space, target dtype) -> (x, y) in float64 ----

def _log_softmax(z: np.ndarray) -> np.ndarray:
    if z.ndim == 0:
        return np.log(1.0 / (1.0 + np.exp(-z)))  # a 0-d "distribution" is one probability
    if z.size == 0:
        return z
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _distribution(rng, shape, log_space, temperature=1.0):
    logp = _log_softmax(rng.standard_normal(shape) * temperature)
    return logp if log_space else np.exp(logp)


def _proper(rng, xs, ys, log_space, dtype=None):
    return _distribution(rng, xs, True), _distribution(rng, ys, log_space)


def _peaked(rng, xs, ys, log_space, dtype=None):  # near one-hot: tiny probabilities, some underflow in float16
    return _distribution(rng, xs, True, 6.0), _distribution(rng, ys, log_space, 6.0)


def _near_equal(rng, xs, ys, log_space, dtype=None):  # KL(p||q) with q ~ p: cancellation near zero
    logp = _distribution(rng, ys, True)
    x = logp + rng.normal(0, 1e-3, np.shape(logp))
    return x, (logp if log_space else np.exp(logp))


def _uniform10(rng, xs, ys, log_space, dtype=None):  # Paddle's doc example: both uniform(-10, 10)
    return rng.uniform(-10, 10, xs), rng.uniform(-10, 10, ys)


def _with_edge(edit: Callable[[np.ndarray, np.ndarray, bool, str], None]):
    """A proper distribution with every third element edited to an edge value."""
    def make(rng, xs, ys, log_space, dtype=None):
        x, y = _proper(rng, xs, ys, log_space)
        x, y = np.array(x), np.array(y)
        edit(x.reshape(-1)[::3], y.reshape(-1)[::3], log_space, dtype)
        return x, y
    return make


def _set(target_prob=None, target_log=None, input=None):
    """Set the edited elements; a value may be a function of the target dtype's FloatFormat."""
    def value(v, dtype):
        return v(_dt.FLOAT_FORMATS[dtype]) if callable(v) else v

    def edit(x, y, log_space, dtype):
        t = target_log if log_space else target_prob
        if t is not None:
            y[...] = value(t, dtype)
        if input is not None:
            x[...] = value(input, dtype)
    return edit


def _subnormal(fmt):  # a probability a few subnormal steps above 0: almost no digits left in the dtype
    return 5.3 * fmt.smallest_subnormal


def _huge(fmt):  # y log y overflows the dtype though the loss need not: y * (log y - x) with x = y
    return fmt.max / 2


def _huge_log(fmt):  # exp(y) overflows the dtype; with x = y the loss exp(y) * (y - x) is exactly 0
    return float(np.log(fmt.max)) + 1


def _overflow(x, y, log_space, dtype):
    """x = y, so large that the target's own terms (y log y, exp y) overflow the target's dtype."""
    fmt = _dt.FLOAT_FORMATS[dtype]
    x[...] = y[...] = _huge_log(fmt) if log_space else _huge(fmt)


VALUES: dict[str, Callable] = {
    "proper": _proper,
    "peaked": _peaked,
    "near-equal": _near_equal,
    "uniform10": _uniform10,
    # edges (spec S2); in log space "zero probability" is a target of -inf
    "zero-target": _with_edge(_set(0.0, -np.inf)),
    "negative-target": _with_edge(_set(-0.25, -0.25)),
    "posinf-target": _with_edge(_set(np.inf, np.inf)),
    "neginf-target": _with_edge(_set(-np.inf, -np.inf)),
    "nan-target": _with_edge(_set(np.nan, np.nan)),
    "nan-input": _with_edge(_set(input=np.nan)),
    "neginf-input": _with_edge(_set(input=-np.inf)),
    "posinf-input": _with_edge(_set(input=np.inf)),
    "neginf-input-zero-target": _with_edge(_set(0.0, -np.inf, input=-np.inf)),
    "nan-input-zero-target": _with_edge(_set(0.0, -np.inf, input=np.nan)),
    "posinf-target-zero-input": _with_edge(_set(np.inf, np.inf, input=0.0)),
    "posinf-input-zero-target": _with_edge(_set(0.0, -np.inf, input=np.inf)),
    "subnormal-target": _with_edge(_set(_subnormal, lambda f: float(np.log(_subnormal(f))))),
    "overflow-target": _with_edge(_overflow),
}
CORE_VALUES = ("proper", "peaked", "near-equal", "uniform10")
EDGE_VALUES = tuple(v for v in VALUES if v not in CORE_VALUES)


def _integers(rng, xs, ys, log_space, dtype=None):
    return rng.integers(-4, 1, xs).astype(np.float64), rng.integers(0, 3, ys).astype(np.float64)


VALUES["integers"] = _integers
VALUES["dyadic"] = dyadic  # integers scaled by powers of two: the same bits on every platform


# ---- samples and cases ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sample:
    values: str
    shape_name: str
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    input_dtype: str
    target_dtype: str
    space: str  # "prob" or "log": what the target holds

    @property
    def dtypes_label(self) -> str:
        same = self.input_dtype == self.target_dtype
        return self.input_dtype if same else f"{self.input_dtype}-{self.target_dtype}"

    @property
    def id(self) -> str:
        return f"{self.values}/{self.shape_name}/{self.dtypes_label}/{self.space}"

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) as float64 values exactly representable in their dtypes; seeded by the id."""
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        x, y = VALUES[self.values](rng, self.input_shape, self.target_shape, self.space == "log",
                                   dtype=self.target_dtype)
        x = _dt.round_to(np.asarray(x, np.float64), self.input_dtype).astype(np.float64)
        y = _dt.round_to(np.asarray(y, np.float64), self.target_dtype).astype(np.float64)
        return x, y


@dataclass(frozen=True)
class Case:
    group: str
    sample: Sample
    call: Call

    @property
    def reduction_label(self) -> str:
        c = self.call
        label = c.reduction if isinstance(c.reduction, str) else f"<{type(c.reduction).__name__}:{c.reduction!r}>"
        if c.uses_legacy():
            label += f",size_average={c.size_average},reduce={c.reduce}"
        return label

    @property
    def id(self) -> str:
        s = self.sample
        group = self.group if self.call.requires_grad == "both" else f"{self.group}/{self.call.requires_grad}"
        return f"{group}/{s.values}/{s.shape_name}/{s.dtypes_label}/{self.reduction_label}/{s.space}"


def _cases(group, values, shapes, dtype_pairs, reductions, spaces=SPACES, legacy=((None, None),)):
    for v, (shape_name, (xs, ys)), (dx, dy), space, red, (sa, rd) in itertools.product(
            values, shapes.items(), dtype_pairs, spaces, reductions, legacy):
        sample = Sample(v, shape_name, xs, ys, dx, dy, space)
        yield Case(group, sample, Call(red, SPACES[space], sa, rd))


def _same(shapes: dict) -> dict:
    return {k: (s, s) for k, s in shapes.items()}


SAME_DTYPES = tuple((d, d) for d in FLOATS)
MIXED_DTYPES = (("float32", "float64"), ("float64", "float32"), ("float16", "float32"),
                ("bfloat16", "float16"), ("bfloat16", "float32"), ("float16", "float64"))
INT_DTYPE_PAIRS = (("int64", "int64"), ("int32", "int32"), ("int64", "float32"), ("float32", "int64"))
LEGACY = tuple(itertools.product((None, True, False), repeat=2))[1:]  # every pair but (None, None)
INVALID_REDUCTIONS = ("avg", "MEAN", "", "elementwise_mean", "batch_mean", "Sum", None, 1,
                      # a name that is R and Python code: adapters must pass it as data, never as source
                      "mean'); stop('injected'); ('")
SEED_EXAMPLES = {"paddle-doc": (5, 20), "torch-doc": (3, 5)}
# How gradients are taken (spec S9, S10): which operands require grad, and a double backward.
REQUIRES_GRAD_ONLY = ("input", "target", "neither")
GRADIENT_SHAPES = {"2d": ((4, 5), (4, 5)), "0d": ((), ())}
GRADIENT_DTYPES = (("float32",) * 2, ("float64",) * 2)


def _gradient_cases() -> list[Case]:
    """`requires-grad/<which>/...` (one operand or neither requires grad) and `second-order/...` (double
    backward), on a proper distribution and on edges where a derivative exists though the loss is not
    finite (S10): an input of -inf, and a zero target (in probability space)."""
    only = [replace(c, call=replace(c.call, requires_grad=which)) for which in REQUIRES_GRAD_ONLY
            for c in _cases("requires-grad", ("proper",), GRADIENT_SHAPES, GRADIENT_DTYPES, ("none", "batchmean"))]
    second = [*_cases("second-order", ("proper", "neginf-input"), GRADIENT_SHAPES, GRADIENT_DTYPES, REDUCTIONS),
              *_cases("second-order", ("zero-target",), GRADIENT_SHAPES, GRADIENT_DTYPES, REDUCTIONS,
                      spaces=("prob",))]
    return only + [replace(c, call=replace(c.call, order=2)) for c in second]


def build_matrix() -> list[Case]:
    """Every case, in a fixed order."""
    two_d = {"2d": ((4, 5), (4, 5))}
    cases = [
        *_cases("core", CORE_VALUES, _same(SHAPES), SAME_DTYPES, REDUCTIONS),
        *_cases("edge", EDGE_VALUES, two_d, SAME_DTYPES, REDUCTIONS),
        *_cases("empty", ("proper",), _same(EMPTY_SHAPES), (("float32",) * 2, ("float64",) * 2), REDUCTIONS),
        *_cases("broadcast", ("proper",), BROADCAST_PAIRS, (("float32",) * 2,), REDUCTIONS),
        *_cases("promotion", ("proper", "overflow-target"), two_d, MIXED_DTYPES, REDUCTIONS),
        *_cases("integer", ("integers",), two_d, INT_DTYPE_PAIRS, REDUCTIONS, spaces=("prob",)),
        *_cases("legacy", ("proper",), two_d, (("float32",) * 2,), REDUCTIONS, legacy=LEGACY),
        *_cases("invalid", ("proper",), two_d, (("float32",) * 2,), INVALID_REDUCTIONS),
        *_cases("large", ("proper",), _same(LARGE_SHAPE), (("float32",) * 2,), REDUCTIONS, spaces=("prob",)),
        *_cases("large", ("dyadic",), _same(MILLION_SHAPE), SAME_DTYPES, ("sum", "mean", "batchmean"),
                spaces=("prob",)),
        *_cases("seed", ("uniform10",), _same({"paddle-doc": SEED_EXAMPLES["paddle-doc"]}),
                (("float32",) * 2,), REDUCTIONS),
        *_cases("seed", ("proper",), _same({"torch-doc": SEED_EXAMPLES["torch-doc"]}),
                (("float32",) * 2,), REDUCTIONS),
        *_gradient_cases(),
    ]
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise AssertionError("case ids are not unique")  # a bug in the declarations above
    return cases
