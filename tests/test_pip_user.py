"""What a pip user gets beyond the command itself: outputs where the user says (or under the current folder,
never into the installed package), the shipped measurements that `guide` and `scan` read, `golden` and
`env create` that respect an installed copy, the CLI's conventions (descriptions, examples, adapter names,
--format json, --junit), and one line naming the extra for a missing optional dependency.

The end-to-end check, a built wheel installed into a fresh venv and used from an empty folder, is
tests/test_wheel_install.py."""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import kl_compat
from kl_compat import checkout, cli, environments, guide, junit, measurements, results, scan
from kl_compat.adapters import REGISTRY

from test_report import adapter_line, record, write_results

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "conformance" / "report" / "report.json"


def _run(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, **kwargs)


# ---- the shipped measurements ---------------------------------------------------------------------------

def test_the_shipped_measurements_are_the_committed_reports():
    """conformance/measurements.json.gz is the compact form of conformance/report/report.json, byte for byte
    as `kl-compat report` writes it: regenerate both with `.venv/bin/kl-compat report`."""
    if not COMMITTED.exists():
        pytest.skip("no committed report here (an installed copy)")
    shipped = measurements.default_path()
    assert shipped == ROOT / "conformance" / measurements.FILE_NAME
    assert shipped.read_bytes() == measurements.dumps(json.loads(COMMITTED.read_text())), \
        "the shipped measurements are not the committed report's: regenerate with `.venv/bin/kl-compat report`"
    assert shipped.stat().st_size < 400_000, "the shipped measurements should stay small (about 210 kB)"


def test_measurements_keep_what_guide_and_scan_read_and_drop_the_reproducers_code():
    m = measurements.load()
    assert m["schema"] == measurements.SCHEMA
    assert set(m) == {"schema", *measurements.KEPT}
    assert m["findings"] and all("code" not in (f.get("reproducer") or {}) for f in m["findings"])
    assert {c["name"] for c in m["columns"]} >= {"torch", "paddle", "rtorch"}
    assert m["records"] and all("cases" in r for r in m["records"])


def test_guides_from_the_shipped_measurements_are_the_committed_guides():
    pytest.importorskip("jinja2")
    m = measurements.load()
    for src, dst in guide.pairs():
        committed = ROOT / "conformance" / "guides" / guide.file_name(src, dst)
        if committed.exists():
            assert guide.render(m, src, dst) == committed.read_text(), (src, dst)


def test_measurements_files_that_cannot_be_read_are_one_line_errors(tmp_path):
    bad = tmp_path / "m.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(measurements.MeasurementsError, match="not a gzipped JSON"):
        measurements.load(bad)
    bad.write_bytes(gzip.compress(b'{"schema": "kl-compat-report/1"}'))
    with pytest.raises(measurements.MeasurementsError, match="schema 'kl-compat-report/1'"):
        measurements.load(bad)
    with pytest.raises(measurements.MeasurementsError, match="no such measurements file"):
        measurements.load(tmp_path / "missing.json.gz")


def test_the_measurements_bytes_depend_on_the_report_alone():
    m = {"generated": "2026-01-01T00:00:00+00:00", "columns": [], "findings": [{"id": "f", "reproducer": {
        "code": "print(1)", "input": [0.5]}}], "records": [], "matrix": {"big": True}}
    assert measurements.dumps(m) == measurements.dumps(json.loads(json.dumps(m)))
    loaded = json.loads(gzip.decompress(measurements.dumps(m)))
    assert loaded["findings"][0]["reproducer"] == {"input": [0.5]} and "matrix" not in loaded


def test_scan_falls_back_to_the_shipped_measurements_where_no_report_is_committed(tmp_path, monkeypatch):
    """As in an installed kl_compat: its conformance folder has the measurements, not the report."""
    (tmp_path / measurements.FILE_NAME).write_bytes(measurements.default_path().read_bytes())
    monkeypatch.setattr(kl_compat.conformance, "__file__", str(tmp_path / "__init__.py"))
    m = scan.load_measurements(None)
    assert m["schema"] == measurements.SCHEMA
    site = scan.find_calls([ROOT / "tests" / "scan_samples"])
    assert scan.scan(site, m, "torch", "paddle")  # the measurements hold what scan compares


def test_guide_reads_the_shipped_measurements_by_default(capsys, tmp_path, monkeypatch):
    pytest.importorskip("jinja2")
    monkeypatch.chdir(tmp_path)  # an empty folder: no report here, nor results
    assert cli.main(["guide", "--from", "torch", "--to", "paddle"]) == 0
    out = capsys.readouterr().out
    assert out == guide.render(measurements.load(), "torch", "paddle")
    assert not list(tmp_path.iterdir())
    assert cli.main(["guide", str(measurements.default_path()), "--from", "paddle", "--to", "torch"]) == 0


# ---- golden and env create in an installed copy -------------------------------------------------------

def test_this_checkout_is_a_source_checkout():
    assert checkout.source_checkout() == ROOT
    assert checkout.conformance_dir() == ROOT / "conformance"


def test_golden_regenerates_an_installed_copys_goldens_only_into_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkout, "source_checkout", lambda: None)  # as installed from a wheel
    monkeypatch.chdir(tmp_path)
    assert cli.main(["golden"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kl-compat golden: error: the goldens of an installed kl_compat")
    assert "--dir" in err[0]
    assert cli.main(["golden", "--check"]) == 0  # reading is fine
    assert cli.main(["golden", "--dir", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "manifest.json").read_bytes() == (ROOT / "conformance" / "goldens" / "manifest.json").read_bytes()


def _names_the_index_package(cmd) -> bool:
    return any(a.lower().replace("_", "-").startswith("kl-compat") for a in cmd)


def test_env_create_installs_this_checkout_editable_never_the_index_package(tmp_path):
    env = environments.Environment("paddle-9.9", "paddle", ["paddlepaddle==9.9", "numpy<2"])
    kl = environments.kl_compat_requirement(tmp_path)
    assert kl == ["-e", str(ROOT)]
    cmd = environments.pip_command(env, kl, tmp_path)
    assert cmd[:4] == [str(env.python(tmp_path)), "-m", "pip", "install"]
    assert cmd[-4:] == ["paddlepaddle==9.9", "numpy<2", "-e", str(ROOT)]
    assert not _names_the_index_package(cmd)


def test_env_create_from_a_copy_that_is_neither_never_falls_back_to_the_index(tmp_path, monkeypatch):
    """Not a checkout, and no installed files listed (this editable install's RECORD names none): an error,
    not `kl-compat==VERSION` from the index. (Re-packing a real installation: tests/test_wheel_install.py.)"""
    monkeypatch.setattr(environments, "source_checkout", lambda: None)
    with pytest.raises(environments.EnvError, match="neither a source checkout nor a wheel installation"):
        environments.kl_compat_requirement(tmp_path)


def test_report_default_list_skips_an_environment_not_created_yet(tmp_path, monkeypatch, capsys):
    """Environments are made by `env create` (or an ADAPTER@ENV named with --adapters), never behind the
    back of `kl-compat report`'s default list (Paddle 2.6.2 is gigabytes from the index)."""
    pytest.importorskip("torch")
    pytest.importorskip("jinja2")
    monkeypatch.setenv("KL_COMPAT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cli.report, "report_adapters", lambda: ("torch", "paddle@paddle-2.6.2"))
    monkeypatch.chdir(tmp_path)
    rc = cli.main(["report", "--out", "mine", "--no-reproducers", "--no-screenshot", "--quiet"])
    err = capsys.readouterr().err
    assert rc in (0, 1), err
    assert "kl-compat report: skipped paddle@paddle-2.6.2: environment paddle-2.6.2 does not exist yet" in err
    assert not (tmp_path / "cache").exists()
    # the report and its guides under --out; the run's results under the current folder; nothing else
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["guides", "report.html", "report.json", "report.md"]
    assert len(list((tmp_path / "mine" / "guides").glob("*.md"))) == len(guide.pairs())
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
                  and "mine" not in p.parts) == ["results/latest.jsonl"]


def test_report_without_out_writes_under_the_current_folder(tmp_path, monkeypatch):
    """Not beside the package, and not the checkout's committed report: conformance/report/ here, with the
    guides in it (results files given); the shipped measurements are left alone."""
    pytest.importorskip("jinja2")
    shipped = measurements.default_path().read_bytes()
    path = write_results(tmp_path / "r.jsonl", [adapter_line("torch")], [record("core/proper/2d/float32/none/prob", "torch")])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cli.main(["report", str(path), "--no-reproducers", "--no-screenshot", "--quiet"]) == 0
    written = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file())
    assert "conformance/report/report.json" in written and "conformance/report/guides/torch-to-paddle.md" in written
    assert all(name.startswith("conformance/report/") for name in written), written
    assert measurements.default_path().read_bytes() == shipped


# ---- the CLI's conventions ----------------------------------------------------------------------------

def _subparsers(parser: argparse.ArgumentParser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_subcommand_has_a_description_examples_and_its_exit_statuses():
    parser = cli.build_parser()
    seen = []
    for name, sub in _subparsers(parser).items():
        text = sub.format_help()  # (a deferred subcommand gets its module's arguments here)
        assert sub.description and len(sub.description) > 40, name
        examples = text.split("examples:\n", 1)
        assert len(examples) == 2, f"{name}: no examples in its --help"
        lines = [x.strip() for x in examples[1].split("\n\n")[0].splitlines()]
        assert lines and all(x.startswith(f"kl-compat {name}") for x in lines), (name, lines)
        if name in cli.EXIT_STATUS_HELP or name == "merge":
            assert "exit status:" in text, name
        seen.append(name)
        if name == "env":
            for verb, vp in _subparsers(sub).items():
                assert vp.description and f"kl-compat env {verb}" in vp.format_help(), verb
    assert set(seen) == {"golden", "run", "doctor", "report", "diff", "guide", "scan", "merge", "env", "fuzz"}


@pytest.mark.parametrize("argv", [["run"], ["doctor"], ["report"], ["fuzz"]])
def test_adapters_help_lists_the_registered_names(argv):
    sub = _subparsers(cli.build_parser())[argv[0]]
    text = re.sub(r"-\s+", "-", " ".join(sub.format_help().split()))  # (argparse wraps at hyphens)
    for name in REGISTRY:
        assert f" {name}," in text or f" {name};" in text, (argv, name)
    assert "ADAPTER@ENV" in text


def test_the_adapter_registry_imports_no_numpy():
    code = "import sys, kl_compat.adapters as a; print(len(a.REGISTRY), 'numpy' in sys.modules)"
    proc = _run(sys.executable, "-c", code)
    assert proc.returncode == 0 and proc.stdout.split()[1] == "False", proc.stdout + proc.stderr
    from kl_compat.adapters import Adapter, Observation  # still importable, on first use

    assert Adapter.__name__ == "Adapter" and Observation.__name__ == "Observation"


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    """`kl-compat run --adapters torch --cases 'core/proper/2d/*' --format json --junit` from an empty folder."""
    pytest.importorskip("torch")
    where = tmp_path_factory.mktemp("run")
    proc = _run(sys.executable, "-m", "kl_compat", "run", "--adapters", "torch", "--cases", "core/proper/2d/*",
                "--format", "json", "--junit", "junit.xml", cwd=where)
    return where, proc


def test_run_format_json_is_the_documented_summary(torch_run):
    where, proc = torch_run
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # nothing but the JSON object on stdout
    assert set(summary) == {"schema", "results", "records", "checked", "counts", "new", "known_problems", "not_run",
                            "recovered", "exit_status"}
    assert summary["schema"] == cli.run.RUN_SUMMARY_SCHEMA and summary["exit_status"] == 0
    res = results.read(where / summary["results"])
    assert summary["records"] == summary["checked"] == len(res.records) == 64
    assert summary["counts"] == res.counts()
    assert summary["new"] == [] and summary["not_run"] == {} and summary["recovered"] is None


def test_run_junit_has_a_testcase_per_record(torch_run):
    where, proc = torch_run
    root = ET.parse(where / "junit.xml").getroot()
    assert root.tag == "testsuites"
    (suite,) = root
    cases = suite.findall("testcase")
    assert suite.get("name") == "torch" and len(cases) == int(suite.get("tests")) == int(root.get("tests")) == 64
    assert (suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("0", "0", "0")
    assert {c.get("classname") for c in cases} == {"kl_compat.torch.functional", "kl_compat.torch.module"}
    assert {c.get("name") for c in cases} == {r.case for r in results.read(where / "results/latest.jsonl").records}


def test_junit_failures_skips_and_known_differences(tmp_path):
    known = dict(record("core/proper/2d/float32/mean/prob", "paddle", status="differs", kinds=["warning"]))
    known["differences"] = [dict(known["differences"][0], known="Paddle never warns about 'mean'.")]
    recs = [
        record("core/proper/2d/float32/none/prob", "paddle"),
        known,
        record("edge/negative-target/2d/float32/none/prob", "paddle", status="differs", kinds=["nan-inf", "gradient"]),
        record("core/proper/2d/float16/none/prob", "paddle", status="unsupported", unsupported="float16"),
        record("core/proper/2d/float32/none/prob", "rtorch", status="unavailable"),
    ]
    path = write_results(tmp_path / "r.jsonl", [adapter_line("paddle"), adapter_line("rtorch", available=False)], recs)
    out = junit.write(results.read(path), tmp_path / "j.xml")
    root = ET.parse(out).getroot()
    assert [root.get(k) for k in ("tests", "failures", "skipped", "errors")] == ["5", "1", "2", "0"]
    paddle, rtorch = root
    assert [paddle.get(k) for k in ("name", "tests", "failures", "skipped")] == ["paddle", "4", "1", "1"]
    assert [rtorch.get(k) for k in ("name", "tests", "failures", "skipped")] == ["rtorch", "1", "0", "1"]
    failure = paddle.find("testcase[@name='edge/negative-target/2d/float32/none/prob']/failure")
    assert failure.get("type") == "nan-inf" and failure.text.count("\n") == 1  # both new differences
    assert paddle.find("testcase[@name='core/proper/2d/float16/none/prob']/skipped").get("message") == "unsupported: float16"
    passed = paddle.find("testcase[@name='core/proper/2d/float32/mean/prob']")
    assert passed.find("failure") is None and "Paddle never warns" in passed.find("system-out").text


def test_doctor_format_json(capsys):
    pytest.importorskip("torch")
    assert cli.main(["doctor", "--adapters", "torch", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == cli.run.DOCTOR_SCHEMA
    (row,) = doc["adapters"]
    assert row["adapter"] == "torch" and row["available"] is True and row["version"].startswith("2.")
    assert {"label", "framework", "python", "reason", "hint"} <= set(row)


# ---- optional dependencies: one line naming the extra --------------------------------------------------

WITHOUT = """
import sys
sys.modules[{module!r}] = None  # `import {module}` fails, as where the [cli] extra is not installed
from kl_compat.cli import main
sys.exit(main({argv!r}))
"""


def _without(module: str, argv: list, cwd: Path) -> subprocess.CompletedProcess:
    return _run(sys.executable, "-c", WITHOUT.format(module=module, argv=argv), cwd=cwd)


def test_report_and_guide_without_jinja2_say_which_extra(tmp_path):
    path = write_results(tmp_path / "r.jsonl", [adapter_line("torch")], [record("core/proper/2d/float32/none/prob", "torch")])
    for argv, what in ((["report", str(path), "--out", "out"], "the report"), (["guide", "--from", "torch", "--to", "paddle"], "the guide")):
        proc = _without("jinja2", argv, tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"kl-compat {argv[0]}: error: {what} ({'its HTML page and reproducers' if argv[0] == 'report' else 'its reproducers'}) "
            "needs jinja2, which is not installed: pip install 'kl-compat[cli]'"]
    assert not (tmp_path / "out").exists()


def test_run_without_tqdm_says_which_extra_once(tmp_path):
    pytest.importorskip("torch")
    proc = _without("tqdm", ["run", "--adapters", "torch", "--cases", "core/proper/2d/float32/*"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if "tqdm" in line]
    assert notes == ["kl-compat: note: no progress bar: tqdm is not installed (pip install 'kl-compat[cli]'; "
                     "--quiet to go without)"]
    assert "Traceback" not in proc.stderr
