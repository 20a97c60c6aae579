"""Reading the project's TOML data files (known differences, claims, environments) the same way."""

from __future__ import annotations

import tomllib
from pathlib import Path


def read_toml(path: Path, error: type[Exception]) -> dict:
    """The file's tables; {} when it does not exist; `error` naming the file when it is not TOML."""
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML ({e})") from None
