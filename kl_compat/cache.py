"""Where kl_compat keeps what it makes to reuse: environments, fuzzing's database, compiled code."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$KL_COMPAT_CACHE, else .kl-compat-cache in the working folder."""
    return Path(os.environ.get("KL_COMPAT_CACHE", ".kl-compat-cache")).resolve()


def user_cache_root() -> Path:
    """$KL_COMPAT_CACHE, else the user's cache folder ($XDG_CACHE_HOME, else ~/.cache)/kl-compat: for what
    a library call makes (a compiled kernel), which should not appear in whatever folder a program runs in."""
    if os.environ.get("KL_COMPAT_CACHE"):
        return cache_root()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base, "kl-compat").resolve()
