"""The adapters: one small class per framework, found through the `kl_compat.adapters` entry-point group.

kl-compat's own adapters and a third party's are declared the same way, in their package's metadata
(pyproject.toml: `[project.entry-points."kl_compat.adapters"]`, `name = "package.module:Class"`), and found
the same way in every process: the runner, each worker, `doctor`, the reports and guides. Naming an adapter
reads metadata only, so it imports neither NumPy nor a framework (einops' rule: a backend is only loaded
when asked for); `adapter_class` loads one adapter's module, and a worker process imports only that one
(the R adapter's worker must never import PyTorch: the two libtorch builds clash). A "package.module:Class"
string also names an adapter, for ad-hoc use without declaring it.

What the rest of kl_compat needs to know about an adapter's framework (its title, language, argument
names, reproducer template, how another version installs) is its class's `description`
(kl_compat.adapters.framework.Framework): `framework_of(name)`.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Adapter, Observation
    from .framework import Framework

GROUP = "kl_compat.adapters"


def registry() -> dict[str, str]:
    """{name: "package.module:Class"} of every adapter declared in the installed packages' metadata, in name
    order. Where two packages declare one name, kl-compat's own adapter keeps it (a third party cannot
    shadow a built-in one), else the first found."""
    found: dict[str, list] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, []).append(ep)
    return {name: (eps[0] if len(eps) == 1 else next((ep for ep in eps if _own(ep)), eps[0])).value
            for name, eps in sorted(found.items())}


def _own(ep) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.metadata["Name"] in ("kl-compat", "kl_compat")


def registered() -> list[str]:
    """The registered adapters' names (registry()'s, in its order)."""
    return list(registry())


def __getattr__(name: str):
    """`Adapter` and `Observation` (from .base, which imports NumPy) on first use: the registry itself is
    NumPy-free, so that `kl-compat run --help` can list the adapters' names without importing NumPy.
    `REGISTRY` is registry(), read now."""
    if name in ("Adapter", "Observation"):
        from . import base

        return getattr(base, name)
    if name == "REGISTRY":
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def target(name_or_target: str) -> str:
    """The "package.module:Class" a name stands for (a "package.module:Class" stands for itself)."""
    known = registry()
    found = known.get(name_or_target, name_or_target)
    if ":" not in found:
        from kl_compat.errors import UnknownAdapter

        if not known:  # not even kl-compat's own: its installed metadata predates the entry points
            raise UnknownAdapter(f"unknown adapter {name_or_target!r}: no adapter is registered in this Python "
                                 f"environment (the installed kl-compat's metadata has no {GROUP!r} entry points: "
                                 "install kl-compat again, or `kl-compat env create NAME` for a named environment)")
        raise UnknownAdapter(f"unknown adapter {name_or_target!r}: known adapters are {', '.join(known)}; "
                             "or give 'package.module:Class'")
    return found


def adapter_class(name_or_target: str) -> type[Adapter]:
    """The adapter class a registered name or a "package.module:Class" string names (its module imported)."""
    module, cls = target(name_or_target).split(":", 1)
    return getattr(importlib.import_module(module), cls)


def frameworks() -> dict[str, Framework]:
    """Each framework's own adapter, by name, in the registry's order: the registered adapters whose
    description's key is their own name. A porting adapter (its description names another adapter's
    framework) runs kl_compat's porting layer, not a framework's own API. Loads every adapter's module
    (not its framework)."""
    found = {}
    for name in registered():
        described = framework_of(name)
        if described is not None and described.key == name:
            found[name] = described
    return found


@functools.lru_cache(maxsize=None)
def framework_of(name_or_target: str) -> Framework | None:
    """The framework description the adapter class carries, or None for a name that is not an adapter here,
    or an adapter that cannot be loaded or carries none. Remembered for the process (the porting layer
    asks for every call)."""
    from .framework import Framework

    try:
        described = getattr(adapter_class(name_or_target), "description", None)
    except Exception:  # not registered, or its module does not import here: nothing is known about it
        return None
    return described if isinstance(described, Framework) else None
