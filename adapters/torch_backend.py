"""PyTorch: torch.nn.functional.kl_div and torch.nn.KLDivLoss."""

from __future__ import annotations

import numpy as np

from kl_compat.porting.semantics import TORCH_MEAN_WARNING, Semantics

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


class TorchAdapter(Adapter):
    name = "torch"
    framework = "torch"
    surfaces = ("functional", "module")
    install_hint = "pip install torch==2.13.0  (or kl-compat[torch])"
    batch_size = 16  # answers written 16 cases at a time: fewer wake-ups of the runner (see worker.py)
    description = PYTORCH

    def load(self):
        import torch  # noqa: F401  (paid once per worker)

        self.torch = torch

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
        return self.torch.nn.KLDivLoss(reduction=call.reduction, log_target=call.log_target, **legacy)(input, target)

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
