"""A worker process: loads one adapter, then observes the tasks it is sent, a batch at a time.

Run as `python -m kl_compat.worker ADAPTER [--goldens DIR] [--inflight-fd FD]`, where ADAPTER is a
registry name or "module:Class". With --goldens it loads that directory's inputs at start, beside the
framework import, and its hello names them by digest: the runner then sends golden cases by id, many
to a frame, and their arrays never cross the pipe (decoding them cost the worker more than some
kernels). With --inflight-fd it marks, in the runner's kl_compat.inflight slot, which observation it
is making, so that a crash or a hang is pinned on that observation.
It imports nothing but its adapter's framework (the R worker must never load PyTorch). Its real stdout
carries the protocol; fd 1 is pointed at stderr so that a framework printing to stdout cannot corrupt it.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import select
import sys
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from kl_compat import inflight, wire

if TYPE_CHECKING:
    from kl_compat.adapters.base import Adapter


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kl_compat.worker")
    parser.add_argument("adapter", help='a registry name or "module:Class"')
    parser.add_argument("--goldens", metavar="DIR", help="load this golden directory's inputs at start")
    parser.add_argument("--inflight-fd", metavar="FD", type=int,
                        help="a file descriptor of the runner's in-flight slot (kl_compat.inflight)")
    args = parser.parse_args(argv)
    proto = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    hello, adapter, held = _start(args.adapter, args.goldens)
    wire.write(proto, wire.encode(hello))
    if adapter is None:
        return 0
    slot = inflight.Slot(args.inflight_fd) if args.inflight_fd is not None else None
    made = 0  # observations made so far: the count the slot's ranges use
    reader = wire.Reader(0)
    queued: deque = deque()  # tasks read and not yet observed (a frame may hold many)
    while True:
        try:
            if not queued:
                queued.extend(tasks(reader.read(), held))
            # A batch is whatever else is already waiting, up to the adapter's batch size (R: one crossing
            # into R for many cases).
            while len(queued) < adapter.batch_size and (reader.has_frame() or select.select([0], [], [], 0)[0]):
                queued.extend(tasks(reader.read(), held))
        except EOFError:
            if not queued:
                return 0  # input closed after the last task: finish what is held
        batch = [queued.popleft() for _ in range(min(adapter.batch_size, len(queued)))]
        answers = answer(adapter, batch, slot, made)
        made += len(answers.seqs)
        # One write per batch: each write wakes the runner, and a wake-up costs more than a small kernel.
        wire.write(proto, wire.encode(answers))


def _start(name: str, goldens: str | None) -> tuple[wire.Hello | wire.Unavailable, Adapter | None, dict]:
    """(the worker's first message, its adapter, the golden cases it holds by id): a Hello, or Unavailable
    and no adapter where it cannot load here (ImportError above all), which the runner records."""
    from kl_compat.adapters import adapter_class

    runtime = {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
               "executable": sys.executable}
    adapter = None
    try:
        adapter = adapter_class(name)()
        adapter.load()
        adapter.warm_up()
        hello = wire.Hello(adapter.name, adapter.framework, adapter.version(), list(adapter.surfaces),
                           adapter.batch_size, {**adapter.runtime(), **runtime})
        held = _load_goldens(goldens, hello) if goldens else {}
    except Exception as e:
        return wire.Unavailable(name, f"{type(e).__name__}: {e}", getattr(adapter, "install_hint", "")), None, {}
    return hello, adapter, held


def tasks(message, held: dict) -> list[tuple]:
    """A Tasks message as (seq, surfaces, observe's arguments but the surface) per task: a golden case
    this worker holds by id, or the case's operands as sent."""
    if not isinstance(message, wire.Tasks):
        raise wire.WireError(f"expected tasks, got a {message.TYPE} message")
    out = []
    for t in message.tasks:
        c = held[t.case_id] if t.operands is None else t.operands  # (ids only of cases the hello named)
        out.append((t.seq, t.surfaces, (t.case_id, c.input, c.target, c.call, c.input_dtype, c.target_dtype)))
    return out


def answer(adapter, batch: list[tuple], slot: inflight.Slot | None = None, made: int = 0) -> wire.Answers:
    """The answers to a batch of `tasks`. `made` counts the observations before this batch, for the
    in-flight slot's ranges: before each observation the slot says which one is being made (where the
    adapter cannot say which, the whole batch), so that a death mid-batch is pinned on it."""
    asked = [(seq, (case_id, surface, *operands)) for seq, surfaces, (case_id, *operands) in batch
             for surface in surfaces]
    started = None
    if slot is not None:
        slot.mark(made, made + len(asked) - 1)
        started = functools.partial(_started, slot, made)
    observations = adapter.observe_batch([args for _, args in asked], started)
    return wire.Answers([seq for seq, _ in asked], observations)


def _started(slot, made: int, i: int) -> None:
    slot.mark(made + i, made + i)


def _load_goldens(directory: str, hello: wire.Hello) -> dict:
    """The golden cases' inputs by id, their digest put in the hello. A directory that cannot be loaded
    is not fatal: the hello says why, and the runner sends those cases' arrays as it would any case."""
    from kl_compat import golden

    try:
        cases = golden.load(directory, expected=False)
        hello.goldens = golden.manifest_digest(golden.read_manifest(directory))
    except golden.GoldenError as e:
        hello.goldens_error = str(e)
        return {}
    return {c.id: c for c in cases}


if __name__ == "__main__":
    sys.exit(main())
