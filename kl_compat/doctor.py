"""`kl-compat doctor`: start each adapter's worker (in its own process, as a run would) and report."""

from __future__ import annotations

from .adapters import REGISTRY
from .results import RUNTIME_FIELDS, version_label
from .runner import run_adapter


def check(names=None) -> list[dict]:
    rows = []
    for name in names or list(REGISTRY):
        state = run_adapter(name, [], lambda obs: None)
        info = state.info
        rows.append({"adapter": name, "available": state.available, "framework": info.get("framework"),
                     "version": info.get("version"), "python": info.get("python"),
                     **{k: info[k] for k in RUNTIME_FIELDS if k in info},
                     "label": version_label(info.get("framework"), info.get("version"), info),
                     "reason": state.reason, "hint": state.hint})
    return rows
