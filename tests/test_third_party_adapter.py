"""A framework added from outside kl_compat, as a third party would: a small package whose pyproject declares
its adapter in the entry-point group `kl_compat.adapters`, with a framework description (title, language,
argument names, a reproducer template) on the adapter class, installed into a fresh virtual environment.
Nothing in kl_compat is edited: `doctor`, `run`, `report` and `guide` find it and name it, and its
reproducers come from its own template. A second entry point of the same package carries a description
without a template: its findings say so instead of printing a snippet. A third names "torch", which stays
kl-compat's own.

The environment is made offline: `python -m venv --without-pip`, a .pth file that adds this interpreter's
site-packages (kl_compat, NumPy, jinja2, setuptools), and this interpreter's pip installing the package
into it (`--python`, `--no-deps --no-build-isolation`). Worker processes run the new environment's interpreter.
About a minute (workers, the report's reproducers and signature probes); marked slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("jinja2")
pytestmark = pytest.mark.slow

ADAPTER = '''\
"""kl_div over NumPy, computed in float64 whatever the inputs' dtype (so float32 cases differ in dtype)."""
from dataclasses import replace

import numpy as np

from kl_compat.adapters.base import Adapter
from kl_compat.adapters.framework import Framework, Template

__version__ = "0.3"


def kl_div(input, target, reduction="mean"):
    x, y = np.asarray(input, np.float64), np.asarray(target, np.float64)
    with np.errstate(all="ignore"):
        loss = np.where(y > 0, y * (np.log(np.where(y > 0, y, 1.0)) - x), 0.0)
    reduce = {"none": lambda: loss, "sum": loss.sum, "mean": loss.mean,
              "batchmean": lambda: loss.sum() / (x.shape[0] if x.ndim else 1)}
    if reduction not in reduce:
        raise ValueError(f"unknown reduction {reduction!r}")
    return np.asarray(reduce[reduction]())


class KLDivLoss:
    def __init__(self, reduction="mean"):
        self.reduction = reduction

    def __call__(self, input, target):
        return kl_div(input, target, self.reduction)


class NumpyAdapter(Adapter):
    name, framework, surfaces = "numpyfw", "klc-numpy-adapter", ("functional",)
    install_hint = "pip install klc-numpy-adapter"
    description = Framework(
        key="numpyfw", title="NumPy KL reference", language="python", functional_api="klc_numpy_adapter.kl_div",
        module_api="klc_numpy_adapter.KLDivLoss", functional="klc_numpy_adapter.kl_div(input, target, reduction='mean')",
        module="klc_numpy_adapter.KLDivLoss(reduction='mean')", source="klc_numpy_adapter's docstrings",
        params={"log_target": None, "size_average": None, "reduce": None}, modules=("klc_numpy_adapter",),
        install="klc-numpy-adapter=={version}", reproducer=Template("klc_numpy_adapter", "repro.py.j2"))

    def load(self):
        pass

    def version(self):
        return __version__

    def unsupported_argument(self, surface, call, input_dtype, target_dtype):
        return "log_target" if call.log_target else "size_average/reduce" if call.uses_legacy() else None

    def tensor(self, array, dtype, requires_grad):
        return np.array(array)

    def kl_div(self, surface, input, target, call):
        return kl_div(input, target, call.reduction)

    def backward(self, loss):
        pass

    def grad(self, tensor):
        return None

    def to_numpy(self, t):
        return np.asarray(t), str(np.asarray(t).dtype), np.shape(t)


class BareAdapter(NumpyAdapter):
    name = "numpyfw-bare"
    description = replace(NumpyAdapter.description, key="numpyfw-bare", title="NumPy bare", reproducer=None)
'''

TEMPLATE = '''\
import numpy as np
import klc_numpy_adapter

# written from klc_numpy_adapter's own reproducer template
input = np.array({{ input.literal }}, dtype="{{ input.dtype }}")
target = np.array({{ target.literal }}, dtype="{{ target.dtype }}")
out = klc_numpy_adapter.kl_div(input, target, {{ args }})
print(out.dtype, out.shape, out.tolist())
{% for line in comments %}
# {{ line }}
{% endfor %}
'''

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "klc-numpy-adapter"
version = "0.3"

[project.entry-points."kl_compat.adapters"]
numpyfw = "klc_numpy_adapter:NumpyAdapter"
numpyfw-bare = "klc_numpy_adapter:BareAdapter"
torch = "klc_numpy_adapter:NumpyAdapter"

[tool.setuptools]
packages = ["klc_numpy_adapter"]

[tool.setuptools.package-data]
klc_numpy_adapter = ["*.j2"]
'''


def _run(args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv seeing this interpreter's packages, with the third-party adapter package installed."""
    root = tmp_path_factory.mktemp("third-party")
    src = root / "src"
    (src / "klc_numpy_adapter").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "klc_numpy_adapter" / "__init__.py").write_text(ADAPTER)
    (src / "klc_numpy_adapter" / "repro.py.j2").write_text(TEMPLATE)
    env = root / "venv"
    done = _run([sys.executable, "-m", "venv", "--without-pip", env])
    assert done.returncode == 0, done.stderr
    python = env / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # addsitedir, not a bare path: the .pth files there (kl_compat's editable install) are processed too
    (purelib / "outer.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    done = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-build-isolation",
                 "--disable-pip-version-check", "-q", src])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return python


def _kl(python: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    return _run([python, "-m", "kl_compat", *args], cwd=cwd, env={**os.environ, "KL_COMPAT_CACHE": str(cwd / "cache")})


def test_the_entry_point_is_found_and_names_import_nothing(venv, tmp_path):
    code = ("import sys; from kl_compat import adapters; r = adapters.registry(); print(r['numpyfw'], r['torch'], "
            "'klc_numpy_adapter' in sys.modules, 'numpy' in sys.modules)")
    out = _run([venv, "-c", code], cwd=tmp_path)
    # (the package also declares "torch": a third party cannot shadow kl-compat's own adapter)
    assert out.returncode == 0 and out.stdout.split() == [
        "klc_numpy_adapter:NumpyAdapter", "kl_compat.adapters.torch_backend:TorchAdapter", "False", "False"], out
    help_text = _kl(venv, "run", "--help", cwd=tmp_path).stdout
    assert "numpyfw" in " ".join(help_text.split())


def test_doctor_run_report_and_guide_with_a_third_party_adapter(venv, tmp_path):
    doctor = _kl(venv, "doctor", "--adapters", "numpyfw,numpyfw-bare", cwd=tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    line = next(x for x in doctor.stdout.splitlines() if x.split()[:1] == ["numpyfw"])
    assert line.endswith("available, klc-numpy-adapter 0.3"), doctor.stdout
    rows = json.loads(_kl(venv, "doctor", "--adapters", "numpyfw", "--format", "json", cwd=tmp_path).stdout)
    assert rows["adapters"][0]["title"] == "NumPy KL reference"

    run = _kl(venv, "run", "--adapters", "numpyfw,numpyfw-bare", "--cases", "core/proper/2d/*", "--out", "r.jsonl",
              cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr  # float64 out of float32 inputs: new differences
    assert "numpyfw" in run.stdout and (tmp_path / "r.jsonl").exists()

    report = _kl(venv, "report", "r.jsonl", "--out", "rep", cwd=tmp_path)
    assert report.returncode == 1, report.stdout + report.stderr  # the same new differences
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| numpyfw 0.3 |" in md and "| numpyfw-bare 0.3 |" in md
    assert "# written from klc_numpy_adapter's own reproducer template" in md  # its template, its language
    assert "klc_numpy_adapter.kl_div(input, target, reduction=" in md
    assert "no reproducer: the adapter's framework description has none" in md  # numpyfw-bare's findings
    assert "too large to print" not in md
    assert (tmp_path / "rep" / "guides" / "torch-to-numpyfw.md").exists()

    guide = _kl(venv, "guide", "--from", "torch", "--to", "numpyfw", "rep/report.json", cwd=tmp_path)
    assert guide.returncode == 0, guide.stdout + guide.stderr
    assert "# Porting the KL divergence loss: PyTorch → NumPy KL reference" in guide.stdout
    assert "`klc_numpy_adapter.kl_div(input, target, reduction='mean')`" in guide.stdout  # its signature
    unknown = _kl(venv, "guide", "--from", "torch", "--to", "nosuch", "rep/report.json", cwd=tmp_path)
    assert unknown.returncode == 2 and "numpyfw" in unknown.stderr
