"""Adapters for testing the harness itself (never registered, never reported as a framework).

`SpecAdapter` runs the reference spec through the whole harness, so a run of it must match the goldens
everywhere; the others inject faults: a segfault, a hang, an exception on every case, garbage shapes.
Workers load them as "fault_adapters:Name" with this folder on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from dataclasses import dataclass

import numpy as np

from kl_compat import spec
from kl_compat.adapters.base import Adapter


@dataclass
class SpecTensor:
    values: np.ndarray  # float64 (or int) values
    dtype: str
    grad: "SpecTensor | None" = None
    result: spec.Result | None = None
    parents: tuple = ()
    requires_grad: bool = False
    call: spec.Call | None = None


class SpecAdapter(Adapter):
    name = "spec"
    framework = "kl_compat.spec"
    surfaces = ("functional",)

    def load(self):
        pass

    def version(self):
        import kl_compat

        return kl_compat.__version__

    def tensor(self, array, dtype, requires_grad):
        floating = dtype.startswith(("float", "bfloat"))
        return SpecTensor(np.asarray(array, np.float64) if floating else np.asarray(array), dtype,
                          requires_grad=requires_grad and floating)

    def kl_div(self, surface, input, target, call):
        if call.uses_legacy():
            warnings.warn("size_average and reduce are deprecated, please use reduction= instead", DeprecationWarning)
        elif call.reduction == "mean":
            warnings.warn("reduction='mean' is not the KL divergence; 'batchmean' is", UserWarning)
        r = spec.reference(input.values, target.values, call, input.dtype, target.dtype)
        return SpecTensor(r.rounded().astype(np.float64), r.dtype, result=r, parents=(input, target),
                          requires_grad=input.requires_grad or target.requires_grad, call=call)

    def backward(self, loss):
        r = loss.result
        x, y = loss.parents
        from kl_compat.dtypes import round_to

        x.grad = SpecTensor(round_to(r.grad_input, r.input_dtype).astype(np.float64), r.input_dtype)
        y.grad = SpecTensor(round_to(r.grad_target, r.target_dtype).astype(np.float64), r.target_dtype)

    def grad(self, tensor):
        return tensor.grad if tensor.requires_grad else None

    def differentiable(self, loss):
        return loss.requires_grad

    def second_order(self, loss, x, y):
        from dataclasses import replace

        from kl_compat.golden import SECOND_KEYS, expectation

        e = expectation(x.values, y.values, replace(loss.call, order=2), x.dtype, y.dtype)
        grads = [SpecTensor(np.asarray(e.second[k], np.float64), x.dtype if k.endswith("_input") else y.dtype)
                 for k in SECOND_KEYS]
        return self.second_records(grads[:2], grads[2:])

    def to_numpy(self, t):
        return np.asarray(t.values), t.dtype, tuple(np.shape(t.values))


class SegfaultAdapter(SpecAdapter):
    """Dies by SIGSEGV on every case whose id contains '/4d/'."""

    name = "segfault"

    def kl_div(self, surface, input, target, call):
        if input.values.ndim == 4:
            os.kill(os.getpid(), signal.SIGSEGV)
        return super().kl_div(surface, input, target, call)


class HangAdapter(SpecAdapter):
    """Never returns on 0-d inputs."""

    name = "hang"

    def kl_div(self, surface, input, target, call):
        if input.values.ndim == 0:
            time.sleep(3600)
        return super().kl_div(surface, input, target, call)


class RaiseAdapter(SpecAdapter):
    name = "raise"

    def kl_div(self, surface, input, target, call):
        raise RuntimeError("this adapter raises on every case")


class GarbageShapeAdapter(SpecAdapter):
    """Returns a value of the wrong shape (one extra axis) and a gradient of the wrong shape."""

    name = "garbage"

    def kl_div(self, surface, input, target, call):
        out = super().kl_div(surface, input, target, call)
        out.values = np.asarray(out.values)[None, ...]
        return out

    def grad(self, tensor):
        g = tensor.grad
        return None if g is None else SpecTensor(np.zeros((3, 1, 4)), g.dtype)


class BatchingSegfaultAdapter(SegfaultAdapter):
    """Like SegfaultAdapter, but the worker hands it tasks in batches (as it does torch and Paddle)."""

    name = "batching-segfault"
    batch_size = 16


class TwoSurfaceSegfaultAdapter(BatchingSegfaultAdapter):
    """Batches, two surfaces, and dies only on the second surface of a 4-d case: what the batch made
    before the death must come back, in order, around the crash."""

    name = "two-surface-segfault"
    surfaces = ("functional", "module")

    def kl_div(self, surface, input, target, call):
        if surface == "functional":
            return SpecAdapter.kl_div(self, surface, input, target, call)
        return super().kl_div(surface, input, target, call)


class OneGoSegfaultAdapter(BatchingSegfaultAdapter):
    """Observes a batch in one go (as the R adapter does): it cannot say which task it is on."""

    name = "one-go-segfault"

    def observe_batch(self, tasks, started=None):
        return super().observe_batch(tasks)


class BatchingHangAdapter(HangAdapter):
    name = "batching-hang"
    batch_size = 16


class ImportFailsAdapter(SpecAdapter):
    name = "import-fails"
    install_hint = "pip install nothing-at-all"

    def load(self):
        raise ImportError("No module named 'nothing_at_all'")


class HangOnLoadAdapter(SpecAdapter):
    """Never finishes starting: a framework import that hangs (bounded by runner.startup_limit)."""

    name = "hang-on-load"

    def load(self):
        time.sleep(3600)


class SlowAdapter(SpecAdapter):
    """The spec, taking 20 ms a case: a run long enough to interrupt or kill while it writes records."""

    name = "slow"

    def kl_div(self, surface, input, target, call):
        time.sleep(0.02)
        return super().kl_div(surface, input, target, call)


class PlantedAdapter(SpecAdapter):
    """The spec, but its value is off by one whenever some target element is finite and above 0.75:
    a planted difference for the fuzzer to find and shrink (tests/test_fuzz.py)."""

    name = "planted"

    def kl_div(self, surface, input, target, call):
        out = super().kl_div(surface, input, target, call)
        y = np.asarray(target.values, np.float64)
        if (np.isfinite(y) & (y > 0.75)).any():
            out.values = np.asarray(out.values) + 1.0
        return out


class BatchingSlowAdapter(SpecAdapter):
    """The spec in batches of 16 (as torch and Paddle are given), 0.2 s an observation: a batch takes
    3.2 s, more than a --timeout of 2 s, which each observation keeps well within."""

    name = "batching-slow"
    batch_size = 16
    SECONDS = 0.2

    def kl_div(self, surface, input, target, call):
        time.sleep(self.SECONDS)
        return super().kl_div(surface, input, target, call)


class BatchingSlowHangAdapter(HangAdapter, BatchingSlowAdapter):
    """As BatchingSlowAdapter, but the observations of 0-d inputs never return (HangAdapter's kl_div)."""

    name = "batching-slow-hang"


class OneGoSlowAdapter(BatchingSlowAdapter):
    """As BatchingSlowAdapter, observing a batch in one go (as the R adapter does): the in-flight slot
    names the whole batch, never one observation of it."""

    name = "one-go-slow"

    def observe_batch(self, tasks, started=None):
        return super().observe_batch(tasks)


class OneGoSlowHangAdapter(OneGoSlowAdapter, BatchingSlowHangAdapter):
    name = "one-go-slow-hang"
