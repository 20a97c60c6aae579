"""The pip user's path, end to end: build the wheel, install it into a fresh virtual environment, and use
it from an empty folder, checking exit statuses and that nothing is written outside that folder (or
--out): not into the venv's site-packages, not into this repository.

The venv gets torch==2.13.0 first, from the local wheel as .ci/setup.sh installs it (about 30 s, 0.9 GB
unpacked), then the wheel with its [cli] extra (NumPy, jinja2, tqdm). A real install rather than a .pth
onto this project's venv: a .pth adds a whole site-packages folder, and with it this checkout's editable
kl_compat and every framework, which is exactly what an installed copy must be checked without.
About 2 minutes; marked slow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import kl_compat
import kl_compat.guide
from kl_compat import measurements
from test_packaging import copy_sources

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900, **kwargs)


def _build_wheel(tmp: Path) -> Path:
    """From a copy of the sources (a stale build/ would leak old files), as tests/test_packaging.py does."""
    src = copy_sources(tmp / "src")
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
                 "--no-build-isolation", "-w", tmp / "dist", src])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("kl_compat-*.whl")
    return wheel


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _git_status() -> str:
    return _run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=all"]).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, environment for its commands) with the built wheel and torch installed."""
    pytest.importorskip("setuptools")
    if shutil.which("git") is None:
        pytest.skip("needs git")
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp)
    venv = tmp / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    proc = _run([base, "-m", "venv", venv])
    assert proc.returncode == 0, proc.stderr
    py = venv / "bin" / "python"
    pip = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    proc = _run([*pip, "torch==2.13.0"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _run([*pip, f"{wheel}[cli]"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "KL_COMPAT_CACHE")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONDONTWRITEBYTECODE="1")
    return venv, env


def test_the_installed_wheel_from_an_empty_folder(installed, tmp_path):
    venv, env = installed
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    kl = site / "kl_compat"
    assert (kl / "conformance" / "measurements.json.gz").is_file()
    assert (kl / "conformance" / "porting_speed.json").is_file()  # the guides' drop-in cost
    assert not (kl / "conformance" / "report").exists()  # the committed report is not shipped
    before_site, before_git = _snapshot(site), _git_status()
    work = tmp_path / "empty"
    work.mkdir()

    def kl_compat_cmd(*args, ok=(0,)):
        proc = _run(["kl-compat", *args], cwd=work, env=env)
        assert proc.returncode in ok, (args, proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
        return proc

    assert kl_compat_cmd("--version").stdout == f"kl-compat {kl_compat.__version__}\n"
    where = _run([venv / "bin" / "python", "-c", "import kl_compat, kl_compat.checkout as c; "
                  "print(kl_compat.__file__); print(c.source_checkout())"], cwd=work, env=env).stdout.split("\n")
    assert where[0].startswith(str(site)) and where[1] == "None"  # the installed copy runs, not this checkout

    doctor = kl_compat_cmd("doctor").stdout
    assert [line for line in doctor.splitlines() if line.split()[:2] == ["torch", "available,"]], doctor
    assert "paddle  unavailable" in doctor

    kl_compat_cmd("run", "--adapters", "torch", "--cases", "core/proper/2d/*", "--quiet")
    assert (work / "results" / "latest.jsonl").is_file()

    kl_compat_cmd("report", "results/latest.jsonl", "--out", "OUT", "--quiet")
    assert {p.name for p in (work / "OUT").iterdir()} >= {"report.md", "report.html", "report.json", "guides"}
    from kl_compat import guide

    # a guide per ordered pair of the frameworks the wheel declares (the same entry points as this checkout)
    assert len(list((work / "OUT" / "guides").glob("*.md"))) == len(guide.pairs())

    guide = kl_compat_cmd("guide", "--from", "torch", "--to", "paddle").stdout
    assert guide == kl_compat.guide.render(measurements.load(), "torch", "paddle")  # the shipped measurements
    assert "- Cost: its forward and backward time" in guide  # read from the shipped porting_speed.json

    shutil.copy2(ROOT / "tests" / "scan_samples" / "distill_torch.py", work / "distill_torch.py")
    scan = kl_compat_cmd("scan", "distill_torch.py", "--from", "torch", "--to", "paddle", ok=(0, 1))
    assert "distill_torch.py" in scan.stdout

    assert kl_compat_cmd("golden", "--check").stdout == "goldens match the spec\n"
    refused = kl_compat_cmd("golden", ok=(2,)).stderr.strip().splitlines()
    assert len(refused) == 1 and "installed kl_compat" in refused[0] and "--dir" in refused[0]
    kl_compat_cmd("golden", "--dir", "goldens")

    # Another version's environment gets this installed copy, re-packed as a wheel: never `kl-compat` by name.
    code = ("from pathlib import Path; from kl_compat import environments as e\n"
            "env = e.Environment('mine', 'none', [])\n"
            "print(e.pip_command(env, e.kl_compat_requirement(Path('wheeldir'))))\n"
            "print(e.create(env))\n")
    made = _run([venv / "bin" / "python", "-c", code], cwd=work, env=env)
    assert made.returncode == 0, made.stderr[-3000:]
    cmd_line = made.stdout.splitlines()[0]
    assert "kl-compat==" not in cmd_line and "'-e'" not in cmd_line and "wheeldir/kl_compat-" in cmd_line
    (repacked,) = (work / "wheeldir").glob("kl_compat-*.whl")
    names = set(zipfile.ZipFile(repacked).namelist())
    assert {"kl_compat/cli/__init__.py", "kl_compat/adapters/rtorch.R", "kl_compat/conformance/goldens/expected.npz",
            f"kl_compat-{kl_compat.__version__}.dist-info/METADATA"} <= names
    assert not [n for n in names if n.endswith((".pyc", "/INSTALLER", "/direct_url.json"))]
    other = work / ".kl-compat-cache" / "envs" / "mine" / "bin" / "python"
    origin = _run([other, "-c", "import importlib.metadata as m; print(m.distribution('kl-compat').read_text("
                   "'direct_url.json'))"], cwd=work, env=env)
    assert origin.returncode == 0 and '"url": "file://' in origin.stdout and ".whl" in origin.stdout, origin.stdout

    # nothing written into the installed package, nor into this repository; everything in the folder
    assert _snapshot(site) == before_site
    assert _git_status() == before_git
    assert sorted(p.name for p in work.iterdir()) == [".kl-compat-cache", "OUT", "distill_torch.py", "goldens",
                                                      "results", "wheeldir"]
