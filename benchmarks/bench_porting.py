"""The porting layer against the native op: forward + backward, float32, 1K / 1M / 16M elements.

Rows: torch tensors with semantics="torch" (dispatch + the native op: the fixed overhead per call) and
semantics="spec" (the composite with the exact-semantics `where` passes); Paddle tensors with
semantics="torch" (composite: Paddle's op has no target gradient and other edge rules) and "paddle"
(dispatch + native). Median of several repeats; one run, ratios against the native op in that run.
Goal (issue 6): <= 1.05x native at 1M and above, a few microseconds of fixed overhead.
Usage: python benchmarks/bench_porting.py [--sizes 1000,1000000,16000000]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import kl_compat


def _time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def torch_cases(n, rng):
    import torch

    x = torch.log_softmax(torch.from_numpy(rng.standard_normal((n // 1000, 1000)).astype(np.float32)), -1)
    y = torch.softmax(torch.from_numpy(rng.standard_normal((n // 1000, 1000)).astype(np.float32)), -1)

    def run(f):
        def go():
            xi = x.detach().requires_grad_(True)
            yi = y.detach().requires_grad_(True)
            f(xi, yi).backward()
        return go

    native = run(lambda a, b: torch.nn.functional.kl_div(a, b, reduction="batchmean"))
    return native, {s: run(lambda a, b, s=s: kl_compat.kl_div(a, b, "batchmean", semantics=s)) for s in ("torch", "spec")}


def paddle_cases(n, rng):
    import paddle

    paddle.set_device("cpu")
    x = paddle.nn.functional.log_softmax(paddle.to_tensor(rng.standard_normal((n // 1000, 1000)).astype(np.float32)), -1)
    y = paddle.nn.functional.softmax(paddle.to_tensor(rng.standard_normal((n // 1000, 1000)).astype(np.float32)), -1)

    def run(f):
        def go():
            xi, yi = x.detach(), y.detach()
            xi.stop_gradient = yi.stop_gradient = False
            f(xi, yi).backward()
        return go

    native = run(lambda a, b: paddle.nn.functional.kl_div(a, b, reduction="batchmean"))
    return native, {s: run(lambda a, b, s=s: kl_compat.kl_div(a, b, "batchmean", semantics=s)) for s in ("paddle", "torch")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1000,1000000,16000000")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    print(f"{'framework':>9} {'elements':>10} {'semantics':>9} {'native':>11} {'porting':>11} {'ratio':>7} {'extra':>10}")
    for framework, make in (("torch", torch_cases), ("paddle", paddle_cases)):
        for n in (int(s) for s in args.sizes.split(",")):
            repeats = 200 if n <= 10_000 else (10 if n <= 2_000_000 else 3)
            native, ports = make(n, rng)
            t_native = _time(native, repeats)
            for semantics, fn in ports.items():
                t = _time(fn, repeats)
                print(f"{framework:>9} {n:>10} {semantics:>9} {t_native * 1e3:9.3f}ms {t * 1e3:9.3f}ms "
                      f"{t / t_native:6.2f}x {(t - t_native) * 1e6:8.1f}us")


if __name__ == "__main__":
    main()
