"""The execution modes' cost: the whole matrix on one surface of one adapter, in a fresh process each.

For every surface asked (default: torch's `functional` and `compile`, Paddle's `functional`, `static` and
`to_static`) it observes every case of the matrix through the adapter's own `observe_batch`, one worker's
work without the runner, and prints the wall-clock time (the adapter's load excluded, the first compilation included), the
records observed, and for `compile` how many graphs Dynamo compiled and how many times it recompiled a
function it had compiled before. Compiled surfaces run twice on one new, empty kl_compat cache: cold (the
first run compiles everything) and warm (the second loads Inductor's compiled code from the cache).
One run each, on a noisy machine: read the figures as this run's.

Usage: python benchmarks/bench_modes.py [ADAPTER:SURFACE ...] [--cases GLOB]
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT = ["torch:functional", "torch:compile", "paddle:functional", "paddle:static", "paddle:to_static"]
COMPILED = {"compile"}  # (the one with a cache on disk)


def one(adapter_name: str, surface: str, patterns: list[str]) -> dict:
    """Observe the matrix on one surface in this process; the figures as a dict."""
    from kl_compat import golden
    from kl_compat.adapters import adapter_class

    cases = [c for c in golden.load() if not patterns or any(fnmatch.fnmatchcase(c.id, p) for p in patterns)]
    adapter = adapter_class(adapter_name)()
    adapter.load()
    tasks = [(c.id, surface, c.input, c.target, c.call, c.input_dtype, c.target_dtype) for c in cases]
    start = time.perf_counter()
    observations = adapter.observe_batch(tasks)
    figures = {"seconds": time.perf_counter() - start, "records": len(observations),
               "raised": sum(o.status == "raised" for o in observations)}
    if adapter_name == "torch":
        from torch._dynamo.utils import counters

        figures["graphs"] = counters["stats"]["unique_graphs"]
        figures["recompiles"] = sum(counters["recompiles"].values())
    return figures


def measure(spec: str, patterns: list[str], cache: str) -> dict:
    adapter_name, surface = spec.split(":")
    command = [sys.executable, __file__, "--one", spec, *(a for p in patterns for a in ("--cases", p))]
    done = subprocess.run(command, env={**os.environ, "KL_COMPAT_CACHE": cache}, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("surfaces", nargs="*", default=DEFAULT, metavar="ADAPTER:SURFACE")
    parser.add_argument("--cases", action="append", default=[], metavar="GLOB")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(*args.one.split(":"), args.cases)))
        return
    print(f"{'surface':>18} {'cache':>6} {'seconds':>8} {'records':>8} {'raised':>7} {'graphs':>7} {'recompiles':>10}")
    with tempfile.TemporaryDirectory() as cache:
        for spec in args.surfaces:
            runs = ("cold", "warm") if spec.split(":")[1] in COMPILED else ("-",)
            for state in runs:
                f = measure(spec, args.cases, cache)
                print(f"{spec:>18} {state:>6} {f['seconds']:8.2f} {f['records']:8d} {f['raised']:7d} "
                      f"{f.get('graphs', ''):>7} {f.get('recompiles', ''):>10}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
