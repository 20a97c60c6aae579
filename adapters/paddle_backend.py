"""PaddlePaddle: paddle.nn.functional.kl_div and paddle.nn.KLDivLoss.

Differences from torch handled here: the target is called `label`. Arguments Paddle may lack
(size_average/reduce; `log_target` before Paddle 3.0) are passed whenever a case sets them, and Paddle's
own refusal is what makes the observation `unsupported` (ArgumentRefused), never its signature.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

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
    surfaces = ("functional", "module")
    install_hint = "pip install paddlepaddle  (or kl-compat[paddle])"
    batch_size = 16  # answers written 16 cases at a time: fewer wake-ups of the runner (see worker.py)
    description = PADDLE

    def load(self):
        import paddle

        paddle.set_device("cpu")
        self.paddle = paddle

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
            return self.paddle.nn.KLDivLoss(**kwargs)(input, target)

    def backward(self, loss):
        if not loss.stop_gradient:
            loss.backward(self.paddle.ones_like(loss))

    def grad(self, tensor):
        return None if tensor.stop_gradient else tensor.grad

    def differentiable(self, loss):
        return not loss.stop_gradient

    def second_order(self, loss, x, y):
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
