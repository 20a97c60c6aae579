"""The porting layer as adapters: a framework's tensors with another framework's (or the spec's) semantics.

Each runs through the same matrix as the native adapters; `kl_compat.compare.judge_against` then holds
"paddle-as-torch" to torch's measured behaviour, and the "-as-spec" ones to the goldens.
"""

from __future__ import annotations

from dataclasses import replace

from .framework import Template
from .paddle_backend import PaddleAdapter
from .torch_backend import TorchAdapter


class _Porting:
    semantics = ""
    framework = "kl_compat.porting"  # (its surfaces are its framework adapter's: functional, module)

    def load(self):
        super().load()
        import kl_compat
        from kl_compat.porting import semantics

        self.sem = semantics.get(self.semantics)
        self.port = kl_compat
        module = "torch_module" if isinstance(self, TorchAdapter) else "paddle_module"
        self.module_cls = getattr(__import__(f"kl_compat.porting.{module}", fromlist=["KLDivLoss"]), "KLDivLoss")

    def version(self):
        return f"{self.port.__version__} on {self.base_name} {super().version()}"

    def unsupported_argument(self, surface, call, input_dtype, target_dtype):
        if call.uses_legacy() and self.sem.legacy == "unsupported":
            return "size_average/reduce"
        if call.log_target and not self.sem.log_target:
            return "log_target"
        return None

    def kl_div(self, surface, input, target, call):
        legacy = {"size_average": call.size_average, "reduce": call.reduce}
        if surface == "functional":
            return self.port.kl_div(input, target, call.reduction, call.log_target, self.semantics, **legacy)
        return self.module_cls(call.reduction, call.log_target, self.semantics, **legacy)(input, target)


class TorchAsSpec(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-spec", "spec", "torch"


class TorchAsPaddle(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-paddle", "paddle", "torch"


class TorchAsRtorch(_Porting, TorchAdapter):
    name, semantics, base_name = "torch-as-rtorch", "rtorch", "torch"


class PaddleAsSpec(_Porting, PaddleAdapter):
    name, semantics, base_name = "paddle-as-spec", "spec", "paddle"


class PaddleAsTorch(_Porting, PaddleAdapter):
    name, semantics, base_name = "paddle-as-torch", "torch", "paddle"


class PaddleAsRtorch(_Porting, PaddleAdapter):
    name, semantics, base_name = "paddle-as-rtorch", "rtorch", "paddle"


for _a in (TorchAsSpec, TorchAsPaddle, TorchAsRtorch, PaddleAsSpec, PaddleAsTorch, PaddleAsRtorch):
    # Its tensors' framework, run through kl_compat.kl_div: its reproducers call that, with its semantics,
    # and it has no kl_div of its own for the porting layer to copy.
    _a.description = replace(
        _a.description, title=f"kl_compat.kl_div(semantics={_a.semantics!r}) on {_a.description.title}",
        reproducer=Template("kl_compat.adapters", f"templates/repro_porting_{_a.base_name}.py.j2",
                            (("semantics", _a.semantics),)),
        semantics=None, porting_ops=None)
