"""A worker process: loads one adapter, then observes the tasks it is sent, one frame each.

Run as `python -m kl_compat.worker ADAPTER`, where ADAPTER is a registry name or "module:Class".
It imports nothing but its adapter's framework (the R worker must never load PyTorch). Its real stdout
carries the protocol; fd 1 is pointed at stderr so that a framework printing to stdout cannot corrupt it.
"""

from __future__ import annotations

import os
import platform
import select
import sys

import numpy as np


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    proto = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from kl_compat import wire
    from kl_compat.adapters import adapter_class
    from kl_compat.spec import Call

    try:
        adapter = adapter_class(argv[0])()
        adapter.load()
        adapter.warm_up()
        hello = {"type": "hello", "adapter": adapter.name, "framework": adapter.framework,
                 "version": adapter.version(), "surfaces": list(adapter.surfaces),
                 "batch_size": adapter.batch_size, **adapter.runtime()}
    except Exception as e:  # ImportError above all: report it and let the runner mark the adapter
        hint = getattr(locals().get("adapter"), "install_hint", "")
        hello = {"type": "unavailable", "adapter": argv[0], "reason": f"{type(e).__name__}: {e}", "hint": hint}
    hello.update(python=platform.python_version(), numpy=np.__version__, platform=platform.platform(),
                 executable=sys.executable)
    wire.write(proto, hello)
    if hello["type"] == "unavailable":
        return 0

    reader = wire.Reader(0)
    while True:
        try:
            batch = [reader.read()]
        except EOFError:
            return 0
        try:
            # An adapter that batches (R: one crossing into R for many cases) takes whatever else is
            # already waiting; the runner re-sends a failed batch one task at a time to find the culprit.
            while len(batch) < adapter.batch_size and select.select([0], [], [], 0)[0]:
                batch.append(reader.read())
        except EOFError:
            pass  # input closed after the last task: finish what is held
        tasks = [(t["case_id"], t["surface"], t["input"], t["target"], Call(**t["call"]), t["input_dtype"],
                  t["target_dtype"]) for t in batch]
        frames = [wire.pack({"type": "result", "seq": task["seq"], "observation": obs})
                  for task, obs in zip(batch, adapter.observe_batch(tasks))]
        wire.write_bytes(proto, b"".join(frames))  # one write per batch: fewer wake-ups of the runner


if __name__ == "__main__":
    sys.exit(main())
