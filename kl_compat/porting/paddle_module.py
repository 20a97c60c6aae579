"""kl_compat.porting.paddle_module.KLDivLoss: paddle.nn.KLDivLoss with a choice of semantics."""

from __future__ import annotations

import paddle

from .modules import KLDivLossMixin


class KLDivLoss(KLDivLossMixin, paddle.nn.Layer):
    pass
