"""Subcommands added to the `kl-compat` parser without importing their modules (this module is NumPy-free).

`kl-compat --help` lists every subcommand, and building that list used to import `kl_compat.fuzz` and
`kl_compat.merge` for their `add_parser`, and with them NumPy (about a third of the command's time).
A deferred subcommand is a real argparse subparser, made with the one-line help the list shows; its
arguments are added by its module's own `add_parser(sub)` (the one place they are defined) the first
time the subparser parses or formats its help or usage, e.g. `kl-compat fuzz ...` or
`kl-compat merge --help`. tests/test_packaging.py checks that each help line kl_compat.cli gives is its module's.
"""

from __future__ import annotations

import argparse
import importlib

_DEFERRED = ("parse_known_args", "format_help", "format_usage")


def add_deferred(sub, name: str, help: str, module: str) -> argparse.ArgumentParser:
    """Add subcommand `name` to `sub` (the subparsers action); `module`'s add_parser fills it in when used."""
    parser = sub.add_parser(name, help=help)

    def populate() -> None:
        for method in _DEFERRED:
            parser.__dict__.pop(method, None)  # back to ArgumentParser's own methods
        importlib.import_module(module).add_parser(_Into(parser, name))

    def deferred(method: str):
        def call(*args, **kwargs):
            populate()
            return getattr(parser, method)(*args, **kwargs)

        return call

    for method in _DEFERRED:
        setattr(parser, method, deferred(method))
    return parser


class _Into:
    """Stands in for the subparsers action a module's add_parser(sub) expects: hands back the parser
    already made for the subcommand, so the arguments go there."""

    def __init__(self, parser: argparse.ArgumentParser, name: str):
        self._parser, self._name = parser, name

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        if name != self._name:
            raise ValueError(f"deferred subcommand {self._name!r}: its module added {name!r}")
        for key in ("description", "epilog", "usage"):
            if key in kwargs:
                setattr(self._parser, key, kwargs[key])
        return self._parser
