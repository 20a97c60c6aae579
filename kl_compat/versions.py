"""Framework version strings as release numbers, the one reading that known differences, claims and
guides compare versions by."""

from __future__ import annotations

import re


def release(version: str) -> tuple[int, ...]:
    """The first three release numbers of `version` ("2.5.1+cu121" -> (2, 5, 1)); a part that is not a
    number counts as 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", version)[:3])
