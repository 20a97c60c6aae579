"""`--tolerance strict` (run) and `tolerance="strict"` (the pytest plugin): values held to the bound of a
backward-stable evaluation. A deliberately sloppy implementation (every intermediate in float16, summed
left to right in float16) passes the default tolerance and fails the strict one."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

SLOPPY = '''
import numpy as np


def float16_throughout(input, target, reduction, log_target):
    """Each intermediate rounded to float16 (log or exp, the difference, the product), summed naively."""
    x, y = np.asarray(input, np.float16), np.asarray(target, np.float16)
    with np.errstate(all="ignore"):
        if log_target:
            t = np.exp(y) * (y - x)
        else:
            t = np.where(y > 0, y * (np.log(np.where(y > 0, y, 1)) - x), np.float16(0))
    t = np.asarray(t, np.float16)
    if reduction == "none":
        return t
    acc = np.float16(0)
    for v in t.reshape(-1):
        acc = np.float16(acc + v)
    n = {"sum": 1, "mean": t.size, "batchmean": t.shape[0] if t.ndim else 1}[reduction]
    return np.asarray(np.float16(acc / np.float16(n)))
'''

CASES = ["core/peaked/*/float16/*/log"]


def _pytest(tmp_path, tolerance: str | None, ini: str | None = None):
    (tmp_path / "impls.py").write_text(SLOPPY)
    option = f", tolerance={tolerance!r}" if tolerance else ""
    (tmp_path / "test_user.py").write_text(textwrap.dedent(f'''
        import pytest
        from impls import float16_throughout

        @pytest.mark.kl_compat(cases={CASES!r}, warnings="ignore"{option})
        def test_kl(kl_compat_case):
            kl_compat_case.check(float16_throughout)
    '''))
    if ini is not None:
        (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--strict-markers"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    line = proc.stdout.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed)", line)}, proc.stdout


def test_sloppy_float16_passes_the_default_and_fails_strict(tmp_path):
    default, out = _pytest(tmp_path, None)
    assert default.get("failed", 0) == 0 and default["passed"] >= 20, out[-2000:]
    strict, out = _pytest(tmp_path, "strict")
    assert strict.get("failed", 0) >= 1 and strict["passed"] + strict["failed"] == default["passed"], out[-2000:]
    assert "error" in out and "ulp, tolerance" in out  # the failure says by how much


def test_the_ini_option_sets_strict_for_every_marker(tmp_path):
    counts, out = _pytest(tmp_path, None, ini="kl_compat_tolerance = strict\n")
    assert counts.get("failed", 0) >= 1, out[-2000:]


def test_run_takes_tolerance_strict_and_says_so_in_its_run_line(tmp_path):
    from kl_compat import results
    from kl_compat.cli import main

    out = tmp_path / "r.jsonl"
    assert main(["run", "--adapters", "torch-as-spec", "--cases", "core/proper/2d/float32/sum/*", "--quiet",
                 "--out", str(out), "--tolerance", "strict"]) == 0
    read = results.read(out)
    assert read.run.extra.get("tolerance") == "strict"
    assert {r.status for r in read.records} == {"match"}  # the spec itself is within any bound
    bad = subprocess.run([sys.executable, "-m", "kl_compat", "run", "--tolerance", "loose"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "--tolerance" in bad.stderr
