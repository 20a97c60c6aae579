"""PaddlePaddle: paddle.nn.functional.kl_div and paddle.nn.KLDivLoss.

Differences from torch handled here: the target is called `label`. Arguments Paddle may lack
(size_average/reduce; `log_target` before Paddle 3.0) are passed whenever a case sets them, and Paddle's
own refusal is what makes the observation `unsupported` (ArgumentRefused), never its signature.

Besides the dynamic-mode `functional` and `module`, two execution modes are surfaces: `static`, F.kl_div
in a static-graph Program (paddle.static.data inputs of the case's exact shapes and dtypes, gradients by
paddle.static.gradients, run by an Executor on the CPU; the version's default static IR: PIR in Paddle 3,
the ProgramDesc of 2.x), and `to_static`, a function calling F.kl_div converted by paddle.jit.to_static
(gradients by loss.backward()). Static mode is process-wide state: it is on only while a Program is built
and run, and dynamic mode is restored whatever happens.
"""

from __future__ import annotations

import functools
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from kl_compat.porting.semantics import Semantics

from .base import Adapter, ArgumentRefused, keyword_refusals, second_error
from .framework import Api, Framework, Template

PADDLE = Framework(
    key="paddle", title="PaddlePaddle", language="python",
    functional_api="paddle.nn.functional.kl_div", module_api="paddle.nn.KLDivLoss",
    functional="paddle.nn.functional.kl_div(input, label, reduction='mean', log_target=False, name=None)",
    module="paddle.nn.KLDivLoss(reduction='mean', log_target=False), called as loss(input, label)",
    source="paddle-KLDivLoss.txt (the module; the function is not on that page)",
    params={"input": "input", "target": "label", "reduction": "reduction", "log_target": "log_target",
            "size_average": None, "reduce": None},
    modules=("paddle",), install="paddlepaddle=={version}",
    reproducer=Template("kl_compat.adapters", "templates/repro_paddle.py.j2"),
    # As measured on Paddle 3.3 (conformance/known_differences.toml has the evidence).
    semantics=Semantics("paddle", nonpositive_target="zero", zero_times_inf="ieee", broadcast=False,
                        legacy="unsupported", unknown_reduction="none", mean_warning=None, legacy_warning=None,
                        target_gradient=False, low_precision=False, mixed_dtypes="float32-float64",
                        # an integer input finds no kernel (NotFound: RuntimeError), an integer label is
                        # read in the input's dtype (InvalidArgument: ValueError)
                        errors={"S7-input": "RuntimeError", "S7-target": "ValueError"}),
    porting_ops="kl_compat.porting.backends:PaddleOps",
    scan_apis=(
        Api("paddle.nn.functional.kl_div", "functional", ("input", "label", "reduction", "log_target", "name"),
            "functional"),
        Api("paddle.nn.functional.loss.kl_div", "functional", ("input", "label", "reduction", "log_target", "name"),
            "functional"),
        Api("paddle.nn.KLDivLoss", "module", ("reduction", "log_target"), "module"),
        Api("paddle.nn.layer.loss.KLDivLoss", "module", ("reduction", "log_target"), "module"),
    ),
)


class PaddleAdapter(Adapter):
    name = "paddle"
    framework = "paddlepaddle"
    surfaces: tuple[str, ...] = ("functional", "module", "static", "to_static")
    install_hint = "pip install paddlepaddle  (or kl-compat[paddle])"
    batch_size = 16  # answers written 16 cases at a time: fewer wake-ups of the runner (see worker.py)
    description = PADDLE

    def load(self):
        import paddle

        paddle.set_device("cpu")
        self.paddle = paddle
        self._programs: dict = {}  # static: (call, dtypes, shapes) -> (Program, fetch list, Executor)
        self._converted: dict = {}  # to_static: call -> the converted function

    def version(self):
        return self.paddle.__version__

    def tensor(self, array, dtype, requires_grad):
        t = self.paddle.to_tensor(np.array(array))
        if t.dtype != getattr(self.paddle, dtype):
            t = t.astype(dtype)  # bfloat16 from exact float32
        t.stop_gradient = not (requires_grad and t.is_floating_point())
        return t

    def kl_div(self, surface, input, target, call):
        # Each optional argument only when set, as a user writes it (Paddle < 3.0 runs every other case).
        kwargs = {"reduction": call.reduction}
        if call.log_target:
            kwargs["log_target"] = True
        kwargs.update((k, v) for k, v in (("size_average", call.size_average), ("reduce", call.reduce))
                      if v is not None)
        with keyword_refusals(), _legacy_refusal():
            if surface == "functional":
                return self.paddle.nn.functional.kl_div(input, label=target, **kwargs)
            if surface == "static":
                return self._run_static(input, target, kwargs, second=call.order == 2)
            if surface == "to_static":
                return self._call_converted(kwargs, input, target)
            return self.paddle.nn.KLDivLoss(**kwargs)(input, target)

    def _to_static(self, kwargs):
        """F.kl_div with the call's arguments in a function converted by paddle.jit.to_static, once per
        call (Paddle itself keeps a program per input shape and dtype)."""
        key = repr(sorted(kwargs.items()))
        if key not in self._converted:
            kl_div = self.paddle.nn.functional.kl_div

            def loss(input, label):
                return kl_div(input, label=label, **kwargs)

            self._converted[key] = self.paddle.jit.to_static(loss)
        return self._converted[key]

    def _call_converted(self, kwargs, input, target):
        try:
            return self._to_static(kwargs)(input, target)
        except TypeError:
            raise
        except Exception as e:  # Paddle 2.6's SOT wraps Python's own refusal of a keyword in its InnerError
            refused = _SOT_REFUSAL.search(str(e))
            if refused:
                raise ArgumentRefused(refused.group(1), e) from e
            raise

    def _run_static(self, input, target, kwargs, second=False) -> Fetched:
        """Run the call's Program (built on first use for these dtypes, shapes and gradients) on the
        operands' values: the loss and both gradients, as fetched; with `second`, a second Program that
        also takes the gradients of each first gradient's sum, run for those alone, so that a double
        backward Paddle cannot build or run is the second derivatives' error, not the loss's."""
        operands = [t.astype("float32").numpy() if _name(t.dtype) == "bfloat16" else t.numpy() for t in (input, target)]
        feed = {"input": operands[0], "label": operands[1]}
        program_for = functools.partial(self._program, kwargs, [_name(t.dtype) for t in (input, target)],
                                        [a.shape for a in operands], [not t.stop_gradient for t in (input, target)])
        paddle = self.paddle
        paddle.enable_static()
        try:
            program, fetch, exe, built_warnings, _ = program_for(False)
            for w in built_warnings:  # kl_div's own, given once as the Program was built: every call's
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            out, *grads = _fetch(exe, program, feed, fetch)  # (the loss is always fetched)
            seconds = self._static_seconds_run(program_for(True), feed) if second else None
        finally:
            paddle.disable_static()
        return Fetched(out, _name(fetch[0].dtype), grads, not fetch[0].stop_gradient, seconds)

    def _program(self, kwargs, dtypes, shapes, wanted, second):
        key = (repr(sorted(kwargs.items())), *dtypes, *shapes, *wanted, second)
        if key not in self._programs:
            self._programs[key] = self._build_static(kwargs, dtypes, shapes, wanted, second)
        return self._programs[key]

    @staticmethod
    def _static_seconds_run(built, feed):
        """The second derivatives (four, None where Paddle has none), or the error records of Paddle's
        refusal, at building (it differentiates a Program as it is built) or at running the Program."""
        program, fetch, exe, _, refused = built
        if refused is not None:
            return refused
        try:
            return _fetch(exe, program, feed, fetch[3:])
        except Exception as e:  # the framework's refusal is the observation
            return second_error(e)

    def _build_static(self, kwargs, dtypes, shapes, wanted, second):
        """(the Program, [loss, d input, d label] with None where Paddle gives no gradient, then with
        `second` d/d input and d/d label of each first gradient's sum, an Executor, the warnings F.kl_div
        gave while it was built, and the error building the second derivatives raised, or None)."""
        static = self.paddle.static
        program = static.Program()
        with static.program_guard(program, static.Program()):
            x, y = (static.data(name, list(shape), dtype)
                    for name, shape, dtype in zip(("input", "label"), shapes, dtypes))
            for v, want in zip((x, y), wanted):
                v.stop_gradient = not want
            with warnings.catch_warnings(record=True) as built:
                warnings.simplefilter("always")
                out = self.paddle.nn.functional.kl_div(x, label=y, **kwargs)
            wrt = [v for v in (x, y) if not v.stop_gradient]
            # Not kl_div's: building any backward under PIR warns that full_like read a Value's `place`.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grads = static.gradients([out], wrt) if wrt and not out.stop_gradient else []
                firsts = _per_operand(wrt, grads, (x, y))
                seconds, refused = ([], None) if not second else self._static_seconds(firsts, wrt, (x, y))
        return (program, [out, *firsts, *seconds], static.Executor(self.paddle.CPUPlace()), built, refused)

    def _static_seconds(self, firsts, wrt, operands):
        """The second derivatives' fetch list ([d first / d input, d first / d label] per first gradient,
        None where there is none), or ([], the error Paddle raised building them: a Program is
        differentiated as it is built)."""
        seconds = []
        try:
            for g in firsts:
                grads = [] if g is None or g.stop_gradient else self.paddle.static.gradients([self.paddle.sum(g)], wrt)
                seconds += _per_operand(wrt, grads, operands)
        except Exception as e:  # the framework's refusal is the observation
            return [], second_error(e)
        return seconds, None

    def gradients(self, loss, x, y):
        if not isinstance(loss, Fetched):
            return super().gradients(loss, x, y)
        return self.gradient_records(*(None if g is None else Fetched(g, _name(t.dtype), [], False)
                                       for g, t in zip(loss.grads, (x, y))))

    def backward(self, loss):
        if not loss.stop_gradient:
            loss.backward(self.paddle.ones_like(loss))

    def grad(self, tensor):
        return None if tensor.stop_gradient else tensor.grad

    def differentiable(self, loss):
        return loss.differentiable if isinstance(loss, Fetched) else not loss.stop_gradient

    def second_order(self, loss, x, y):
        if isinstance(loss, Fetched):  # (built into the Program: fetched, or the error building it raised)
            if isinstance(loss.second, dict) or loss.second is None:
                return loss.second
            pairs = [None if g is None else Fetched(g, _name(t.dtype), [], False)
                     for g, t in zip(loss.second, (x, y, x, y))]
            return self.second_records(pairs[:2], pairs[2:])
        # paddle.grad with create_graph=True, then each first gradient's sum differentiated; retain_graph
        # keeps the forward's graph for `gradients`' backward after.
        grad = self.paddle.grad
        try:
            firsts = grad([loss], [x, y], [self.paddle.ones_like(loss)], create_graph=True, allow_unused=True)
            seconds = [(None, None) if g is None or g.stop_gradient
                       else grad([g.sum()], [x, y], retain_graph=True, allow_unused=True) for g in firsts]
        except Exception as e:
            return second_error(e)
        return self.second_records(*seconds)

    def to_numpy(self, t):
        if isinstance(t, Fetched):
            return t.value, t.dtype, t.value.shape
        t = t.detach()
        dtype = str(t.dtype).removeprefix("paddle.")
        if dtype == "bfloat16":  # Paddle's own .numpy() gives bfloat16 as raw uint16 bits
            t = t.astype("float32")
        values = t.numpy()
        return values, dtype, values.shape


# Paddle 3's layers take size_average/reduce only to refuse them, with a ValueError naming both
# (paddle/utils/decorator_utils.py, legacy_reduction_decorator on KLDivLoss.__init__).
_LEGACY_REFUSED = re.compile(r"no longer supports 'reduce' or 'size_average'")


@contextmanager
def _legacy_refusal():
    try:
        yield
    except ValueError as e:
        if _LEGACY_REFUSED.search(str(e)):
            raise ArgumentRefused("size_average/reduce", e) from e
        raise


_SOT_REFUSAL = re.compile(r"TypeError: \w+\(\) got an unexpected keyword argument '(\w+)'")


def _per_operand(wrt, grads, operands) -> list:
    """The gradients by `wrt` (what static.gradients returns for them) placed by operand, None for an
    operand not among `wrt`."""
    by_operand = {id(v): g for v, g in zip(wrt, grads)}
    return [by_operand.get(id(v)) for v in operands]


def _fetch(exe, program, feed, fetch: list) -> list:
    """Run `program` for the non-None entries of `fetch`; their values in its places, None elsewhere."""
    values = iter(exe.run(program, feed=feed, fetch_list=[f for f in fetch if f is not None]))
    return [None if f is None else next(values) for f in fetch]


@dataclass
class Fetched:
    """What an Executor fetched for the static surface: the loss's values (bfloat16 as float32), its
    dtype's name, and the operands' gradients (None where the Program has none)."""

    value: np.ndarray
    dtype: str
    grads: list
    differentiable: bool
    second: list | dict | None = None  # second derivatives fetched (4, None where none), or their error records


def _name(dtype) -> str:
    """'float32' for paddle.float32 and for the old IR's VarType.FP32 alike."""
    name = str(dtype).removeprefix("paddle.").removeprefix("VarType.").lower()
    return {"fp32": "float32", "fp64": "float64", "fp16": "float16", "bf16": "bfloat16"}.get(name, name)

