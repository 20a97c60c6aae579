"""What every adapter shares: the observation record and the one routine that fills it.

An adapter observes and never judges: it says what the framework returned, raised, warned and
differentiated, and `kl_compat.compare` decides what that means. Framework classes (one small module
each, einops `_backends.py` style) supply only the framework-specific verbs; the observing itself,
`observe_one`, is written once, for them and for the pytest plugin's function under test.
"""

from __future__ import annotations

import re
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kl_compat.dtypes import storage_array
from kl_compat.spec import SECOND_KEYS, Call

if TYPE_CHECKING:  # (for annotations only: wire imports this module)
    from kl_compat import wire

from .framework import Framework

# Observation.status values; judging them is compare's job.
OK, RAISED, UNSUPPORTED, CRASHED, TIMEOUT, UNAVAILABLE = "ok", "raised", "unsupported", "crashed", "timeout", "unavailable"
# Gradient statuses: an array, no gradient at all from the framework, or an error while backpropagating.
GRAD_OK, GRAD_NONE, GRAD_ERROR = "ok", "none", "error"


# Slotted: thousands of these are made per run, on the worker's critical path; slots make them cheaper.
@dataclass(slots=True)
class Gradient:
    status: str
    value: np.ndarray | None = None
    dtype: str | None = None
    message: str | None = None


@dataclass(slots=True)
class Observation:
    case_id: str
    adapter: str
    surface: str
    status: str
    value: np.ndarray | None = None  # the output's values, exactly (bfloat16 as float32), any shape
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    warnings: list[dict] = field(default_factory=list)  # {"category": ..., "message": ...}
    error: dict | None = None  # {"type": ..., "message": ...}
    grad_input: Gradient | None = None
    grad_target: Gradient | None = None
    unsupported: str | None = None  # the argument the API lacks
    seconds: float = 0.0
    detail: str | None = None  # crash signal, stderr tail, timeout limit
    # Whether the output is differentiable at all (torch's requires_grad, Paddle's not stop_gradient);
    # None where the framework has no such notion (JAX, Keras) or nothing was returned.
    differentiable: bool | None = None
    # Double backward (spec S10): SECOND_KEYS -> the gradient of sum(first gradient) by an operand;
    # None where the case asks for no second derivatives, or the adapter does not take them.
    second: dict[str, Gradient] | None = None

    def to_wire(self, arrays: wire.Encoder) -> list:
        """What crosses the pipe (in a wire.Answers), as one flat list: the fields after case_id and adapter
        (which the runner knows), in order, each gradient spread into its four fields (four Nones where
        there is none), `seconds` as whole nanoseconds. Every observation crosses, on the worker's
        critical path, and a flat list is what JSON writes fastest."""
        out: list = [self.surface, self.status, None if self.value is None else arrays.array(self.value), self.shape,
               self.dtype, self.warnings, self.error]
        for g in (self.grad_input, self.grad_target):
            out += _NO_GRADIENT if g is None else (g.status, None if g.value is None else arrays.array(g.value),
                                                   g.dtype, g.message)
        out += (self.unsupported, round(self.seconds * 1e9), self.detail, self.differentiable)
        out.append(None if self.second is None else [_gradient_wire(self.second.get(k), arrays) for k in SECOND_KEYS])
        return out

    @classmethod
    def from_wire(cls, fields: list, arrays: wire.Decoder, case_id: str = "", adapter: str = "") -> "Observation":
        """An observation back from `to_wire`'s list, its arrays read from `arrays` in the same order.
        ValueError where the list is not one (wire.decode makes it a WireError)."""
        if len(fields) != _WIRE_LENGTH:
            raise ValueError(f"an observation on the wire has {len(fields)} fields, not {_WIRE_LENGTH}")
        (surface, status, value, shape, dtype, warnings_, error, *gradients, unsupported, nanoseconds,
         detail, differentiable, second) = fields
        if value is not None:
            value = arrays.array(value)
        grad_input, grad_target = (
            None if g[0] is None else Gradient(g[0], None if g[1] is None else arrays.array(g[1]), g[2], g[3])
            for g in (gradients[:4], gradients[4:]))
        if second is not None:
            second = {k: Gradient(g[0], None if g[1] is None else arrays.array(g[1]), g[2], g[3])
                      for k, g in zip(SECOND_KEYS, second) if g is not None}
        return cls(case_id, adapter, surface, status, value, None if shape is None else tuple(shape), dtype,
                   warnings_, error, grad_input, grad_target, unsupported, nanoseconds / 1e9, detail,
                   differentiable, second)


def _gradient_wire(g: Gradient | None, arrays: wire.Encoder) -> list | None:
    return None if g is None else [g.status, None if g.value is None else arrays.array(g.value), g.dtype, g.message]


_NO_GRADIENT = (None, None, None, None)
_WIRE_LENGTH = len(Observation.__dataclass_fields__) - 2 + 2 * (len(_NO_GRADIENT) - 1)  # (no case_id, adapter)


class Adapter:
    """One framework. Subclasses set the class attributes and implement the verbs below."""

    name: str = ""
    framework: str = ""  # the distribution whose version is reported
    surfaces: tuple[str, ...] = ()
    install_hint: str = ""
    batch_size: int = 1  # how many tasks a worker hands to observe_batch at once
    # What kl_compat knows about its framework besides running it (title, language, reproducer template...)
    description: Framework | None = None
    not_observed: tuple[type[Exception], ...] = ()  # (see observe_one: none for a framework)
    # A framework whose tensors carry no requires_grad (JAX, Keras): its user names what to differentiate
    # (argnums, tape.watch), so observe_one keeps only the gradients of the operands that require grad.
    grads_by_request: bool = False

    # -- lifecycle (called once per worker process) --
    def load(self) -> None:
        """Import the framework. Raises ImportError (with the reason) where it is not available."""
        raise NotImplementedError

    def version(self) -> str:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Observe a few small cases on every surface and discard what is seen. Frameworks load kernels
        and import modules on first use (torch imports sympy on the first backward through a target
        that requires grad); that cost belongs with the import, paid once per worker, not to whichever
        cases of a run happen to come first."""
        calls = [Call(reduction, log_target) for reduction in ("none", "mean", "sum", "batchmean")
                 for log_target in (False, True)] + [Call("mean", False, size_average=False, reduce=True)]
        tasks = []
        for dtype in ("float32", "float64", "float16", "bfloat16"):
            x = storage_array(np.full((2, 3), -1.0), dtype)
            for call in calls:
                y = storage_array(np.full((2, 3), -0.5 if call.log_target else 0.5), dtype)
                tasks += [("warm-up", surface, x, y, call, dtype, dtype) for surface in self.surfaces]
        self.observe_batch(tasks)

    def runtime(self) -> dict:
        """More about the runtime, for run information (e.g. {"r": "R version 4.2.2"})."""
        return {}

    # -- capabilities --
    def unsupported_argument(self, surface: str, call: Call, input_dtype: str, target_dtype: str) -> str | None:
        """The name of an argument this surface lacks that `call` needs, else None."""
        return None

    # -- verbs --
    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool):
        raise NotImplementedError

    def kl_div(self, surface: str, input, target, call: Call):
        raise NotImplementedError

    def backward(self, loss) -> None:
        """Backpropagate ones through `loss` (any shape): the gradient of its sum."""
        raise NotImplementedError

    def grad(self, tensor):
        """The tensor's gradient, or None where the framework computed none."""
        raise NotImplementedError

    def to_numpy(self, tensor) -> tuple[np.ndarray, str, tuple[int, ...]]:
        """(the values, exactly, in a NumPy dtype that holds them, dtype name, shape). NumPy has no
        bfloat16: those travel as float32, which holds every bfloat16 value exactly."""
        raise NotImplementedError

    # -- written once --
    def observe_batch(self, tasks, started=None) -> list[Observation]:
        """Observe several tasks, each `observe`'s arguments; adapters with costly crossings override it.
        `started(i)`, if given, is called as task i begins (the worker marks its in-flight slot, so that
        a crash is pinned on the task itself). Warnings are caught for the whole batch and shared out by
        position: entering a warnings context costs about as much as a small kernel, so it is not done
        per observation."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = []
            for i, (case_id, surface, *operands) in enumerate(tasks):
                if started is not None:
                    started(i)
                out.append(observe_one(self, caught, Observation(case_id, self.name, surface, OK), *operands))
            return out

    def observe(self, case_id: str, surface: str, input: np.ndarray, target: np.ndarray, call: Call,
                input_dtype: str, target_dtype: str) -> Observation:
        return self.observe_batch([(case_id, surface, input, target, call, input_dtype, target_dtype)])[0]

    def gradients(self, loss, x, y) -> tuple[Gradient | None, Gradient | None]:
        """Both operands' gradients of `loss` (backward, then grad and to_numpy). A framework without a tape
        (JAX, TensorFlow's GradientTape) overrides this, and builds its records with gradient_records."""
        try:
            self.backward(loss)
        except Exception as e:
            return gradient_error(e)
        return self.gradient_records(self.grad(x), self.grad(y))

    def differentiable(self, loss) -> bool | None:
        """Whether the output is differentiable at all (requires grad), where the framework says so."""
        return None

    def second_order(self, loss, x, y) -> dict[str, Gradient] | None:
        """Double backward (spec S10): the first gradients taken with their graph kept, then the gradient of
        the sum of each by both operands, as SECOND_KEYS -> Gradient; called before `gradients`. None where
        this adapter does not take second derivatives."""
        return None

    def second_records(self, of_input, of_target) -> dict[str, Gradient]:
        """The four second-derivative records from (wrt input, wrt target) of each first gradient's sum."""
        pairs = (*self.gradient_records(*of_input), *self.gradient_records(*of_target))
        return dict(zip(SECOND_KEYS, pairs))

    def gradient_records(self, grad_input, grad_target) -> tuple[Gradient, Gradient]:
        """The two operands' Gradient records from the framework's gradient tensors (None: it gave none)."""
        def record(g) -> Gradient:
            if g is None:
                return Gradient(GRAD_NONE)
            value, dtype, _ = self.to_numpy(g)
            return Gradient(GRAD_OK, value, dtype)

        return record(grad_input), record(grad_target)


class ArgumentRefused(Exception):
    """Raised by an adapter's kl_div when the framework itself refused an argument it lacks (e.g. Python's
    "unexpected keyword argument"): the observation is `unsupported`, naming the argument, with the
    framework's own error kept. Observed by calling, never assumed from a signature."""

    def __init__(self, argument: str, error: BaseException):
        super().__init__(argument)
        self.argument, self.error = argument, error


def gradient_error(e: BaseException) -> tuple[Gradient, Gradient]:
    """Backpropagation raised: the error, for both operands."""
    g = Gradient(GRAD_ERROR, message=f"{type(e).__name__}: {_first_lines(str(e))}")
    return g, g


def second_error(e: BaseException) -> dict[str, Gradient]:
    """Double backward raised: the error, for all four second derivatives."""
    g = gradient_error(e)[0]
    return dict.fromkeys(SECOND_KEYS, g)


_UNEXPECTED_KEYWORD = re.compile(r"unexpected keyword argument '(\w+)'")


@contextmanager
def keyword_refusals():
    """Python's own refusal of a keyword a function lacks ("got an unexpected keyword argument 'x'"),
    raised inside the block, as ArgumentRefused naming the argument."""
    try:
        yield
    except TypeError as e:
        refused = _UNEXPECTED_KEYWORD.search(str(e))
        if refused:
            raise ArgumentRefused(refused.group(1), e) from e
        raise


class Verbs(Protocol):
    """What `observe_one` calls: an Adapter's verbs, or the pytest plugin's function under test."""

    not_observed: tuple[type[Exception], ...]

    def unsupported_argument(self, surface: str, call: Call, input_dtype: str, target_dtype: str) -> str | None: ...
    def tensor(self, array: np.ndarray, dtype: str, requires_grad: bool) -> Any: ...
    def kl_div(self, surface: str, input: Any, target: Any, call: Call) -> Any: ...
    def to_numpy(self, tensor: Any) -> tuple[np.ndarray, str, tuple[int, ...]]: ...
    def gradients(self, loss: Any, x: Any, y: Any) -> tuple[Gradient | None, Gradient | None]: ...
    def differentiable(self, loss: Any) -> bool | None: ...
    def second_order(self, loss: Any, x: Any, y: Any) -> dict[str, Gradient] | None: ...


def observe_one(verbs: Verbs, caught: list, obs: Observation, input, target, call: Call, input_dtype: str,
                target_dtype: str) -> Observation:
    """The one observe routine, filling `obs` (status OK, nothing observed yet): the argument check, the
    call, its value, its error or its gradients, the time taken, and the warnings `caught` (a
    warnings.catch_warnings(record=True) list) gained meanwhile. An exception is the framework's
    behaviour and is recorded, except `verbs.not_observed`, the caller's own faults, which propagate."""
    missing = verbs.unsupported_argument(obs.surface, call, input_dtype, target_dtype)
    if missing:
        obs.status, obs.unsupported = UNSUPPORTED, missing
        return obs
    first = len(caught)  # this observation's warnings are the ones recorded from here on
    start = time.perf_counter()
    try:
        x = verbs.tensor(input, input_dtype, requires_grad=call.requires("input"))
        y = verbs.tensor(target, target_dtype, requires_grad=call.requires("target"))
        loss = verbs.kl_div(obs.surface, x, y, call)
        obs.value, obs.dtype, obs.shape = verbs.to_numpy(loss)
    except verbs.not_observed:
        raise
    except ArgumentRefused as e:
        obs.status, obs.unsupported = UNSUPPORTED, e.argument
        obs.error = error_record(e.error)
    except Exception as e:  # the framework's own error is an observation, not a failure
        obs.status, obs.error = RAISED, error_record(e)
    else:
        obs.differentiable = verbs.differentiable(loss)
        if call.order == 2:  # (first: it keeps the graph that `gradients` may free)
            obs.second = verbs.second_order(loss, x, y)
        obs.grad_input, obs.grad_target = verbs.gradients(loss, x, y)
        if getattr(verbs, "grads_by_request", False):
            obs.grad_input = obs.grad_input if call.requires("input") else None
            obs.grad_target = obs.grad_target if call.requires("target") else None
    obs.seconds = time.perf_counter() - start
    if len(caught) > first:
        obs.warnings = [{"category": w.category.__name__, "message": str(w.message)} for w in caught[first:]]
    return obs


def error_record(e: BaseException) -> dict:
    """An exception as observed: its type, the head of its message, and its classes, most specific first
    (`except C:` catches it for any C of them; `object` left out), so that judging can ask what a
    user's handler would catch without the framework's classes at hand."""
    return {"type": type(e).__name__, "message": _first_lines(str(e)),
            "classes": [c.__name__ for c in type(e).__mro__[:-1]]}


def _first_lines(message: str, limit: int = 600) -> str:
    """Framework errors can run to pages (C++ stacks); keep the head, where the reason is."""
    message = message.strip()
    return message if len(message) <= limit else message[:limit] + " ..."
