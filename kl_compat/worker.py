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
            # A batch is whatever else is already waiting, up to the adapter's batch size (R: one crossing
            # into R for many cases). When a worker dies mid-batch, the runner re-sends what it held one
            # case and surface at a time to find the culprit.
            while len(batch) < adapter.batch_size and (reader.has_frame() or select.select([0], [], [], 0)[0]):
                batch.append(reader.read())
        except EOFError:
            pass  # input closed after the last task: finish what is held
        asked = [(t["seq"], (t["case_id"], surface, t["input"], t["target"], Call(**t["call"]), t["input_dtype"],
                             t["target_dtype"])) for t in batch for surface in t["surfaces"]]
        observations = adapter.observe_batch([args for _, args in asked])
        # One write per batch: each write wakes the runner, and a wake-up costs more than a small kernel.
        frame = wire.Frame()
        answers = [[seq, obs.to_wire(frame)] for (seq, _), obs in zip(asked, observations)]
        wire.write_bytes(proto, frame.pack({"type": "results", "answers": answers}))


if __name__ == "__main__":
    sys.exit(main())
