"""What each framework's kl_div does, as data: the porting layer reproduces any of these anywhere.

Every field names one behaviour the conformance matrix measures. "spec" is kl_compat.spec; a framework's
semantics are part of its adapter's description (e.g. adapters/torch_backend.py's, as measured on torch
2.13; see conformance/known_differences.toml for the evidence), found by its adapter's registered name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


TORCH_MEAN_WARNING = (
    "reduction: 'mean' divides the total loss by both the batch size and the support size."
    "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
    "'mean' will be changed to behave the same as 'batchmean' in the next major release.")
# R torch's warn() keeps only the first of the sentences nnf_kl_div passes it (gettext(...)[[1]]).
RTORCH_MEAN_WARNING = "reduction: 'mean' divides the total loss by both the batch size and the support size."
SPEC_MEAN_WARNING = "reduction='mean' is not the KL divergence (it also divides by the support size); use 'batchmean'"
LEGACY_WARNING = "size_average and reduce args will be deprecated, please use reduction='{reduction}' instead."


@dataclass(frozen=True)
class Semantics:
    name: str
    nonpositive_target: str  # "nan": y < 0 gives nan | "zero": every y <= 0 gives 0, whatever x (spec S2)
    zero_times_inf: str  # "zero": a zero-probability term is 0 | "ieee": 0 * inf = nan (spec S2)
    broadcast: bool  # input and target broadcast (batchmean still divides by input's dim 0) | equal shapes
    legacy: str  # "override" (S4) | "override-then-batchmean" (torch's F.kl_div) | "unsupported"
    unknown_reduction: str  # "raise" | "none": applies no reduction | "unsupported": an argument it lacks
    # reduction=None (R's NULL): raises (R torch: if (reduction == "mean") on NULL is an error) even where
    # other unknown reductions give "none"
    null_reduction_raises: bool = False
    # What 'batchmean' divides a 0-d input's sum by. The spec: 1 (one sample). R torch divides by
    # input$size(1), which is NA for a 0-d tensor and reaches libtorch as the integer -2**31.
    batchmean_0d_divisor: int = 1
    aliases: dict = field(default_factory=dict)  # other accepted reduction names
    mean_warning: str | None = None  # the warning for reduction='mean', or None
    legacy_warning: str | None = LEGACY_WARNING
    target_gradient: bool = True  # False: the target gets no gradient
    log_target: bool = True  # the log_target argument exists
    low_precision: bool = True  # float16 and bfloat16 accepted (False: they raise, as Paddle's CPU kernel)
    # "xlogy": xlogy(y, y) - y * x, torch's form (y log y is formed, and can overflow, on its own) |
    # "difference": y * (log y - x), the documented formula (Paddle's kernel) |
    # "exact": y * (log y - x) with its derivatives formed directly, dl/dy = log y + 1 - x, dl/dx = -y
    # (the spec: autograd's product rule forms grad * y first, which underflows for a subnormal y)
    formula: str = "difference"
    compute_dtype: str | None = None  # compute in this dtype whatever the inputs' (the spec: float64)
    mixed_dtypes: str = "promote"  # "promote" | "float32-float64" (Paddle casts only that pair)
    target_terms_in_target_dtype: bool = False  # torch: xlogy(y, y) / exp(y) rounded to y's dtype, then promoted
    # A native kernel in a low-precision dtype rounds each pointwise term to it (a term can overflow
    # float16), and 'sum'/'batchmean' sum into it (the sum can overflow before batchmean's division);
    # 'mean' accumulates wider. Emulated where the porting layer computes wider than the output dtype.
    round_like_native: bool = False
    # torch's nn.KLDivLoss turns size_average/reduce into a reduction string in its constructor, so the
    # module form has no batchmean-after-legacy division and warns about 'mean' instead.
    module_converts_legacy: bool = False
    # dl/dy at y == 0 (where the spec leaves it undefined): torch's xlogy backward gives 0/0 = nan there,
    # which reaches every logit of a softmax target; "zero" is the gradient-safe choice.
    zero_target_gradient: str = "zero"
    # How the loss is reduced: "kl_div": torch's four reductions (S3) | "optax": as kl_compat's jax adapter
    # writes them around optax's sum (adapters/jax_backend.py: 'batchmean' is a sum over the last axis, then
    # the mean over the other axes of the unreduced loss, and a 0-d loss raises) | "keras": each sample's
    # terms summed over the last axis, then reduced as a Keras Loss reduces them (keras_semantics.py).
    reductions: str = "kl_div"
    # Keras: target and prediction probabilities clipped to this range before the formula (None: no clip)
    clip: tuple[float, float] | None = None
    # Where `broadcast` holds and the shapes do not broadcast: the built-in exception class the framework's
    # arithmetic raises (torch: RuntimeError; jax.numpy: ValueError), whatever the tensors' framework raises
    broadcast_error: str = "RuntimeError"
    # The built-in exception class the framework raises where a call breaks a rule, where it is not the
    # spec's (S7 an integer operand: TypeError; S8 a non-string reduction: TypeError): keys "S7-input",
    # "S7-target", "S8-type". (Shapes that do not broadcast: broadcast_error.)
    errors: dict = field(default_factory=dict)


# The spec's semantics are kl_compat's own; every framework's travel with its adapter's description
# (kl_compat.adapters.framework.Framework.semantics), so a new framework brings its own.
SPEC = Semantics("spec", nonpositive_target="nan", zero_times_inf="zero", broadcast=False, legacy="override",
                 unknown_reduction="raise", mean_warning=SPEC_MEAN_WARNING, compute_dtype="float64", formula="exact")


# optax's semantics as the jax adapter measures them (conformance/known_differences.toml, JAX section):
# optax.losses.kl_divergence's y * (where(y == 0, 0, log y) - x) and kl_divergence_with_log_targets'
# exp(y) * (y - x), each term in the arrays' own dtypes (the target's own terms in the target's), no
# reduction argument (the adapter's mapping: see `reductions`), so any other reduction and size_average /
# reduce are arguments it lacks; no shape check, no warning; log's derivative at y == 0 sends nan back
# through the `where`, as JAX's does.
OPTAX = Semantics("jax", nonpositive_target="nan", zero_times_inf="ieee", broadcast=True, legacy="unsupported",
                  unknown_reduction="unsupported", legacy_warning=None, formula="difference",
                  target_terms_in_target_dtype=True, round_like_native=True, zero_target_gradient="nan",
                  reductions="optax", broadcast_error="ValueError")
# keras.losses.KLDivergence(reduction=...)(target, exp(input)) on TensorFlow, as the keras adapter measures
# it: both operands converted to the loss's dtype (float32; exp(input) first formed in the input's dtype),
# clipped to [1e-7, 1] (keras.backend.epsilon()), y * log(y / p) summed over the last axis, reduced as
# Keras' reduce_values does (keras_semantics.py); reduction=None means 'none', another unknown one raises
# ValueError; no log_target, size_average or reduce; no shape check, no warning. The pointwise fields
# above `reductions` are what the clip makes of the edge values (zero and negative targets count as 1e-7).
KERAS = Semantics("keras", nonpositive_target="zero", zero_times_inf="zero", broadcast=True, legacy="unsupported",
                  unknown_reduction="raise", legacy_warning=None, log_target=False, compute_dtype="float32",
                  reductions="keras", clip=(1e-7, 1.0), broadcast_error="ValueError")
ALIASES = {"optax": "jax"}  # other names of a semantics


def get(name: str) -> Semantics:
    """"spec", or the semantics of the framework whose own adapter is registered as `name` (or an alias)."""
    if name == SPEC.name:
        return SPEC
    name = ALIASES.get(name, name) if isinstance(name, str) else name
    from kl_compat.adapters import framework_of

    described = framework_of(name)
    if described is None or described.key != name or described.semantics is None:
        raise ValueError(f"unknown semantics {name!r}: expected one of {', '.join(map(repr, names()))}")
    return described.semantics


def names() -> list[str]:
    """"spec" and every registered framework that describes its semantics (each adapter's class is loaded)."""
    from kl_compat.adapters import framework_of, registered

    out = [SPEC.name]
    for name in registered():
        described = framework_of(name)
        if described is not None and described.key == name and described.semantics is not None:
            out.append(name)
    return out
