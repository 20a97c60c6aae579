"""Where kl_compat keeps what it makes to reuse: environments, fuzzing's database, compiled code."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$KL_COMPAT_CACHE, else .kl-compat-cache in the working folder."""
    return Path(os.environ.get("KL_COMPAT_CACHE", ".kl-compat-cache")).resolve()
