"""The `kl-compat` command (argparse: the standard library's CLI toolkit; the core stays NumPy-only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_ADAPTERS = ("torch", "paddle", "rtorch")
# The committed report: the current frameworks, and Paddle 2.6.2 from its environment beside Paddle 3.
REPORT_ADAPTERS = ("torch", "paddle", "paddle@paddle-2.6.2", "rtorch")
DEFAULT_RESULTS = Path("results/latest.jsonl")


class CLIError(Exception):
    """A problem with what the user asked for; printed without a traceback, exit status 2."""


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, e.g. 1/4; got {text!r}") from None
    if not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"need a whole number >= 1, got {text!r}")
    return n


def _adapters(text: str) -> list[str]:
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--adapters needs at least one name")
    return names


def cmd_golden(args) -> int:
    from . import golden

    if args.check:
        try:
            golden.verify_checksums(args.dir)
        except golden.GoldenError as e:
            raise CLIError(str(e)) from None
        drifted = golden.drift(args.dir)
        if drifted:
            print(f"goldens drift from the spec: {', '.join(drifted)} (regenerate with `kl-compat golden`)")
            return 1
        print("goldens match the spec")
        return 0
    manifest = golden.write(args.dir)
    print(f"wrote {manifest['cases']} cases ({manifest['samples']} samples) to {args.dir or golden.default_dir()}")
    return 0


def cmd_run(args) -> int:
    from . import environments, golden, known, run

    try:
        specs = [environments.adapter_spec(name) for name in args.adapters]
        summary = run.run(specs, args.out, patterns=args.cases, shard=args.shard, timeout=args.timeout,
                          known_path=args.known, strict=args.strict, progress=not args.quiet, argv=sys.argv,
                          workers=args.workers)
    except (golden.GoldenError, known.KnownDifferencesError, run.RunError, environments.EnvError, KeyError) as e:
        raise CLIError(str(e)) from None
    _print_summary(summary, args.strict)
    return 1 if summary.failed(args.strict) else 0


def _print_summary(summary, strict: bool) -> None:
    for adapter, surfaces in summary.counts.items():
        for surface, counts in surfaces.items():
            parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            print(f"{adapter:>10} {surface:<12} {parts}")
    for adapter, reason in summary.unavailable.items():
        print(f"{adapter:>10} not run: {reason}")
    if summary.new:
        print(f"\n{len(summary.new)} new difference(s) (not in the known-differences file):")
        for adapter, surface, case, d in summary.new[:30]:
            print(f"  {adapter}.{surface} {case}: {d.kind}: {d.message}")
        if len(summary.new) > 30:
            print(f"  ... and {len(summary.new) - 30} more (see {summary.path})")
    for p in summary.known_problems:
        print(("error: " if strict else "warning: ") + p)
    print(f"\nresults: {summary.path} ({summary.records} records)")


def cmd_doctor(args) -> int:
    from . import doctor

    rows = doctor.check(args.adapters)
    for row in rows:
        state = f"available, {row['label']}" if row["available"] else f"unavailable: {row['reason']}"
        print(f"{row['adapter']:>10}  {state}")
        if not row["available"] and row.get("hint"):
            print(f"{'':>10}  fix: {row['hint']}")
    return 0


def cmd_report(args) -> int:
    from . import claims, environments, golden, known, results
    from .report import command, model

    try:
        return command(args)
    except (golden.GoldenError, known.KnownDifferencesError, claims.ClaimsError, results.ResultsError,
            model.ReportError, environments.EnvError, KeyError) as e:
        raise CLIError(str(e)) from None


def cmd_diff(args) -> int:
    from .diff import command

    return command(args)


def cmd_guide(args) -> int:
    from .guide import command
    from .report import json_report, model

    try:
        return command(args)
    except (json_report.ReportJSONError, model.ReportError) as e:
        raise CLIError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kl-compat", description=__doc__.split("(")[0].strip())
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("golden", help="regenerate the goldens from the spec (byte-identical), or --check them")
    g.add_argument("--check", action="store_true", help="verify checksums and that the goldens match the spec")
    g.add_argument("--dir", type=Path, default=None, help="goldens directory (default: the package's)")
    g.set_defaults(func=cmd_golden)

    r = sub.add_parser("run", help="run the conformance matrix through adapters and write a results file")
    r.add_argument("--adapters", type=_adapters, default=list(DEFAULT_ADAPTERS), help="comma-separated names")
    r.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help=f"results file (default {DEFAULT_RESULTS})")
    r.add_argument("--cases", action="append", metavar="GLOB", help="only cases whose id matches (repeatable)")
    r.add_argument("--shard", type=_shard, help="run the deterministic slice i/n")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds per case before its worker is killed")
    r.add_argument("--known", type=Path, default=None, help="known-differences file (default: the package's)")
    r.add_argument("--strict", action="store_true", help="also fail on stale or fixed known-difference entries")
    r.add_argument("--workers", type=_positive, default=1, help="worker processes per adapter (default 1)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("doctor", help="list each adapter: available or not, version, and why not")
    d.add_argument("--adapters", type=_adapters, default=None)
    d.set_defaults(func=cmd_doctor)

    rp = sub.add_parser("report", help="Markdown, HTML and JSON reports (and porting guides) from results files; "
                                       "with none given, run the matrix first")
    rp.add_argument("results", nargs="*", type=Path, help="results files (.jsonl); none: run the matrix")
    rp.add_argument("--out", type=Path, default=None, help="report directory (default conformance/report)")
    rp.add_argument("--guides", type=Path, default=None,
                    help="porting guides directory (default conformance/guides; OUT/guides when files are given)")
    rp.add_argument("--adapters", type=_adapters, default=list(REPORT_ADAPTERS),
                    help="for the run; ADAPTER@ENV runs in a named environment, created if missing")
    rp.add_argument("--run-out", type=Path, default=DEFAULT_RESULTS, help=f"the run's results (default {DEFAULT_RESULTS})")
    rp.add_argument("--timeout", type=float, default=60.0, help="seconds per case before its worker is killed")
    rp.add_argument("--known", type=Path, default=None, help="known-differences file (default: the package's)")
    rp.add_argument("--claims", type=Path, default=None, help="claims file (default: the package's)")
    rp.add_argument("--no-reproducers", action="store_true", help="do not minimise reproducers (no workers)")
    rp.add_argument("--no-screenshot", action="store_true", help="do not render report.png in headless Chromium")
    rp.add_argument("--quiet", action="store_true", help="no progress output")
    rp.set_defaults(func=cmd_report)

    df = sub.add_parser("diff", help="fixed / broken / changed between two results files or JSON reports")
    df.add_argument("old", type=Path)
    df.add_argument("new", type=Path)
    df.add_argument("--by-label", action="store_true", help="key records by column label, not adapter name")
    df.add_argument("--ignore-known", action="store_true",
                    help="exit 0 when everything that broke is explained by NEW's known-differences entries")
    df.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    df.add_argument("--limit", type=int, default=50, help="rows listed per category")
    df.set_defaults(func=cmd_diff)

    gd = sub.add_parser("guide", help="the porting guide between two frameworks, from measured results")
    gd.add_argument("inputs", nargs="*", type=Path,
                    help="a report.json, or results files (default: conformance/report/report.json)")
    gd.add_argument("--from", dest="src", required=True, help="torch, paddle or rtorch")
    gd.add_argument("--to", dest="dst", required=True, help="torch, paddle or rtorch")
    gd.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    gd.set_defaults(func=cmd_guide)

    from .environments import add_parser as add_env_parser
    from .fuzz import add_parser as add_fuzz_parser
    from .merge import add_parser as add_merge_parser

    add_merge_parser(sub)
    add_env_parser(sub)
    add_fuzz_parser(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as e:
        print(f"kl-compat {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
