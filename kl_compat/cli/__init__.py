"""The `kl-compat` command (argparse: the standard library's CLI toolkit; the core stays NumPy-only).

One module per group of subcommands (golden; run and doctor; report; diff, guide and scan), each with its
arguments and its command; env, merge and fuzz define their arguments in their own modules
(environments, merge, fuzz), merge and fuzz added only when used (deferred: they import NumPy). The help
texts are in helptext, the exit statuses in kl_compat.exitcode. Building the parser imports no NumPy
and no framework (`kl-compat --help`, `kl-compat run --help`). Nothing outside this package imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from .. import __version__
from ..errors import KlCompatError
from ..exitcode import ExitCode
from . import golden, readers, report, run
from .deferred import add_deferred
from .helptext import DESCRIPTIONS, EXIT_STATUS_HELP, epilog

__all__ = ["main", "build_parser", "ExitCode", "EXIT_STATUS_HELP"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: a command ends as an interrupted one (exit 143), and a run
    keeps its partial results as on Ctrl-C."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kl-compat", description="The `kl-compat` command")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    golden.add_parsers(sub)
    run.add_parsers(sub)
    report.add_parsers(sub)
    readers.add_parsers(sub)

    from ..environments import add_parser as add_env_parser

    # merge and fuzz import NumPy: their arguments are added only when used (`--help` stays NumPy-free)
    add_deferred(sub, "merge", "merge shard results files into one, as an unsharded run writes it", "kl_compat.merge")
    add_env_parser(sub)
    add_deferred(sub, "fuzz", "differential fuzzing: generated inputs through every adapter and the spec; "
                              "new differences shrunk to a minimal case", "kl_compat.fuzz")
    # Each subcommand's description, then its examples and exit statuses (env's verbs have their own)
    for name, parser in sub.choices.items():
        parser.description = parser.description or DESCRIPTIONS[name]
        parser.epilog = parser.epilog or epilog(name)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def main(argv=None) -> int:
    """Run one subcommand. kl_compat's own errors (KlCompatError) print as one line and exit with their
    status (2 unless they say otherwise), as do operating-system errors (a full disk, a path that is a
    directory); Ctrl-C exits 130 and SIGTERM 143, a run's partial results kept (results.Writer)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"kl-compat {args.command}"
    with _sigterm_interrupts():
        try:
            return args.func(args)
        except KlCompatError as e:
            _error(prog, str(e), getattr(e, "kl_compat_partial", None))
            return e.exit_status
        except KeyboardInterrupt as e:
            kept = getattr(e, "kl_compat_partial", None)
            what = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
            if kept:
                what += f"; partial results kept in {kept}, the results file left as it was"
            print(f"{prog}: {what}", file=sys.stderr)
            return ExitCode.TERMINATED if isinstance(e, Terminated) else ExitCode.INTERRUPTED
        except OSError as e:  # a full disk, a path that is a directory, no permission: the system's words
            where = f"{e.filename}: " if e.filename else ""
            _error(prog, f"{where}{e.strerror or e}", getattr(e, "kl_compat_partial", None))
            return ExitCode.USAGE_ERROR


def _error(prog: str, message: str, kept=None) -> None:
    """The error as the last line of stderr; a message's further lines (e.g. pip's output) before it."""
    first, *rest = message.strip().splitlines() or [""]
    for line in rest:
        print(f"  {line}", file=sys.stderr)
    if kept:
        print(f"{prog}: partial results kept in {kept}; the results file was left as it was", file=sys.stderr)
    print(f"{prog}: error: {first}", file=sys.stderr)


@contextlib.contextmanager
def _sigterm_interrupts():
    """SIGTERM (a CI job cancelled, `kill`) raises Terminated in the main thread while a command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
