"""The registered adapters' names, as an `--adapters` option's help lists them (NumPy-free: the registry
imports no framework), and the option's text read as names. Used by every subcommand that takes
--adapters: run, doctor, report and fuzz."""

from __future__ import annotations

import argparse

from . import REGISTRY


def adapters_help(default: str) -> str:
    """--adapters' help: the default, then every registered name and the other forms a name may take."""
    return (f"comma-separated adapter names (default {default}); one of: {', '.join(REGISTRY)}; "
            "ADAPTER@ENV runs ADAPTER in a named environment (kl-compat env); or package.module:Class")


def adapter_names(text: str) -> list[str]:
    """--adapters A,B: the names; which of them exist is checked by the command (kl_compat.run)."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--adapters needs at least one name")
    return names
