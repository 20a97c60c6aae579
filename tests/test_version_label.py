"""An adapter's version as people are shown it: results.version_label, used by the results file's adapter
line, `kl-compat doctor`, the reports (Markdown, HTML, JSON) and the porting guides.

Where an adapter's runtime() names the libtorch it runs on (R torch), the label is
"<framework> <version> on libtorch <libtorch>", while `version` itself stays bare (known-differences
version ranges match on it).

Two kinds of test:
  - no marker: pure Python, no framework (fake workers' hellos, synthetic results files);
  - `rtorch` (the R package torch itself): the real adapter's runtime(), always in another process, as
    tests/test_rtorch_adapter.py does (R torch's libtorch must not share a process with PyTorch, and this
    pytest process may have imported PyTorch).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest

from kl_compat import doctor, results
from kl_compat.report.assemble import build, render_all
from kl_compat.report.markdown import column_title
from kl_compat.results import version_label
from kl_compat.run import AdapterSpec, adapter_line

from test_report import adapter_line as results_adapter_line  # tests/ is on sys.path (rootdir conftest)
from test_report import record, write_results

R_HELLO = {"framework": "torch (R)", "version": "0.17.0", "python": "3.11.7", "numpy": "2.0", "platform": "Linux",
           "executable": "/usr/bin/python3", "surfaces": ["nnf_kl_div"], "r": "R version 4.2.2", "libtorch": "2.13.0"}


# ---- the helper -------------------------------------------------------------------------------------------

def test_version_label_adds_the_libtorch_the_runtime_names():
    assert version_label("torch (R)", "0.17.0", {"r": "R version 4.2.2", "libtorch": "2.13.0"}) \
        == "torch (R) 0.17.0 on libtorch 2.13.0"
    assert version_label("R torch", "0.17.0", {"libtorch": "2.8.0"}) == "R torch 0.17.0 on libtorch 2.8.0"
    # no libtorch in the runtime (PyTorch, Paddle), or an unknown one: the framework and version only
    assert version_label("torch", "2.13.0+cpu", {}) == "torch 2.13.0+cpu"
    assert version_label("torch", "2.13.0+cpu") == "torch 2.13.0+cpu"
    assert version_label("torch (R)", "0.17.0", {"libtorch": None}) == "torch (R) 0.17.0"
    # parts that are missing are left out, not written as None
    assert version_label(None, "0.17.0", {"libtorch": "2.13.0"}) == "0.17.0 on libtorch 2.13.0"
    assert version_label("rtorch", None, None) == "rtorch"
    assert version_label("rtorch", None, {"libtorch": "2.13.0"}) == "rtorch on libtorch 2.13.0"


# ---- where it is used ---------------------------------------------------------------------------------------

def test_the_adapter_line_carries_runtime_fields_and_keeps_the_version_bare():
    state = SimpleNamespace(available=True, info=dict(R_HELLO, type="hello", batch_size=64))
    line = adapter_line(AdapterSpec("rtorch"), "rtorch", state).to_json()
    assert line["version"] == "0.17.0" and line["libtorch"] == "2.13.0" and line["r"] == "R version 4.2.2"
    assert version_label(line["framework"], line["version"], line) == "torch (R) 0.17.0 on libtorch 2.13.0"
    # an adapter whose runtime reports neither: no such fields (not nulls)
    plain = SimpleNamespace(available=True, info={k: v for k, v in R_HELLO.items() if k not in results.RUNTIME_FIELDS})
    assert not set(results.RUNTIME_FIELDS) & set(adapter_line(AdapterSpec("torch"), "torch", plain).to_json())


def test_doctor_shows_the_label(monkeypatch, capsys):
    from kl_compat import cli

    def fake_run_adapter(name, cases, on_observation):
        info = R_HELLO if name == "rtorch" else {**R_HELLO, "framework": "torch", "version": "2.13.0+cpu",
                                                 "r": None, "libtorch": None}
        return SimpleNamespace(available=True, info=dict(info), reason=None, hint=None)

    monkeypatch.setattr(doctor, "run_adapter", fake_run_adapter)
    assert cli.main(["doctor", "--adapters", "rtorch,torch"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"rtorch  available, torch \(R\) 0\.17\.0 on libtorch 2\.13\.0$", out, re.M), out
    assert re.search(r"torch  available, torch 2\.13\.0\+cpu$", out, re.M), out
    rows = {r["adapter"]: r for r in doctor.check(["rtorch"])}
    assert rows["rtorch"]["version"] == "0.17.0" and rows["rtorch"]["libtorch"] == "2.13.0"


def test_the_reports_show_the_label(tmp_path):
    line = dict(results_adapter_line("rtorch", "0.17.0", surfaces=("nnf_kl_div",)),
                framework="torch (R)", r="R version 4.2.2", libtorch="2.13.0")
    path = write_results(tmp_path / "r.jsonl", [line, results_adapter_line("alpha")], [
        record("core/a/2d/float32/sum/prob", "rtorch", surface="nnf_kl_div", version="0.17.0"),
        record("core/a/2d/float32/sum/prob", "alpha"),
    ])
    (tmp_path / "none.toml").write_text("")  # no known differences (a missing file is an error)
    m = build([path], known_path=tmp_path / "none.toml", reproduce=False, probe=False)
    cols = {c["id"]: c for c in m["columns"]}
    assert cols["rtorch"]["version"] == "0.17.0" and cols["rtorch"]["libtorch"] == "2.13.0"
    assert cols["alpha"]["libtorch"] is None
    assert column_title(m, "rtorch") == "rtorch 0.17.0 on libtorch 2.13.0"
    assert column_title(m, "alpha") == "alpha 1.0"
    texts = render_all(m)
    assert "| rtorch | torch (R) 0.17.0 on libtorch 2.13.0, Python 3.11.7," in texts["report.md"]
    assert "<th>rtorch</th><td>torch (R) 0.17.0 on libtorch 2.13.0, Python 3.11.7," in texts["report.html"]
    col = next(c for c in json.loads(texts["report.json"])["columns"] if c["id"] == "rtorch")
    assert (col["version"], col["libtorch"]) == ("0.17.0", "2.13.0")


def test_one_label_at_several_versions_keeps_the_libtorch_in_its_title(tmp_path):
    lines = [dict(results_adapter_line("rtorch", v, surfaces=("nnf_kl_div",)), libtorch=lt)
             for v, lt in (("0.16.3", "2.7.1"), ("0.17.0", "2.8.0"))]
    paths = [write_results(tmp_path / f"{i}.jsonl", [line], [
        record("core/a/2d/float32/sum/prob", "rtorch", surface="nnf_kl_div", version=line["version"])])
        for i, line in enumerate(lines)]
    (tmp_path / "none.toml").write_text("")  # no known differences (a missing file is an error)
    m = build(paths, known_path=tmp_path / "none.toml", reproduce=False, probe=False)
    assert column_title(m, "rtorch@0.17.0") == "rtorch@0.17.0 on libtorch 2.8.0"
    assert column_title(m, "rtorch@0.16.3") == "rtorch@0.16.3 on libtorch 2.7.1"


# ---- the R package torch itself (skipped where it is not installed) ------------------------------------------

# Run in a fresh interpreter: load() starts R torch, whose libtorch must never meet PyTorch's.
RUNTIME_PROBE = """
import json, sys
from kl_compat.adapters import adapter_class
a = adapter_class("rtorch")()
try:
    a.load()
except ImportError as e:
    print(json.dumps({"unavailable": str(e)}))
    sys.exit(0)
print(json.dumps({"version": a.version(), "runtime": a.runtime(),
                  "pytorch_imported": any(m == "torch" or m.startswith("torch.") for m in sys.modules)}))
"""


@pytest.fixture(scope="module")
def rtorch_runtime():
    pytest.importorskip("rpy2", reason="rpy2 is not installed (pip install 'rpy2>=3.5.17')")
    out = subprocess.run([sys.executable, "-c", RUNTIME_PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    if "unavailable" in got:
        pytest.skip(f"R torch cannot run here: {got['unavailable']}")
    return got


@pytest.mark.r
@pytest.mark.rtorch
def test_rtorch_runtime_names_the_libtorch_it_runs_on(rtorch_runtime):
    assert not rtorch_runtime["pytorch_imported"]
    runtime = rtorch_runtime["runtime"]
    assert re.match(r"^\d+\.\d+", runtime["libtorch"] or ""), runtime
    assert runtime["r"].startswith("R version ")
    # the version stays R torch's own, bare: known-differences version ranges match on it
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", rtorch_runtime["version"]), rtorch_runtime


@pytest.mark.r
@pytest.mark.rtorch
def test_doctor_shows_rtorch_on_its_libtorch(rtorch_runtime, capsys):
    from kl_compat import cli  # doctor starts the adapter in a worker process: R torch never loads here

    assert cli.main(["doctor", "--adapters", "rtorch"]) == 0
    out = capsys.readouterr().out
    expected = version_label("torch (R)", rtorch_runtime["version"], rtorch_runtime["runtime"])
    assert f"rtorch  available, {expected}\n" in out, out
    assert " on libtorch " in expected
