"""The R torch adapter's overhead: the whole conformance matrix through the adapter vs a pure-R loop.

    .venv/bin/python benchmarks/bench_rtorch.py [--repeat 3] [--batch-size 64]

Both sides run REAL R torch, in the same embedded R session, on every golden case x every surface of
the adapter (nnf_kl_div, nn_kl_div_loss, torch_kl_div; every task reaches R, as in a run):

  adapter  RTorchAdapter.observe_batch on chunks of --batch-size tasks, as a worker calls it: NumPy -> R
           conversion, rtorch.R's batch driver (klc_bridge), the results back into Observations.
  pure R   an R loop (R_LOOP below) that, for each task, builds the two tensors (requires_grad for
           floats), calls the surface's R torch function directly, reads the value with as_array,
           backpropagates ones, reads both gradients, catching errors and warnings per task as the
           adapter does. Its inputs and call arguments cross to R once, before any clock starts; it is
           then called once per batch on tasks already in R (one rpy2 call per 64 tasks: negligible).

Loading R and R torch, the adapter's warm_up() and the pure loop's own warm-up are outside both clocks.
Each of the --repeat runs goes over the whole matrix on both sides, interleaved batch by batch, so that
load on a shared machine hits both alike. The script checks that both sides ended every task the same way
(status, number of warnings) and prints, for the best and the median run, the overhead per case
((adapter s - pure R s) / tasks) and the ratio. The project's goal is <= 1 ms per case of overhead: the
measured figure is printed next to it, nothing is asserted. Exit status 2 when R torch (or rpy2, or R)
is not available.

This script never imports PyTorch: R torch's libtorch and PyTorch's clash in one process.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections import Counter

import numpy as np

from kl_compat import golden
from kl_compat.adapters import rtorch_backend as rb

GOAL_MS = 1.0  # the project's goal: adapter overhead per case over the pure-R loop

# Evaluated once in a child of the environment rtorch.R is sourced in. A fixed string: data never
# becomes R source; it arrives as R objects (see r_columns).
R_LOOP = r"""
# Per task, untimed: the tensors' dtypes and the call's arguments. The arguments are built with
# rtorch.R's own helpers (klc_call_args, klc_legacy, klc_torch_reduction_enum) so that both sides make
# exactly the same R torch calls and get the same answers (checked by the caller).
klc_bench_prepare <- function(surface, input, target, input_dtype, target_dtype, reduction, log_target,
                              size_average, reduce) {
  lapply(seq_along(surface), function(i) {
    legacy <- klc_legacy(size_average[[i]], reduce[[i]])
    args <- if (surface[[i]] == "torch_kl_div") {
      c(list(reduction = klc_torch_reduction_enum(reduction[[i]]), log_target = log_target[[i]]), legacy)
    } else {
      klc_call_args(reduction[[i]], log_target[[i]], legacy)
    }
    list(surface = surface[[i]], input = input[[i]], target = target[[i]], args = args,
         input_dtype = klc_torch_dtype(input_dtype[[i]]), target_dtype = klc_torch_dtype(target_dtype[[i]]),
         input_grad = klc_is_float(input_dtype[[i]]), target_grad = klc_is_float(target_dtype[[i]]))
  })
}

# The timed loop: what a user checking R torch by hand would write, with nothing of the adapter's
# around it. Returns each task's status ("ok", "raised", "unsupported") and warning count, so the caller
# can check that both sides did the same work.
klc_bench_pure_r <- function(tasks) {
  n <- length(tasks)
  kept <- vector("list", n)  # every value and gradient read stays alive, as the adapter keeps them
  status <- character(n)
  n_warnings <- integer(n)
  nnf <- torch::nnf_kl_div
  module <- torch::nn_kl_div_loss
  aten <- torch:::torch_kl_div
  f64 <- torch::torch_float64()
  # as_array() reads neither float16 nor bfloat16: through float64, as the adapter reads.
  read <- function(t) torch::as_array(t$detach()$to(dtype = f64))
  make <- function(values, dtype, requires_grad) {
    t <- if (is.null(dim(values))) torch::torch_scalar_tensor(values, dtype = dtype)
         else torch::torch_tensor(values, dtype = dtype)
    if (requires_grad) t$requires_grad_(TRUE)
    t
  }
  grad_of <- function(t) {
    if (!t$requires_grad) return(NULL)
    g <- t$grad
    if (torch::is_undefined_tensor(g)) NULL else read(g)
  }
  for (i in seq_len(n)) {
    task <- tasks[[i]]
    warned <- character()
    result <- withCallingHandlers(
      tryCatch({
        x <- make(task$input, task$input_dtype, task$input_grad)
        y <- make(task$target, task$target_dtype, task$target_grad)
        loss <- switch(task$surface,
          nnf_kl_div = do.call(nnf, c(list(x, y), task$args)),
          nn_kl_div_loss = do.call(module, task$args)(x, y),
          torch_kl_div = do.call(aten, c(list(x, y), task$args)))
        value <- read(loss)
        # A failing backward leaves the value observed, as in the adapter.
        grads <- tryCatch({
          if (loss$requires_grad) loss$backward(torch::torch_ones_like(loss))
          list(grad_of(x), grad_of(y))
        }, error = function(e) conditionMessage(e))
        list(status = "ok", value = value, grads = grads)
      }, error = function(e) {
        message <- conditionMessage(e)
        list(status = if (grepl("^unused arguments? \\(", message)) "unsupported" else "raised",
             message = message)
      }),
      warning = function(w) {
        warned <<- c(warned, conditionMessage(w))
        if (!is.null(findRestart("muffleWarning"))) invokeRestart("muffleWarning")
      })
    result$warnings <- warned
    kept[[i]] <- result
    status[i] <- result$status
    n_warnings[i] <- length(warned)
  }
  list(status = status, warning_count = n_warnings)
}
"""


def load_adapter():
    """The loaded adapter, or None (with the reason printed) when R torch cannot run here."""
    adapter = rb.RTorchAdapter()
    try:
        adapter.load()
    except ImportError as e:
        print(f"R torch is not available, nothing to measure: {e}", file=sys.stderr)
        return None
    return adapter


def matrix(adapter, cases) -> list[tuple]:
    """Every golden case on every surface, in the adapter's task form."""
    return [(c.id, surface, c.input, c.target, c.call, c.input_dtype, c.target_dtype)
            for c in cases for surface in adapter.surfaces]


def r_loop(session):
    """R_LOOP's two functions, defined in a child of rtorch.R's environment (its helpers are in scope)."""
    ri = session.ri
    env = ri.baseenv["new.env"](parent=session.env)
    # The whole expression vector at once: passing one parsed call as an argument would have R evaluate
    # it (in the global environment) while matching eval()'s arguments, before eval() ever sees `envir`.
    ri.baseenv["eval"](ri.parse(R_LOOP), envir=env)
    return env.find("klc_bench_prepare"), env.find("klc_bench_pure_r")


def r_columns(bridge, tasks) -> list:
    """The tasks as R columns, converted exactly as the adapter converts them (RBridge's own method),
    without the case ids, which the pure loop does not need."""
    return bridge.r_columns(tasks)[1:]


def r_chunks(session, prepared, n: int, batch_size: int) -> list:
    """The prepared R task list cut into the adapter's batches, up front (subsetting is not the loop's work)."""
    ri = session.ri
    return [ri.baseenv["["](prepared, ri.IntSexpVector(range(i + 1, min(i + batch_size, n) + 1)))
            for i in range(0, n, batch_size)]


def time_adapter(adapter, chunk) -> tuple[float, list]:
    """Wall seconds for one batch through observe_batch, as a worker calls it, and its observations."""
    start = time.perf_counter()
    observations = adapter.observe_batch(chunk)
    return time.perf_counter() - start, observations


def time_pure_r(pure_r, r_chunk) -> tuple[float, dict]:
    """Wall seconds for one call of the pure-R loop on a batch already in R, and its answers (read after
    the clock stops)."""
    start = time.perf_counter()
    out = pure_r(r_chunk)
    seconds = time.perf_counter() - start
    fields = dict(zip(out.names, out))
    return seconds, {"status": list(fields["status"]), "warning_count": [int(n) for n in fields["warning_count"]]}


def run_matrix(adapter, pure_r, chunks, r_chunks) -> tuple[float, float, list, dict]:
    """One pass over the matrix on both sides, interleaved batch by batch: on a shared machine the load
    drifts within seconds, and a whole run of one side against a whole run of the other (about 15 s each)
    would compare different machines. The side that goes first alternates too (cache effects)."""
    adapter_s = pure_s = 0.0
    observations, pure = [], {"status": [], "warning_count": []}
    for k, (chunk, r_chunk) in enumerate(zip(chunks, r_chunks)):
        if k % 2:
            p_s, p_out = time_pure_r(pure_r, r_chunk)
        a_s, obs = time_adapter(adapter, chunk)
        if not k % 2:
            p_s, p_out = time_pure_r(pure_r, r_chunk)
        adapter_s, pure_s = adapter_s + a_s, pure_s + p_s
        observations += obs
        for key in pure:
            pure[key] += p_out[key]
    return adapter_s, pure_s, observations, pure


def disagreements(observations, pure) -> list[str]:
    """Tasks where the two sides did not end the same way (status, number of warnings): then the loop
    would not be doing the adapter's work, and the comparison would mean nothing."""
    out = []
    for obs, status, n in zip(observations, pure["status"], pure["warning_count"]):
        if obs.status != status or len(obs.warnings) != n:
            out.append(f"{obs.case_id} {obs.surface}: adapter {obs.status}/{len(obs.warnings)} warnings, "
                       f"pure R {status}/{n}")
    return out


def summary(label: str, runs: list[float], n: int) -> str:
    best, median = min(runs), statistics.median(runs)
    return (f"  {label:8s} best {best:7.3f} s ({best / n * 1e3:6.3f} ms/task)   "
            f"median {median:7.3f} s ({median / n * 1e3:6.3f} ms/task)   for {n} tasks")


def overhead(label: str, adapter_s: float, pure_s: float, n: int) -> str:
    per_case_ms = (adapter_s - pure_s) / n * 1e3
    return (f"  {label:8s} overhead {per_case_ms:6.3f} ms per case (goal <= {GOAL_MS:g} ms)   "
            f"adapter / pure R = {adapter_s / pure_s:.2f}x")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="runs over the whole matrix, each side interleaved batch by batch")
    p.add_argument("--batch-size", type=int, default=rb.RTorchAdapter.batch_size,
                   help="tasks per observe_batch call (default: the adapter's, what a worker uses)")
    args = p.parse_args(argv)

    adapter = load_adapter()
    if adapter is None:
        return 2
    cases = golden.load()
    tasks = matrix(adapter, cases)
    n = len(tasks)

    # Set-up, outside both clocks: the inputs cross to R once for the pure loop; both sides warm up
    # (the adapter as a worker does; the loop once, so R has byte-compiled it and torch loaded its kernels).
    session = rb.r_session()
    prepare, pure_r = r_loop(session)
    prepared = prepare(*r_columns(rb.RBridge(adapter.kernel, adapter.name), tasks))
    chunks = [tasks[i:i + args.batch_size] for i in range(0, n, args.batch_size)]
    prepared_chunks = r_chunks(session, prepared, n, args.batch_size)
    adapter.warm_up()
    time_pure_r(pure_r, prepared_chunks[0])

    import rpy2
    print("kl_compat: R torch adapter vs a pure-R loop (same R session, same R torch calls)")
    print(f"  R torch {adapter.version()}; {session.r_version}; rpy2 {rpy2.__version__}; "
          f"numpy {np.__version__}; Python {platform.python_version()}")
    print(f"  {n} tasks = {len(cases)} golden cases x {len(adapter.surfaces)} surfaces, in {len(chunks)} "
          f"batches of {args.batch_size}; {args.repeat} runs of each side, interleaved batch by batch")

    adapter_runs, pure_runs = [], []
    for _ in range(args.repeat):
        adapter_s, pure_s, observations, pure = run_matrix(adapter, pure_r, chunks, prepared_chunks)
        adapter_runs.append(adapter_s)
        pure_runs.append(pure_s)

    statuses = Counter(o.status for o in observations)
    print(f"  statuses: {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}")
    differ = disagreements(observations, pure)
    print(f"  both sides ended the same way (status, warning count) on {n - len(differ)}/{n} tasks")
    for line in differ[:5]:
        print(f"    differs: {line}")
    print()
    print(summary("adapter:", adapter_runs, n))
    print(summary("pure R:", pure_runs, n))
    print(overhead("best:", min(adapter_runs), min(pure_runs), n))
    print(overhead("median:", statistics.median(adapter_runs), statistics.median(pure_runs), n))
    # Each run's two figures were taken side by side, so each run also gives an overhead of its own.
    print("  runs (adapter s / pure R s = overhead per case): " + ", ".join(
        f"{a:.2f} / {b:.2f} = {(a - b) / n * 1e3:.3f} ms" for a, b in zip(adapter_runs, pure_runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
