"""The porting layer against the native op: forward + backward, float32, 1K / 1M / 16M elements.

Rows, per framework and size (log-softmax inputs, softmax targets, reduction="batchmean", both tensors
requiring gradients):
  torch  native           torch.nn.functional.kl_div: the reference of the torch rows
  torch  semantics=torch  kl_compat.kl_div dispatching to that same native op (the fixed overhead per call)
  torch  semantics=spec   the spec's semantics: the fused "exact64" kernel (float64 inside, one rounding)
  paddle native           paddle.nn.functional.kl_div: the reference of the Paddle rows
  paddle semantics=paddle dispatch to that same native op
  paddle semantics=torch  torch's semantics on Paddle (target gradient, torch's edge rules): the fused
                          "xlogy" kernel
"Native" is each framework's own kl_div with its own semantics. The machine is shared, so the runs
alternate: every repeat times native and each porting row once, in rotating order, and each row shows
the median times, the ratio of the medians, and the median of the per-repeat ratios (porting / native
of the same repeat, the steadier figure), with its goal; `extra` is the difference of the medians; `cpu`
is the paired ratio of this process's CPU time (threads included), which waiting for the CPU on a shared
machine does not inflate (information only: the goals are judged on the paired wall-clock ratio). The
`path` column says what ran (from the dispatcher): native, fused (one autograd function) or composite.
Goals: the fused rows <= 1.5x native at 1K and <= 1.2x at 1M and 16M; the dispatch rows <= 1.05x at 1M
and above (a few microseconds per call).
`--json FILE` also writes the porting rows (each with its paired wall-clock ratio, and its paired CPU ratio
as `cpu_ratio`) in the schema the porting guides read (kl_compat/guide_sections.py, "kl-compat-porting-speed/1"):
`--json conformance/porting_speed.json` is the file the guides' drop-in cost line comes from.
Usage: python benchmarks/bench_porting.py [--sizes 1000,1000000,16000000] [--repeats N] [--frameworks torch,paddle]
       [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import time
import warnings

import numpy as np

import kl_compat
from kl_compat.guide_sections import SPEED_SCHEMA
from kl_compat.npzio import atomic_write_text
from kl_compat.porting import core


def _inputs(n, rng):
    rows = max(n // 1000, 1)
    logits = rng.standard_normal((2, rows, n // rows)).astype(np.float32)
    return logits[0], logits[1]


def torch_case(n, rng):
    import torch

    a, b = _inputs(n, rng)
    x, y = torch.log_softmax(torch.from_numpy(a), -1), torch.softmax(torch.from_numpy(b), -1)

    def run(f):
        def go():
            xi, yi = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
            f(xi, yi).backward()
        return go

    return {"native": run(lambda a, b: torch.nn.functional.kl_div(a, b, reduction="batchmean")),
            **{s: run(lambda a, b, s=s: kl_compat.kl_div(a, b, "batchmean", semantics=s)) for s in ("torch", "spec")}}


def paddle_case(n, rng):
    import paddle

    paddle.set_device("cpu")
    a, b = _inputs(n, rng)
    x = paddle.nn.functional.log_softmax(paddle.to_tensor(a), -1)
    y = paddle.nn.functional.softmax(paddle.to_tensor(b), -1)

    def run(f):
        def go():
            xi, yi = x.detach(), y.detach()
            xi.stop_gradient = yi.stop_gradient = False
            f(xi, yi).backward()
        return go

    return {"native": run(lambda a, b: paddle.nn.functional.kl_div(a, b, reduction="batchmean")),
            **{s: run(lambda a, b, s=s: kl_compat.kl_div(a, b, "batchmean", semantics=s)) for s in ("paddle", "torch")}}


def _path(framework, semantics, fn) -> str:
    """What the dispatcher ran for this row: 'native', 'fused' or 'composite' (one call, spied)."""
    if semantics in ("native", framework):
        return "native"
    seen = []
    real = core._fast_kernel

    def spy(*args):
        seen.append(real(*args))
        return seen[-1]

    core._fast_kernel = spy
    try:
        fn()
    finally:
        core._fast_kernel = real
    return "fused" if seen and seen[0] else "composite"


def _goal(framework, semantics, n) -> float | None:
    if semantics == "native":
        return None
    if semantics == framework:  # dispatch to the native op
        return 1.05 if n >= 1_000_000 else None
    return 1.5 if n < 1_000_000 else 1.2


def measure(fns: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(wall-clock seconds, CPU seconds of this process) per call for each function, `repeats` rounds,
    each round running every function once in an order rotated round by round (so no row always runs
    first, or right after the same row)."""
    names = list(fns)
    for f in fns.values():
        f()  # warm-up
    wall: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[k]()
            wall[k].append(time.perf_counter() - start)
            cpu[k].append(time.process_time() - start_cpu)
    return wall, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000,1000000,16000000")
    p.add_argument("--repeats", type=int, default=None, help="rounds per size (default: 2000 / 21 / 7)")
    p.add_argument("--frameworks", default="torch,paddle", help="comma-separated: torch, paddle")
    p.add_argument("--json", type=str, default=None, metavar="FILE",
                   help=f"also write the porting rows to FILE ({SPEED_SCHEMA}, read by the porting guides)")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    print(f"{'framework':>9} {'elements':>9} {'semantics':>9} {'path':>9} {'median':>11} {'extra':>10} "
          f"{'ratio':>6} {'paired':>7} {'cpu':>7} {'goal':>7}")
    misses: list[str] = []
    rows: list[dict] = []
    cases = {"torch": torch_case, "paddle": paddle_case}
    for framework, make in ((f, cases[f]) for f in args.frameworks.split(",")):
        for n in (int(s) for s in args.sizes.split(",")):
            repeats = args.repeats or (2000 if n <= 10_000 else (21 if n <= 2_000_000 else 7))
            fns = make(n, rng)
            paths = {s: _path(framework, s, fn) for s, fn in fns.items()}
            times, cpu = measure(fns, repeats)
            native = times["native"]
            for s, ts in times.items():
                ratio = statistics.median(ts) / statistics.median(native)
                paired = statistics.median(t / t0 for t, t0 in zip(ts, native))
                cpu_paired = statistics.median(t / t0 for t, t0 in zip(cpu[s], cpu["native"]) if t0 > 0)
                goal = _goal(framework, s, n)
                verdict = "" if goal is None else ("  ok" if paired <= goal else "  MISSED")
                if goal is not None and paired > goal:
                    misses.append(f"{framework} {n} semantics={s}: {paired:.2f}x > {goal}x")
                if s != "native":
                    rows.append({"framework": framework, "semantics": s, "elements": n, "ratio": round(paired, 3),
                                 "cpu_ratio": round(cpu_paired, 3)})
                extra = (statistics.median(ts) - statistics.median(native)) * 1e6
                print(f"{framework:>9} {n:>9} {s:>9} {paths[s]:>9} {statistics.median(ts) * 1e3:9.3f}ms "
                      f"{extra:8.0f}us {ratio:5.2f}x {paired:6.2f}x {cpu_paired:6.2f}x "
                      f"{'' if goal is None else f'<={goal}x':>7}{verdict}",
                      flush=True)
    print(f"{len(misses)} goal(s) missed" + "".join(f"\n  {m}" for m in misses))
    if args.json:
        write_json(args.json, rows)


def write_json(path: str, rows: list[dict]) -> None:
    """The rows in the porting guides' schema, dated today (UTC), written atomically."""
    data = {"schema": SPEED_SCHEMA, "measured": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
            "rows": rows}
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
