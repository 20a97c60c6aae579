"""JAX: optax's KL divergence losses, eager and under jax.jit.

optax has no `reduction` and no `log_target` argument, so the adapter maps the matrix's call onto what a
user porting `kl_div` writes; the mapping is this table, and the reproducers print the code it produces:

  log_target=False   optax.losses.kl_divergence(input, target, ...)
  log_target=True    optax.losses.kl_divergence_with_log_targets(input, target, ...)
  'none'             axis=()            (no sum: the elementwise losses)
  'sum'              axis=None          (everything summed)
  'batchmean'        (...).mean()       with optax's default axis=-1: the idiom
                                        `optax.kl_divergence(log_p, q).mean()`, a sum over the last axis
                                        and a mean over the others (sum / N for a 2-D input)
  'mean'             axis=() then .mean()
  any other value    reduction=<value>  passed as given: optax refuses an argument it lacks
  size_average / reduce                 passed as given, likewise

Where optax refuses an argument ("unexpected keyword argument"), the observation is `unsupported`, with
optax's error kept. Gradients come from jax.vjp with a cotangent of ones (JAX has no tape). float64 needs
`jax_enable_x64`, which `load` sets before the first array is made (a process-wide flag: one worker holds
one adapter).

`jax.scipy.special.rel_entr(p, q)` and `jax.scipy.special.kl_div(p, q)` (jax/_src/scipy/special.py, after
SciPy's) are documented as other functions: both take probabilities, rel_entr is p log(p/q) (0 where
p = 0 and q >= 0, +inf elsewhere outside p, q > 0), and kl_div is rel_entr(p, q) - p + q. They are the
surfaces `scipy_rel_entr` and `scipy_kl_div`, called as a user porting `kl_div(input, target)` writes them,
the target as p and exp(input) as q, reduced like the optax surfaces:

  'none'        rel_entr(target, jnp.exp(input))                  (likewise kl_div)
  'sum'         (...).sum()
  'mean'        (...).mean()
  'batchmean'   (...).sum(axis=-1).mean()
  any other reduction, log_target=True, size_average, reduce     passed as given: refused (unsupported)

The known-differences file says, for each difference they show, which documented definition gives it.
"""

from __future__ import annotations

import numpy as np

from kl_compat.porting.semantics import OPTAX

from .base import GRAD_NONE, Adapter, Gradient, gradient_error, keyword_refusals, second_error
from .framework import Api, Framework, Template

SCIPY_SURFACES = {"scipy_rel_entr": "rel_entr", "scipy_kl_div": "kl_div"}  # surface -> jax.scipy.special's name
_SCIPY_REDUCE = {"none": None, "sum": "sum", "mean": "mean", "batchmean": "batchmean"}


def _scan_apis() -> list[Api]:
    """Every import path of the functions the surfaces call (optax/__init__.py, optax/losses/__init__.py,
    jax/scipy/special.py). A bare optax call stands for the adapter's 'batchmean' (optax's default axis=-1, then
    the usual .mean()); jax.scipy.special's functions are elementwise: 'none'."""
    optax_params = ("log_predictions", "targets", "axis", "where")
    apis = []
    for module in ("optax.losses", "optax", "optax.losses._classification"):
        apis.append(Api(f"{module}.kl_divergence", "functional", optax_params, "eager", (("reduction", "batchmean"),)))
        if module != "optax":  # optax's top level has no kl_divergence_with_log_targets
            apis.append(Api(f"{module}.kl_divergence_with_log_targets", "functional", optax_params, "eager",
                            (("reduction", "batchmean"), ("log_target", True))))
    for surface, name in SCIPY_SURFACES.items():
        apis.append(Api(f"jax.scipy.special.{name}", "functional", ("p", "q"), surface, (("reduction", "none"),)))
    return apis


JAX = Framework(
    key="jax", title="JAX (optax)", language="python",
    functional_api="optax.losses.kl_divergence", module_api="jax.jit(optax.losses.kl_divergence)",
    functional="optax.losses.kl_divergence(log_predictions, targets, axis=-1, where=None); "
               "optax.losses.kl_divergence_with_log_targets(log_predictions, log_targets, axis=-1, where=None)",
    module="jax.jit of the same call",
    source="optax/losses/_classification.py",
    params={"input": "log_predictions", "target": "targets", "reduction": None, "log_target": None,
            "size_average": None, "reduce": None},
    modules=("optax", "jax"), install="optax=={version}",
    reproducer=Template("kl_compat.adapters", "templates/repro_jax.py.j2"),
    semantics=OPTAX,
    porting_ops="kl_compat.porting.jax_ops:JaxOps",
    scan_apis=tuple(_scan_apis()),
)

def optax_call(call) -> tuple[str, dict, bool]:
    """(optax's function name, its keyword arguments, whether .mean() follows) for a matrix call: the
    mapping in the module's docstring, written once (the adapter and the reproducers use it)."""
    name = "kl_divergence_with_log_targets" if call.log_target else "kl_divergence"
    kwargs: dict = {k: getattr(call, k) for k in ("size_average", "reduce") if getattr(call, k) is not None}
    axis = {"none": (), "sum": None, "mean": (), "batchmean": -1}
    if call.reduction in axis and isinstance(call.reduction, str):
        if call.reduction != "batchmean":
            kwargs["axis"] = axis[call.reduction]
        return name, kwargs, call.reduction in ("mean", "batchmean")
    return name, {**kwargs, "reduction": call.reduction}, False


def scipy_call(call) -> tuple[dict, str | None]:
    """(the keyword arguments passed as given, the reduction written around the call: None, "sum", "mean" or
    "batchmean") for a matrix call on a jax.scipy.special surface: the mapping in the module's docstring."""
    kwargs: dict = {k: getattr(call, k) for k in ("size_average", "reduce") if getattr(call, k) is not None}
    if call.log_target:
        kwargs["log_target"] = True
    if isinstance(call.reduction, str) and call.reduction in _SCIPY_REDUCE:
        return kwargs, _SCIPY_REDUCE[call.reduction]
    return {**kwargs, "reduction": call.reduction}, None


class JaxAdapter(Adapter):
    name = "jax"
    framework = "optax"
    surfaces = ("eager", "jit", *SCIPY_SURFACES)
    install_hint = "pip install jax jaxlib optax  (or kl-compat[jax])"
    batch_size = 16
    description = JAX
    grads_by_request = True  # (no requires_grad: gradients are asked for by argument; see Adapter)

    def load(self):
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 cases; JAX computes float32 without it
        # Every new shape, dtype and call compiles; compiled code is kept across runs in kl_compat's cache.
        from kl_compat.cache import cache_root

        jax.config.update("jax_compilation_cache_dir", str(cache_root() / "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        import jax.numpy as jnp
        import jax.scipy.special
        import optax

        self.jax, self.jnp, self.optax, self.special = jax, jnp, optax, jax.scipy.special
        self._jitted: dict = {}

    def version(self):
        return self.optax.__version__

    def runtime(self):
        import jaxlib

        jax = self.jax
        return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "xla_backend": jax.default_backend(),
                "jax_enable_x64": bool(jax.config.jax_enable_x64)}

    def tensor(self, array, dtype, requires_grad):
        return self.jnp.asarray(np.array(array), dtype=getattr(self.jnp, dtype))

    def _functions(self, surface, call):
        """(the loss, its vector-Jacobian product with ones) for a call: as written on the eager surface;
        under jax.jit, both compiled, once per mapped call (and by JAX once per shape and dtype)."""
        if surface in SCIPY_SURFACES:
            return self._scipy_functions(surface, call)
        name, kwargs, mean = optax_call(call)
        fn = getattr(self.optax.losses, name)

        def loss(x, y):
            out = fn(x, y, **kwargs)
            return out.mean() if mean else out

        def pullback(x, y):
            out, vjp = self.jax.vjp(loss, x, y)
            return vjp(self.jnp.ones_like(out))

        if surface == "eager":
            return loss, pullback
        key = (name, repr(sorted(kwargs.items())), mean)
        if key not in self._jitted:
            self._jitted[key] = (self.jax.jit(loss), self.jax.jit(pullback))
        return self._jitted[key]

    def _scipy_functions(self, surface, call):
        """A jax.scipy.special surface's loss (target as p, exp(input) as q; scipy_call's mapping), eager."""
        fn = getattr(self.special, SCIPY_SURFACES[surface])
        kwargs, reduce = scipy_call(call)

        def loss(x, y):
            out = fn(y, self.jnp.exp(x), **kwargs)
            if reduce == "batchmean":
                return out.sum(axis=-1).mean()
            return getattr(out, reduce)() if reduce else out

        def pullback(x, y):
            out, vjp = self.jax.vjp(loss, x, y)
            return vjp(self.jnp.ones_like(out))

        return loss, pullback

    def kl_div(self, surface, input, target, call):
        loss, pullback = self._functions(surface, call)
        with keyword_refusals():
            out = loss(input, target)
        self._pullback = pullback
        return out

    def gradients(self, loss, x, y):
        floating = [self.jnp.issubdtype(a.dtype, self.jnp.floating) for a in (x, y)]
        if not any(floating):
            return Gradient(GRAD_NONE), Gradient(GRAD_NONE)
        try:
            grads = self._pullback(x, y)
        except Exception as e:
            return gradient_error(e)
        return self.gradient_records(*(g if ok else None for g, ok in zip(grads, floating)))

    def second_order(self, loss, x, y):
        # Double backward as JAX takes it: jax.grad of the sum of each first gradient (the vjp with ones).
        pullback, grad = self._pullback, self.jax.grad
        try:
            pairs = [grad(lambda a, b, i=i: pullback(a, b)[i].sum(), argnums=(0, 1))(x, y) for i in (0, 1)]
        except Exception as e:
            return second_error(e)
        return self.second_records(*pairs)

    def to_numpy(self, t):
        dtype = str(t.dtype)
        values = np.asarray(t)
        if dtype == "bfloat16":
            values = values.astype(np.float32)
        return values, dtype, values.shape
