"""The `kl-compat` command (argparse: the standard library's CLI toolkit; the core stays NumPy-only)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .errors import KlCompatError

DEFAULT_ADAPTERS = ("torch", "paddle", "rtorch")
# The committed report: the current frameworks, and Paddle 2.6.2 from its environment beside Paddle 3.
REPORT_ADAPTERS = ("torch", "paddle", "paddle@paddle-2.6.2", "rtorch")
DEFAULT_RESULTS = Path("results/latest.jsonl")
TIMEOUT_HELP = ("seconds one observation (a case on one surface) may take before its worker is killed, batched or "
                "not (default 60); an adapter observing a batch in one call (R torch) has it times the batch's "
                "length")


class CLIError(KlCompatError):
    """A problem with what the user asked for; printed without a traceback, exit status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: a command ends as an interrupted one (exit 143), and a run
    keeps its partial results as on Ctrl-C."""


# Exit statuses, per subcommand (each one's --help epilog; merge's is merge.EXIT_STATUS_HELP). The README's
# "Exit codes" section is the summary.
_INTERRUPTED = "  130  interrupted (Ctrl-C; 143 on SIGTERM)"
EXIT_STATUS_HELP = {
    "run": f"""\
exit status:
  0    every difference found is explained by the known-differences file
  1    a new difference (with --strict also: a stale or fixed known-differences entry)
  2    usage or input error: a bad option (--timeout must be positive and finite; --workers at most
       2 per CPU and one per ~300 MB of available memory), an unknown adapter name, an unreadable or
       malformed --known file, an --out that cannot be written or that another run is writing
  3    an adapter asked for did not run: unavailable, or its worker failed to start or could not be
       restarted (not with --allow-unavailable, for when a missing framework is expected)
  4    nothing at all was checked: no case selected, or every adapter unavailable (under
       --allow-unavailable; without it that is 3)
{_INTERRUPTED}
--out is replaced only when the run ends normally: a run that fails or is interrupted leaves it as it
was and its records in <stem>.partial<suffix> (results/latest.partial.jsonl: read by `report
--allow-partial`, flagged as partial). A worker may take max(--timeout, 120 s) to start (import its
framework) before its adapter counts as unavailable.
""",
    "report": f"""\
exit status:
  0    the report is written; every difference is explained by the known-differences file
  1    the report is written, and a record shows a new difference
  2    usage or input error: a bad option, an unknown adapter name, an unreadable or malformed
       results, --known or --claims file (an explicit --claims must exist), an --out or --guides that
       is not a directory or that another report is writing; a partial input (a run that did not end
       normally) unless --allow-partial; inputs judged against different goldens (than each other,
       or than this kl_compat's) unless --allow-mismatch
  3    an adapter named with --adapters did not run (not with --allow-unavailable). Adapters of the
       default list that cannot run are skipped, each named with its reason, and do not fail the report
  4    nothing at all was checked (no record of the inputs observed anything)
{_INTERRUPTED}
""",
    "diff": f"""\
exit status:
  0    nothing broke
  1    something broke (with --ignore-known: something NEW's known-differences entries do not explain)
  2    usage or input error: an unreadable or malformed input; a partial input (a run that did not end
       normally) unless --allow-partial; inputs judged against other goldens, matrix sizes or
       selections of cases unless --allow-mismatch
  4    nothing was compared: NEW holds no records that could be compared
{_INTERRUPTED}
""",
    "golden": f"""\
exit status:
  0    the goldens match the spec (--check), or were written
  1    (--check) the stored goldens drift from the spec
  2    missing or corrupt goldens, a --dir that cannot be written, or another process writing it
{_INTERRUPTED}
""",
    "doctor": f"""\
exit status:
  0    every adapter listed (with the default list: available or not)
  2    an unknown adapter name
  3    an adapter named with --adapters is unavailable
{_INTERRUPTED}
""",
    "guide": f"""\
exit status:
  0    the guide is written
  2    usage or input error: an unknown framework, an unreadable or malformed input, an --out that
       cannot be written
{_INTERRUPTED}
""",
    "env": f"""\
exit status:
  0    done
  2    an unknown environment, or one that could not be created (pip's error shown)
{_INTERRUPTED}
""",
    "fuzz": f"""\
exit status:
  0    no difference the known-differences file does not explain
  1    a new difference, shrunk to a minimal case and printed with its reproducer
  2    usage or input error
  3    an adapter asked for did not run (the others were fuzzed; no adapter at all: nothing was)
{_INTERRUPTED}
""",
}


# What each subcommand does (its --help's description) and how it is used (the epilog's examples, before
# the exit statuses). Written wrapped: the help formatter keeps them as they are.
DESCRIPTIONS = {
    "golden": """\
Regenerate the goldens (the spec's outputs and gradients for every case of the matrix, byte-identical
on every run), or --check their checksums and that they still match the spec. The goldens of an
installed kl_compat are part of the package: they are regenerated only in a source checkout, or into
--dir.""",
    "run": """\
Run the conformance matrix (or the cases --cases selects) through each adapter, each in its own worker
process; judge every observation against the goldens and the known-differences file; write one record
per case and surface to a results file (JSON Lines); print a summary (--format json: one JSON object,
schema kl-compat-run-summary/1) and, with --junit, a JUnit XML file for CI systems.""",
    "doctor": """\
Start each adapter's worker as a run would and list it: available, with its framework's version, or
why not and how to fix it (--format json: schema kl-compat-doctor/1).""",
    "report": """\
Write the conformance report (report.md, report.html, report.json, report.png) and the porting guide of
every pair of frameworks, from results files; with none given, run the matrix first: on --adapters, or
on the default list, whose adapters that cannot run here are skipped, each named with its reason.
The report goes to --out, the guides to OUT/guides (--guides for another folder); without --out, to
conformance/report/ and conformance/guides/ under the current folder.""",
    "diff": """\
Compare two results files or JSON reports record by record: what is fixed, broken, changed, new and
removed.""",
    "guide": """\
Print the porting guide from one framework to another: signatures, the argument mapping, and every
behavioural difference measured between the two, with the smallest input that shows it and the portable
way to write it. Reads the measurements shipped with kl_compat, unless given a report.json, a
measurements file (.json.gz) or results files. Needs the [cli] extra (jinja2).""",
    "merge": """\
Combine the results files of shards (kl-compat run --shard i/n) into one, identical apart from timing
fields to an unsharded run's.""",
    "env": """\
Create or list the virtual environments that other framework versions run in (named in the package's
environments.toml, or ad hoc as ADAPTER==VERSION), under .kl-compat-cache/envs/ in the current folder
($KL_COMPAT_CACHE for another). A run names one as ADAPTER@ENV.""",
    "fuzz": """\
Differential fuzzing: generate inputs with hypothesis (0-d and empty shapes, every dtype and mixed pairs,
edge values, reductions, log_target), run every adapter and the spec on them, and shrink a difference
the known-differences file does not explain to the smallest case, printed with its reproducer. Needs
the [fuzz] extra (hypothesis).""",
}
EXAMPLES = {
    "golden": """\
examples:
  kl-compat golden --check
  kl-compat golden --dir /tmp/goldens
""",
    "run": """\
examples:
  kl-compat run --adapters torch --cases 'core/proper/2d/*'
  kl-compat run --adapters paddle,paddle@paddle-2.6.2 --strict
  kl-compat run --quiet --format json --junit junit.xml
""",
    "doctor": """\
examples:
  kl-compat doctor
  kl-compat doctor --adapters torch,rtorch --format json
""",
    "report": """\
examples:
  kl-compat report
  kl-compat report --adapters torch,paddle --out my-report
  kl-compat report shard-1.jsonl shard-2.jsonl --out my-report --no-screenshot
""",
    "diff": """\
examples:
  kl-compat diff old.jsonl results/latest.jsonl
  kl-compat diff old/report.json new/report.json --format markdown --ignore-known
""",
    "guide": """\
examples:
  kl-compat guide --from torch --to paddle
  kl-compat guide my-report/report.json --from paddle --to rtorch --out guide.md
""",
    "merge": """\
examples:
  kl-compat merge shard-*.jsonl --out results.jsonl --strict
""",
    "env": """\
examples:
  kl-compat env list
  kl-compat env create paddle-2.6.2
  kl-compat env create paddle==2.5.2
""",
    "fuzz": """\
examples:
  kl-compat fuzz --adapters torch,paddle --max-examples 200 --seed 1
""",
}
# The machine-readable summaries (--format json), one JSON object on standard output. Fields may be added
# within a version; one removed, renamed or changing meaning makes it /2. README: "Machine-readable output".
RUN_SUMMARY_SCHEMA = "kl-compat-run-summary/1"
DOCTOR_SCHEMA = "kl-compat-doctor/1"


def _adapter_names_help(default: str) -> str:
    """--adapters' help: the registered names (the registry imports no framework, nor NumPy)."""
    from .adapters import REGISTRY

    return (f"comma-separated adapter names (default {default}); one of: {', '.join(REGISTRY)}; "
            "ADAPTER@ENV runs ADAPTER in a named environment (kl-compat env); or package.module:Class")


def _needs(module: str, extra: str, what: str) -> None:
    """A missing optional dependency as one line naming the extra that brings it (exit 2), not a traceback."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise CLIError(f"{what} needs {module}, which is not installed: pip install 'kl-compat[{extra}]'") from None


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
    from . import golden, results

    if args.dir is not None and args.dir.exists() and not args.dir.is_dir():
        raise CLIError(f"--dir {args.dir}: is a file, not a directory")
    if args.check:
        golden.verify_checksums(args.dir)
        drifted = golden.drift(args.dir)
        if drifted:
            print(f"goldens drift from the spec: {', '.join(drifted)} (regenerate with `kl-compat golden`)")
            return 1
        print("goldens match the spec")
        return 0
    if args.dir is None:
        from .checkout import source_checkout

        if source_checkout() is None:
            raise CLIError(f"the goldens of an installed kl_compat ({golden.default_dir()}) belong to the package and are "
                           "not regenerated: give --dir DIR to write them elsewhere, or run from a source checkout")
    directory = Path(args.dir or golden.default_dir())
    if not directory.is_dir():
        try:
            directory.mkdir(parents=True)
        except OSError as e:
            raise CLIError(f"--dir {directory}: cannot create it: {e.strerror or e}") from None
    lock = results.OutputLock(directory / golden.MANIFEST)  # each file is written atomically; the set under a lock
    try:
        manifest = golden.write(directory)
    finally:
        lock.release()
    print(f"wrote {manifest['cases']} cases ({manifest['samples']} samples) to {directory}")
    return 0


def cmd_run(args) -> int:
    from . import environments, run

    run.check_adapters(args.adapters)  # an unknown name is a usage error, before anything runs
    run.check_timeout(args.timeout)
    run.check_workers(args.workers)
    if args.junit is not None and args.junit.is_dir():
        raise CLIError(f"--junit {args.junit}: is a directory; JUnit XML is one file (e.g. {args.junit / 'junit.xml'})")
    specs = [environments.adapter_spec(name) for name in args.adapters]
    summary = run.run(specs, args.out, patterns=args.cases, shard=args.shard, timeout=args.timeout,
                      known_path=args.known, strict=args.strict, progress=not args.quiet, argv=sys.argv,
                      workers=args.workers)
    status = summary.exit_status(args.strict, args.allow_unavailable)
    if args.format == "json":
        print(json.dumps(run_summary_json(summary, status), indent=1, sort_keys=True))
    else:
        _print_summary(summary, args.strict)
    if args.junit is not None:
        from . import junit, results

        junit.write(results.read(args.out), args.junit)
        if args.format != "json":
            print(f"junit: {args.junit}")
    if summary.recovered:
        print(f"kl-compat run: note: a run writing {args.out} was killed earlier; its partial results are in "
              f"{summary.recovered}", file=sys.stderr)
    not_run = summary.not_run()
    if status == run.NOT_RUN:
        label, why = next(iter(not_run.items()))
        more = f" (and {len(not_run) - 1} more adapter(s))" if len(not_run) > 1 else ""
        print(f"kl-compat run: error: {label} did not run: {why}{more}; --allow-unavailable if that is expected",
              file=sys.stderr)
    elif status == run.NOTHING_CHECKED:
        print("kl-compat run: error: nothing was checked: every adapter was unavailable", file=sys.stderr)
    elif not_run:
        print(f"kl-compat run: warning: not run (allowed): {', '.join(not_run)}", file=sys.stderr)
    return status


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
    from . import doctor, run

    if args.adapters is not None:
        run.check_adapters(args.adapters)
        if any("@" in name for name in args.adapters):
            raise CLIError("doctor checks this environment's adapters: ADAPTER@ENV is for run and report")
    rows = doctor.check(args.adapters)
    if args.format == "json":
        # schema kl-compat-doctor/1: {"schema", "adapters": [{adapter, available, label, framework, version,
        # python, r, libtorch (where the runtime reports them), reason, hint}]} (README, "Machine-readable output")
        print(json.dumps({"schema": DOCTOR_SCHEMA, "adapters": rows}, indent=1, sort_keys=True))
    for row in rows if args.format == "text" else ():
        state = f"available, {row['label']}" if row["available"] else f"unavailable: {row['reason']}"
        print(f"{row['adapter']:>10}  {state}")
        if not row["available"] and row.get("hint"):
            print(f"{'':>10}  fix: {row['hint']}")
    missing = [row["adapter"] for row in rows if not row["available"]]
    if args.adapters is not None and missing:
        print(f"kl-compat doctor: error: unavailable: {', '.join(missing)}", file=sys.stderr)
        return 3
    return 0


def cmd_report(args) -> int:
    from . import environments, results, run
    from .report import command

    run.check_timeout(args.timeout)
    _needs("jinja2", "cli", "the report (its HTML page and reproducers)")
    for flag, path in (("--known", args.known), ("--claims", args.claims)):
        if path is not None and not path.is_file():
            raise CLIError(f"{flag} {path}: " + ("is a directory, not a file" if path.is_dir() else "no such file"))
    for flag, path in (("--out", args.out), ("--guides", args.guides)):
        if path is not None and path.exists() and not path.is_dir():
            raise CLIError(f"{flag} {path}: is a file; the report goes to a directory")
    if args.claims is not None:
        from . import claims

        claims.load(args.claims)  # a malformed claims file fails here, before any run, in one line
    explicit = args.adapters is not None
    if args.results:
        if explicit:
            raise CLIError("--adapters is for the run; with results files given, nothing runs")
        run.load_known(args.known)  # a bad entry fails here, naming itself
        inputs = [results.read(p) for p in args.results]  # a malformed file fails here, in one line
        _refuse_or_warn(inputs, args)
        with _outputs_locked(*_report_dirs(args)):
            rc = command(args)
    else:
        names = list(args.adapters) if explicit else list(REPORT_ADAPTERS)
        run.check_adapters(names)
        if not explicit:  # the default list: what cannot run here is skipped and said, not a failure
            keep = []
            for name in names:
                if "@" in name:  # an environment not made yet is skipped (named: created if missing)
                    try:
                        environments.adapter_spec(name)
                    except environments.EnvError as e:
                        print(f"kl-compat report: skipped {name}: {e}", file=sys.stderr)
                        continue
                keep.append(name)
            names = keep
        args.adapters = names
        with _outputs_locked(*_report_dirs(args)):  # held from the run on: a second report fails at once
            rc = command(args)
        inputs = [results.read(args.run_out)]
        not_run = {a["adapter"]: a.get("reason") for a in inputs[0].adapters if not a["available"]}
        if not_run and explicit and not args.allow_unavailable:
            label, why = next(iter(not_run.items()))
            print(f"kl-compat report: error: {label} did not run: {why}; --allow-unavailable if that is expected",
                  file=sys.stderr)
            return run.NOT_RUN
        for label, why in not_run.items():
            if not explicit:
                print(f"kl-compat report: skipped {label}: {why}", file=sys.stderr)
    if not any(r["status"] != "unavailable" for res in inputs for r in res.records):
        print("kl-compat report: error: nothing was checked: no record observed anything", file=sys.stderr)
        return run.NOTHING_CHECKED
    return rc


def _report_dirs(args) -> list[Path]:
    """The folders a report writes and locks: --out (default conformance/report), and --guides when given
    (by default the guides go inside --out, or beside the default report)."""
    from .report import DEFAULT_OUT

    return [Path(args.out or DEFAULT_OUT)] + ([Path(args.guides)] if args.guides else [])


@contextlib.contextmanager
def _outputs_locked(*dirs: Path, file: Path | None = None):
    """Locks for a command's outputs, held while it runs: `DIR/.kl-compat.lock` for each folder of outputs
    (created if missing, and removed again if the command fails leaving it empty), `FILE.lock` for one
    file. Another kl-compat process writing them makes this one fail at once: OutputLocked, exit 2."""
    from .results import OutputLock

    locks, created = [], []
    try:
        for d in dict.fromkeys(Path(d).absolute() for d in dirs):
            if not d.exists():
                d.mkdir(parents=True)
                created.append(d)
            locks.append(OutputLock(d, lock_path=d / ".kl-compat.lock"))
        if file is not None:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            locks.append(OutputLock(file))
        yield
    finally:
        for lock in reversed(locks):
            lock.release()
        for d in reversed(created):
            try:
                d.rmdir()  # only when empty: nothing was written
            except OSError:
                pass


def _refuse_or_warn(inputs, args) -> None:
    """As diff and merge do: a partial input, or inputs judged against other goldens, are an error (exit 2)
    unless --allow-partial / --allow-mismatch; allowed, each is said on stderr (and in the report's notes)."""
    from .report import model

    from .results import refuse_or_warn

    partial, mismatched = model.input_problems(inputs)
    refuse_or_warn("kl-compat report", "report on it", partial, mismatched, args.allow_partial, args.allow_mismatch,
                   CLIError)


def cmd_diff(args) -> int:
    from .diff import command

    return command(args)


def cmd_guide(args) -> int:
    from .guide import command

    if args.out is not None and args.out.is_dir():
        raise CLIError(f"--out {args.out}: is a directory; the guide is one file (e.g. {args.out / 'guide.md'})")
    _needs("jinja2", "cli", "the guide (its reproducers)")
    with _outputs_locked(file=args.out):  # FILE.lock: two guides into one file, the second fails at once
        return command(args)


def cmd_scan(args) -> int:
    from .scan import command

    return command(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kl-compat", description=__doc__.split("(")[0].strip())
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("golden", help="regenerate the goldens from the spec (byte-identical), or --check them")
    g.add_argument("--check", action="store_true", help="verify checksums and that the goldens match the spec")
    g.add_argument("--dir", type=Path, default=None, help="goldens directory (default: the package's)")
    g.set_defaults(func=cmd_golden)

    r = sub.add_parser("run", help="run the conformance matrix through adapters and write a results file")
    r.add_argument("--adapters", type=_adapters, default=list(DEFAULT_ADAPTERS),
                   help=_adapter_names_help(",".join(DEFAULT_ADAPTERS)))
    r.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help=f"results file (default {DEFAULT_RESULTS})")
    r.add_argument("--cases", action="append", metavar="GLOB", help="only cases whose id matches (repeatable)")
    r.add_argument("--shard", type=_shard, help="run the deterministic slice i/n")
    r.add_argument("--timeout", type=float, default=60.0, help=TIMEOUT_HELP)
    r.add_argument("--known", type=Path, default=None, help="known-differences file (default: the package's)")
    r.add_argument("--strict", action="store_true", help="also fail on stale or fixed known-difference entries")
    r.add_argument("--workers", type=_positive, default=1,
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
    d.add_argument("--adapters", type=_adapters, default=None, help=_adapter_names_help("every registered adapter"))
    d.add_argument("--format", choices=("text", "json"), default="text",
                   help=f"text, or one JSON object (schema {DOCTOR_SCHEMA})")
    d.set_defaults(func=cmd_doctor)

    rp = sub.add_parser("report", help="Markdown, HTML and JSON reports (and porting guides) from results files; "
                                       "with none given, run the matrix first")
    rp.add_argument("results", nargs="*", type=Path, help="results files (.jsonl); none: run the matrix")
    rp.add_argument("--out", type=Path, default=None,
                    help="report directory (default conformance/report under the current folder)")
    rp.add_argument("--guides", type=Path, default=None,
                    help="porting guides directory (default OUT/guides with --out or results files given, else "
                         "conformance/guides under the current folder)")
    rp.add_argument("--adapters", type=_adapters, default=None,
                    help=_adapter_names_help(f"{','.join(REPORT_ADAPTERS)}: those that cannot run here, an environment "
                                             "not created yet included, are skipped, and said")
                    + "; ADAPTER@ENV named here is created if missing")
    rp.add_argument("--allow-unavailable", action="store_true",
                    help="an adapter named with --adapters that cannot run is not an error (exit 3)")
    rp.add_argument("--allow-partial", action="store_true",
                    help="report on a partial input (a run that did not end normally) anyway: said on stderr, "
                         "and the report says so")
    rp.add_argument("--allow-mismatch", action="store_true",
                    help="report on inputs judged against different goldens (than each other, or than this "
                         "kl_compat's) anyway: said on stderr, and the report says so")
    rp.add_argument("--run-out", type=Path, default=DEFAULT_RESULTS, help=f"the run's results (default {DEFAULT_RESULTS})")
    rp.add_argument("--timeout", type=float, default=60.0, help=TIMEOUT_HELP)
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
                                     "on another framework, from measured results",
                        description="Finds every kl_div / KLDivLoss / nnf_kl_div / nn_kl_div_loss call (imports and "
                                    "aliases followed; R through R's own parser), reads its literal arguments, and "
                                    "lists the measured differences between --from and --to on the matrix cases "
                                    "that make the same call, with the reason and the fix. Works on converted code "
                                    "too (e.g. PaConvert's output: scan it --from torch --to paddle).",
                        epilog="examples:\n  kl-compat scan src/ --from torch --to paddle\n"
                               "  kl-compat scan model.R --from rtorch --to torch --format json\n\n"
                               "exit status: 0 no call site has a silent difference; 1 one has (both frameworks "
                               "return a value, and it differs); 2 usage or input error",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sc.add_argument("paths", nargs="+", type=Path, help="files or folders (*.py, *.R)")
    sc.add_argument("--from", dest="src", required=True, help="the framework the code was written for: torch, paddle or rtorch")
    sc.add_argument("--to", dest="dst", required=True, help="the framework it will run on: torch, paddle or rtorch")
    sc.add_argument("--report", type=Path, default=None,
                    help="the measurements: a report.json made by `kl-compat report` (default: the committed one)")
    sc.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    sc.add_argument("--out", type=Path, default=None, help="write here (default: standard output)")
    sc.set_defaults(func=cmd_scan)

    from .cli_deferred import add_deferred
    from .environments import add_parser as add_env_parser

    # merge and fuzz import NumPy: their arguments are added only when used (`--help` stays NumPy-free)
    add_deferred(sub, "merge", "merge shard results files into one, as an unsharded run writes it", "kl_compat.merge")
    add_env_parser(sub)
    add_deferred(sub, "fuzz", "differential fuzzing: generated inputs through every adapter and the spec; "
                              "new differences shrunk to a minimal case", "kl_compat.fuzz")
    # Each subcommand's description, then its examples and exit statuses (merge's epilog is made by
    # merge.add_parser from EXAMPLES and merge.EXIT_STATUS_HELP; scan's is written above)
    for name, parser in sub.choices.items():
        parser.description = parser.description or DESCRIPTIONS[name]
        if parser.epilog is None and name != "merge":
            parser.epilog = EXAMPLES[name] + (f"\n{EXIT_STATUS_HELP[name]}" if name in EXIT_STATUS_HELP else "")
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
            return 143 if isinstance(e, Terminated) else 130
        except OSError as e:  # a full disk, a path that is a directory, no permission: the system's words
            where = f"{e.filename}: " if e.filename else ""
            _error(prog, f"{where}{e.strerror or e}", getattr(e, "kl_compat_partial", None))
            return 2


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


if __name__ == "__main__":
    sys.exit(main())
