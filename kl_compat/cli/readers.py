"""`kl-compat diff`, `guide` and `scan`: commands that read results or measurements and write one page."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .outputs import needs, outputs_locked


def cmd_diff(args) -> int:
    from ..diff import command

    return command(args)


def cmd_guide(args) -> int:
    from ..guide import command

    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a directory; the guide is one file (e.g. {args.out / 'guide.md'})")
    needs("jinja2", "cli", "the guide (its reproducers)")
    with outputs_locked(file=args.out):  # FILE.lock: two guides into one file, the second fails at once
        return command(args, _measurements(args.inputs))


def _measurements(inputs: list[Path]) -> dict:
    """What a guide is made from: the measurements shipped with kl_compat (from the same run as the
    committed report), a measurements file (.json.gz), a report.json, or results files (a report's model
    built from them)."""
    from .. import measurements
    from ..report import json_report
    from ..report.assemble import build

    if not inputs:
        return measurements.load()
    if len(inputs) == 1 and str(inputs[0]).endswith(".json.gz"):
        return measurements.load(inputs[0])
    if len(inputs) == 1 and str(inputs[0]).endswith(".json"):
        return json_report.read(inputs[0])
    return build(inputs)


def cmd_scan(args) -> int:
    from ..scan import command

    return command(args)


def add_parsers(sub) -> None:
    """`diff`, `guide` and `scan`, and their arguments."""
    df = sub.add_parser("diff", help="fixed / broken / changed between two results files or JSON reports")
    df.add_argument("old", type=Path)
    df.add_argument("new", type=Path)
    df.add_argument("--by-label", action="store_true", help="key records by column label, not adapter name")
    df.add_argument("--ignore-known", action="store_true",
                    help="exit 0 when everything that broke is explained by NEW's known-differences entries")
    df.add_argument("--fail-on-worse", action="store_true",
                    help="also exit 1 when accuracy got worse (a p99 error more than doubled; listed either way)")
    df.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    df.add_argument("--limit", type=int, default=50, help="rows listed per category")
    df.add_argument("--allow-partial", action="store_true",
                    help="diff a partial input (a run that did not end normally) anyway, said on stderr")
    df.add_argument("--allow-mismatch", action="store_true",
                    help="diff inputs judged against other goldens, matrix sizes or selections of cases anyway")
    df.set_defaults(func=cmd_diff)

    gd = sub.add_parser("guide", help="the porting guide between two frameworks, from measured results")
    gd.add_argument("inputs", nargs="*", type=Path,
                    help="a report.json, a measurements file (.json.gz), or results files (default: the "
                         "measurements shipped with kl_compat)")
    gd.add_argument("--from", dest="src", required=True, help="torch, paddle or rtorch")
    gd.add_argument("--to", dest="dst", required=True, help="torch, paddle or rtorch")
    gd.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    gd.set_defaults(func=cmd_guide)

    sc = sub.add_parser("scan", help="the kl_div call sites of Python and R sources, and what changes for each "
                                     "on another framework, from measured results")
    sc.add_argument("paths", nargs="+", type=Path, help="files or folders (*.py, *.R)")
    sc.add_argument("--from", dest="src", required=True, help="the framework the code was written for: torch, paddle or rtorch")
    sc.add_argument("--to", dest="dst", required=True, help="the framework it will run on: torch, paddle or rtorch")
    sc.add_argument("--report", type=Path, default=None,
                    help="the measurements: a report.json made by `kl-compat report` (default: the committed one)")
    sc.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    sc.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    sc.set_defaults(func=cmd_scan)
