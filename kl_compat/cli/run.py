"""`kl-compat run` and `kl-compat doctor`: the matrix through adapters, and which adapters can run here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..adapters.names import adapter_names, adapters_help
from ..errors import UsageError
from ..exitcode import ExitCode
from .helptext import TIMEOUT_HELP
from .options import positive, shard

# The machine-readable summaries (--format json), one JSON object on standard output. Fields may be added
# within a version; one removed, renamed or changing meaning makes it /2. README: "Machine-readable output".
RUN_SUMMARY_SCHEMA = "kl-compat-run-summary/1"
DOCTOR_SCHEMA = "kl-compat-doctor/1"
DEFAULT_ADAPTERS = ("torch", "paddle", "rtorch")
DEFAULT_RESULTS = Path("results/latest.jsonl")


def cmd_run(args) -> int:
    from .. import environments, run

    run.check_adapters(args.adapters)  # an unknown name is a usage error, before anything runs
    run.check_timeout(args.timeout)
    run.check_workers(args.workers)
    if args.junit is not None and args.junit.is_dir():
        raise UsageError(f"--junit {args.junit}: is a directory; JUnit XML is one file (e.g. {args.junit / 'junit.xml'})")
    specs = [environments.adapter_spec(name) for name in args.adapters]
    summary = run.run(specs, args.out, patterns=args.cases, shard=args.shard, timeout=args.timeout,
                      known_path=args.known, strict=args.strict, progress=not args.quiet, argv=sys.argv,
                      workers=args.workers, tolerance=args.tolerance)
    status = summary.exit_status(args.strict, args.allow_unavailable)
    if args.format == "json":
        print(json.dumps(run_summary_json(summary, status), indent=1, sort_keys=True))
    else:
        _print_summary(summary, args.strict)
    if args.junit is not None:
        from .. import junit, results

        junit.write(results.read(args.out), args.junit)
        if args.format != "json":
            print(f"junit: {args.junit}")
    if summary.recovered:
        print(f"kl-compat run: note: a run writing {args.out} was killed earlier; its partial results are in "
              f"{summary.recovered}", file=sys.stderr)
    _say_not_run(summary.not_run(), status)
    return status


def _say_not_run(not_run: dict, status: int) -> None:
    """The adapters that did not run, as an error (exit 3 or 4) or, when allowed, a warning."""
    if status == ExitCode.NOT_RUN:
        label, why = next(iter(not_run.items()))
        more = f" (and {len(not_run) - 1} more adapter(s))" if len(not_run) > 1 else ""
        print(f"kl-compat run: error: {label} did not run: {why}{more}; --allow-unavailable if that is expected",
              file=sys.stderr)
    elif status == ExitCode.NOTHING_CHECKED:
        print("kl-compat run: error: nothing was checked: every adapter was unavailable", file=sys.stderr)
    elif not_run:
        print(f"kl-compat run: warning: not run (allowed): {', '.join(not_run)}", file=sys.stderr)


def run_summary_json(summary, status: int) -> dict:
    """`kl-compat run --format json`: schema kl-compat-run-summary/1.

      schema          "kl-compat-run-summary/1"
      results         the results file written (--out)
      records         records written; checked: those that observed something (all but unavailable)
      counts          {adapter label: {surface: {status: records}}}
      new             [{adapter, surface, case, kind, message}]: every difference the known-differences
                      file does not explain (none left out)
      known_problems  stale or fixed known-differences entries (strings; judged on complete runs only)
      not_run         {adapter label: why}: adapters that did not run, or not on every case
      recovered       where a killed earlier run's partial results were moved, or null
      exit_status     the command's exit status (README, "Exit codes")
    """
    return {"schema": RUN_SUMMARY_SCHEMA, "results": str(summary.path), "records": summary.records,
            "checked": summary.checked, "counts": summary.counts,
            "new": [{"adapter": a, "surface": s, "case": c, "kind": d.kind, "message": d.message}
                    for a, s, c, d in summary.new],
            "known_problems": list(summary.known_problems), "not_run": summary.not_run(),
            "recovered": str(summary.recovered) if summary.recovered else None, "exit_status": status}


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
    from .. import doctor, run
    from ..results import RUNTIME_FIELDS

    if args.adapters is not None:
        run.check_adapters(args.adapters)
        if any("@" in name for name in args.adapters):
            raise UsageError("doctor checks this environment's adapters: ADAPTER@ENV is for run and report")
    rows = doctor.check(args.adapters)
    if args.format == "json":
        # schema kl-compat-doctor/1: {"schema", "adapters": [{adapter, available, label, framework, title, version,
        # python, the runtime's RUNTIME_FIELDS (where it reports them), reason, hint}]} (README, "Machine-readable output")
        print(json.dumps({"schema": DOCTOR_SCHEMA, "adapters": rows}, indent=1, sort_keys=True))
    for row in rows if args.format == "text" else ():
        state = f"available, {row['label']}" if row["available"] else f"unavailable: {row['reason']}"
        print(f"{row['adapter']:>10}  {state}")
        facts = [f"{k} {row[k]}" for k in RUNTIME_FIELDS if k in row and k != "libtorch"]  # (libtorch: in the label)
        if row["available"] and facts:
            print(f"{'':>10}  {', '.join(facts)}")
        if not row["available"] and row.get("hint"):
            print(f"{'':>10}  fix: {row['hint']}")
    missing = [row["adapter"] for row in rows if not row["available"]]
    if args.adapters is not None and missing:
        print(f"kl-compat doctor: error: unavailable: {', '.join(missing)}", file=sys.stderr)
        return ExitCode.NOT_RUN
    return ExitCode.OK


def add_parsers(sub) -> None:
    """`run` and `doctor`, and their arguments."""
    r = sub.add_parser("run", help="run the conformance matrix through adapters and write a results file")
    r.add_argument("--adapters", type=adapter_names, default=list(DEFAULT_ADAPTERS),
                   help=adapters_help(",".join(DEFAULT_ADAPTERS)))
    r.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help=f"results file (default {DEFAULT_RESULTS})")
    r.add_argument("--cases", action="append", metavar="GLOB", help="only cases whose id matches (repeatable)")
    r.add_argument("--shard", type=shard, help="run the deterministic slice i/n")
    r.add_argument("--timeout", type=float, default=60.0, help=TIMEOUT_HELP)
    r.add_argument("--known", type=Path, action="append", default=None, metavar="FILE",
                   help="known-differences file (default: the package's); repeatable, the files' entries combined "
                        "in order (e.g. the package's, then your own)")
    r.add_argument("--strict", action="store_true", help="also fail on stale or fixed known-difference entries")
    r.add_argument("--tolerance", choices=("default", "strict"), default="default",
                   help="the values' bound: default (8 eps times the terms' sizes, times log2(n) for a sum), or "
                        "strict (a backward-stable evaluation's: 2 eps per term plus eps/2 log2(n) for a pairwise "
                        "sum and an ULP of the result; kl_compat/tolerance.py)")
    r.add_argument("--workers", type=positive, default=1,
                   help="worker processes per adapter (default 1; at most 2 per CPU and one per ~300 MB of "
                        "available memory)")
    r.add_argument("--allow-unavailable", action="store_true",
                   help="an adapter that cannot run (a framework not installed here) is not an error (exit 3); "
                        "nothing run at all still is (exit 4)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--format", choices=("text", "json"), default="text",
                   help=f"the summary on standard output: text, or one JSON object (schema {RUN_SUMMARY_SCHEMA})")
    r.add_argument("--junit", type=Path, default=None, metavar="FILE",
                   help="also write JUnit XML: a testcase per record; a failure for a new difference, skipped for "
                        "unsupported or unavailable")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("doctor", help="list each adapter: available or not, version, and why not")
    d.add_argument("--adapters", type=adapter_names, default=None, help=adapters_help("every registered adapter"))
    d.add_argument("--format", choices=("text", "json"), default="text",
                   help=f"text, or one JSON object (schema {DOCTOR_SCHEMA})")
    d.set_defaults(func=cmd_doctor)
