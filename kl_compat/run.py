"""One conformance run: goldens -> adapters (in workers) -> compare -> known differences -> results file."""

from __future__ import annotations

import datetime
import fnmatch
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, compare, golden, known, results, runner


class RunError(Exception):
    """A run that cannot start: nothing selected, an unknown adapter, unreadable inputs."""


@dataclass
class AdapterSpec:
    """An adapter to run, and where: `python` is another environment's interpreter, or None for this one."""

    name: str
    python: str | None = None
    environment: str | None = None
    label: str | None = None  # the column name in reports, e.g. "paddle@2.6.2"


@dataclass
class RunSummary:
    path: Path
    counts: dict = field(default_factory=dict)
    new: list = field(default_factory=list)  # (adapter, surface, case, Difference) not explained
    known_problems: list = field(default_factory=list)
    unavailable: dict = field(default_factory=dict)  # adapter -> reason
    records: int = 0

    def failed(self, strict: bool) -> bool:
        return bool(self.new) or (strict and bool(self.known_problems))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def select_cases(cases, patterns=None, shard: tuple[int, int] | None = None):
    """Filter by case-id globs, then take a deterministic shard i/n (1-based) of what is left."""
    if patterns:
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    if shard:
        i, n = shard
        cases = [c for k, c in enumerate(cases) if k % n == i - 1]
    return cases


def run(adapters: list[AdapterSpec], out: Path, *, patterns=None, shard=None, timeout=runner.DEFAULT_TIMEOUT,
        known_path: Path | None = None, golden_dir: Path | None = None, strict: bool = False,
        progress: bool = False, argv=None) -> RunSummary:
    manifest = golden.verify_checksums(golden_dir or golden.default_dir())
    all_cases = golden.load(golden_dir)
    cases = select_cases(all_cases, patterns, shard)
    if not cases:
        raise RunError(f"no case matches {patterns!r}" + (f" in shard {shard[0]}/{shard[1]}" if shard else ""))
    by_id = {c.id: c for c in cases}
    entries = known.load(known_path)
    summary = RunSummary(Path(out))
    with results.Writer(out) as w:
        w.write({"type": "run", "schema": results.SCHEMA, "kl_compat": __version__, "started": _now(),
                 "argv": list(argv or sys.argv), "python": platform.python_version(), "numpy": np.__version__,
                 "platform": platform.platform(), "goldens": golden.manifest_digest(manifest),
                 "cases": len(all_cases), "selected": len(cases),
                 "shard": list(shard) if shard else None, "patterns": patterns})
        ran = set()
        for spec_ in adapters:
            label = spec_.label or spec_.name
            bar = _progress(progress, label, len(cases))
            version = {"v": None}

            def on_hello(hello, label=label, spec_=spec_):
                version["v"] = hello.get("version")
                if bar is not None:
                    bar.reset(total=len(cases) * len(hello.get("surfaces") or [1]))
                w.write({"type": "adapter", "adapter": label, "name": spec_.name, "available": True,
                         "framework": hello.get("framework"), "version": hello.get("version"),
                         "python": hello.get("python"), "numpy": hello.get("numpy"),
                         "platform": hello.get("platform"), "executable": hello.get("executable"),
                         "environment": spec_.environment, "surfaces": hello.get("surfaces")})

            def on_observation(obs, label=label):
                case = by_id[obs.case_id]
                verdict = compare.judge(case, obs)
                known.mark(entries, label, obs.surface, case.id, version["v"], verdict.differences)
                w.write({"type": "record", "case": case.id, "group": case.group, "adapter": label,
                         "surface": obs.surface, "version": version["v"], "status": verdict.status,
                         "differences": [vars(d) for d in verdict.differences], "max_ulp": verdict.max_ulp,
                         "convention": verdict.convention, "observed": results.observed_summary(obs)})
                by_status = summary.counts.setdefault(label, {}).setdefault(obs.surface, {})
                by_status[verdict.status] = by_status.get(verdict.status, 0) + 1
                summary.records += 1
                summary.new.extend((label, obs.surface, case.id, d) for d in verdict.differences if d.known is None
                                   and verdict.status != runner.UNAVAILABLE)
                if bar is not None:
                    bar.update(1)

            state = runner.run_adapter(spec_.name, cases, on_observation, timeout=timeout,
                                       python=spec_.python, on_hello=on_hello)
            if bar is not None:
                bar.close()
            if state.available:
                ran.add(label)
            else:
                summary.unavailable[label] = state.reason
                w.write({"type": "adapter", "adapter": label, "name": spec_.name, "available": False,
                         "reason": state.reason, "hint": state.hint, "environment": spec_.environment})
        summary.known_problems = known.problems(entries, ran) if not patterns and not shard else []
        w.write({"type": "end", "finished": _now(), "counts": summary.counts,
                 "known_problems": summary.known_problems, "strict": strict, "unavailable": summary.unavailable})
    return summary


def _progress(enabled: bool, label: str, total: int):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the [cli] extra is optional; without it the run is silent
        return None
    return tqdm(total=total, desc=label, unit="case", leave=True, mininterval=0.5)
