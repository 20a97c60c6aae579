"""Shapes that do not broadcast, under semantics that broadcast: the semantics' framework's error."""

from __future__ import annotations

import builtins

from .semantics import Semantics


def check_broadcast(sem: Semantics, a: tuple, b: tuple) -> None:
    """Raise what the semantics' framework raises (sem.broadcast_error) for input shape `a` and target shape
    `b` that do not broadcast, not whatever the tensors' framework's arithmetic would raise."""
    if a == b:
        return
    for m, n in zip(reversed(a), reversed(b)):
        if m != n and 1 not in (m, n):
            raise getattr(builtins, sem.broadcast_error)(
                f"{sem.name} semantics: input shape {a} and target shape {b} do not broadcast")
