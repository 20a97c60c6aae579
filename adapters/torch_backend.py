"""PyTorch: torch.nn.functional.kl_div and torch.nn.KLDivLoss, eager and under torch.compile.

The `compile` surface is F.kl_div inside a function compiled by torch.compile (TorchDynamo, AOTAutograd,
Inductor on the CPU), with gradients through the compiled backward. One compiled function per call
(reduction, log_target, legacy arguments), with dynamic shapes, so shapes share a graph where Dynamo
allows; each dtype (and each rank) compiles its own. Inductor's compiled code is kept in kl_compat's
cache (TORCHINDUCTOR_CACHE_DIR), so a second run loads it instead of compiling. The surface is observed
when KL_COMPAT_TORCH_COMPILE=1 is set (the cold compilation of the whole matrix takes long).
"""

from __future__ import annotations

import os

import numpy as np

from kl_compat.porting.semantics import TORCH_MEAN_WARNING, Semantics
from kl_compat.spec import Call

from .base import Adapter, second_error
from .framework import Api, Framework, Template

PYTORCH = Framework(
    key="torch", title="PyTorch", language="python",
    functional_api="torch.nn.functional.kl_div", module_api="torch.nn.KLDivLoss",
    functional="torch.nn.functional.kl_div(input, target, size_average=None, reduce=None, reduction='mean', "
               "log_target=False)",
    module="torch.nn.KLDivLoss(size_average=None, reduce=None, reduction='mean', log_target=False)",
    source="pytorch-KLDivLoss.txt; kl_div's signature as quoted in kl-div-explainer-zh.txt",
    params={"input": "input", "target": "target", "reduction": "reduction", "log_target": "log_target",
            "size_average": "size_average", "reduce": "reduce"},
    modules=("torch",), install="torch=={version}",
    reproducer=Template("kl_compat.adapters", "templates/repro_torch.py.j2"),
    # As measured on torch 2.13 (conformance/known_differences.toml has the evidence).
    semantics=Semantics("torch", nonpositive_target="nan", zero_times_inf="ieee", broadcast=True,
                        legacy="override-then-batchmean", unknown_reduction="raise",
                        aliases={"elementwise_mean": "mean"}, mean_warning=TORCH_MEAN_WARNING, formula="xlogy",
                        target_terms_in_target_dtype=True, round_like_native=True, module_converts_legacy=True,
                        zero_target_gradient="nan",
                        # ATen's TORCH_CHECKs raise RuntimeError; torch/nn/_reduction.py's get_enum, ValueError
                        errors={"S7-input": "RuntimeError", "S7-target": "RuntimeError", "S8-type": "ValueError"}),
    porting_ops="kl_compat.porting.backends:TorchOps",
    scan_apis=(
        Api("torch.nn.functional.kl_div", "functional",
            ("input", "target", "size_average", "reduce", "reduction", "log_target"), "functional"),
        Api("torch.nn.KLDivLoss", "module", ("size_average", "reduce", "reduction", "log_target"), "module"),
        Api("torch.nn.modules.loss.KLDivLoss", "module", ("size_average", "reduce", "reduction", "log_target"),
            "module"),
    ),
)


COMPILE_SWITCH = "KL_COMPAT_TORCH_COMPILE"  # "1": the torch adapter observes the `compile` surface too


class TorchAdapter(Adapter):
    name = "torch"
    framework = "torch"
    # `compile` only where asked for: compiling the matrix's few hundred graphs cold takes many minutes
    # (benchmarks/README.md), too long for every run; warm runs load them from the cache.
    surfaces = ("functional", "module", *(("compile",) if os.environ.get(COMPILE_SWITCH) == "1" else ()))
    install_hint = "pip install torch==2.13.0  (or kl-compat[torch])"
    batch_size = 16  # answers written 16 cases at a time: fewer wake-ups of the runner (see worker.py)
    description = PYTORCH

    def load(self):
        from kl_compat.cache import cache_root

        # Read when Inductor is imported: compiled code outlives the worker, so a second run is warm.
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "torchinductor"))
        import torch  # noqa: F401  (paid once per worker)

        self.torch = torch
        self._compiled: dict = {}

    def _compile(self):
        """Dynamo's limits on recompiling one function, raised: every compiled call shares F.kl_div's code
        object, and each call, dtype and rank is a graph of its own; past the limits Dynamo would fall
        back to eager silently (with a warning), and the surface would no longer be compiled."""
        dynamo = self.torch._dynamo.config
        dynamo.recompile_limit = dynamo.accumulated_recompile_limit = 100_000
        return self.torch.compile

    def warm_up(self):
        """The eager surfaces' warm-up, and one compiled call: the first compilation imports and starts
        Dynamo and Inductor once per worker; every other graph is the cost of the cases that need it."""
        every = self.surfaces
        self.surfaces = tuple(s for s in every if s != "compile")
        try:
            super().warm_up()
        finally:
            self.surfaces = every
        if "compile" not in every:
            return
        x = np.full((2, 3), -1.0, dtype=np.float32)
        self.observe_batch([("warm-up", "compile", x, np.full((2, 3), 0.5, dtype=np.float32),
                             Call("batchmean", False), "float32", "float32")])

    def version(self):
        return self.torch.__version__

    def tensor(self, array, dtype, requires_grad):
        t = self.torch.from_numpy(np.array(array)).to(getattr(self.torch, dtype))  # bfloat16 from exact float32
        if requires_grad and t.is_floating_point():
            t.requires_grad_(True)
        return t

    def kl_div(self, surface, input, target, call):
        # torch treats size_average/reduce=None as "not given", so only pass them when set.
        legacy = {k: v for k, v in (("size_average", call.size_average), ("reduce", call.reduce)) if v is not None}
        if surface == "functional":
            return self.torch.nn.functional.kl_div(input, target, reduction=call.reduction,
                                                   log_target=call.log_target, **legacy)
        if surface == "compile":
            return self._compiled_kl_div(call, legacy)(input, target)
        return self.torch.nn.KLDivLoss(reduction=call.reduction, log_target=call.log_target, **legacy)(input, target)

    def _compiled_kl_div(self, call, legacy):
        """F.kl_div with the call's arguments, compiled once per call (Dynamo recompiles per dtype/rank)."""
        key = (repr(call.reduction), call.log_target, repr(sorted(legacy.items())))
        if key not in self._compiled:
            kl_div, kwargs = self.torch.nn.functional.kl_div, dict(reduction=call.reduction,
                                                                   log_target=call.log_target, **legacy)

            def loss(input, target):
                return kl_div(input, target, **kwargs)

            self._compiled[key] = self._compile()(loss, backend="inductor", dynamic=True)
        return self._compiled[key]

    def backward(self, loss):
        if loss.requires_grad:
            loss.backward(self.torch.ones_like(loss))

    def grad(self, tensor):
        return tensor.grad if tensor.requires_grad else None

    def differentiable(self, loss):
        return bool(loss.requires_grad)

    def second_order(self, loss, x, y):
        # As a gradient penalty takes it: autograd.grad with create_graph=True, then each first gradient's
        # sum differentiated; retain_graph keeps the forward's buffers for `gradients`' backward after.
        grad = self.torch.autograd.grad
        try:
            firsts = grad(loss, (x, y), self.torch.ones_like(loss), create_graph=True, allow_unused=True)
            seconds = [(None, None) if g is None or not g.requires_grad
                       else grad(g.sum(), (x, y), retain_graph=True, allow_unused=True) for g in firsts]
        except Exception as e:
            return second_error(e)
        return self.second_records(*seconds)

    def to_numpy(self, t):
        dtype = _DTYPE_NAMES.get(t.dtype) or _DTYPE_NAMES.setdefault(t.dtype, str(t.dtype).removeprefix("torch."))
        if t.requires_grad:  # (a gradient needs no detach: it requires none)
            t = t.detach()
        values = t.float().numpy() if t.dtype == self.torch.bfloat16 else t.numpy()
        return values, dtype, values.shape


_DTYPE_NAMES: dict = {}  # torch.float32 -> "float32": read back three times per observation
