"""kl_compat.porting.torch_module.KLDivLoss: torch.nn.KLDivLoss with a choice of semantics."""

from __future__ import annotations

import torch

from .modules import KLDivLossMixin


class KLDivLoss(KLDivLossMixin, torch.nn.Module):
    pass
