"""How long `kl-compat --help` and `kl-compat run --help` take, and whether they import NumPy.

Each command runs N times as a fresh process (the installed `kl-compat` script beside this Python,
else `python -m kl_compat`); printed: the median and the best wall-clock time, and whether NumPy was
imported (a separate run of the same command with `-X importtime`, whose log names every module).
The goal is under 0.3 s: `--help` builds the parser only, and the parser needs no NumPy.
Usage: python benchmarks/bench_cli_help.py [N]   (default 21)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["run", "--help"])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("kl-compat")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kl_compat"]


def _imports_numpy(args: list[str]) -> bool:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "kl_compat", *args],
                          capture_output=True, text=True, check=True)
    return any(line.split("|")[-1].strip() == "numpy" for line in proc.stderr.splitlines())


def main(argv) -> None:
    n = int(argv[0]) if argv else 21
    base = _command()
    print(f"{' '.join(base)}, {n} runs each")
    print(f"{'command':<22} {'median':>8} {'best':>8}  numpy imported")
    for args in COMMANDS:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            subprocess.run([*base, *args], stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        label = "kl-compat " + " ".join(args)
        print(f"{label:<22} {statistics.median(times):7.3f}s {min(times):7.3f}s  "
              f"{'yes' if _imports_numpy(args) else 'no'}")


if __name__ == "__main__":
    main(sys.argv[1:])
