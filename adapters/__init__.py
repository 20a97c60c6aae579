"""The adapters: one small class per framework, and the registry that names them.

The registry maps names to "module:Class" strings, so naming an adapter never imports its framework
(einops' rule: a backend is only loaded when asked for). A worker process imports one adapter's
module; the R adapter's worker must never import PyTorch (the two libtorch builds clash).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Adapter, Observation


def __getattr__(name: str):
    """`Adapter` and `Observation` (from .base, which imports NumPy) on first use: the registry itself is
    NumPy-free, so that `kl-compat run --help` can list the adapters' names without importing NumPy."""
    if name in ("Adapter", "Observation"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

REGISTRY: dict[str, str] = {
    "torch": "kl_compat.adapters.torch_backend:TorchAdapter",
    "paddle": "kl_compat.adapters.paddle_backend:PaddleAdapter",
    "rtorch": "kl_compat.adapters.rtorch_backend:RTorchAdapter",
}
# The porting layer (kl_compat.porting) run as adapters: "<tensors' framework>-as-<semantics>".
PORTING: dict[str, str] = {
    f"{fw}-as-{sem}": f"kl_compat.adapters.porting_backend:{fw.capitalize()}As{sem.capitalize()}"
    for fw, sems in (("torch", ("spec", "paddle", "rtorch")), ("paddle", ("spec", "torch", "rtorch")))
    for sem in sems
}
# klc_kl_div in rtorch.R: PyTorch's semantics written in R, on R torch.
PORTING["rtorch-as-torch"] = "kl_compat.adapters.rtorch_backend:RTorchAsTorch"
REGISTRY.update(PORTING)


def register(name: str, target: str) -> None:
    """Add an adapter ("package.module:Class"), e.g. a user's own implementation or a test fixture."""
    REGISTRY[name] = target


def adapter_class(name_or_target: str) -> type[Adapter]:
    target = REGISTRY.get(name_or_target, name_or_target)
    if ":" not in target:
        from kl_compat.errors import UnknownAdapter

        raise UnknownAdapter(f"unknown adapter {name_or_target!r}: known adapters are {', '.join(REGISTRY)}; "
                             "or give 'package.module:Class'")
    module, cls = target.split(":", 1)
    return getattr(importlib.import_module(module), cls)
