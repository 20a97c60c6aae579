"""The report's model, assembled from results files, and its three files rendered and written.

The model (model.py) merges the inputs; reproducers (kl_compat.reproducer), signatures and argument
support (kl_compat.guide.add_measurements) and claims (kl_compat.claims) are added; then every output is
rendered in memory first and only then written (write_files): an error or a kill while rendering leaves
the previous report untouched. This module sits above the porting guides and the reproducers, which
use the report's model and Markdown helpers: the report package's own __init__ imports neither.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from .. import claims as _claims
from .. import golden, guide, known, reproducer
from ..progress import Progress
from . import accuracy, errors, history, json_report, model
from . import write_files


def build(paths, *, known_path=None, claims_path=None, golden_dir=None, reproduce: bool = True,
          probe: bool = True, timeout: float = 60.0, log=None, warn=None, progress: Progress | None = None) -> dict:
    """The report's model (the JSON report) from results files. `warn` (default: a line on stderr) is told
    what a reader must know even under --quiet: an interpreter the inputs name that kl-compat does not run.
    `progress` shows each phase (reproducers, signature probes); default: nothing."""
    progress = progress or Progress(enabled=False)
    known_path = known.given(known_path)  # one file, or the list of several (--known repeated)
    claims_path = Path(claims_path or _claims.default_path())
    loaded = model.load(paths)
    entries, by_reason = model.mark_known(loaded, known_path)
    columns = [model.column_dict(c) for c in loaded.columns.values()]
    from concurrent.futures import ThreadPoolExecutor

    # Signatures are probed in each adapter's environment (a framework import each) while reproducers run.
    pool = ThreadPoolExecutor(max_workers=max(len(columns), 1))
    probes = [pool.submit(guide.add_measurements, col, loaded.records, probe=probe) for col in columns]
    info = model.run_info(loaded, known_path, claims_path, golden_dir)
    notes = _input_notes(loaded, columns, info, warn or _warn)
    found = model.findings(loaded, by_reason)
    goldens = golden.load(golden_dir)  # (what the spec expects: the reproducers' and the errors table's)
    if reproduce and found:
        goldens_by_id = {c.id: c for c in goldens}
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
        "errors": errors.table(loaded.records, columns, goldens),
        "accuracy": accuracy.summary(loaded.records, columns),
        "accuracy_by_reduction": accuracy.by_reduction(loaded.records, columns),
        "history": history.runs(paths, known_path, info["inputs"]),
        "records": model.records_dict(loaded),
    }


def _input_notes(loaded, columns: list[dict], info: dict, warn) -> list[str]:
    """The notes a reader of the inputs must see: the loader's, each interpreter the inputs name that
    kl-compat does not run (also told to `warn`), and inputs run against other goldens."""
    notes = list(loaded.notes)
    for col in columns:  # reproducers and signatures run in interpreters kl-compat knows, never in these
        exe = reproducer.untrusted_executable(col)
        if exe:
            python, why = reproducer.interpreter(col)
            note = (f"{col['id']}: the inputs name {exe} as the interpreter it ran in; not one kl-compat knows here "
                    "(this environment's, or one conformance/environments.toml configures), so it is not trusted "
                    "and never run: " + (f"its reproducers and signatures use {python}" if python else str(why)))
            notes.append(note)
            warn(note)
    other = [g for g in info["goldens_in_results"] if g != info["goldens"]]
    if other:
        notes.append("some inputs were run against other goldens than the current ones "
                     f"({', '.join(g[:12] for g in other)}); cases are judged as recorded")
    return notes


def _warn(message: str) -> None:
    print(f"kl-compat: warning: {message}", file=sys.stderr)


def render_all(m: dict) -> dict[str, str]:
    from . import html, markdown

    return {"report.md": markdown.render(m), "report.html": html.render(m), "report.json": json_report.dumps(m)}


def write(m: dict, out_dir: Path) -> list[Path]:
    return write_files(out_dir, render_all(m))
