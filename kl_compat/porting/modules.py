"""What the torch and Paddle module forms share: the arguments, and the call."""

from __future__ import annotations

import warnings

from kl_compat import spec

from .semantics import get


class KLDivLossMixin:
    """KLDivLoss's body; torch_module and paddle_module put it on their framework's module class."""

    def __init__(self, reduction="mean", log_target=False, semantics="torch", *, size_average=None, reduce=None):
        super().__init__()
        self.semantics = semantics
        self.reduction, self.log_target, self.size_average, self.reduce = module_arguments(
            reduction, log_target, semantics, size_average, reduce)

    def forward(self, input, target):
        from . import kl_div

        return kl_div(input, target, self.reduction, self.log_target, self.semantics,
                      size_average=self.size_average, reduce=self.reduce)


def module_arguments(reduction, log_target, semantics, size_average, reduce):
    """(reduction, log_target, size_average, reduce) as the module's forward will pass them on."""
    sem = get(semantics)
    if sem.module_converts_legacy and (size_average is not None or reduce is not None):
        reduction = spec.effective_reduction(spec.Call(reduction, False, size_average, reduce))
        warnings.warn(sem.legacy_warning.format(reduction=reduction), UserWarning, stacklevel=3)
        size_average = reduce = None
    return reduction, log_target, size_average, reduce
