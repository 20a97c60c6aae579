"""The whole matrix on 1 and on 2 worker processes per adapter; wall-clock times and the speed-up.

Imports are included (each worker imports its framework; two workers import in parallel), because
that is what a user waits for. One run each; these machines are noisy, so read the ratio as a ratio
of this run. Usage: python benchmarks/bench_workers.py [torch paddle]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from kl_compat.run import AdapterSpec, run


def main(argv):
    names = argv or ["torch", "paddle"]
    print(f"{'adapter':>8} {'1 worker':>10} {'2 workers':>10} {'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            times = []
            for workers in (1, 2):
                start = time.perf_counter()
                run([AdapterSpec(name)], Path(tmp) / f"{name}-{workers}.jsonl", workers=workers)
                times.append(time.perf_counter() - start)
            print(f"{name:>8} {times[0]:9.2f}s {times[1]:9.2f}s {times[0] / times[1]:8.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
