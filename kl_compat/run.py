"""One conformance run: goldens -> adapters (in workers) -> compare -> known differences -> results file."""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import gc
import platform
import sys
import threading
import time
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
    seconds: dict = field(default_factory=dict)  # adapter -> seconds from its workers' start to its last record

    def add(self, record: dict) -> None:
        by_status = self.counts.setdefault(record["adapter"], {}).setdefault(record["surface"], {})
        by_status[record["status"]] = by_status.get(record["status"], 0) + 1
        self.records += 1
        if record["status"] != runner.UNAVAILABLE:
            self.new.extend((record["adapter"], record["surface"], record["case"], compare.Difference(**d))
                            for d in record["differences"] if d["known"] is None)

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
        progress: bool = False, argv=None, workers: int = 1) -> RunSummary:
    """Run `adapters` over the selected cases, streaming one record per case x surface to `out`.

    `workers` > 1 runs each adapter in that many worker processes at once, on interleaved slices;
    their observations are then judged and written in the matrix's order, as a single worker would.
    """
    golden_dir = Path(golden_dir or golden.default_dir())
    manifest = golden.verify_checksums(golden_dir)
    all_cases = golden.load(golden_dir)
    goldens = runner.Goldens.of(golden_dir, manifest, all_cases)  # workers load these inputs themselves
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
        ran: dict[str, set] = {}
        for spec_ in adapters:
            label = spec_.label or spec_.name
            sessions = [runner.AdapterSession(spec_.name, timeout=timeout, python=spec_.python, goldens=goldens)
                        for _ in range(max(1, workers))]
            try:
                for s in sessions:
                    s.launch()  # all import in parallel, while this process prepares the judging
                compare.prepare(cases)
                available = all([s.start() for s in sessions])
                state = sessions[0].state
                w.write(adapter_line(spec_, label, state))
                if available:
                    ran.setdefault(spec_.name, set()).add(state.info.get("version"))
                else:
                    summary.unavailable[label] = state.reason
                bar = _progress(progress, label, len(cases) * len(sessions[0].surfaces))

                def on_observation(obs, spec_=spec_, label=label, version=state.info.get("version")):
                    record = judge_record(by_id[obs.case_id], obs, spec_.name, label, version, entries)
                    w.write(record)
                    summary.add(record)
                    if bar is not None:
                        bar.update(1)

                started = time.perf_counter()  # after the workers' imports and warm-up
                with _collector_frozen():
                    _observe(sessions, cases, on_observation)
                summary.seconds[label] = time.perf_counter() - started
                if bar is not None:
                    bar.close()
            finally:
                for s in sessions:
                    s.close()
        summary.known_problems = known.problems(entries, ran) if not patterns and not shard else []
        w.write(end_line(summary, strict))
    return summary


@contextlib.contextmanager
def _collector_frozen():
    """What exists before the observing (goldens, their prepared references, known entries) outlives it:
    frozen, a full collection does not walk it (one that did took ~30 ms, longer than the work a worker
    holds queued). Left alone where the caller has frozen objects of its own: unfreezing would thaw them."""
    ours = gc.get_freeze_count() == 0
    if ours:
        gc.freeze()
    try:
        yield
    finally:
        if ours:
            gc.unfreeze()


def _observe(sessions, cases, on_observation) -> None:
    """All of `cases` through the sessions, `on_observation` called in the matrix's order. One session
    streams; several take interleaved slices, and each observation is passed on (judged and written)
    as soon as every one before it in the matrix has been, by whichever session thread completes the
    run of them, so judging overlaps observing as it does with one worker."""
    if len(sessions) == 1:
        sessions[0].run(cases, on_observation)
        return
    order = [(c.id, s) for c in cases for s in sessions[0].surfaces]
    seen: dict[tuple[str, str], object] = {}
    cursor = 0
    lock = threading.Lock()
    failures: list[BaseException] = []

    def collect(obs):
        nonlocal cursor
        with lock:
            seen[(obs.case_id, obs.surface)] = obs
            while cursor < len(order) and order[cursor] in seen:
                on_observation(seen.pop(order[cursor]))
                cursor += 1

    def work(session, part):
        try:
            session.run(part, collect)
        except BaseException as e:  # re-raised in the calling thread, where a failed run must surface
            failures.append(e)

    threads = [threading.Thread(target=work, args=(s, cases[i::len(sessions)])) for i, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    if cursor < len(order):
        raise RuntimeError(f"no observation of {order[cursor][0]} on {order[cursor][1]} came back from the workers")


def adapter_line(spec_: AdapterSpec, label: str, state) -> dict:
    info = state.info
    line = {"type": "adapter", "adapter": label, "name": spec_.name, "available": state.available,
            "environment": spec_.environment}
    if state.available:
        line.update({k: info.get(k) for k in ("framework", "version", "python", "numpy", "platform",
                                               "executable", "surfaces")})
        line.update({k: info[k] for k in results.RUNTIME_FIELDS if k in info})
    else:
        line.update(reason=state.reason, hint=state.hint)
    return line


def judge_record(case, obs, name: str, label: str, version: str | None, entries) -> dict:
    """The results-file record of one observation, its differences marked known or not."""
    verdict = compare.judge(case, obs)
    # Known differences are matched on the adapter's name (and its version), not the label: an entry
    # for "paddle" covers paddle@paddle-2.6.2 too unless its `versions` say otherwise.
    known.mark(entries, name, obs.surface, case.id, version, verdict.differences,
               measured=verdict.status != compare.UNSUPPORTED)
    return {"type": "record", "case": case.id, "group": case.group, "adapter": label, "surface": obs.surface,
            "version": version, "status": verdict.status, "differences": [vars(d) for d in verdict.differences],
            "max_ulp": verdict.max_ulp, "convention": verdict.convention,
            "observed": results.observed_summary(obs)}


def end_line(summary: "RunSummary", strict: bool) -> dict:
    return {"type": "end", "finished": _now(), "counts": summary.counts, "known_problems": summary.known_problems,
            "strict": strict, "unavailable": summary.unavailable}


def _progress(enabled: bool, label: str, total: int):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the [cli] extra is optional; without it the run is silent
        return None
    return tqdm(total=total, desc=label, unit="case", leave=True, mininterval=0.5)
