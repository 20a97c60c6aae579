"""`kl-compat report`: check what was asked for, run the matrix (unless given results files), write the
report and the porting guides, each output folder locked while it is written."""

from __future__ import annotations

import sys
from pathlib import Path

from ..adapters.names import adapter_names, adapters_help
from ..errors import UsageError
from ..exitcode import ExitCode
from .helptext import TIMEOUT_HELP
from .outputs import needs, outputs_locked
from .run import DEFAULT_RESULTS


def report_adapters() -> tuple[str, ...]:
    """The report's default list: every framework's own adapter (adapters.frameworks(), found through the
    entry points), each followed by its environments in conformance/environments.toml (ADAPTER@ENV), so a
    framework or a version added there is reported without editing a list here."""
    from .. import environments
    from ..adapters import frameworks

    envs = environments.load()
    names: list[str] = []
    for name in frameworks():
        names.append(name)
        names += [f"{name}@{env.name}" for env in envs.values() if env.adapter == name]
    return tuple(names)


def cmd_report(args) -> int:
    """Inputs are checked before anything runs or is written; then the report is made from the results
    files given, or from a run of the matrix on --adapters (or the default list)."""
    from .. import results

    _check_options(args)
    if args.results:
        inputs = _read_inputs(args)
        with outputs_locked(*_report_dirs(args)):
            rc = _write_report(args)
    else:
        explicit = args.adapters is not None
        args.adapters = _adapters_to_run(args.adapters)
        with outputs_locked(*_report_dirs(args)):  # held from the run on: a second report fails at once
            rc = _write_report(args)
        inputs = [results.read(args.run_out)]
        status = _check_run(inputs[0], explicit, args.allow_unavailable)
        if status is not None:
            return status
    if not any(r.ran for res in inputs for r in res.records):
        print("kl-compat report: error: nothing was checked: no record observed anything", file=sys.stderr)
        return ExitCode.NOTHING_CHECKED
    return rc


def _check_options(args) -> None:
    """Options and files named by options: a bad one fails in one line (exit 2) before anything runs."""
    from .. import run

    run.check_timeout(args.timeout)
    needs("jinja2", "cli", "the report (its HTML page and reproducers)")
    for flag, path in [*(("--known", p) for p in args.known or ()), ("--claims", args.claims)]:
        if path is not None and not path.is_file():
            raise UsageError(f"{flag} {path}: " + ("is a directory, not a file" if path.is_dir() else "no such file"))
    for flag, path in (("--out", args.out), ("--guides", args.guides)):
        if path is not None and path.exists() and not path.is_dir():
            raise UsageError(f"{flag} {path}: is a file; the report goes to a directory")
    if args.claims is not None:
        from .. import claims

        claims.load(args.claims)  # a malformed claims file fails here, before any run, in one line
    if args.results and args.adapters is not None:
        raise UsageError("--adapters is for the run; with results files given, nothing runs")
    if args.porting_results is not None:
        if not args.results:
            raise UsageError("--porting-results is for a report of results files; a run makes its own")
        if not args.porting_results.is_file():
            raise UsageError(f"--porting-results {args.porting_results}: no such file")


def _read_inputs(args) -> list:
    """The results files given, and the known-differences file, read before anything is written."""
    from .. import results, run

    run.load_known(args.known)  # a bad entry fails here, naming itself
    inputs = [results.read(p) for p in args.results]  # a malformed file fails here, in one line
    _refuse_or_warn(inputs, args)
    return inputs


def _adapters_to_run(asked: list[str] | None) -> list[str]:
    """--adapters as given; else the default list without what cannot run here (skipped and said)."""
    from .. import environments, run

    names = list(asked) if asked is not None else list(report_adapters())
    run.check_adapters(names)
    if asked is not None:
        return names
    keep = []
    for name in names:
        if "@" in name:  # an environment not made yet is skipped (named: created if missing)
            try:
                environments.adapter_spec(name)
            except environments.EnvError as e:
                print(f"kl-compat report: skipped {name}: {e}", file=sys.stderr)
                continue
        keep.append(name)
    return keep


def _check_run(results, explicit: bool, allow_unavailable: bool) -> int | None:
    """After the run: an adapter named with --adapters that did not run is exit 3 (unless allowed); one of
    the default list is skipped, and said."""
    not_run = {a.adapter: a.reason for a in results.adapters if not a.available}
    if not_run and explicit and not allow_unavailable:
        label, why = next(iter(not_run.items()))
        print(f"kl-compat report: error: {label} did not run: {why}; --allow-unavailable if that is expected",
              file=sys.stderr)
        return ExitCode.NOT_RUN
    for label, why in not_run.items():
        if not explicit:
            print(f"kl-compat report: skipped {label}: {why}", file=sys.stderr)
    return None


def _write_report(args) -> int:
    """Run the matrix unless given results files, then build the model and write the report, the guides and
    (for the checkout's own report) the shipped measurements; a summary on standard output."""
    from .. import environments, guide, run
    from ..progress import Progress
    from ..report import DEFAULT_GUIDES, DEFAULT_OUT, write_files
    from ..report.assemble import build, render_all

    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    progress = Progress(enabled=not args.quiet)
    paths = list(args.results)
    if not paths:
        # ADAPTER@ENV: another framework version, in its environment (created on first use)
        specs = [environments.adapter_spec(name, create_missing=True) for name in args.adapters]
        say(f"report: running the conformance matrix on {', '.join(args.adapters)} -> {args.run_out}")
        run.run(specs, args.run_out, timeout=args.timeout, known_path=args.known,  # it says what did not run
                progress=not args.quiet, argv=sys.argv)
        paths = [args.run_out]
    out = Path(args.out or DEFAULT_OUT)
    # the guides go with the report: into --out when one is given (or results files are), else beside it
    guides_dir = Path(args.guides) if args.guides else (out / "guides" if args.out or args.results else DEFAULT_GUIDES)
    m = build(paths, known_path=args.known, claims_path=args.claims, reproduce=not args.no_reproducers,
              timeout=args.timeout, log=say, progress=progress)
    if _is_checkouts_own_report(out):  # its guides and the shipped measurements say how the porting held
        from .. import porting_check

        # where they run to, or an earlier report's run of them (--porting-results), read instead of run
        run_out = (args.porting_results if args.results
                   else args.run_out.with_name(f"{args.run_out.stem}-porting.jsonl"))
        with progress.phase("report: porting adapters", "each guide pair's DST-as-SRC over the matrix"):
            m["porting"] = porting_check.for_report(m, run_out, timeout=args.timeout, known_path=args.known, say=say,
                                                    run_them=args.porting_results is None)
    with progress.phase("report: rendering", "report.md, report.html, report.json and the porting guides"):
        texts = render_all(m)
        guide_texts = guide.render_all(m)
        written = write_files(out, texts)
        written += write_files(guides_dir, guide_texts)
    if _is_checkouts_own_report(out):  # the shipped measurements follow the committed report
        import json

        from .. import measurements

        written.append(measurements.write(json.loads(texts["report.json"])))
    if not args.no_screenshot:
        from ..report import html

        with progress.phase("report: screenshot", "report.png in headless Chromium"):
            png, why = html.screenshot(out / "report.html", out / "report.png")
        if png:
            written.append(png)
        else:
            say(f"report: no screenshot: {why}")
    _print_summary(m)
    for p in written:
        print(f"wrote {p}")
    return ExitCode.FAILED if m["new"] else ExitCode.OK


def _is_checkouts_own_report(out: Path) -> bool:
    """Is `out` conformance/report/ of the source checkout kl_compat runs from (never true when installed)?"""
    from ..checkout import conformance_dir, source_checkout

    return source_checkout() is not None and Path(out).resolve() == conformance_dir() / "report"


def _print_summary(m: dict) -> None:
    for row in m["summary"]:
        print(f"{row['column']:>14} {row['surface']:<11} run {row['run']}, match {row['match']}, differs "
              f"{row['differs_known']} known / {row['differs_new']} new, unsupported {row['unsupported']}, "
              f"error {row['error']}, crashed {row['crashed']}, timeout {row['timeout']}")
    for c in m["columns"]:
        if not c["available"]:
            print(f"{c['id']:>14} NOT RUN: {c.get('reason') or 'unavailable'}")
    held = sum(r["status"] == "held" for c in m["claims"] for r in c["results"])
    contra = sum(r["status"] == "contradicted" for c in m["claims"] for r in c["results"])
    print(f"claims: {held} held, {contra} contradicted; findings: {len(m['findings'])}; "
          f"new differences: {m['new']} record(s)")
    for p in m["known_problems"]:
        print(f"warning: {p}")


def _report_dirs(args) -> list[Path]:
    """The folders a report writes and locks: --out (default conformance/report), and --guides when given
    (by default the guides go inside --out, or beside the default report)."""
    from ..report import DEFAULT_OUT

    return [Path(args.out or DEFAULT_OUT)] + ([Path(args.guides)] if args.guides else [])


def _refuse_or_warn(inputs, args) -> None:
    """As diff and merge do: a partial input, or inputs judged against other goldens, are an error (exit 2)
    unless --allow-partial / --allow-mismatch; allowed, each is said on stderr (and in the report's notes)."""
    from ..report import model
    from ..results import refuse_or_warn

    partial, mismatched = model.input_problems(inputs)
    refuse_or_warn("kl-compat report", "report on it", partial, mismatched, args.allow_partial, args.allow_mismatch,
                   UsageError)


def add_parsers(sub) -> None:
    """`report` and its arguments."""
    rp = sub.add_parser("report", help="Markdown, HTML and JSON reports (and porting guides) from results files; "
                                       "with none given, run the matrix first")
    rp.add_argument("results", nargs="*", type=Path, help="results files (.jsonl); none: run the matrix")
    rp.add_argument("--out", type=Path, default=None,
                    help="report directory (default conformance/report under the current folder)")
    rp.add_argument("--guides", type=Path, default=None,
                    help="porting guides directory (default OUT/guides with --out or results files given, else "
                         "conformance/guides under the current folder)")
    rp.add_argument("--adapters", type=adapter_names, default=None,
                    help=adapters_help("every framework's own adapter and its environments in "
                                      "conformance/environments.toml: those that cannot run here, an environment "
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
    rp.add_argument("--porting-results", type=Path, default=None, metavar="FILE",
                    help="with results files, writing the checkout's own report: the porting adapters' results of "
                         "an earlier report (results/latest-porting.jsonl), read instead of run")
    rp.add_argument("--timeout", type=float, default=60.0, help=TIMEOUT_HELP)
    rp.add_argument("--known", type=Path, action="append", default=None, metavar="FILE",
                    help="known-differences file (default: the package's); repeatable, the files' entries combined "
                         "in order (e.g. the package's, then your own)")
    rp.add_argument("--claims", type=Path, default=None, help="claims file (default: the package's)")
    rp.add_argument("--no-reproducers", action="store_true", help="do not minimise reproducers (no workers)")
    rp.add_argument("--no-screenshot", action="store_true", help="do not render report.png in headless Chromium")
    rp.add_argument("--quiet", action="store_true", help="no progress output")
    rp.set_defaults(func=cmd_report)
