"""Runs an adapter's tasks in a worker process that may crash or hang without taking the run down.

One worker per adapter; the framework import is paid once per worker. Tasks (a case, on all its
surfaces) stream to the worker, which answers a batch of them at a time, in order; before each
observation it marks which one it is making in a page both processes map (kl_compat.inflight). When
the worker dies or hangs, that observation is recorded as `crashed` (with the signal) or `timeout`, a
fresh worker starts, and the run goes on with everything else the dead worker held. Nothing already
received is lost: each observation goes to the caller's callback, in order, as soon as it arrives.

The timeout is per observation, batches or not: the runner watches the in-flight slot and restarts the
clock whenever the worker moves on to its next observation. An adapter that observes a whole batch in
one call (R torch, one crossing into R per batch) marks the batch's range instead, and has the timeout
times the batch's length (its observations are then re-sent one at a time, so the one that hangs is
found with the timeout of one).
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import golden, inflight, wire
from .adapters.base import CRASHED, TIMEOUT, UNAVAILABLE, Observation

DEFAULT_TIMEOUT = 60.0  # seconds one observation may take before its worker is killed (see _await)
# A worker's start (importing its framework, warming it up, loading the goldens' inputs) may take the
# per-task timeout, but never less than this floor: a cold import of Paddle or of R torch's libtorch
# takes seconds to tens of seconds on a loaded machine, and counts against no task. See startup_limit.
STARTUP_FLOOR = 120.0


def startup_limit(timeout: float) -> float:
    """Seconds a worker may take to start before it is killed and its adapter counted unavailable:
    max(timeout, STARTUP_FLOOR). A worker hanging in its import is bounded by --timeout, or the floor."""
    return max(timeout, STARTUP_FLOOR)


# The runner writes tasks while the worker may itself be blocked writing answers: a write must never
# block then, so what the worker has been sent and not answered stays within a pipe's buffer (64 KiB on
# Linux; this leaves room for the size estimate's error). A task larger than this goes alone.
_PIPE_ROOM = 48 * 1024
# The pipe of answers, widened (_widen) so that a worker answering large cases does not wait for the
# runner to judge the batch before.
_ANSWER_PIPE_BYTES = 1 << 20
# While a worker is busy the runner wakes this often (at most) to see, in the in-flight slot, whether it
# has moved on to its next observation: the per-observation timeout restarts then (_await).
_POLL = 0.25


@dataclass(frozen=True)
class Goldens:
    """Golden cases a worker loads itself (`--goldens`), so that a task names such a case by its id and
    its arrays never cross the pipe. `cases` are the caller's objects: a task goes by id only for the
    very object loaded from `directory`, never for another case that happens to share its id."""

    directory: Path
    digest: str  # golden.manifest_digest: the worker's hello must name the same files
    cases: dict  # id -> GoldenCase

    @classmethod
    def of(cls, directory: Path, manifest: dict, cases) -> "Goldens":
        return cls(Path(directory), golden.manifest_digest(manifest), {c.id: c for c in cases})


@dataclass(eq=False)
class Task:
    """One case to observe on one or more surfaces. The inputs travel once per case (or not at all,
    for a golden case the worker holds); the worker answers with one observation per surface, in
    order, a batch of tasks at a time."""

    seq: int
    case: golden.GoldenCase
    surfaces: tuple[str, ...]
    # Already decided (a crash or timeout pinned on it): passed on in its turn, never sent.
    verdict: Observation | None = None

    def message(self, by_id: bool) -> wire.Task:
        """The task as sent: by its golden case's id, or with the case's operands."""
        c = self.case
        operands = None if by_id else wire.Operands(c.input, c.target, c.call, c.input_dtype, c.target_dtype)
        return wire.Task(self.seq, c.id, self.surfaces, operands)

    def size(self, by_id: bool) -> int:
        """About the bytes it takes on the wire (_PIPE_ROOM's margin covers the difference)."""
        c = self.case
        return 64 + len(c.id) + (0 if by_id else np.asarray(c.input).nbytes + np.asarray(c.target).nbytes)

    def part(self, surfaces) -> "Task":
        """The same case (and seq) on some of its surfaces: what is left of a task after a death."""
        return Task(self.seq, self.case, tuple(surfaces))


@dataclass
class AdapterRun:
    """What the runner learned about an adapter besides its observations."""

    adapter: str
    available: bool = False
    info: dict = field(default_factory=dict)  # the worker's hello: version, python, numpy, ...
    reason: str | None = None  # why unavailable
    hint: str | None = None
    restarts: int = 0


def worker_env(env: dict | None = None) -> dict:
    """The worker's environment: one intra-op thread unless the caller says otherwise. The matrix's
    tensors are tiny, and a framework's spinning thread pool would compete with the runner (which judges
    while the worker computes) for the same cores; scale out with more workers instead (--workers)."""
    env = dict(os.environ if env is None else env)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")
    return env


class Worker:
    def __init__(self, adapter: str, python: str, env: dict | None = None, goldens: Goldens | None = None):
        self.stderr = tempfile.TemporaryFile()
        self.inflight = inflight.Slot.create()
        argv = [python, "-m", "kl_compat.worker", adapter, "--inflight-fd", str(self.inflight.fd)]
        if goldens is not None:
            argv += ["--goldens", str(goldens.directory)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=worker_env(env), pass_fds=(self.inflight.fd,))
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are pipes (PIPE above)
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.reader = wire.Reader(self.stdout.fileno())
        _widen(self.stdout.fileno())
        self.goldens = goldens
        self.held: dict = {}  # the golden cases this worker's hello confirmed it loaded
        self.made = 0  # observations received from this worker: the count its in-flight slot uses

    def holds(self, case) -> bool:
        return self.held.get(case.id) is case

    def greeted(self, hello: wire.Hello) -> None:
        if self.goldens is not None and hello.goldens == self.goldens.digest:
            self.held = self.goldens.cases

    def send(self, payload: bytes):
        wire.write(self.stdin.fileno(), payload)

    def receive(self, deadline: float):
        """The next frame, or None when the deadline passes first. Raises EOFError/WireError on death."""
        if not self.reader.has_frame():
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.stdout], [], [], max(remaining, 0))
            if not ready:
                return None
        return self.reader.read()

    def death(self) -> str:
        """Kill if needed, and describe how the worker ended (signal or exit code, and stderr's tail)."""
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
        self.stderr.seek(0)
        tail = self.stderr.read()[-800:].decode("utf-8", "replace").strip()
        return how + (f"; stderr: ...{tail}" if tail else "")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)  # end of input: a healthy worker exits by itself
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.stderr.close()
        self.inflight.close()


def _widen(fd: int) -> None:
    """Give the pipe of answers room for many (Linux: up to pipe-max-size, 1 MiB by default). With the
    default 64 KiB, a worker answering large cases blocked in its write until the runner had judged the
    batch before: time the worker, the run's critical path, spent waiting."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _ANSWER_PIPE_BYTES)
    except (ImportError, AttributeError, OSError):  # not Linux, or a lower limit: the default will do
        pass


class AdapterSession:
    """One adapter's worker, kept alive across calls (fuzzing sends a few tasks at a time), restarted
    when it dies. `run_adapter` is one session used once."""

    def __init__(self, adapter: str, *, timeout: float = DEFAULT_TIMEOUT, python: str | None = None,
                 env: dict | None = None, goldens: Goldens | None = None):
        self.adapter, self.timeout, self.python, self.env = adapter, timeout, python or sys.executable, env
        self.goldens = goldens
        self.state = AdapterRun(adapter)
        self.worker: Worker | None = None
        self._launched: Worker | None = None
        self._seq = 0
        self._closed = False  # closed by its owner (e.g. an interrupted run): never restarts a worker

    def launch(self) -> None:
        """Start the worker process without waiting for it to import its framework (`start` waits):
        the caller can use those seconds."""
        if self.worker is None and self._launched is None and self.state.reason is None:
            self._launched = Worker(self.adapter, self.python, self.env, self.goldens)

    def start(self) -> bool:
        """Start the worker if none runs; False (with state.reason) when the adapter is unavailable."""
        if self.worker is not None:
            return True
        if self.state.reason is not None:
            return False
        if self._closed:
            self.state.reason = "the run was stopped"
            return False
        self.launch()
        worker, self._launched = self._launched, None
        if worker is None:  # (launch() makes one whenever start() gets here)
            raise RuntimeError(f"{self.adapter}: no worker was launched")
        limit = startup_limit(self.timeout)
        try:
            hello = worker.receive(time.monotonic() + limit)
        except (EOFError, wire.WireError):
            hello = wire.Unavailable(self.adapter, f"worker died while starting: {worker.death()}")
        if hello is None:
            worker.kill()
            hello = wire.Unavailable(self.adapter, f"worker did not start within {limit:g} s "
                                                   f"(the start-up limit: max(--timeout, {STARTUP_FLOOR:g} s))")
        if not isinstance(hello, wire.Hello):
            worker.close()
            if not isinstance(hello, wire.Unavailable):
                hello = wire.Unavailable(self.adapter, f"worker began with a {hello.TYPE} message, not a hello")
            self.state.reason, self.state.hint = hello.reason, hello.hint
            return False
        worker.greeted(hello)
        self.state.available, self.state.info, self.worker = True, hello.info(), worker
        return True

    @property
    def surfaces(self) -> tuple[str, ...]:
        return tuple(self.state.info.get("surfaces") or _declared_surfaces(self.adapter))

    def run(self, cases, on_observation, surfaces=None) -> None:
        """Observe `cases` x `surfaces` (default: all the adapter's), calling `on_observation` in order."""
        cases = list(cases)
        if not self.start():
            for case in cases:
                for surface in surfaces or self.surfaces:
                    on_observation(Observation(case.id, self.adapter, surface, UNAVAILABLE, detail=self.state.reason))
            return
        surfaces = tuple(surfaces or self.surfaces)
        tasks = [Task(seq, case, surfaces) for seq, case in enumerate(cases, self._seq)]
        self._seq += len(tasks)
        pending, singles = deque(tasks), set[int]()
        while self.worker is not None:  # (start() succeeded: there is one)
            done = _drain(self.worker, pending, on_observation, self.adapter, self.timeout,
                          self.state.info.get("batch_size", 1), singles, self.state.info.get("adapter"))
            if done:
                return
            self.worker.close()
            self.worker = None
            self.state.restarts += 1
            if not self.start():  # it started before, so this is a death on restart: say so per task
                for task in pending:
                    if task.verdict is not None:
                        on_observation(task.verdict)
                        continue
                    for surface in task.surfaces:
                        on_observation(Observation(task.case.id, self.adapter, surface, UNAVAILABLE,
                                                   detail=self.state.reason))
                return

    def close(self):
        self._closed = True
        for w in (self.worker, self._launched):
            if w is not None:
                w.close()
        self.worker = self._launched = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_adapter(adapter: str, cases, on_observation, *, surfaces=None, timeout: float = DEFAULT_TIMEOUT,
                python: str | None = None, env: dict | None = None, on_hello=None,
                goldens: Goldens | None = None) -> AdapterRun:
    """Observe every case on every surface of `adapter`, calling `on_observation(obs)` for each, in order.

    `python` is the interpreter of the environment the worker runs in (default: this one); `goldens`,
    the golden cases the worker may load itself (see Goldens).
    """
    with AdapterSession(adapter, timeout=timeout, python=python, env=env, goldens=goldens) as session:
        if session.start() and on_hello:
            on_hello(session.state.info)
        session.run(cases, on_observation, surfaces)
        return session.state


def _declared_surfaces(adapter: str) -> tuple[str, ...]:
    """The surfaces an adapter class declares (importing its module imports no framework)."""
    from .adapters import adapter_class

    try:
        return tuple(adapter_class(adapter).surfaces) or ("functional",)
    except Exception:  # an adapter that cannot even be named: one row per case says so
        return ("functional",)


class _Feed:
    """The tasks one worker has been sent and not fully answered, in order, and the clock of the first."""

    def __init__(self, worker: Worker, pending: deque, singles: set[int]):
        self.worker, self.pending, self.singles = worker, pending, singles
        self.inflight: deque[tuple[Task, int]] = deque()  # (task, its size as counted against _PIPE_ROOM)
        self.bytes = 0
        self.answered = 0  # observations already received for the first task in flight
        self.since = time.monotonic()  # when the first task in flight became first

    def _may_send(self, task: Task, size: int) -> bool:
        if not self.inflight:
            return True
        if task.seq in self.singles or self.inflight[-1][0].seq in self.singles:  # a suspect travels alone
            return False
        return self.bytes + size <= _PIPE_ROOM

    def send(self) -> tuple[list[Observation], bool]:
        """Send what may go now, in one frame. Returns the decided verdicts whose turn has come (nothing
        in flight before them), and False if the pipe broke (the worker died: the next receive says so)."""
        ready: list[Observation] = []
        out: list[wire.Task] = []
        while self.pending:
            task = self.pending[0]
            if task.verdict is not None:
                if self.inflight:
                    break  # its turn comes when everything before it is answered
                ready.append(self.pending.popleft().verdict)
                continue
            by_id = self.worker.holds(task.case)
            size = task.size(by_id)
            if not self._may_send(task, size):
                break
            self.pending.popleft()
            if not self.inflight:
                self.since = time.monotonic()  # the clock of a task starts when it is first in line
            self.inflight.append((task, size))
            self.bytes += size
            out.append(task.message(by_id))
        try:
            if out:
                self.worker.send(wire.encode(wire.Tasks(out)))
        except OSError:  # (BrokenPipeError among them)
            return ready, False
        return ready, True

    def receive(self, message, name: str) -> list[Observation]:
        """The observations of an Answers message, checked against what is in flight, in order."""
        if not isinstance(message, wire.Answers):
            raise RuntimeError(f"worker sent a {message.TYPE} message where answers were expected")
        out = []
        for seq, obs in zip(message.seqs, message.observations):  # a batch, in the order asked
            if not self.inflight:
                raise RuntimeError(f"worker answered task {seq}, which it was not given")
            task = self.inflight[0][0]
            if seq != task.seq or obs.surface != task.surfaces[self.answered]:
                raise RuntimeError(f"worker answered task {seq} ({obs.surface}) where task "
                                   f"{task.seq} ({task.surfaces[self.answered]}) was expected")
            obs.case_id, obs.adapter = task.case.id, name
            out.append(obs)
            self.worker.made += 1
            self.answered += 1
            if self.answered == len(task.surfaces):
                self.bytes -= self.inflight.popleft()[1]
                self.answered = 0
        self.since = time.monotonic()
        return out

    def blame(self, died: bool, limit: float, adapter: str, batch_size: int) -> None:
        """After a death (`died`) or a hang past `limit`: put everything unanswered back in `pending`, the
        observation the in-flight slot names as a decided verdict (crashed, or timeout), or, where it names
        several, those re-sent one case and surface at a time (`singles`), so that the next death names
        its case and surface exactly."""
        unanswered = [(t, s) for i, (t, _) in enumerate(self.inflight)
                      for s in (t.surfaces[self.answered:] if i == 0 else t.surfaces)]
        lo, hi = _suspects(self.worker, len(unanswered), batch_size, [t for t, _ in self.inflight], self.answered)
        before, suspects, after = unanswered[:lo], unanswered[lo:hi], unanswered[hi:]
        if not died or len(suspects) != 1:
            self.worker.kill()
        if not suspects:  # it died holding nothing (a broken pipe before the first task): start afresh
            parts = []
        elif len(suspects) > 1:
            parts = [t.part((s,)) for t, s in suspects]
            self.singles.update(t.seq for t in parts)
        else:
            (lost, surface), = suspects
            if died:
                status, detail = CRASHED, self.worker.death()
            else:
                status, detail = TIMEOUT, f"no answer within {limit:g} s; worker killed"
            blamed = Observation(lost.case.id, adapter, surface, status, detail=detail)
            parts = [Task(lost.seq, lost.case, (surface,), verdict=blamed)]
        self.pending.extendleft(reversed(_regroup(before) + parts + _regroup(after)))


def _drain(worker: Worker, pending: deque, on_observation, adapter: str, timeout: float, batch_size: int,
           singles: set[int], name: str | None = None) -> bool:
    """Feed `pending` through one worker. True when all are done; False when it died (pending updated).

    A worker answers in order, a batch of at most `batch_size` tasks at a time. When it dies or hangs,
    its in-flight slot names the observation it was making (`_suspects`): that one is blamed, and the
    others it held go again to the next worker (`_Feed.blame`).
    """
    feed = _Feed(worker, pending, singles)
    while pending or feed.inflight:
        ready, alive = feed.send()
        for obs in ready:
            on_observation(obs)
        if alive and not feed.inflight:
            continue
        try:
            message, limit = _await(worker, timeout, feed.since)
        except (EOFError, wire.WireError):
            feed.blame(True, timeout, adapter, batch_size)
            return False
        if message is None:
            feed.blame(False, limit, adapter, batch_size)
            return False
        observations = feed.receive(message, name or adapter)
        # Sent before the caller judges these: the worker goes on meanwhile rather than wait for it.
        ready, _ = feed.send()
        for obs in observations + ready:
            on_observation(obs)
    return True


def _await(worker: Worker, timeout: float, since: float) -> tuple[object | None, float]:
    """The worker's next message, or None when the observation it is making has run past its limit; and
    that limit. The limit is per observation, not per batch: `timeout` for an observation the in-flight
    slot names alone, restarting whenever the slot moves on to the next one, so a batch of many quick
    observations never times out while one slow observation still does. An adapter that observes a
    batch in one go (R torch: one crossing into R) marks the batch's whole range, n observations: its
    limit is n x `timeout`. `since` is when the clock started (the last answer, or the first task sent).
    Raises EOFError/WireError when the worker dies."""
    mark, started = worker.inflight.read(), since
    poll = min(_POLL, timeout / 4)
    while True:
        limit = timeout * _span(mark, worker.made)
        deadline = started + limit
        msg = worker.receive(min(deadline, time.monotonic() + poll))
        if msg is not None:
            return msg, limit
        now = time.monotonic()
        current = worker.inflight.read()
        if current != mark:  # the next observation began (at most one poll ago): its own limit
            mark, started = current, now
        elif now >= deadline:
            return None, limit


def _span(mark: tuple[int, int], made: int) -> int:
    """How many observations the worker may be making, by its slot: 1 for one it names alone, n for a
    batch of n it observes in one go, 1 when the slot names nothing unanswered (between batches)."""
    first, last = mark
    return last - first + 1 if 0 <= made <= first <= last else 1


def _suspects(worker: Worker, unanswered: int, batch_size: int, inflight: list, answered: int) -> tuple[int, int]:
    """[lo, hi): which of a dead worker's unanswered observations (in order) it may have been making.

    Its in-flight slot says which, counted over all it ever made: the observation itself, or the batch
    that an adapter observing in one go was given. A slot naming nothing unanswered (it died between
    batches, or before marking anything) falls back to what it could hold: its first `batch_size`
    unanswered tasks, since it reads no task before answering the batch it has.
    """
    first, last = worker.inflight.read()
    lo, hi = max(first - worker.made, 0), last - worker.made + 1
    if first >= 0 and lo < hi <= unanswered:
        return lo, hi
    held = inflight[:batch_size]
    return 0, sum(len(t.surfaces) for t in held) - answered


def _regroup(pairs: list) -> list[Task]:
    """Unanswered (task, surface) pairs back into tasks to send again, each task's surfaces together."""
    return [t.part(tuple(s for _, s in group)) for t, group in itertools.groupby(pairs, key=lambda p: p[0])]
