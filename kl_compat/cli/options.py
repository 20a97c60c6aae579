"""Argument types of the `kl-compat` parser: each turns one option's text into its value, or rejects it
with argparse's own usage error (exit 2)."""

from __future__ import annotations

import argparse


def shard(text: str) -> tuple[int, int]:
    """--shard i/n."""
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, e.g. 1/4; got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def positive(text: str) -> int:
    """A whole number >= 1 (--workers)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"need a whole number >= 1, got {text!r}")
    return n

