"""The reference spec: what `kl_div` should return, in NumPy, framework-neutral.

Sources, cited below by their short names (copies in ../shared/seeds/):
  [torch]  PyTorch, torch.nn.KLDivLoss / torch.nn.functional.kl_div
  [paddle] PaddlePaddle, paddle.nn.KLDivLoss / paddle.nn.functional.kl_div
  [rtorch] R torch, nn_kl_div_loss / nnf_kl_div

Every rule is a numbered section (S1, S2, ...) so reports and tests can point at it. Where the sources
disagree or say nothing, the section says which choice the spec makes and why; where frameworks follow
another recognisable convention, that convention has a name in `Convention`, so a report can say "this
framework follows convention X" instead of only "it differs". The spec's own default is `SPEC`.

S1  Pointwise loss [torch, paddle, rtorch all agree]:
      log_target=False:  l = y * (log(y) - x)
      log_target=True:   l = exp(y) * (y - x)
    x is the input (log-probabilities), y the target (probabilities, or log-probabilities).
S2  Edges (the sources are silent; the spec follows the definition of KL divergence, where a term whose
    probability is 0 contributes nothing):
      y == 0 (or y == -inf with log_target): l = 0, for every x that is not nan, -inf included.
          IEEE arithmetic would give 0 * inf = nan for x = -inf; convention `zero_times_inf="ieee"`.
      y < 0 (log_target=False): l = nan, as the formula gives: log of a negative number is undefined.
          Some frameworks give 0 for every y <= 0: convention `nonpositive_target="zero"`.
      y = +inf, or x = +-inf with y > 0: the formula's IEEE value (inf, -inf or nan).
      nan in x or y: nan (a nan is no value at all, not a probability; it propagates).
S3  Reductions [torch, rtorch; paddle agrees but for batchmean's documented shape]:
      'none' -> L, shape of the input;   'sum' -> sum(L);   'mean' -> sum(L) / L.size;
      'batchmean' -> sum(L) / N with N = the size of dimension 0 of the input.
    Every reduction but 'none' returns a 0-d array. [paddle]'s text says batchmean has shape [N] while
    its own example prints []; the spec follows the example and the other two sources: 0-d.
    A 0-d input is one sample: batchmean divides by N = 1 (the sources are silent; this is what
    "the batch size" means for an unbatched value).
    Empty inputs: sum = 0; mean = 0/0 = nan; batchmean = 0/N, which is nan when N = 0.
    Sums are exact: math.fsum over the float64 terms, rounded once to the result dtype.
S4  Legacy arguments [torch only; deprecated there, absent from paddle and rtorch]: when size_average
    or reduce is given (not None) they override `reduction` entirely, as [torch]'s note says:
      reduce=False -> 'none' (size_average ignored); else size_average=False -> 'sum'; else 'mean'.
    A None counts as True. Using them warns (W_DEPRECATED).
S5  Warnings: legacy arguments warn W_DEPRECATED. reduction='mean' warns W_MEAN, because [torch] and
    [rtorch] both document that 'mean' "doesn't return the true kl divergence value" and will change.
S6  Shapes: input and target must have the same shape [torch, paddle, rtorch: "same shape as the
    input"]; otherwise ValueError. Frameworks that broadcast follow convention `shapes="broadcast"`:
    NumPy broadcasting, and batchmean still divides by dimension 0 of the input (as [torch] does).
S7  Dtypes: float16, bfloat16, float32 and float64. The result dtype is the promotion of the two
    dtypes (a wider float wins; float16 with bfloat16 gives float32). Integer and bool inputs raise
    TypeError: the input is a log-probability, and the array API standard defines log() for floating
    dtypes only. (Frameworks that promote integers to their default float differ here, visibly.)
S8  Argument validation: a reduction other than the four names raises ValueError (names are
    case-sensitive); a non-string reduction raises TypeError.
    Errors (S6, S7, S8) are compared by kind, as code catches them: a framework's exception matches
    when a handler for the spec's class catches it (`except ValueError:`, subclasses included; in R,
    a condition of R torch's class of that name, value_error or type_error); checked in the order
    S8, S7, S6, so a call breaking several expects the first one's kind.
S9  Gradients (of the reduced output; for 'none', of sum(L), i.e. backpropagating ones):
      log_target=False:  dl/dx = -y          dl/dy = log(y) + 1 - x
      log_target=True:   dl/dx = -exp(y)     dl/dy = exp(y) * (y - x + 1)
    times the reduction's scale: 1 ('none', 'sum'), 1/L.size ('mean'), 1/N ('batchmean').
    Each derivative is defined wherever it exists as the derivative of l in that operand at the point,
    also where the loss itself is infinite because the input is: L is linear in x, so dl/dx = -y (or
    -exp(y)) does not depend on x and is the slope at x = +-inf as at every other x (the chain rule only
    needs that factor; a mask from log_softmax is such an input), for every y where the loss is a real
    function of x: 0 <= y < +inf, or with log_target y < +inf (y = -inf gives -exp(-inf) = 0); not for
    y < 0 (no real logarithm), y = +inf (no finite slope) or a nan operand. dl/dy exists where log is
    differentiable and the result is finite: 0 < y < +inf and x finite (y = 0 is the edge of log's
    domain, where the one-sided derivative diverges; an infinite x makes it infinite), or with
    log_target y and x both finite. Where finite operands give a loss that is not finite (it overflows
    float64, e.g. a huge target's y log y), the spec holds no framework to either derivative: their
    terms overflow as well, and no evaluation of them is more right than another.
    Undefined entries are nan in the arrays and False in the `*_defined` masks; a comparison must not
    hold a framework to them.
    Under broadcasting each gradient is summed over the dimensions its operand was broadcast along.
    Only an operand that requires grad (`Call.requires_grad`) gets a gradient; with neither, the
    output is not differentiable at all: calling the loss is no error, and there is no gradient.
S10 Second derivatives (double backward: the gradient of a first gradient, as a gradient penalty or
    meta-learning takes it). For each first gradient g (g_x = dl/dx, g_y = dl/dy, S9), the gradient of
    sum(g) with respect to each operand, i.e. backpropagating ones through g:
      log_target=False:  dg_x/dx = 0    dg_x/dy = -1        dg_y/dx = -1        dg_y/dy = 1/y
      log_target=True:   dg_x/dx = 0    dg_x/dy = -exp(y)   dg_y/dx = -exp(y)   dg_y/dy = exp(y) (y - x + 2)
    times the reduction's scale (S9). A second derivative is defined wherever the first gradient it
    differentiates exists as a function around the point, even where the loss is not finite: g_x = -y
    (or -exp(y)) does not involve x, so its derivatives are defined for any x, nan included, and every
    finite y (with log_target, every y below +inf: exp(-inf) = 0 is a constant). g_y exists only where
    S9 defines it for finite x: a positive finite y (with log_target, a finite y). The spec makes that
    choice because the chain rule only needs the factor it differentiates: a framework that returns
    nan there has propagated a nan that the derivative does not contain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import dtypes as _dt
from .errors import KlCompatError

REDUCTIONS = ("none", "mean", "sum", "batchmean")
REQUIRES_GRAD = ("both", "input", "target", "neither")  # which operands require grad (S9)
# S10's second derivatives by name: grad2_<the first gradient differentiated>_<the operand differentiated by>
SECOND_KEYS = ("grad2_input_input", "grad2_input_target", "grad2_target_input", "grad2_target_target")
_REQUIRES_TEXT = {"input": "the input only", "target": "the target only", "neither": "neither operand"}
W_DEPRECATED = "deprecated-argument"
W_MEAN = "mean-is-not-kl"


class SpecError(KlCompatError):
    """Base of the errors the spec itself raises for bad calls."""


class SpecValueError(SpecError, ValueError):
    pass


class SpecTypeError(SpecError, TypeError):
    pass


@dataclass(frozen=True)
class Convention:
    """Named alternatives to the spec's default choices (see S2 and S6)."""

    nonpositive_target: str = "nan"  # "nan" (S2) | "zero": l = 0 for every y <= 0, whatever x
    zero_times_inf: str = "zero"  # "zero" (S2) | "ieee": y == 0 with x == -inf gives 0 * inf = nan
    shapes: str = "equal"  # "equal" (S6) | "broadcast"

    def __post_init__(self):
        for name, allowed in _CONVENTION_VALUES.items():
            if getattr(self, name) not in allowed:
                raise SpecValueError(f"Convention.{name}={getattr(self, name)!r}: expected one of {allowed}")

    def describe(self) -> str:
        changed = [f"{k}={getattr(self, k)!r}" for k in _CONVENTION_VALUES if getattr(self, k) != getattr(SPEC, k)]
        return ", ".join(changed) or "the spec's defaults"


_CONVENTION_VALUES = {"nonpositive_target": ("nan", "zero"), "zero_times_inf": ("zero", "ieee"), "shapes": ("equal", "broadcast")}
SPEC = Convention()


@dataclass(frozen=True)
class Call:
    """The arguments of one kl_div call, apart from the tensors."""

    reduction: object = "mean"
    log_target: bool = False
    size_average: bool | None = None
    reduce: bool | None = None
    # How the gradients are taken (not an argument of kl_div, but of the observation): which operands
    # require grad (S9), and whether the second derivatives are taken too (S10).
    requires_grad: str = "both"  # one of REQUIRES_GRAD
    order: int = 1  # 1, or 2 for double backward

    def requires(self, operand: str) -> bool:
        """Whether `operand` ("input" or "target") requires grad in this call (S9)."""
        return self.requires_grad in ("both", operand)

    def uses_legacy(self) -> bool:
        return self.size_average is not None or self.reduce is not None

    def __str__(self) -> str:
        parts = [f"reduction={self.reduction!r}"]
        if self.log_target:
            parts.append("log_target=True")
        if self.size_average is not None:
            parts.append(f"size_average={self.size_average}")
        if self.reduce is not None:
            parts.append(f"reduce={self.reduce}")
        grads = "" if self.requires_grad == "both" else f", requires_grad on {_REQUIRES_TEXT[self.requires_grad]}"
        return f"kl_div({', '.join(parts)}){grads}{', double backward' if self.order == 2 else ''}"


@dataclass
class Result:
    """What the spec says a call returns: float64 values before the final rounding, plus metadata."""

    value: np.ndarray  # float64, exact-as-possible, not yet rounded to `dtype`
    dtype: str  # the result dtype (S7)
    reduction: str  # the effective reduction, after S4
    warnings: tuple[str, ...]
    grad_input: np.ndarray  # float64, shape of the input; nan where undefined
    grad_target: np.ndarray
    grad_input_defined: np.ndarray = field(repr=False)
    grad_target_defined: np.ndarray = field(repr=False)
    input_dtype: str = "float64"
    target_dtype: str = "float64"

    def rounded(self) -> np.ndarray:
        return _dt.round_to(self.value, self.dtype)


def effective_reduction(call: Call) -> str:
    """S4 and S8: the reduction a call asks for, validated."""
    if call.uses_legacy():
        size_average = True if call.size_average is None else bool(call.size_average)
        reduce = True if call.reduce is None else bool(call.reduce)
        if not reduce:
            return "none"
        return "mean" if size_average else "sum"
    if not isinstance(call.reduction, str):
        raise SpecTypeError(f"reduction must be a string, got {type(call.reduction).__name__} {call.reduction!r}")
    if call.reduction not in REDUCTIONS:
        raise SpecValueError(f"unknown reduction {call.reduction!r}: expected one of {', '.join(map(repr, REDUCTIONS))}")
    return call.reduction


def expected_warnings(call: Call) -> tuple[str, ...]:
    """S5."""
    if call.uses_legacy():
        return (W_DEPRECATED,)
    return (W_MEAN,) if call.reduction == "mean" else ()


def pointwise(x: np.ndarray, y: np.ndarray, log_target: bool, convention: Convention = SPEC) -> np.ndarray:
    """S1 and S2, elementwise, in float64."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(all="ignore"):
        if log_target:
            loss = np.exp(y) * (y - x)  # S1
            no_mass = y == -np.inf  # exp(y) == 0: probability zero
        else:
            loss = y * (np.log(y) - x)  # S1
            no_mass = y == 0
            if convention.nonpositive_target == "zero":
                return np.where(y <= 0, 0.0, loss)
    if convention.zero_times_inf == "zero":
        # S2: a term with probability zero contributes nothing, unless x is not a number at all.
        loss = np.where(no_mass & ~np.isnan(x), 0.0, loss)
    return loss


def broken_rule(call: Call, input_dtype: str, target_dtype: str) -> str:
    """For a call the spec raises on, the rule it breaks first, in `reference`'s order of checks: "S8"
    (the reduction), "S7" (a dtype), else "S6" (the shapes)."""
    try:
        effective_reduction(call)
    except SpecError:
        return "S8"
    try:
        _check_dtypes(input_dtype, target_dtype)
    except SpecError:
        return "S7"
    return "S6"


def exact_sum(values: np.ndarray) -> float:
    """The correctly rounded float64 sum (math.fsum), with IEEE answers for the non-finite cases."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if np.isnan(v).any() or (np.isposinf(v).any() and np.isneginf(v).any()):
        return math.nan
    if np.isinf(v).any():
        return float(v[np.isinf(v)][0])
    try:
        return math.fsum(v.tolist())
    except OverflowError:  # finite terms whose exact sum exceeds float64
        return math.copysign(math.inf, float(np.sum(np.sign(v) * np.abs(v) / 2**64)))


def _batch_size(input_shape: tuple[int, ...]) -> int:
    return input_shape[0] if len(input_shape) > 0 else 1  # S3: a 0-d input is one sample


def divisor_of(reduction: str, n_elements: int, input_shape: tuple[int, ...]) -> int:
    """What sum(L) (and each gradient) is divided by for a reduction: S3, S9."""
    return {"none": 1, "sum": 1, "mean": n_elements, "batchmean": _batch_size(input_shape)}[reduction]


def _check_dtypes(input_dtype: str, target_dtype: str) -> str:
    for role, d in (("input", input_dtype), ("target", target_dtype)):
        _dt.check_dtype_name(d)
        if not _dt.is_float(d):
            raise SpecTypeError(f"{role} dtype {d} is not a floating dtype: kl_div takes float16, bfloat16, float32 or float64 (S7)")
    return _dt.result_dtype(input_dtype, target_dtype)


def _shapes(x: np.ndarray, y: np.ndarray, convention: Convention) -> tuple[int, ...]:
    if x.shape == y.shape:
        return x.shape
    if convention.shapes == "equal":
        raise SpecValueError(f"input shape {x.shape} and target shape {y.shape} differ: kl_div needs the same shape (S6)")
    try:
        return np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise SpecValueError(f"input shape {x.shape} and target shape {y.shape} do not broadcast (S6)") from None


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to an operand's own shape (S9)."""
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def gradients(x, y, log_target: bool, divisor: int, convention: Convention = SPEC):
    """S9: (grad_input, grad_target, input_defined, target_defined), elementwise, before unbroadcasting."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    # Where the loss is finite, or infinite only because the input is (S9: dl/dx does not depend on x).
    finite = np.isfinite(pointwise(x, y, log_target, convention)) | np.isinf(x)
    with np.errstate(all="ignore"):
        if log_target:
            gx = -np.exp(y)
            gy = np.exp(y) * (y - x + 1.0)
            gx_defined = finite & ~np.isnan(x) & (y < np.inf)  # (nan compares False)
            gy_defined = finite & np.isfinite(y) & np.isfinite(x)
        else:
            gx = -y
            gy = np.log(y) + 1.0 - x
            gx_defined = finite & ~np.isnan(x) & (y >= 0) & (y < np.inf)
            gy_defined = finite & (y > 0) & (y < np.inf) & np.isfinite(x)
            if convention.nonpositive_target == "zero":  # l = 0 for y <= 0: a constant, slope 0
                gx = np.where(y <= 0, 0.0, gx)
                gx_defined = gx_defined | (finite & ~np.isnan(x) & (y <= 0))
        gx = np.where(gx_defined, gx / np.float64(divisor), np.nan)
        gy = np.where(gy_defined, gy / np.float64(divisor), np.nan)
    return gx, gy, gx_defined, gy_defined


@dataclass
class SecondOrder:
    """S10: gradients of sum(g_x) and sum(g_y), each with respect to both operands, in float64, summed
    back to the operand's shape; nan where undefined, with the masks alongside."""

    of_grad_input: tuple[np.ndarray, np.ndarray]  # (wrt input, wrt target)
    of_grad_target: tuple[np.ndarray, np.ndarray]
    of_grad_input_defined: tuple[np.ndarray, np.ndarray] = field(repr=False)
    of_grad_target_defined: tuple[np.ndarray, np.ndarray] = field(repr=False)


def _second_elementwise(x: np.ndarray, y: np.ndarray, log_target: bool):
    """S10 before scaling: ((dgx/dx, dgx/dy), (dgy/dx, dgy/dy)) and their defined masks, elementwise."""
    with np.errstate(all="ignore"):
        if log_target:
            gx_ok = y < np.inf  # nan compares False
            gy_ok = np.isfinite(y) & np.isfinite(x)
            cross = -np.exp(y)
            values = ((np.zeros_like(y), cross), (cross, np.exp(y) * (y - x + 2.0)))
        else:
            gx_ok = np.isfinite(y)
            gy_ok = np.isfinite(y) & (y > 0) & np.isfinite(x)
            ones = np.ones_like(y)
            values = ((0.0 * ones, -ones), (-ones, 1.0 / y))
    return values, (gx_ok, gy_ok)


def second_derivatives(input, target, call: Call, convention: Convention = SPEC) -> SecondOrder:
    """S10 for one call: what double backward through `kl_div(input, target, ...)` gives. Argument and
    shape errors are S8's and S6's, raised as `reference` raises them."""
    reduction = effective_reduction(call)
    x = np.asarray(input, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    bshape = _shapes(x, y, convention)
    scale = np.float64(divisor_of(reduction, int(np.prod(bshape, dtype=np.int64)), x.shape))
    xb, yb = np.broadcast_to(x, bshape), np.broadcast_to(y, bshape)
    values, masks = _second_elementwise(xb, yb, call.log_target)
    def summed(v, ok, shape):
        return _unbroadcast(np.where(ok, np.broadcast_to(v, bshape) / scale, np.nan), shape)

    (gxx, gxy), (gyx, gyy) = values
    of_x = (summed(gxx, masks[0], x.shape), summed(gxy, masks[0], y.shape))
    of_y = (summed(gyx, masks[1], x.shape), summed(gyy, masks[1], y.shape))
    return SecondOrder(of_x, of_y, (~np.isnan(of_x[0]), ~np.isnan(of_x[1])), (~np.isnan(of_y[0]), ~np.isnan(of_y[1])))


def reference(input, target, call: Call, input_dtype: str = "float64", target_dtype: str = "float64",
              convention: Convention = SPEC) -> Result:
    """The spec's answer for one call, in float64 before the final rounding.

    `input` and `target` hold values exactly representable in `input_dtype` / `target_dtype` (as float64,
    or integers for the integer dtypes). Raises SpecValueError / SpecTypeError where the spec raises.
    """
    reduction = effective_reduction(call)  # S4, S8: argument errors come first
    out_dtype = _check_dtypes(input_dtype, target_dtype)  # S7
    x = np.asarray(input, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    _shapes(x, y, convention)  # S6
    losses = pointwise(x, y, call.log_target, convention)
    divisor = divisor_of(reduction, losses.size, x.shape)
    if reduction == "none":
        value = losses
    else:
        total = exact_sum(losses)  # S3: exact, rounded once at the end
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.float64(total) / np.float64(divisor)  # 0/0 = nan for empty means (S3)
    gx, gy, gx_ok, gy_ok = gradients(x, y, call.log_target, divisor, convention)
    bshape = np.broadcast_shapes(x.shape, y.shape)
    gx, gx_ok = (np.broadcast_to(a, bshape) for a in (gx, gx_ok))
    gy, gy_ok = (np.broadcast_to(a, bshape) for a in (gy, gy_ok))
    # A summed gradient is defined only where every term it sums is.
    gx = _unbroadcast(np.where(gx_ok, gx, np.nan), x.shape)
    gy = _unbroadcast(np.where(gy_ok, gy, np.nan), y.shape)
    return Result(
        value=np.asarray(value, dtype=np.float64),
        dtype=out_dtype,
        reduction=reduction,
        warnings=expected_warnings(call),
        grad_input=gx,
        grad_target=gy,
        grad_input_defined=~np.isnan(gx),
        grad_target_defined=~np.isnan(gy),
        input_dtype=input_dtype,
        target_dtype=target_dtype,
    )


def kl_div(input, target, reduction="mean", log_target: bool = False, size_average=None, reduce=None,
           convention: Convention = SPEC) -> np.ndarray:
    """The spec as a NumPy function: arrays in, the rounded result in the promoted dtype out."""
    x, y = np.asarray(input), np.asarray(target)
    result = reference(x, y, Call(reduction, log_target, size_average, reduce),
                       _dt.dtype_name(x), _dt.dtype_name(y), convention)
    return result.rounded()
