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

import numpy as np

from kl_compat import inflight, wire
from kl_compat.spec import Call


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

    from kl_compat.adapters import adapter_class

    try:
        adapter = adapter_class(args.adapter)()
        adapter.load()
        adapter.warm_up()
        hello = {"type": "hello", "adapter": adapter.name, "framework": adapter.framework,
                 "version": adapter.version(), "surfaces": list(adapter.surfaces),
                 "batch_size": adapter.batch_size, **adapter.runtime()}
        held = _load_goldens(args.goldens, hello) if args.goldens else {}
    except Exception as e:  # ImportError above all: report it and let the runner mark the adapter
        hint = getattr(locals().get("adapter"), "install_hint", "")
        hello = {"type": "unavailable", "adapter": args.adapter, "reason": f"{type(e).__name__}: {e}", "hint": hint}
    hello.update(python=platform.python_version(), numpy=np.__version__, platform=platform.platform(),
                 executable=sys.executable)
    wire.write(proto, hello)
    if hello["type"] == "unavailable":
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
            # into R for many cases). Before each observation the slot says which one is being made, so
            # that a death mid-batch is pinned on it.
            while len(queued) < adapter.batch_size and (reader.has_frame() or select.select([0], [], [], 0)[0]):
                queued.extend(tasks(reader.read(), held))
        except EOFError:
            if not queued:
                return 0  # input closed after the last task: finish what is held
        batch = [queued.popleft() for _ in range(min(adapter.batch_size, len(queued)))]
        frame, count = answer(adapter, batch, slot, made)
        made += count
        # One write per batch: each write wakes the runner, and a wake-up costs more than a small kernel.
        wire.write_bytes(proto, frame)


def tasks(message: dict, held: dict) -> list[tuple]:
    """A task message as (seq, surfaces, observe's arguments but the surface) per task: one task with
    its arrays, or many golden cases named by id (`runner.tasks_frame`)."""
    if message["type"] == "tasks":
        out = []
        for seq, case_id, surfaces in message["tasks"]:
            c = held[case_id]  # the runner names only cases this worker's hello said it holds
            out.append((seq, surfaces, (case_id, c.input, c.target, c.call, c.input_dtype, c.target_dtype)))
        return out
    t = message
    return [(t["seq"], t["surfaces"], (t["case_id"], t["input"], t["target"], Call(**t["call"]),
                                       t["input_dtype"], t["target_dtype"]))]


def answer(adapter, batch: list[tuple], slot: inflight.Slot | None = None, made: int = 0) -> tuple[bytes, int]:
    """The results frame for a batch of `tasks`, and how many observations it holds. `made` counts the
    observations before this batch, for the in-flight slot's ranges."""
    asked = [(seq, (case_id, surface, *operands)) for seq, surfaces, (case_id, *operands) in batch
             for surface in surfaces]
    started = None
    if slot is not None:
        slot.mark(made, made + len(asked) - 1)  # where the adapter cannot say which: the whole batch
        started = functools.partial(_started, slot, made)
    observations = adapter.observe_batch([args for _, args in asked], started)
    frame = wire.Frame()
    return frame.pack({"type": "results", "seqs": [seq for seq, _ in asked],
                       "observations": [obs.to_wire(frame) for obs in observations]}), len(asked)


def _started(slot, made: int, i: int) -> None:
    slot.mark(made + i, made + i)


def _load_goldens(directory: str, hello: dict) -> dict:
    """The golden cases' inputs by id, their digest put in the hello. A directory that cannot be loaded
    is not fatal: the hello says why, and the runner sends those cases' arrays as it would any case."""
    from kl_compat import golden

    try:
        cases = golden.load(directory, expected=False)
        hello["goldens"] = golden.manifest_digest(golden.read_manifest(directory))
    except golden.GoldenError as e:
        hello["goldens_error"] = str(e)
        return {}
    return {c.id: c for c in cases}


if __name__ == "__main__":
    sys.exit(main())
