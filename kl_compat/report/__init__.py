"""`kl-compat report`: conformance reports in Markdown, HTML and JSON, from one or more results files.

    kl-compat report                      run the matrix on the registered adapters (results/latest.jsonl),
                                          then write conformance/report/ and conformance/guides/, both
                                          under the current folder (and, when that is the source
                                          checkout's own report, its shipped measurements: measurements.py)
    kl-compat report A.jsonl B.jsonl --out DIR    only read the given results files; guides go to DIR/guides
    kl-compat report --out DIR            run, then write DIR and DIR/guides (nothing outside DIR but the run's
                                          results file, --run-out)

The model (model.py) merges the inputs; reproducers (kl_compat.reproducer) and claims (kl_compat.claims)
are added; then every output is rendered in memory first and only then written, each to a temporary file
beside its target, and renamed into place once all are on disk: an error or a kill while rendering leaves
the previous report untouched, and no file is ever half-written.

Exit status: 1 when a record shows a difference the known-differences file does not explain (a new
difference), 2 for unusable inputs, else 0.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .. import claims as _claims
from .. import golden, known
from ..progress import Progress
from . import accuracy, history, json_report, model

DEFAULT_OUT = Path("conformance/report")
DEFAULT_GUIDES = Path("conformance/guides")
DEFAULT_RESULTS = Path("results/latest.jsonl")
DEFAULT_ADAPTERS = ("torch", "paddle", "rtorch")
FILES = ("report.md", "report.html", "report.json")


def build(paths, *, known_path=None, claims_path=None, golden_dir=None, reproduce: bool = True,
          probe: bool = True, timeout: float = 60.0, log=None, warn=None, progress: Progress | None = None) -> dict:
    """The report's model (the JSON report) from results files. `warn` (default: a line on stderr) is told
    what a reader must know even under --quiet: an interpreter the inputs name that kl-compat does not run.
    `progress` shows each phase (reproducers, signature probes); default: nothing."""
    progress = progress or Progress(enabled=False)
    known_path = Path(known_path or known.default_path())
    claims_path = Path(claims_path or _claims.default_path())
    loaded = model.load(paths)
    entries, by_reason = model.mark_known(loaded, known_path)
    columns = [model.column_dict(c) for c in loaded.columns.values()]
    from concurrent.futures import ThreadPoolExecutor

    from .. import guide

    # Signatures are probed in each adapter's environment (a framework import each) while reproducers run.
    pool = ThreadPoolExecutor(max_workers=max(len(columns), 1))
    probes = [pool.submit(guide.add_measurements, col, loaded.records, probe=probe) for col in columns]
    info = model.run_info(loaded, known_path, claims_path, golden_dir)
    notes = list(loaded.notes)
    from .. import reproducer

    for col in columns:  # reproducers and signatures run in interpreters kl-compat knows, never in these
        exe = reproducer.untrusted_executable(col)
        if exe:
            python, why = reproducer.interpreter(col)
            note = (f"{col['id']}: the inputs name {exe} as the interpreter it ran in; not one kl-compat knows here "
                    "(this environment's, or one conformance/environments.toml configures), so it is not trusted "
                    "and never run: " + (f"its reproducers and signatures use {python}" if python else str(why)))
            notes.append(note)
            (warn or _warn)(note)
    other = [g for g in info["goldens_in_results"] if g != info["goldens"]]
    if other:
        notes.append("some inputs were run against other goldens than the current ones "
                     f"({', '.join(g[:12] for g in other)}); cases are judged as recorded")
    found = model.findings(loaded, by_reason)
    if reproduce and found:
        from .. import reproducer

        goldens_by_id = {c.id: c for c in golden.load(golden_dir)}
        detail = f"{len(found)} finding(s), minimised through {len(columns)} framework column(s)"
        with progress.phase("report: reproducers", detail) as phase:
            reproducer.reproduce(found, {c["id"]: c for c in columns}, goldens_by_id, timeout=timeout,
                                 log=phase.note if progress.enabled else log)
    with progress.phase("report: signature probes", f"{len(probes)} framework column(s)"):
        for p in probes:
            p.result()
    pool.shutdown()
    return {
        "schema": json_report.SCHEMA,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "run_info": info,
        "columns": columns,
        "summary": model.summary(loaded),
        "matrix": model.matrix(loaded),
        "findings": found,
        "claims": _claims.evaluate(_claims.load(claims_path), columns, loaded.records),
        "known_problems": model.known_problems(loaded, entries),
        "notes": notes,
        "new": sum(1 for r in loaded.records.values() if model.is_new(r)),
        "accuracy": accuracy.summary(loaded.records, columns),
        "history": history.runs(paths, known_path, info["inputs"]),
        "records": model.records_dict(loaded),
    }


def _warn(message: str) -> None:
    print(f"kl-compat: warning: {message}", file=sys.stderr)


def render_all(m: dict) -> dict[str, str]:
    from . import html, markdown

    return {"report.md": markdown.render(m), "report.html": html.render(m), "report.json": json_report.dumps(m)}


def write_files(out_dir: Path, texts: dict[str, str]) -> list[Path]:
    """Write several files so that each is whole, and none is replaced until all are written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in texts:  # temporary files left by a writer that was killed
        for old in out_dir.glob(f".{name}.*.tmp"):
            old.unlink(missing_ok=True)
    staged = []
    try:
        for name, text in texts.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
            staged.append((tmp, out_dir / name))
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    return [target for _, target in staged]


def write(m: dict, out_dir: Path) -> list[Path]:
    return write_files(out_dir, render_all(m))


# ---- the command --------------------------------------------------------------------------------------

def command(args) -> int:
    """`kl-compat report` (argparse namespace from kl_compat.cli)."""
    from .. import environments, guide, run

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
        from . import html

        with progress.phase("report: screenshot", "report.png in headless Chromium"):
            png, why = html.screenshot(out / "report.html", out / "report.png")
        if png:
            written.append(png)
        else:
            say(f"report: no screenshot: {why}")
    _print_summary(m)
    for p in written:
        print(f"wrote {p}")
    return 1 if m["new"] else 0


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


def chromium() -> str | None:
    """The headless browser used for screenshots and the browser test (Debian's `chromium`)."""
    return os.environ.get("KL_COMPAT_CHROMIUM") or shutil.which("chromium") or (
        "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
