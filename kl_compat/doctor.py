"""`kl-compat doctor`: start each adapter's worker (in its own process, as a run would) and report."""

from __future__ import annotations

from .adapters import framework_of, registered
from .results import RUNTIME_FIELDS, version_label
from .runner import run_adapter


def check(names=None) -> list[dict]:
    """One row per adapter (default: every registered one), with its framework's title from the adapter's
    description (None where it carries none)."""
    rows = []
    for name in names or registered():
        state = run_adapter(name, [], lambda obs: None)
        info = state.info
        described = framework_of(name)
        rows.append({"adapter": name, "available": state.available, "framework": info.get("framework"),
                     "title": described.title if described else None,
                     "version": info.get("version"), "python": info.get("python"),
                     **{k: info[k] for k in RUNTIME_FIELDS if k in info},
                     "label": version_label(info.get("framework"), info.get("version"), info),
                     "reason": state.reason, "hint": state.hint})
    return rows
