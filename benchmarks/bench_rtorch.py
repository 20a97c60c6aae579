"""Per-case cost of the R path over the whole conformance matrix: batched vs one R call per case.

    .venv/bin/python benchmarks/bench_rtorch.py [--kernel auto|torch|test] [--batch-size 64] [--repeat 3]

Every golden case goes through `RBridge` (numpy -> R conversion, one call of rtorch.R's batch driver,
R -> numpy conversion), once in batches of `--batch-size` (what a worker does) and once with one R call
per case. With R torch, each case runs on every surface that supports its arguments (the others never
reach R, as in a run). Where R torch is not available, `--kernel auto` falls back to rtorch.R's base-R
TEST kernel: the same plumbing, but NOT R torch, and the output says so on every figure.
This script never imports PyTorch (R torch's libtorch would clash with it).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np

from kl_compat import golden
from kl_compat.adapters import rtorch_backend as rb

TEST_NOTICE = "TEST kernel (base R), NOT R torch"


def _tasks_for_torch(adapter, cases):
    tasks, skipped = [], 0
    for c in cases:
        for surface in adapter.surfaces:
            if adapter.unsupported_argument(surface, c.call, c.input_dtype, c.target_dtype):
                skipped += 1  # never crosses to R
            else:
                tasks.append((c.id, surface, c.input, c.target, c.call, c.input_dtype, c.target_dtype))
    return tasks, skipped


def _time(bridge, tasks, batch_size: int) -> tuple[float, float]:
    """(wall seconds for all tasks, seconds R reports spending inside the tasks)."""
    in_r = 0.0
    start = time.perf_counter()
    for i in range(0, len(tasks), batch_size):
        in_r += sum(r["seconds"] for r in bridge.run(tasks[i:i + batch_size]))
    return time.perf_counter() - start, in_r


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", choices=("auto", "torch", "test"), default="auto",
                   help="torch: R torch or fail; test: the base-R TEST kernel; auto: R torch if it runs")
    p.add_argument("--batch-size", type=int, default=rb.RTorchAdapter.batch_size)
    p.add_argument("--repeat", type=int, default=3, help="repetitions; the best is reported")
    args = p.parse_args(argv)

    cases = golden.load()
    unavailable = None
    bridge = None
    if args.kernel in ("auto", "torch"):
        adapter = rb.RTorchAdapter()
        try:
            adapter.load()
        except ImportError as e:
            if args.kernel == "torch":
                print(f"R torch is not available: {e}", file=sys.stderr)
                return 2
            unavailable = str(e)
        else:
            bridge = adapter._bridge
            tasks, skipped = _tasks_for_torch(adapter, cases)
            what = (f"R torch {adapter.version()}: {len(tasks)} tasks ({len(cases)} cases x "
                    f"{len(adapter.surfaces)} surfaces, {skipped} unsupported ones not sent)")
    if bridge is None:
        bridge = rb.RBridge("TEST_base_r", "TEST-base-r")
        tasks = [(c.id, "kl_div", c.input, c.target, c.call, c.input_dtype, c.target_dtype) for c in cases]
        what = f"{TEST_NOTICE}: {len(tasks)} tasks ({len(cases)} cases x surface kl_div)"
    is_test = bridge.kernel != "torch"

    session = rb.r_session()
    import rpy2

    print("kl_compat R path benchmark")
    if is_test:
        print(f"  NOTE: these figures are for rtorch.R's {TEST_NOTICE}.")
        print("        They measure the Python <-> R plumbing (conversion, the batch driver, warning and error")
        print("        capture) around a kernel written in base R, not the cost of R torch's kl_div.")
        if unavailable:
            print(f"        (R torch is unavailable here: {unavailable})")
    print(f"  kernel: {what}")
    print(f"  {session.r_version}; rpy2 {rpy2.__version__}; numpy {np.__version__}; "
          f"Python {platform.python_version()}")
    print(f"  best of {args.repeat}; batched = {args.batch_size} tasks per R call (a worker's batch_size)")

    _time(bridge, tasks[:args.batch_size], args.batch_size)  # warm up R (byte-compiling) and the caches
    rows = {}
    for label, size in ((f"batched ({args.batch_size} per R call)", args.batch_size), ("one R call per case", 1)):
        rows[label] = min((_time(bridge, tasks, size) for _ in range(args.repeat)), key=lambda r: r[0])
    n = len(tasks)
    print(f"\n  {'':28s} {'total s':>9s} {'per case us':>12s} {'in R us':>9s} {'crossing us':>12s}")
    for label, (wall, in_r) in rows.items():
        print(f"  {label:28s} {wall:9.3f} {wall / n * 1e6:12.1f} {in_r / n * 1e6:9.1f} {(wall - in_r) / n * 1e6:12.1f}")
    (batched, _), (single, _) = rows.values()
    print(f"\n  one call per case / batched: {single / batched:.2f}x the per-case cost"
          + (f"   [{TEST_NOTICE}]" if is_test else ""))
    print("  (in R: time the batch driver measured inside each task; crossing: the rest, i.e. conversions,")
    print("   the rpy2 call and the driver's own overhead)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
