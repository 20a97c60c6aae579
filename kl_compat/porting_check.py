"""The porting adapters held to the frameworks they port, for the report's measurements and guides.

A porting guide's drop-in line says how closely `kl_compat.kl_div(..., semantics=SRC)` on DST's tensors
(the adapter `DST-as-SRC`) was held to SRC's own records. The report's columns are the frameworks
themselves; so the checkout's own `kl-compat report` also runs the porting adapter of every guide pair
whose source framework ran (a second results file beside the run's, no reproducers, no signature probes)
and keeps only a summary in the report's `porting` field, one entry per adapter:
    {"adapter": "paddle-as-torch", "source": "torch", "source_column": "torch", "version": "...",
     "cases": 1406, "differences": 0}
`cases`: the cases both measured (by guide_sections.held_counts: status and difference kinds, surface
by surface); `differences`: those where they disagree. The guides read it (guide_sections.held_summary)
where the measurements hold no porting column of their own; the shipped measurements keep it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import guide_sections


@dataclass(frozen=True)
class Held:
    adapter: str  # the porting adapter, DST-as-SRC
    source: str  # SRC, the framework it ports
    source_column: str  # the report column it was compared with
    version: str | None  # the porting adapter's version (kl_compat's)
    cases: int
    differences: int


def to_check(m: dict) -> dict[str, str]:
    """{porting adapter: the framework it ports} for every guide pair whose source framework ran in `m`."""
    from .guide import pairs

    out: dict[str, str] = {}
    for src, dst in pairs():
        adapter = guide_sections.porting_adapter(src, dst)
        col = guide_sections.pick_column(m, src)
        if adapter is not None and col is not None and col.get("available"):
            out[adapter] = src
    return out


def summarise(m: dict, porting: dict, checked: dict[str, str]) -> list[Held]:
    """The entries for `checked` ({adapter: source}), from the porting run's model `porting` (its
    `columns` and `records`) beside the report's `m`: only adapters that ran."""
    both = {"columns": list(m["columns"]) + list(porting["columns"]),
            "records": list(m["records"]) + list(porting["records"])}
    out = []
    for adapter, source in sorted(checked.items()):
        counts = guide_sections.held_counts(both, adapter, source)
        if counts is None:
            continue
        port, ref = guide_sections.pick_column(both, adapter), guide_sections.pick_column(both, source)
        assert port is not None and ref is not None
        out.append(Held(adapter, source, ref["id"], port.get("version"), *counts))
    return out


def for_report(m: dict, out: Path | None, *, timeout: float, known_path=None,
               say: Callable[[str], None] = lambda s: None, run_them: bool = True) -> list[dict]:
    """The report's `porting` field. With `out`, the porting adapters `to_check(m)` names run over the
    whole matrix into `out` (or, with run_them=False, `out` holds an earlier run of them) and are
    summarised against `m`'s columns (an adapter that did not run is left out, and said); without, only
    porting columns `m` holds itself (a report of results files)."""
    from . import run
    from .report import model

    checked = to_check(m)
    if not checked or out is None:
        return [asdict(h) for h in summarise(m, {"columns": [], "records": []}, checked)]
    if run_them:
        say(f"report: holding the porting adapters to their frameworks: {', '.join(sorted(checked))} -> {out}")
        run.run([run.AdapterSpec(a) for a in sorted(checked)], out, timeout=timeout, known_path=known_path)
    loaded = model.load([out])
    for col in loaded.columns.values():
        if not col.available:
            say(f"report: {col.id} did not run, so its guides say it is not measured")
    porting = {"columns": [model.column_dict(c) for c in loaded.columns.values()],
               "records": model.records_dict(loaded)}
    return [asdict(h) for h in summarise(m, porting, checked)]
