"""`kl-compat report`: summaries, findings, run information, atomic writes, reproducers, the committed report.

Synthetic results files give exact expectations; one module-scoped run goes through torch and Paddle for real.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kl_compat import golden, results, spec
from kl_compat.cli import main
from kl_compat.report import model, write_files
from kl_compat.report.assemble import build, write
from kl_compat.run import AdapterSpec, run

from fault_adapters import SpecAdapter  # tests/ is on sys.path (rootdir conftest)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).parent


# ---- synthetic results files (shared with test_diff.py, test_claims.py and test_guide.py) ----------

def record(case, adapter, surface="functional", status="match", kinds=(), version="1.0", shape=(), value=0.5,
           observed_status=None, unsupported=None, error=None):
    diffs = [{"kind": k, "message": f"{k} differs in {case}", "known": None} for k in kinds]
    obs = {"status": observed_status or {"match": "ok", "differs": "ok", "error": "raised"}.get(status, status),
           "shape": list(shape), "dtype": "float32", "warnings": [], "error": error, "value": value,
           "grad_input": None, "grad_target": None, "seconds": 0.001, "detail": None, "unsupported": unsupported}
    return {"type": "record", "case": case, "group": case.split("/")[0], "adapter": adapter, "surface": surface,
            "version": version if status != "unavailable" else None, "status": status, "differences": diffs,
            "max_ulp": None, "convention": None, "observed": obs}


def adapter_line(label, version="1.0", available=True, name=None, reason=None, surfaces=("functional",)):
    line = {"type": "adapter", "adapter": label, "name": name or label, "available": available,
            "environment": None}
    if available:
        line.update(framework=name or label, version=version, python="3.11.7", numpy=np.__version__,
                    platform="Linux-test", executable="/nonexistent/python", surfaces=list(surfaces))
    else:
        line.update(reason=reason or "not installed", hint="install it")
    return line


def write_results(path: Path, adapters, records, *, cases: int = 1230, end: bool = True, goldens=None) -> Path:
    manifest = golden.read_manifest(golden.default_dir())
    lines = [{"type": "run", "schema": results.SCHEMA, "kl_compat": "0.1.0", "started": "2026-01-01T00:00:00+00:00",
              "argv": ["test"], "python": "3.11.7", "numpy": np.__version__, "platform": "Linux-test",
              "goldens": goldens or golden.manifest_digest(manifest), "cases": cases, "selected": cases,
              "shard": None, "patterns": None}]
    by_adapter = {}
    for r in records:
        by_adapter.setdefault(r["adapter"], []).append(r)
    for a in adapters:
        lines.append(a)
        lines.extend(by_adapter.get(a["adapter"], []))
    if end:
        lines.append({"type": "end", "finished": "2026-01-01T00:01:00+00:00", "counts": {}, "known_problems": [],
                      "strict": False, "unavailable": {}})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


KNOWN = '''
[[difference]]
adapter = "alpha"
cases = "edge/*"
kind = "nan-inf"
reason = "alpha returns 0 for negative targets."
link = "https://example.org/alpha/1"
'''


@pytest.fixture
def synthetic(tmp_path):
    recs = [
        record("core/a/2d/float32/mean/prob", "alpha"),
        record("core/b/2d/float32/mean/prob", "alpha"),
        record("core/c/2d/float32/sum/prob", "alpha", surface="module"),
        record("edge/negative-target/2d/float32/none/prob", "alpha", status="differs", kinds=["nan-inf"]),
        record("edge/negative-target/2d/float32/none/prob", "alpha", surface="module", status="differs",
               kinds=["nan-inf"]),
        record("core/d/2d/float32/batchmean/prob", "alpha", status="differs", kinds=["shape"], shape=(4,)),
        record("core/d/2d/float16/batchmean/prob", "alpha", status="error", kinds=["error-vs-value"],
               error={"type": "RuntimeError", "message": "no kernel"}),
        record("legacy/x/2d/float32/sum,size_average=False,reduce=None/prob", "alpha", status="unsupported",
               kinds=["unsupported-argument"], unsupported="size_average/reduce"),
        record("core/e/4d/float32/sum/prob", "alpha", status="crashed", kinds=["crashed"]),
        *[record(f"core/{v}/2d/float32/sum/prob", "rtorch", status="unavailable") for v in "abc"],
    ]
    path = write_results(tmp_path / "r.jsonl", [adapter_line("alpha", surfaces=("functional", "module")),
                                                adapter_line("rtorch", available=False, reason="R package torch missing")],
                         recs)
    known_file = tmp_path / "known.toml"
    known_file.write_text(KNOWN)
    return path, known_file


def test_summary_counts_per_adapter_and_surface(synthetic):
    path, known_file = synthetic
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    rows = {(r["column"], r["surface"]): r for r in m["summary"]}
    assert set(rows) == {("alpha", "functional"), ("alpha", "module")}  # rtorch did not run: no row
    f = rows[("alpha", "functional")]
    assert (f["run"], f["match"], f["differs_known"], f["differs_new"], f["unsupported"], f["error"], f["error_new"],
            f["crashed"], f["timeout"]) == (7, 2, 1, 1, 1, 1, 1, 1, 0)
    mod = rows[("alpha", "module")]
    assert (mod["run"], mod["match"], mod["differs_known"]) == (2, 1, 1)
    # new = records with a difference the known file does not explain: shape, error, unsupported, crashed
    assert m["new"] == 4
    cols = {c["id"]: c for c in m["columns"]}
    assert cols["rtorch"]["available"] is False and "R package torch missing" in cols["rtorch"]["reason"]


def test_markdown_lists_not_run_adapters_and_never_as_passing(synthetic):
    path, known_file = synthetic
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    from kl_compat.report import markdown

    md = markdown.render(m)
    assert re.search(r"\| rtorch \| NOT RUN \|", md)
    assert "**rtorch: NOT RUN**" in md and "R package torch missing" in md
    summary = md.split("## Summary")[1].split("## Documented claims")[0]
    assert not re.search(r"\| rtorch \| \w+ \| \d", summary)  # no counts for it at all
    assert "**4 record(s) show a NEW difference**" in md


def test_findings_group_by_known_reason_and_by_kind_and_family(synthetic):
    path, known_file = synthetic
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    by_title = {(f["known"], tuple(f["kinds"]), f.get("family")): f for f in m["findings"]}
    known_f = by_title[(True, ("nan-inf",), None)]
    assert known_f["surfaces"] == ["functional", "module"] and known_f["count"] == 2
    assert known_f["reason"] == "alpha returns 0 for negative targets." and known_f["link"] == "https://example.org/alpha/1"
    assert known_f["entry"] == 1
    assert (False, ("shape",), "core/d") in by_title
    assert (False, ("error-vs-value",), "core/d") in by_title
    assert (False, ("crashed",), "core/e") in by_title
    assert [f["known"] for f in m["findings"]] == sorted(f["known"] for f in m["findings"])  # new ones first
    md = __import__("kl_compat.report.markdown", fromlist=["render"]).render(m)
    assert md.count("\n### ") == len(m["findings"])


def test_report_exit_status_is_one_only_for_new_differences(synthetic, tmp_path):
    path, known_file = synthetic
    args = ["report", str(path), "--out", str(tmp_path / "out"), "--known", str(known_file), "--no-reproducers",
            "--no-screenshot", "--quiet"]
    assert main(args) == 1
    only_known = write_results(tmp_path / "known-only.jsonl", [adapter_line("alpha")], [
        record("core/a/2d/float32/mean/prob", "alpha"),
        record("edge/negative-target/2d/float32/none/prob", "alpha", status="differs", kinds=["nan-inf"])])
    assert main(["report", str(only_known), "--out", str(tmp_path / "out2"), "--known", str(known_file),
                 "--no-reproducers", "--no-screenshot", "--quiet"]) == 0
    for name in ("report.md", "report.html", "report.json"):
        assert (tmp_path / "out2" / name).stat().st_size > 0
    from kl_compat import guide  # one page per ordered pair of the registered frameworks

    assert sorted(p.name for p in (tmp_path / "out2" / "guides").iterdir()) == sorted(
        guide.file_name(a, b) for a, b in guide.pairs())
    assert {"torch-to-paddle.md", "paddle-to-rtorch.md"} <= {p.name for p in (tmp_path / "out2" / "guides").iterdir()}


def test_known_flags_come_from_the_report_s_own_known_file(synthetic, tmp_path):
    path, _ = synthetic
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    m = build([path], known_path=empty, reproduce=False, probe=False)
    assert m["new"] == 6 and all(not f["known"] for f in m["findings"])  # 4 before, + both nan-inf records
    assert m["run_info"]["known_differences"]["sha256"] == model.sha256_file(empty)


def test_run_information_is_captured(synthetic):
    path, known_file = synthetic
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    info = m["run_info"]
    assert info["goldens"] == golden.manifest_digest(golden.read_manifest(golden.default_dir()))
    assert info["known_differences"]["sha256"] == model.sha256_file(known_file)
    assert info["claims"]["sha256"] == model.sha256_file(ROOT / "conformance" / "claims.toml")
    assert info["machine"]["numpy"] == np.__version__ and info["machine"]["python"]
    assert "r" in info["machine"]  # R's version, or None where R is not installed
    assert info["inputs"][0]["sha256"] == model.sha256_file(path)
    alpha = next(c for c in m["columns"] if c["id"] == "alpha")
    assert (alpha["version"], alpha["python"], alpha["numpy"], alpha["platform"]) == ("1.0", "3.11.7", np.__version__,
                                                                                       "Linux-test")
    md = __import__("kl_compat.report.markdown", fromlist=["render"]).render(m)
    assert info["goldens"] in md and info["known_differences"]["sha256"] in md


def test_versions_of_one_adapter_become_columns_and_shards_merge(tmp_path):
    old = write_results(tmp_path / "old.jsonl", [adapter_line("paddle", "2.6.2")],
                        [record("core/a/2d/float32/mean/prob", "paddle", version="2.6.2", status="differs", kinds=["value"])])
    new1 = write_results(tmp_path / "new1.jsonl", [adapter_line("paddle", "3.3.1")],
                         [record("core/a/2d/float32/mean/prob", "paddle", version="3.3.1")])
    new2 = write_results(tmp_path / "new2.jsonl", [adapter_line("paddle", "3.3.1")],
                         [record("core/b/2d/float32/mean/prob", "paddle", version="3.3.1")])
    loaded = model.load([old, new1, new2])
    assert list(loaded.columns) == ["paddle@2.6.2", "paddle@3.3.1"]
    assert {k for k in loaded.records} == {("paddle@2.6.2", "functional", "core/a/2d/float32/mean/prob"),
                                           ("paddle@3.3.1", "functional", "core/a/2d/float32/mean/prob"),
                                           ("paddle@3.3.1", "functional", "core/b/2d/float32/mean/prob")}
    shards = model.load([new1, new2])
    assert list(shards.columns) == ["paddle"] and len(shards.records) == 2


def test_a_truncated_results_file_is_reported_not_hidden(tmp_path):
    path = write_results(tmp_path / "cut.jsonl", [adapter_line("alpha")],
                         [record("core/a/2d/float32/mean/prob", "alpha")], end=False)
    m = build([path], reproduce=False, probe=False)
    assert m["run_info"]["inputs"][0]["truncated"] is True
    assert any("stopped before its end line" in n for n in m["notes"])


def test_no_records_at_all_is_an_error(tmp_path):
    path = write_results(tmp_path / "empty.jsonl", [adapter_line("alpha")], [])
    with pytest.raises(model.ReportError, match="never green on empty"):
        model.load([path])


# ---- atomic writing ---------------------------------------------------------------------------------

def test_an_error_while_rendering_leaves_the_previous_report(synthetic, tmp_path, monkeypatch):
    path, known_file = synthetic
    out = tmp_path / "out"
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    write(m, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from kl_compat.report import html

    monkeypatch.setattr(html, "render", lambda m: (_ for _ in ()).throw(RuntimeError("template broke")))
    m["generated"] = "2099-01-01T00:00:00+00:00"
    with pytest.raises(RuntimeError, match="template broke"):
        write(m, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_kill_while_writing_never_leaves_a_half_written_report(tmp_path):
    out = tmp_path / "out"
    write_files(out, {"report.md": "old md\n", "report.html": "old html\n", "report.json": "{}\n"})
    script = f"""
import os, sys, time
sys.path.insert(0, {str(ROOT)!r})
from kl_compat.report import write_files
real = os.fsync
calls = []
def slow(fd):
    calls.append(fd)
    real(fd)
    if len(calls) == 2:          # the second file is on disk (as a temporary), the third not yet
        print("staged", flush=True)
        time.sleep(60)
os.fsync = slow
write_files({str(out)!r}, {{"report.md": "new md " * 100000, "report.html": "new html", "report.json": "[]"}})
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "staged"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (out / "report.md").read_text() == "old md\n"
    assert (out / "report.html").read_text() == "old html\n"
    assert (out / "report.json").read_text() == "{}\n"
    write_files(out, {"report.md": "next\n", "report.html": "next\n", "report.json": "next\n"})
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]  # leftovers removed


# ---- reproducers through a real worker ----------------------------------------------------------------

class ZeroNegativeAdapter(SpecAdapter):
    """The spec, but with convention nonpositive_target='zero' (Paddle's): 0 for every target <= 0.
    Workers load it as "test_report:ZeroNegativeAdapter" (tests/ on PYTHONPATH, the fault_env fixture)."""

    name = "zero-negative"

    def kl_div(self, surface, input, target, call):
        out = super().kl_div(surface, input, target, call)
        r = spec.reference(input.values, target.values, call, input.dtype, target.dtype,
                           spec.Convention(nonpositive_target="zero"))
        out.values = r.rounded().astype(np.float64)
        return out


def test_reproducer_is_minimised_to_one_offending_element(fault_env, tmp_path, golden_by_id, monkeypatch):
    # The adapter lives in this module; workers import it with tests/ on PYTHONPATH.
    out = tmp_path / "r.jsonl"
    summary = run([AdapterSpec("test_report:ZeroNegativeAdapter")], out,
                  patterns=["edge/negative-target/2d/float32/none/prob", "edge/negative-target/2d/float32/sum/prob"])
    assert summary.records == 2
    m = build([out], reproduce=True, probe=False)
    (f,) = [f for f in m["findings"] if "nan-inf" in f["kinds"]]
    rep = f["reproducer"]
    assert rep["minimised"] is True
    assert np.size(rep["input"]) == 1 and np.size(rep["target"]) == 1
    assert rep["input_shape"] == [1, 1] and rep["target_shape"] == [1, 1]  # same rank as the failing case
    target = float(np.asarray(rep["target"]).reshape(-1)[0])
    assert target < 0  # the offending element: a negative target
    original = golden_by_id[rep["case"]]
    assert target in set(np.asarray(original.target, np.float64).reshape(-1).tolist())
    assert rep["spec"]["value"] in ("nan", [["nan"]])
    assert rep["observed"]["status"] == "differs" and "nan-inf" in rep["observed"]["kinds"]
    assert rep["code"] is None  # no template for a test adapter; a framework's is tested below


# ---- the real run: torch and Paddle --------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("paddle")
    d = tmp_path_factory.mktemp("real")
    rc = main(["report", "--run-out", str(d / "latest.jsonl"), "--out", str(d / "report"), "--guides",
               str(d / "guides"), "--adapters", "torch,paddle,rtorch", "--no-screenshot", "--quiet",
               "--allow-unavailable"])  # (R torch may be missing: the report lists it NOT RUN, see below)
    return rc, d, json.loads((d / "report" / "report.json").read_text())


@pytest.mark.slow
def test_real_report_runs_the_matrix_and_writes_three_formats(real_report):
    rc, d, m = real_report
    res = results.read(d / "latest.jsonl")
    assert rc == (1 if m["new"] else 0)
    assert m["schema"] == "kl-compat-report/1"
    for name in ("report.md", "report.html", "report.json"):
        assert (d / "report" / name).stat().st_size > 1000
    from kl_compat import guide

    assert len(list((d / "guides").glob("*-to-*.md"))) == len(guide.pairs())
    cols = {c["id"]: c for c in m["columns"]}
    versions = {a.adapter: a.version for a in res.adapters if a.available}
    assert {k: cols[k]["version"] for k in versions} == versions
    rt = cols.get("rtorch")
    if rt is not None and not rt["available"]:  # as on this machine: listed, never counted as passing
        assert not [r for r in m["summary"] if r["column"] == "rtorch"]
        assert "| rtorch | NOT RUN |" in (d / "report" / "report.md").read_text()
        assert all(r["status"] == "not measured" for c in m["claims"] if c["framework"] == "rtorch" for r in c["results"])
    # The summary adds up to the results file, record for record.
    for row in m["summary"]:
        recs = [r for r in res.records if r.adapter == row["column"] and r.surface == row["surface"]]
        assert row["run"] == len(recs)
        assert row["match"] == sum(r.status == "match" for r in recs)


@pytest.mark.slow
def test_real_claims_agree_with_the_raw_records(real_report):
    _, d, m = real_report
    res = results.read(d / "latest.jsonl")
    claim = next(c for c in m["claims"] if c["id"] == "paddle-batchmean-shape-N")
    (paddle,) = [r for r in claim["results"] if r["column"] == "paddle"]
    shapes = [r.observed.shape for r in res.records if r.adapter == "paddle" and r.observed is not None
              and re.fullmatch(r"core/[^/]+/2d/[^/]+/batchmean/[^/]+", r.case) and r.observed.status == "ok"]
    assert shapes, "no paddle batchmean call returned"
    assert paddle["status"] == ("held" if all(s == [4] for s in shapes) else "contradicted")


@pytest.mark.slow
def test_real_reproducers_are_small_and_runnable_as_printed(real_report, golden_by_id, tmp_path):
    _, d, m = real_report
    ran = 0
    for f in m["findings"]:
        rep = f["reproducer"]
        original = golden_by_id[rep["case"]]
        size = int(np.prod(rep["input_shape"]))
        assert size <= original.input.size
        if rep["minimised"]:
            assert len(rep["input_shape"]) == original.input.ndim or original.input.shape != original.target.shape
        if rep.get("language") != "python" or not rep.get("code"):
            continue
        script = tmp_path / f"{f['id']}.py"
        script.write_text(rep["code"])
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
        ran += 1
        observed = rep["observed"] or {}
        if observed.get("observed") == "raised":
            assert proc.returncode != 0 and observed["error"]["type"] in proc.stderr, proc.stderr[-2000:]
        elif observed.get("observed") == "unsupported":
            assert proc.returncode != 0 and "TypeError" in proc.stderr
        elif proc.returncode != 0 and "second-order" in f["kinds"]:  # the value is fine; its double backward raises
            raised = [e["message"] for e in f["examples"] if e["kind"] == "second-order" and " raised " in e["message"]]
            assert raised and raised[0].split(" raised ")[1].split(":")[0] in proc.stderr, proc.stderr[-2000:]
        else:
            assert proc.returncode == 0, proc.stderr[-2000:]
            if observed.get("observed") == "ok":  # the snippet prints what the worker observed
                printed = proc.stdout.splitlines()[0]
                match = re.fullmatch(r"(\S+) (\(.*?\)|\[.*?\]) (.*)", printed)
                assert match, printed
                value = eval(match.group(3), {"nan": float("nan"), "inf": float("inf")})  # our own output
                want = np.asarray(_num(observed["value"]), float)
                assert np.allclose(np.asarray(value, float), want, equal_nan=True, rtol=1e-6), (printed, want)
    assert ran >= 2


def _num(v):
    if isinstance(v, list):
        return [_num(x) for x in v]
    return {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(v, v) if isinstance(v, str) else v


# ---- the committed report -------------------------------------------------------------------------------

def test_committed_report_is_not_older_than_its_inputs():
    """Fails when the goldens, the known-differences file or the claims changed since conformance/report/
    was generated: regenerate it with `bash .ci/setup.sh && .venv/bin/kl-compat report`."""
    committed = ROOT / "conformance" / "report" / "report.json"
    assert committed.exists(), "conformance/report/report.json is missing: run `kl-compat report`"
    m = json.loads(committed.read_text())
    info = m["run_info"]
    fix = "; regenerate with `.venv/bin/kl-compat report`"
    assert info["goldens"] == golden.manifest_digest(golden.read_manifest(golden.default_dir())), \
        "the goldens changed since the committed report was made" + fix
    assert info["known_differences"]["sha256"] == model.sha256_file(ROOT / "conformance" / "known_differences.toml"), \
        "the known-differences file changed since the committed report was made" + fix
    assert info["claims"]["sha256"] == model.sha256_file(ROOT / "conformance" / "claims.toml"), \
        "the claims changed since the committed report was made" + fix
    md = (ROOT / "conformance" / "report" / "report.md").read_text()
    assert m["generated"] in md, "report.md and report.json come from different runs" + fix
    html = (ROOT / "conformance" / "report" / "report.html").read_text()
    assert m["generated"] in html, "report.html and report.json come from different runs" + fix
    for a in ("torch", "paddle", "rtorch"):
        for b in ("torch", "paddle", "rtorch"):
            if a != b:
                guide = (ROOT / "conformance" / "guides" / f"{a}-to-{b}.md").read_text()
                assert m["generated"] in guide, f"guides/{a}-to-{b}.md is not from the committed report" + fix


def test_the_staleness_check_can_fail(tmp_path):
    """The check above compares checksums; a known-differences file edited by one byte changes its sha256."""
    src = (ROOT / "conformance" / "known_differences.toml").read_bytes()
    edited = tmp_path / "known.toml"
    edited.write_bytes(src + b"\n")
    assert model.sha256_file(edited) != model.sha256_file(ROOT / "conformance" / "known_differences.toml")


# ---- snippets in each framework's language ------------------------------------------------------------

def test_r_reproducer_for_r_torch_is_the_recorded_case_and_parses_as_r(tmp_path, golden_by_id):
    case = "core/proper/2d/float32/batchmean/prob"
    injected = "invalid/proper/2d/float32/mean'); stop('injected'); ('/prob"
    line = adapter_line("rtorch", "0.14.0", surfaces=("nnf_kl_div", "nn_kl_div_loss"))
    line["environment"] = "r-elsewhere"  # an environment this machine does not have: nothing can run it here
    path = write_results(tmp_path / "r.jsonl", [line], [
        record(case, "rtorch", surface="nnf_kl_div", version="0.14.0", status="differs", kinds=["value"]),
        record(injected, "rtorch", surface="nn_kl_div_loss", version="0.14.0", status="differs", kinds=["error-vs-value"])])
    m = build([path], reproduce=True, probe=False)
    reps = {f["reproducer"]["case"]: f["reproducer"] for f in m["findings"]}
    rep = reps[case]
    assert rep["language"] == "r" and rep["minimised"] is False
    assert "not minimised" in rep["note"] and "'r-elsewhere', which conformance/environments.toml does not" in rep["note"]
    code = rep["code"]
    assert code.startswith("library(torch)\n")
    assert 'out <- nnf_kl_div(input, target, reduction = "batchmean")' in code
    m_in = re.search(r"input <- torch_tensor\(array\(c\(([^)]*)\), dim = c\(4, 5\)\), dtype = torch_float32\(\)\)", code)
    assert m_in, code
    values = np.array([float(v) for v in m_in.group(1).split(", ")]).reshape((4, 5), order="F")  # R is column-major
    assert np.array_equal(values, golden_by_id[case].input.astype(np.float64))
    assert "$requires_grad_(TRUE)" in code
    evil = reps[injected]["code"]
    assert "nn_kl_div_loss(reduction = \"mean'); stop('injected'); ('\")(input, target)" in evil
    if not __import__("shutil").which("Rscript"):
        pytest.skip("R is not installed: the snippets' R syntax is not checked")
    for name, text in (("a.R", code), ("b.R", evil)):
        (tmp_path / name).write_text(text)
        proc = subprocess.run(["Rscript", "-e", f"invisible(parse(file = '{tmp_path / name}')); cat('parsed')"],
                              capture_output=True, text=True, timeout=120)
        assert proc.stdout.endswith("parsed"), proc.stderr


def test_python_literals_cover_edges_and_empty_inputs():
    from kl_compat import reproducer

    call = spec.Call("sum", True, None, None)
    case = golden.make_case("t", np.array([[np.nan, np.inf], [-np.inf, 0.5]]), np.array([[0.0, -1.0], [2.0, 3.0]]),
                                call, "float64", "float64")
    for fw in ("torch", "paddle"):
        code = reproducer.render(fw, "functional", case, ["nan-inf"])
        compile(code, f"<{fw}>", "exec")
        assert 'float("nan")' in code and '-float("inf")' in code
    empty = golden.make_case("e", np.zeros((0, 4)), np.zeros((0, 4)), call, "float32", "float32")
    assert "torch.zeros((0, 4), dtype=torch.float32, requires_grad=True)" in reproducer.render("torch", "module", empty, [])
    assert "paddle.zeros([0, 4], dtype='float32')" in reproducer.render("paddle", "functional", empty, [])
    big = golden.make_case("b", np.zeros((128, 512)), np.zeros((128, 512)), call, "float32", "float32")
    assert reproducer.render("torch", "functional", big, []) is None  # too large to print as literals


def test_stale_known_entries_are_reported_for_complete_runs_only(tmp_path):
    known_file = tmp_path / "known.toml"
    known_file.write_text(KNOWN + '\n[[difference]]\nadapter = "alpha"\ncases = "nothing/*"\nkind = "value"\n'
                                  'reason = "matches nothing"\n')
    recs = [record("core/a/2d/float32/mean/prob", "alpha"),
            record("edge/negative-target/2d/float32/none/prob", "alpha", status="differs", kinds=["nan-inf"])]
    complete = write_results(tmp_path / "all.jsonl", [adapter_line("alpha")], recs, cases=2)
    m = build([complete], known_path=known_file, reproduce=False, probe=False)
    assert m["known_problems"] == ["stale: entry 2 (alpha, value, nothing/*) matches no case that ran"]
    partial = write_results(tmp_path / "part.jsonl", [adapter_line("alpha")], recs, cases=1230)
    assert build([partial], known_path=known_file, reproduce=False, probe=False)["known_problems"] == []


def test_markdown_of_many_known_differences_fits_a_comment_and_links_each(synthetic):
    path, known_file = synthetic
    m = build([path], known_path=known_file, reproduce=False, probe=False)
    from kl_compat.report import markdown

    known = next(f for f in m["findings"] if f["known"])
    many = [dict(known, id=f"alpha-{i:04d}", title=f"cause {i}", reason="a long reason. " * 60) for i in range(400)]
    m["findings"] = [f for f in m["findings"] if not f["known"]] + many
    md = markdown.render(m)
    assert len(md) <= markdown.PR_COMMENT_LIMIT
    assert all(f"(report.html#alpha-{i:04d})" in md for i in range(400))  # every known one: a row, linked
    assert "not in the known-differences file" in md  # the new ones stay whole
    assert "a long reason" not in md
