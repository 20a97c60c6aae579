"""One conformance run: goldens -> adapters (in workers) -> compare -> known differences -> results file."""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import math
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, compare, golden, known, results, runner
from .errors import KlCompatError
from .exitcode import ExitCode
from .record import UNAVAILABLE, AdapterLine, Difference, EndLine, Observed, Record, RunLine

# Exit statuses of `kl-compat run` (and, where they apply, report, merge, diff, doctor): kl_compat.exitcode's,
# by this module's names (each command's --help: kl_compat.cli.helptext).
OK, NEW_DIFFERENCES, USAGE, NOT_RUN, NOTHING_CHECKED, INTERRUPTED = (
    ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE_ERROR, ExitCode.NOT_RUN, ExitCode.NOTHING_CHECKED, ExitCode.INTERRUPTED)
# Bounds on what a run may be asked for.
MAX_TIMEOUT = 86400.0  # seconds per case (a day); beyond it select() overflows, and nothing needs it
WORKER_MEMORY = 300 * 2**20  # bytes a worker takes, about (a framework imported, the goldens' inputs loaded)


class RunError(KlCompatError):
    """A run that cannot start: nothing selected, an unknown adapter, unreadable inputs."""


class NothingToCheck(RunError):
    """The selection is empty: nothing would be checked (exit status 4, not a usage error)."""

    exit_status = NOTHING_CHECKED


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
    new: list[tuple[str, str, str, Difference]] = field(default_factory=list)  # (adapter, surface, case, d): new
    known_problems: list = field(default_factory=list)
    unavailable: dict = field(default_factory=dict)  # adapter -> reason
    records: int = 0
    seconds: dict = field(default_factory=dict)  # adapter -> seconds from its workers' start to its last record
    checked: int = 0  # records that observed something (any status but unavailable)
    skipped: dict = field(default_factory=dict)  # adapter -> records not observed (unavailable)
    partial: list = field(default_factory=list)  # why the results are incomplete (merge --allow-partial)
    recovered: Path | None = None  # a killed run's stream of the same file, moved aside (results.Writer)
    judged: list[Record] = field(default_factory=list)  # every record, without its observation: for known.problems

    def add(self, record: Record) -> None:
        by_status = self.counts.setdefault(record.adapter, {}).setdefault(record.surface, {})
        by_status[record.status] = by_status.get(record.status, 0) + 1
        self.records += 1
        self.judged.append(dataclasses.replace(record, observed=None))
        if record.status != UNAVAILABLE:
            self.checked += 1
            self.new.extend((record.adapter, record.surface, record.case, d) for d in record.new)
        else:
            self.skipped[record.adapter] = self.skipped.get(record.adapter, 0) + 1

    def failed(self, strict: bool) -> bool:
        return bool(self.new) or (strict and bool(self.known_problems))

    def not_run(self) -> dict:
        """Adapters that did not run, or not on every case (a worker that could not be restarted): label ->
        why."""
        out = dict(self.unavailable)
        for label, n in self.skipped.items():
            out.setdefault(label, f"{n} record(s) not observed: its worker could not be restarted")
        return out

    def exit_status(self, strict: bool, allow_unavailable: bool = False) -> int:
        """3 when an adapter asked for did not run (unless allowed), else 4 when nothing at all was checked,
        else 1 for a new difference (under `strict` also a stale or fixed entry), else 0."""
        if self.not_run() and not allow_unavailable:
            return NOT_RUN
        if not self.checked:
            return NOTHING_CHECKED
        return NEW_DIFFERENCES if self.failed(strict) else OK


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
        known_path: Path | list[Path] | None = None, golden_dir: Path | None = None, strict: bool = False,
        progress: bool = False, argv=None, workers: int = 1, tolerance: str = "default") -> RunSummary:
    """Run `adapters` over the selected cases, streaming one record per case x surface to `out`.

    `tolerance` is the values' bound (kl_compat.tolerance.MODES); the run line says so when not the default.
    `workers` > 1 runs each adapter in that many worker processes at once, on interleaved slices;
    their observations are then judged and written in the matrix's order, as a single worker would.
    `out` is replaced only when the run ends normally (results.Writer): a run that fails or is
    interrupted leaves it as it was, and its records in results.partial_path(out).
    Raises RunError (a KlCompatError) before anything runs for what cannot run: an unknown adapter,
    a timeout or worker count out of bounds, an unreadable known-differences file; NothingToCheck when
    no case is selected.
    """
    check_adapters([s.name for s in adapters], once=False)  # (paddle and paddle@ENV share a name)
    labels = [s.label or s.name for s in adapters]
    if len(set(labels)) < len(labels):
        raise RunError(f"adapter {next(x for x in labels if labels.count(x) > 1)!r} is named twice")
    check_timeout(timeout)
    check_workers(workers)
    entries = load_known(known_path)
    golden_dir = Path(golden_dir or golden.default_dir())
    manifest = golden.verify_checksums(golden_dir)
    all_cases = golden.load(golden_dir)
    goldens = runner.Goldens.of(golden_dir, manifest, all_cases)  # workers load these inputs themselves
    cases = select_cases(all_cases, patterns, shard)
    if not cases:
        raise NothingToCheck(f"no case matches {patterns!r}" + (f" in shard {shard[0]}/{shard[1]}" if shard else "")
                             + ": nothing to check")
    summary = RunSummary(Path(out))
    with results.Writer(out) as w:
        summary.recovered = w.recovered
        w.write(RunLine(results.SCHEMA, __version__, _now(), list(argv or sys.argv), platform.python_version(),
                        np.__version__, platform.platform(), golden.manifest_digest(manifest), len(all_cases),
                        len(cases), list(shard) if shard else None, patterns,
                        extra={} if tolerance == "default" else {"tolerance": tolerance}))
        ran: dict[str, set] = {}
        names: dict[str, str] = {}
        for spec_ in adapters:
            sessions = [runner.AdapterSession(spec_.name, timeout=timeout, python=spec_.python, goldens=goldens)
                        for _ in range(max(1, workers))]
            try:
                available, version = _run_adapter(spec_, sessions, cases, entries, w, summary, progress, tolerance)
                names[spec_.label or spec_.name] = spec_.name
                if available:
                    ran.setdefault(spec_.name, set()).add(version)
            finally:
                for s in sessions:
                    s.close()
        summary.known_problems = [str(p) for p in known.problems(entries, summary.judged, names=names, ran=ran)] \
            if not patterns and not shard else []
        w.write(end_line(summary, strict, entries))
    return summary


def _run_adapter(spec_: AdapterSpec, sessions, cases, entries, w, summary: RunSummary,
                 progress: bool, tolerance: str = "default") -> tuple[bool, str | None]:
    """Start one adapter's workers, write its adapter line, then judge and write each observation as it
    comes. Returns whether it is available, and its version."""
    label = spec_.label or spec_.name
    by_id = {c.id: c for c in cases}
    for s in sessions:
        s.launch()  # all import in parallel, while this process prepares the judging
    compare.prepare(cases)
    available = all([s.start() for s in sessions])
    state = sessions[0].state
    w.write(adapter_line(spec_, label, state))
    if not available:
        summary.unavailable[label] = state.reason
    bar = _progress(progress, label, len(cases) * len(sessions[0].surfaces), state)
    version = state.info.get("version")

    def on_observation(obs):
        record = judge_record(by_id[obs.case_id], obs, spec_.name, label, version, entries, tolerance)
        w.write(record)
        summary.add(record)
        if bar is not None:
            bar.update(1)

    started = time.perf_counter()  # after the workers' imports and warm-up
    _observe(sessions, cases, on_observation)
    summary.seconds[label] = time.perf_counter() - started
    if bar is not None:
        bar.close()
    return available, version


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

    # Daemons: when the caller is interrupted (Ctrl-C lands in the main thread), its sessions close and
    # these end with them; the interpreter need not wait for them.
    threads = [threading.Thread(target=work, args=(s, cases[i::len(sessions)]), daemon=True)
               for i, s in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    if cursor < len(order):
        raise RuntimeError(f"no observation of {order[cursor][0]} on {order[cursor][1]} came back from the workers")


def adapter_line(spec_: AdapterSpec, label: str, state) -> AdapterLine:
    info = state.info
    line = AdapterLine(label, state.available, spec_.name, spec_.environment)
    if state.available:
        for k in AdapterLine._AVAILABLE:
            setattr(line, k, info.get(k))
        line.runtime = {k: info[k] for k in results.RUNTIME_FIELDS if k in info}
    else:
        line.reason, line.hint = state.reason, state.hint
    return line


def judge_record(case, obs, name: str, label: str, version: str | None, entries,
                 tolerance: str = "default") -> Record:
    """The results-file record of one observation, each difference carrying the id of the entry that
    explains it, or None."""
    verdict = compare.judge(case, obs, tolerance)
    record = Record(case.id, label, obs.surface, verdict.status, verdict.differences, case.group, version,
                    verdict.max_ulp, verdict.convention, Observed.of(obs), verdict.max_cond, verdict.grad_max_ulp)
    # Known differences are matched on the adapter's name (and its version), not the label: an entry
    # for "paddle" covers paddle@paddle-2.6.2 too unless its `versions` say otherwise.
    return known.explained(entries, record, name=name) if record.differences else record


def known_reasons(entries, records) -> dict[str, str]:
    """The end line's `known`: the id and reason of each entry the records name, so that a results file
    explains its own ids."""
    named = {d.known for r in records for d in r.differences if d.known is not None}
    return {e.id: e.reason for e in entries if e.id in named}


def end_line(summary: "RunSummary", strict: bool, entries=()) -> EndLine:
    return EndLine(_now(), summary.counts, summary.known_problems, strict, summary.unavailable,
                   known_reasons(entries, summary.judged))


def _progress(enabled: bool, label: str, total: int, state):
    """A bar counting observations (a case on one surface); an adapter that will not run is announced
    with its reason instead, and gets no bar."""
    from .progress import Progress

    shown = Progress(enabled)
    if not state.available:
        shown.not_run(label, state.reason)
        return None
    return shown.bar(label, total, unit="observations") if enabled else None


# ---- what a run may be asked for ------------------------------------------------------------------------

def check_adapters(names, *, once: bool = True) -> None:
    """Every name a registered adapter or 'package.module:Class' (ADAPTER@ENV: its ADAPTER), and with
    `once` none twice: else RunError, before anything runs (an unknown name is a usage error, not an
    unavailable framework)."""
    from .adapters import REGISTRY

    seen = set()
    for text in names:
        name = text.split("@", 1)[0]
        if name not in REGISTRY and ":" not in name:
            raise RunError(f"unknown adapter {name!r}: known adapters are {', '.join(REGISTRY)}; "
                           "or give 'package.module:Class'")
        if once and text in seen:
            raise RunError(f"adapter {text!r} is named twice")
        seen.add(text)


def check_timeout(seconds) -> float:
    """A per-case timeout: a positive, finite number of seconds, at most MAX_TIMEOUT."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise RunError(f"timeout {seconds!r}: not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise RunError(f"timeout {seconds!r}: must be a positive, finite number of seconds")
    if value > MAX_TIMEOUT:
        raise RunError(f"timeout {seconds!r}: at most {MAX_TIMEOUT:.0f} s (a day) per case")
    return value


def max_workers() -> tuple[int, str]:
    """How many workers per adapter this machine may run, and why that many: two per CPU, and no more
    than the available memory holds at WORKER_MEMORY each (Linux: /proc/meminfo's MemAvailable)."""
    cpus = os.cpu_count() or 1
    limit, why = 2 * cpus, f"2 per CPU, {cpus} CPU(s)"
    available = _mem_available()
    if available is not None:
        by_memory = max(1, available // WORKER_MEMORY)
        if by_memory < limit:
            limit, why = by_memory, (f"{available / 2**30:.1f} GiB of memory available, "
                                     f"~{WORKER_MEMORY // 2**20} MB per worker")
    return limit, why


def _mem_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_workers(n) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RunError(f"workers {n!r}: need a whole number >= 1")
    limit, why = max_workers()
    if n > limit:
        raise RunError(f"workers {n}: at most {limit} on this machine ({why})")
    return n


def load_known(paths: Path | list[Path] | None = None):
    """known.load (one file or several), before any worker starts: a bad entry fails at once, naming
    itself, rather than mid-run."""
    return known.load(paths)
