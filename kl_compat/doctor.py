"""`kl-compat doctor`: start each adapter's worker (in its own process, as a run would) and report."""

from __future__ import annotations

from .adapters import REGISTRY
from .runner import run_adapter


def check(names=None) -> list[dict]:
    rows = []
    for name in names or list(REGISTRY):
        state = run_adapter(name, [], lambda obs: None)
        rows.append({"adapter": name, "available": state.available, "framework": state.info.get("framework"),
                     "version": state.info.get("version"), "python": state.info.get("python"),
                     "reason": state.reason, "hint": state.hint})
    return rows
