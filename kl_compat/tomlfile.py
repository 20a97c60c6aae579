"""Reading the project's TOML data files (known differences, claims, environments) the same way.

The one reader of TOML in kl_compat: the standard library's tomllib from Python 3.11, its original
`tomli` (a dependency on Python 3.10, same API) before. Imported on first read: `kl-compat --help`
builds the parser, which imports this module, and needs no TOML parser.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def _parser():
    try:
        return importlib.import_module("tomllib")  # (by name: type-checked for 3.10, which has none)
    except ModuleNotFoundError:  # Python 3.10
        import tomli

        return tomli


def read_toml(path: Path, error: type[Exception]) -> dict:
    """The file's tables; {} when it does not exist; `error` naming the file when it is not TOML."""
    toml = _parser()
    try:
        return toml.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as e:
        raise error(f"{path}: not valid TOML (not UTF-8: {e})") from None
    except toml.TOMLDecodeError as e:
        raise error(f"{path}: not valid TOML ({e})") from None
