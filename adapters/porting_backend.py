"""The porting layer as adapters: a framework's tensors with another framework's (or the spec's) semantics.

Each runs through the same matrix as the native adapters; `kl_compat.compare.judge_against` then holds
"paddle-as-torch" to torch's measured behaviour, and the "-as-spec" ones to the goldens. JAX arrays and
TensorFlow tensors run on two surfaces each: `functional` (kl_compat.kl_div called eagerly) and a compiled
one (`jit`: under jax.jit; `tf_function`: under tf.function), both held to the ported framework's own
function; the compiled call is traced afresh for every observation, so warnings are raised as at a
first call.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

from kl_compat.adapters.base import ArgumentRefused
from kl_compat.porting.core import UnsupportedArgument

from .base import GRAD_NONE, Gradient
from .framework import Template
from .jax_backend import JaxAdapter
from .keras_backend import KerasAdapter
from .paddle_backend import PaddleAdapter
from .torch_backend import TorchAdapter


class _Porting:
    semantics = ""
    framework = "kl_compat.porting"
    # kl_compat.kl_div and its module: not the framework adapter's other surfaces (compiled, static graph)
    surfaces: tuple[str, ...] = ("functional", "module")
    base_name = ""

    def load(self):
        super().load()
        import kl_compat
        from kl_compat.porting import semantics

        self.sem = semantics.get(self.semantics)
        self.port = kl_compat
        if isinstance(self, (TorchAdapter, PaddleAdapter)):
            module = "torch_module" if isinstance(self, TorchAdapter) else "paddle_module"
            self.module_cls = getattr(__import__(f"kl_compat.porting.{module}", fromlist=["KLDivLoss"]), "KLDivLoss")

    def version(self):
        return f"{self.port.__version__} on {self.base_name} {super().version()}"

    def loss_function(self, call):
        """(x, y) -> kl_compat.kl_div(x, y, <call's arguments>, semantics=<this adapter's>)."""
        legacy = {"size_average": call.size_average, "reduce": call.reduce}

        def loss(x, y):
            with _refusals():
                return self.port.kl_div(x, y, call.reduction, call.log_target, self.semantics, **legacy)
        return loss

    def kl_div(self, surface, input, target, call):
        if surface == "functional":
            return self.loss_function(call)(input, target)
        legacy = {"size_average": call.size_average, "reduce": call.reduce}
        with _refusals():
            return self.module_cls(call.reduction, call.log_target, self.semantics, **legacy)(input, target)


@contextmanager
def _refusals():
    """The porting layer's refusal of an argument its semantics' framework lacks (UnsupportedArgument,
    naming it), as ArgumentRefused: observed by calling, as the framework's own refusal is."""
    try:
        yield
    except UnsupportedArgument as e:
        raise ArgumentRefused(e.argument or "argument", e) from e


class _ByRequest:
    """Gradients only for the operands that require them, as torch's requires_grad gives them: JAX arrays
    and TensorFlow tensors carry no such flag, so the adapter remembers what each operand was made with."""

    def tensor(self, array, dtype, requires_grad):
        t = super().tensor(array, dtype, requires_grad)
        self._requires = [*getattr(self, "_requires", [])[-1:], requires_grad]  # (input's, then target's)
        return t

    def requested(self) -> tuple[bool, bool]:
        wants = getattr(self, "_requires", [True, True])
        return (wants[0], wants[1]) if len(wants) == 2 else (True, True)

    def gradients(self, loss, x, y):
        gx, gy = super().gradients(loss, x, y)
        want_x, want_y = self.requested()
        return (gx if want_x else Gradient(GRAD_NONE)), (gy if want_y else Gradient(GRAD_NONE))


class _PortingJax(_ByRequest, _Porting, JaxAdapter):
    surfaces = ("functional", "jit")  # (not the jax adapter's: kl_compat's calls)
    base_name = "jax"

    def kl_div(self, surface, input, target, call):
        loss = self.loss_function(call)

        def pullback(x, y):
            out, vjp = self.jax.vjp(loss, x, y)
            return vjp(self.jnp.ones_like(out))

        if surface == "jit":
            loss, pullback = self.jax.jit(loss), self.jax.jit(pullback)
        self._pullback = pullback if any(self.requested()) else None
        return loss(input, target)

    def gradients(self, loss, x, y):
        if self._pullback is None:  # (nothing requires grad: no backward pass at all)
            return Gradient(GRAD_NONE), Gradient(GRAD_NONE)
        return super().gradients(loss, x, y)

    def version(self):
        return f"{self.port.__version__} on jax {self.jax.__version__}"


class _PortingTF(_ByRequest, _Porting, KerasAdapter):
    surfaces = ("functional", "tf_function")  # type: ignore[assignment]  # (not the keras adapter's)
    base_name = "tensorflow"

    def kl_div(self, surface, input, target, call):
        tf = self.tf
        loss = self.loss_function(call)
        if surface == "tf_function":
            loss = tf.function(loss)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            for t, wanted in zip((input, target), self.requested()):
                if t.dtype.is_floating and wanted:
                    tape.watch(t)
            out = loss(input, target)
        self._tape = tape
        return out

    def version(self):
        return f"{self.port.__version__} on tensorflow {self.tf.__version__}"


class TorchAsSpec(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-spec", "spec", "torch"


class TorchAsPaddle(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-paddle", "paddle", "torch"


class TorchAsRtorch(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-rtorch", "rtorch", "torch"


class PaddleAsSpec(_Porting, PaddleAdapter):
    name, semantics, base_name = "paddle-as-spec", "spec", "paddle"


class PaddleAsTorch(_Porting, PaddleAdapter):
    name, semantics, base_name = "paddle-as-torch", "torch", "paddle"


class PaddleAsRtorch(_Porting, PaddleAdapter):
    name, semantics, base_name = "paddle-as-rtorch", "rtorch", "paddle"


class TorchAsJax(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-jax", "jax", "torch"


class TorchAsKeras(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-keras", "keras", "torch"


class JaxAsTorch(_PortingJax):
    name, semantics = "jax-as-torch", "torch"


class JaxAsSpec(_PortingJax):
    name, semantics = "jax-as-spec", "spec"


class TensorflowAsTorch(_PortingTF):
    name, semantics = "tensorflow-as-torch", "torch"


class TensorflowAsSpec(_PortingTF):
    name, semantics = "tensorflow-as-spec", "spec"


for _a in (TorchAsSpec, TorchAsPaddle, TorchAsRtorch, TorchAsJax, TorchAsKeras, PaddleAsSpec, PaddleAsTorch,
           PaddleAsRtorch):
    # Its tensors' framework, run through kl_compat.kl_div: its reproducers call that, with its semantics,
    # and it has no kl_div of its own for the porting layer to copy.
    _a.description = replace(
        _a.description, title=f"kl_compat.kl_div(semantics={_a.semantics!r}) on {_a.description.title}",
        reproducer=Template("kl_compat.adapters", f"templates/repro_porting_{_a.base_name}.py.j2",
                            (("semantics", _a.semantics),)),
        semantics=None, porting_ops=None)

for _p in (JaxAsTorch, JaxAsSpec, TensorflowAsTorch, TensorflowAsSpec):
    # No reproducer template of their own (yet): their findings are printed without a snippet.
    _p.description = replace(
        _p.description, title=f"kl_compat.kl_div(semantics={_p.semantics!r}) on {_p.base_name} arrays",
        reproducer=None, semantics=None, porting_ops=None)
