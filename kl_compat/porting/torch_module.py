"""kl_compat.porting.torch_module.KLDivLoss: torch.nn.KLDivLoss with a choice of semantics."""

from __future__ import annotations

import torch

from . import kl_div
from .modules import module_arguments


class KLDivLoss(torch.nn.Module):
    def __init__(self, reduction="mean", log_target=False, semantics="torch", *, size_average=None, reduce=None):
        super().__init__()
        self.semantics = semantics
        self.reduction, self.log_target, self.size_average, self.reduce = module_arguments(
            reduction, log_target, semantics, size_average, reduce)

    def forward(self, input, target):
        return kl_div(input, target, self.reduction, self.log_target, self.semantics,
                      size_average=self.size_average, reduce=self.reduce)
