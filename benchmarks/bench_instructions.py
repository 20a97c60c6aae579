"""The worker's cost in CPU instructions, against the bare loop: a figure the machine's noise cannot move.

Wall-clock ratios on these machines swing by more than the harness's overhead (bench_harness.py), so
this counts instructions under valgrind's callgrind, with a fixed hash seed: the same work gives the
same count to within a fraction of a percent. Each mode runs in its own process (two at a time): the
set-up alone (import, warm-up, one pass of everything), then set-up plus REPEAT passes of one of
  bare       the bare loop of bench_harness.py (create tensors, functional and module form, backward)
  readback   the same, reading the value and both gradients back into NumPy
  worker     what a worker does per batch (kl_compat.worker.answer): decode the task frames (golden
             cases by id), observe, capture warnings, mark the in-flight slot, encode the answers frame
and the set-up's count is subtracted. The runner's side, which runs beside the worker on the other core,
is counted apart, from the answers of one worker pass: decoding them, judging each observation against
its golden, marking known differences, and writing the results file's records (`judging`, less
`judging-setup`, which prepares the judging of every case afresh per pass as a run does before its clock
starts, and stops there). The two sides overlap in time, so the worker's count is the run's critical
path; the runner's matters because on these machines one busy core slows the other. Needs valgrind
(apt-get install valgrind); takes about 8 minutes.
Usage: python benchmarks/bench_instructions.py [torch|paddle] [--every N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("none", "bare", "readback", "worker", "judging-setup", "judging")
REPEAT = 2


def inner(framework: str, mode: str, every: int) -> None:
    sys.path.insert(0, str(HERE))
    import bench_harness

    from kl_compat import compare, golden, inflight, known, results, run, runner, wire, worker
    from kl_compat.adapters import adapter_class

    cases = golden.load()[::every]
    held = {c.id: c for c in cases}
    adapter = adapter_class(framework)()
    adapter.load()
    adapter.warm_up()
    bare = {"torch": bench_harness.bare_torch, "paddle": bench_harness.bare_paddle}[framework]
    slot = inflight.Slot.create()  # marked before each observation, as the runner's workers do
    with tempfile.TemporaryFile() as stream:
        tasks = [runner.Task(seq, case, adapter.surfaces) for seq, case in enumerate(cases)]
        for i in range(0, len(tasks), adapter.batch_size):  # by id, a batch to a frame, as the runner sends
            stream.write(wire.encode(wire.Tasks([t.message(by_id=True) for t in tasks[i:i + adapter.batch_size]])))

        answers: list[bytes] = []  # the last worker pass's answer frames, for the runner's side

        def worker_pass():
            stream.seek(0)
            reader, made = wire.Reader(stream.fileno()), 0
            answers.clear()
            while True:
                try:
                    batch = worker.tasks(reader.read(), held)
                except EOFError:
                    break
                message = worker.answer(adapter, batch, slot, made)
                made += len(message.seqs)
                answers.append(wire.encode(message))

        def judging_pass(judge=True):
            for c in cases:  # each pass judges afresh, prepared as a run prepares before its clock starts
                c.__dict__.pop("_judging", None)
            compare.prepare(cases)
            entries = known.load()
            if not judge:
                return
            with tempfile.TemporaryDirectory() as tmp, results.Writer(Path(tmp) / "r.jsonl") as w:
                for data in answers:
                    message = wire.decode(data[4:])  # (after the frame's leading length, as Reader.read does)
                    for seq, obs in zip(message.seqs, message.observations):
                        obs.case_id, obs.adapter = cases[seq].id, framework
                        w.write(run.judge_record(cases[seq], obs, framework, framework, version, entries))

        warnings.simplefilter("ignore")  # as in bench_harness (the worker catches its own)
        bare(cases, read_back=True)  # first calls cost more: one pass of each belongs to the set-up
        worker_pass()
        version = adapter.version()
        work = {"none": lambda: None, "bare": lambda: bare(cases), "readback": lambda: bare(cases, read_back=True),
                "worker": worker_pass, "judging-setup": lambda: judging_pass(judge=False),
                "judging": judging_pass}[mode]
        for _ in range(REPEAT):
            work()


def count(framework: str, mode: str, every: int) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                           __file__, framework, "--every", str(every), "--inner", mode],
                          env=env, capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not m:
        raise SystemExit(f"{mode}: valgrind failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(m.group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", nargs="?", default="torch", choices=("torch", "paddle"))
    parser.add_argument("--every", type=int, default=8, help="every N-th case of the matrix (default 8)")
    parser.add_argument("--inner", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.inner:
        inner(args.framework, args.inner, args.every)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind): nothing measured")
        return 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(zip(MODES, pool.map(lambda m: count(args.framework, m, args.every), MODES)))
    from kl_compat import golden

    n = len(golden.load()[::args.every]) * 2 * REPEAT
    print(f"{args.framework}: every {args.every}th case, {REPEAT} passes: {n} observations; "
          f"set-up {counts['none'] / 1e6:,.0f} M instructions (subtracted)")
    work = {m: counts[m] - counts["none"] for m in ("bare", "readback", "worker")}
    for m in ("bare", "readback", "worker"):
        print(f"{m:>9} {work[m] / 1e6:9,.1f} M instructions  {work[m] / n / 1e3:6.1f} k per observation  "
              f"{work[m] / work['bare']:5.2f}x bare  {work[m] / work['readback']:5.2f}x read-back")
    judging = counts["judging"] - counts["judging-setup"]
    print(f"   runner {judging / 1e6:9,.1f} M instructions  {judging / n / 1e3:6.1f} k per observation  "
          f"{judging / work['worker']:5.2f}x the worker's  (decode, judge, known differences, records, write)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
