"""What a pip user gets: `kl-compat --version`, `python -m kl_compat`, a `--help` that imports no NumPy
(nor any framework), and a wheel with the code and data the package reads, but not the committed report."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import kl_compat
from kl_compat import cli

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).with_name("kl-compat")


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, **kwargs)


# ---- the command --------------------------------------------------------------------------------------

def test_version_is_the_distribution_s():
    version = importlib.metadata.version("kl-compat")
    assert kl_compat.__version__ == version  # pyproject.toml and kl_compat/__init__.py agree
    for command in ([str(SCRIPT)], [sys.executable, "-m", "kl_compat"]):
        proc = _run(*command, "--version")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"kl-compat {version}\n", ""), command


def test_python_m_kl_compat_is_the_command(tmp_path):
    proc = _run(sys.executable, "-m", "kl_compat", "golden", "--check", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "goldens match the spec\n", proc.stdout + proc.stderr
    proc = _run(sys.executable, "-m", "kl_compat", "no-such-command", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: kl-compat ")


HEAVY = ("numpy", "torch", "paddle", "rpy2", "hypothesis", "scipy", "jinja2", "tqdm", "ml_dtypes")

PARSE_HELP = f"""
import contextlib, io, sys
import kl_compat.cli as cli

parser = cli.build_parser()
for argv in (["--help"], ["run", "--help"]):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            parser.parse_args(argv)
    except SystemExit as e:
        assert e.code == 0, (argv, e.code)
    assert out.getvalue().startswith("usage: kl-compat"), out.getvalue()[:200]
heavy = {HEAVY!r}
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in ("kl_compat.fuzz", "kl_compat.merge")))
"""


def test_help_imports_no_numpy_and_no_framework():
    """`--help` only builds the parser; NumPy alone is a third of the command's time (benchmarks/bench_cli_help.py)."""
    proc = _run(sys.executable, "-c", PARSE_HELP)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"


@pytest.mark.parametrize("name, module", [("merge", "kl_compat.merge"), ("fuzz", "kl_compat.fuzz")])
def test_deferred_subcommands_are_their_modules_own(name, module):
    """merge and fuzz are added without importing them (kl_compat.cli.deferred); their help line is written
    in kl_compat.cli, their arguments come from the module's own add_parser when used: both must be the module's."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {a.dest: a.help for a in sub._choices_actions}

    scratch = argparse.ArgumentParser(prog="kl-compat")
    scratch_sub = scratch.add_subparsers(dest="command")
    importlib.import_module(module).add_parser(scratch_sub)
    own = {a.dest: a.help for a in scratch_sub._choices_actions}
    assert listed[name] == own[name]

    deferred, eager = sub.choices[name], scratch_sub.choices[name]
    assert deferred.format_usage() == eager.format_usage()
    assert [(a.dest, a.option_strings, a.default) for a in deferred._actions] == \
        [(a.dest, a.option_strings, a.default) for a in eager._actions]


def test_deferred_subcommands_parse_as_before():
    merge = importlib.import_module("kl_compat.merge")
    args = cli.build_parser().parse_args(["merge", "a.jsonl", "b.jsonl", "--out", "m.jsonl"])
    assert (args.command, args.inputs, args.out, args.func) == \
        ("merge", [Path("a.jsonl"), Path("b.jsonl")], Path("m.jsonl"), merge.cmd_merge)
    fuzz = importlib.import_module("kl_compat.fuzz")
    args = cli.build_parser().parse_args(["fuzz", "--adapters", "torch", "--seed", "3"])
    assert (args.adapters, args.seed, args.max_examples, args.func) == \
        (["torch"], 3, fuzz.DEFAULT_MAX_EXAMPLES, fuzz.cmd_fuzz)
    with pytest.raises(SystemExit) as e:
        cli.build_parser().parse_args(["merge", "a.jsonl"])  # --out is required: the module's arguments apply
    assert e.value.code == 2


# ---- the wheel ----------------------------------------------------------------------------------------

def copy_sources(src: Path) -> Path:
    """What a wheel is built from, copied to `src` (setuptools leaves build/ and egg-info behind, and a
    stale build/ would leak old files into the wheel)."""
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("kl_compat", "adapters", "conformance"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    return src


def _setuptools_builds_here() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77  # pyproject.toml's build requirement


def test_the_wheel_ships_code_and_data_but_not_the_report(tmp_path):
    """Built from a copy of the sources (setuptools leaves build/ and egg-info behind, and a stale build/
    would leak old files into the wheel); without build isolation where this environment's setuptools will
    do, so that the test needs no index."""
    src = copy_sources(tmp_path / "src")
    assert (src / "conformance" / "report" / "report.html").exists()  # there to be left out
    isolation = ["--no-build-isolation"] if _setuptools_builds_here() else []
    proc = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", *isolation,
                "-w", str(tmp_path / "dist"), str(src))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("kl_compat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    version = kl_compat.__version__
    for required in ("kl_compat/cli/__init__.py", "kl_compat/cli/__main__.py", "kl_compat/cli/helptext.py",
                     "kl_compat/__main__.py", "kl_compat/py.typed", "kl_compat/pytest_plugin.py",
                     "kl_compat/tomlfile.py", "kl_compat/porting/__init__.py", "kl_compat/adapters/rtorch.R",
                     "kl_compat/adapters/torch_backend.py", "kl_compat/conformance/matrix.py",
                     "kl_compat/conformance/goldens/cases.json", "kl_compat/conformance/goldens/expected.npz",
                     "kl_compat/conformance/goldens/samples.npz", "kl_compat/conformance/goldens/manifest.json",
                     "kl_compat/conformance/known_differences.toml", "kl_compat/conformance/claims.toml",
                     "kl_compat/conformance/environments.toml", "kl_compat/conformance/guides/torch-to-paddle.md",
                     "kl_compat/report/templates/report.html.j2", f"kl_compat-{version}.dist-info/licenses/LICENSE",
                     "kl_compat/adapters/templates/repro_torch.py.j2", "kl_compat/adapters/framework.py",
                     "kl_compat/conformance/measurements.json.gz", "kl_compat/measurements.py", "kl_compat/checkout.py",
                     "kl_compat/junit.py", "kl_compat/porting/xlogy_kernel.c", "kl_compat/porting/ckernel.py"):
        assert required in names, required
    assert not [n for n in names if "/report/report." in n or n.endswith((".png", ".pyc"))], sorted(names)
    # compact, not the report's JSON: it grows with the columns (seven today), not with the messages
    assert zipfile.ZipFile(wheel).getinfo("kl_compat/conformance/measurements.json.gz").file_size < 400_000
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "adapters/", "conformance/"))]

    entry_points = zipfile.ZipFile(wheel).read(f"kl_compat-{version}.dist-info/entry_points.txt").decode()
    assert "[pytest11]\nkl_compat = kl_compat.pytest_plugin" in entry_points
    assert "[console_scripts]\nkl-compat = kl_compat.cli:main" in entry_points
    # the adapters, found through their entry-point group as a third party's are
    assert "[kl_compat.adapters]\n" in entry_points and "torch = kl_compat.adapters.torch_backend:TorchAdapter" in entry_points
    metadata = zipfile.ZipFile(wheel).read(f"kl_compat-{version}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Requires-Dist: tomli>=1.1; python_version < \"3.11\"" in metadata
    assert "Provides-Extra: fuzz" in metadata and "Provides-Extra: bfloat16" in metadata
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
