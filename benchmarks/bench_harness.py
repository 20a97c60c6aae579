"""The harness's overhead: the full matrix through each adapter's worker vs a bare loop in one process.

The bare loop calls the same framework functions on the same inputs (tensor creation, the functional and
the module form, backward) with nothing around them, in two forms: computing only, and also reading the
value and both gradients back into NumPy (which any check of the results must do, and which the
harness does). The harness is `kl-compat run` itself: worker process, pipe, warning/error capture,
comparison with the goldens, known differences and the results file. Framework imports are excluded
from both (the harness's clock starts when its worker has imported the framework, warmed up and loaded the
golden inputs).
Goal (issue 3): harness <= 1.5x the bare loop. Usage: python benchmarks/bench_harness.py [torch paddle]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from kl_compat import golden, run


def bare_torch(cases, read_back=False):
    import torch
    import torch.nn.functional as F

    def numpy(t):
        t = t.detach()
        return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()

    start = time.perf_counter()
    for c in cases:
        for surface in ("functional", "module"):
            try:
                x = torch.from_numpy(np.array(c.input)).to(getattr(torch, c.input_dtype))
                y = torch.from_numpy(np.array(c.target)).to(getattr(torch, c.target_dtype))
                if x.is_floating_point():
                    x.requires_grad_(True)
                if y.is_floating_point():
                    y.requires_grad_(True)
                legacy = {k: v for k, v in (("size_average", c.call.size_average), ("reduce", c.call.reduce)) if v is not None}
                if surface == "functional":
                    out = F.kl_div(x, y, reduction=c.call.reduction, log_target=c.call.log_target, **legacy)
                else:
                    out = torch.nn.KLDivLoss(reduction=c.call.reduction, log_target=c.call.log_target, **legacy)(x, y)
                if read_back:
                    numpy(out)
                if out.requires_grad:
                    out.backward(torch.ones_like(out))
                    if read_back:
                        numpy(x.grad), numpy(y.grad)
            except Exception:
                pass
    return time.perf_counter() - start


def bare_paddle(cases, read_back=False):
    import paddle

    def numpy(t):
        return (t.astype("float32") if t.dtype == paddle.bfloat16 else t).numpy()

    paddle.set_device("cpu")
    start = time.perf_counter()
    for c in cases:
        if c.call.uses_legacy():
            continue  # the adapter does not call Paddle for these either
        for surface in ("functional", "module"):
            try:
                x = paddle.to_tensor(np.array(c.input)).astype(c.input_dtype)
                y = paddle.to_tensor(np.array(c.target)).astype(c.target_dtype)
                x.stop_gradient = y.stop_gradient = False
                kw = {"reduction": c.call.reduction}
                if c.call.log_target:
                    kw["log_target"] = True
                if surface == "functional":
                    out = paddle.nn.functional.kl_div(x, y, **kw)
                else:
                    out = paddle.nn.KLDivLoss(**kw)(x, y)
                if read_back:
                    numpy(out)
                out.backward(paddle.ones_like(out))
                if read_back:
                    numpy(x.grad), numpy(y.grad)
            except Exception:
                pass
    return time.perf_counter() - start


def harness(name):
    """`kl-compat run` for one adapter (worker, pipe, judging, known differences, results file): seconds
    from its worker's hello (framework imported and warmed up) to the last record written."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = run.run([run.AdapterSpec(name)], Path(tmp) / "r.jsonl")
    return summary.seconds[name]


# Bare and harness alternate REPEATS times. These machines' speed drifts by 2x within minutes, so three
# summaries: the fastest of each (the least disturbed estimate of what each costs), the medians, and the
# median of the ratios of runs made one right after the other (a drift slower than a second or so
# cancels in each ratio).
REPEATS = 21


def main(argv):
    names = argv or ["torch", "paddle"]
    cases = golden.load()
    warnings.simplefilter("ignore")
    bare = {"torch": bare_torch, "paddle": bare_paddle}
    print(f"{len(cases)} cases x 2 surfaces per framework; imports excluded; {REPEATS} alternating runs each")
    print(f"{'framework':>10} {'':>6} {'bare loop':>10} {'+read back':>11} {'harness':>10} {'ratios':>14}")
    for name in names:
        bare[name](cases[:50], read_back=True)  # warm-up: the first calls import and load more of the framework
        b, r, h = [], [], []
        for _ in range(REPEATS):
            # The harness first: its worker's import (seconds, outside its clock) would otherwise separate
            # it from the bare loops it is paired with; this way they follow its last record at once.
            h.append(harness(name))
            b.append(bare[name](cases))
            r.append(bare[name](cases, read_back=True))
        for what, f in (("best", min), ("median", statistics.median)):
            print(f"{name:>10} {what:>6} {f(b):9.2f}s {f(r):10.2f}s {f(h):9.2f}s "
                  f"{f(h) / f(b):6.2f}x {f(h) / f(r):6.2f}x")
        paired = [statistics.median(z / x for x, z in zip(b, h)), statistics.median(z / y for y, z in zip(r, h))]
        print(f"{'':>10} {'paired':>6} {'':>34} {paired[0]:6.2f}x {paired[1]:6.2f}x  (median of run-by-run ratios)")
        print(f"{'':>10} {'runs':>6} " + ", ".join(f"{x:.2f}/{y:.2f}/{z:.2f}" for x, y, z in zip(b, r, h)))


if __name__ == "__main__":
    main(sys.argv[1:])
