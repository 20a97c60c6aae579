"""`kl-compat diff OLD NEW`: fixed, broken and changed, keyed so that framework upgrades diff as one column."""

from __future__ import annotations

import json

import pytest

from kl_compat import diff, results
from kl_compat.cli import main
from kl_compat.report import json_report
from kl_compat.report.assemble import build
from kl_compat.run import AdapterSpec, run

from test_report import adapter_line, record, write_results


def _pair(tmp_path):
    old = write_results(tmp_path / "old.jsonl", [adapter_line("torch", "2.12.0"), adapter_line("rtorch", available=False)], [
        record("core/fixed/2d/float32/mean/prob", "torch", version="2.12.0", status="differs", kinds=["value"]),
        record("core/broken/2d/float32/mean/prob", "torch", version="2.12.0"),
        record("core/lost-kind/2d/float32/mean/prob", "torch", version="2.12.0", status="differs",
               kinds=["value", "gradient"]),
        record("core/new-kind/2d/float32/mean/prob", "torch", version="2.12.0", status="differs", kinds=["value"]),
        record("core/lost-arg/2d/float32/mean/log", "torch", version="2.12.0"),
        record("core/same/2d/float32/mean/prob", "torch", version="2.12.0", status="differs", kinds=["warning"]),
        record("core/removed/2d/float32/mean/prob", "torch", version="2.12.0"),
        record("core/x/2d/float32/mean/prob", "rtorch", status="unavailable"),
    ])
    new = write_results(tmp_path / "new.jsonl", [adapter_line("torch", "2.13.0"), adapter_line("rtorch", "0.14.0")], [
        record("core/fixed/2d/float32/mean/prob", "torch", version="2.13.0"),
        record("core/broken/2d/float32/mean/prob", "torch", version="2.13.0", status="error", kinds=["error-vs-value"]),
        record("core/lost-kind/2d/float32/mean/prob", "torch", version="2.13.0", status="differs", kinds=["value"]),
        record("core/new-kind/2d/float32/mean/prob", "torch", version="2.13.0", status="differs",
               kinds=["value", "nan-inf"]),
        record("core/lost-arg/2d/float32/mean/log", "torch", version="2.13.0", status="unsupported",
               kinds=["unsupported-argument"]),
        record("core/same/2d/float32/mean/prob", "torch", version="2.13.0", status="differs", kinds=["warning"]),
        record("core/added/2d/float32/mean/prob", "torch", version="2.13.0"),
        record("core/x/2d/float32/mean/prob", "rtorch", version="0.14.0", status="differs", kinds=["value"]),
    ])
    return old, new


def _cases(d, cat):
    return sorted(r["case"].split("/")[1] for r in d["rows"][cat])


def test_fixed_broken_changed_new_and_removed(tmp_path):
    old, new = _pair(tmp_path)
    d = diff.diff(diff.load(old), diff.load(new))
    assert _cases(d, "fixed") == ["fixed"]
    assert _cases(d, "broken") == ["broken", "lost-arg", "new-kind"]
    assert _cases(d, "changed") == ["lost-kind"]
    assert _cases(d, "new") == ["added"]
    assert _cases(d, "removed") == ["removed"]
    assert d["broke"] is True
    assert "torch: 2.12.0 -> 2.13.0" in d["context"]
    # rtorch did not run in OLD: its records are not compared (an absent framework proves nothing)
    assert any(c.startswith("rtorch: not compared: not run in OLD") for c in d["context"])
    assert all(r["adapter"] == "torch" for cat in d["rows"].values() for r in cat)
    assert d["counts"]["torch.functional"] == {"broken": 3, "fixed": 1, "changed": 1, "new": 1, "removed": 1}


def test_cli_exit_status_gates_on_broken(tmp_path, capsys):
    old, new = _pair(tmp_path)
    assert main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "Broken (3):" in out and "torch.functional core/broken/2d/float32/mean/prob: match -> error (error-vs-value)" in out
    # Reversed, only what was fixed in one direction is broken in the other.
    assert main(["diff", str(new), str(old)]) == 1
    only_fixes = write_results(tmp_path / "fixes.jsonl", [adapter_line("torch", "2.13.0")], [
        record("core/fixed/2d/float32/mean/prob", "torch", version="2.13.0"),
        record("core/broken/2d/float32/mean/prob", "torch", version="2.13.0"),
        record("core/lost-kind/2d/float32/mean/prob", "torch", version="2.13.0", status="differs", kinds=["value"]),
        record("core/new-kind/2d/float32/mean/prob", "torch", version="2.13.0", status="differs", kinds=["value"]),
        record("core/lost-arg/2d/float32/mean/log", "torch", version="2.13.0"),
        record("core/same/2d/float32/mean/prob", "torch", version="2.13.0", status="differs", kinds=["warning"]),
        record("core/removed/2d/float32/mean/prob", "torch", version="2.13.0")])
    capsys.readouterr()
    assert main(["diff", str(old), str(only_fixes)]) == 0
    assert "0 broken, 1 fixed, 1 changed" in capsys.readouterr().out
    assert main(["diff", str(old), str(only_fixes), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["fixed"][0]["case"] == "core/fixed/2d/float32/mean/prob"
    assert main(["diff", str(old), str(only_fixes), "--format", "markdown"]) == 0
    assert "| torch.functional | 0 | 1 | 1 | 0 | 0 |" in capsys.readouterr().out


def test_an_empty_new_run_is_never_green(tmp_path):
    old, _ = _pair(tmp_path)
    empty = write_results(tmp_path / "empty.jsonl", [adapter_line("torch", "2.13.0", available=False)], [
        record("core/fixed/2d/float32/mean/prob", "torch", status="unavailable")])
    assert main(["diff", str(old), str(empty)]) == 4  # nothing was compared (exit 4, not 1: nothing broke)


def test_a_framework_upgrade_diffs_as_one_column(tmp_path):
    old = write_results(tmp_path / "p262.jsonl", [adapter_line("paddle", "2.6.2")], [
        record("core/a/2d/float32/mean/log", "paddle", version="2.6.2", status="unsupported",
               kinds=["unsupported-argument"]),
        record("core/b/2d/float16/mean/prob", "paddle", version="2.6.2", status="error", kinds=["error-vs-value"])])
    new = write_results(tmp_path / "p331.jsonl", [adapter_line("paddle", "3.3.1")], [
        record("core/a/2d/float32/mean/log", "paddle", version="3.3.1", status="differs", kinds=["warning"]),
        record("core/b/2d/float16/mean/prob", "paddle", version="3.3.1", status="error", kinds=["error-vs-value"])])
    d = diff.diff(diff.load(old), diff.load(new))
    assert d["context"] == ["paddle: 2.6.2 -> 3.3.1"]
    assert _cases(d, "broken") == ["a"] and not d["rows"]["new"] and not d["rows"]["removed"]
    # By label: the labels are both "paddle" here, so the result is the same.
    assert diff.diff(diff.load(old), diff.load(new), by_label=True)["rows"] == d["rows"]


def test_versions_as_columns_are_keyed_by_column(tmp_path):
    both = write_results(tmp_path / "both.jsonl", [adapter_line("paddle@2.6.2", "2.6.2", name="paddle"),
                                                     adapter_line("paddle@3.3.1", "3.3.1", name="paddle")], [
        record("core/a/2d/float32/mean/prob", "paddle@2.6.2", version="2.6.2"),
        record("core/a/2d/float32/mean/prob", "paddle@3.3.1", version="3.3.1")])
    newer = write_results(tmp_path / "newer.jsonl", [adapter_line("paddle@3.3.1", "3.3.1", name="paddle")], [
        record("core/a/2d/float32/mean/prob", "paddle@3.3.1", version="3.3.1", status="differs", kinds=["value"])])
    d = diff.diff(diff.load(both), diff.load(newer))
    assert [r["adapter"] for r in d["rows"]["broken"]] == ["paddle@3.3.1"]  # 3.3.1 against 3.3.1 only
    assert any("several versions" in n for n in d["notes"])
    assert any(c.startswith("paddle@2.6.2: not compared: not in NEW") for c in d["context"])


def test_report_json_diffs_like_its_results(tmp_path):
    old, new = _pair(tmp_path)
    jsons = []
    for p in (old, new):
        m = build([p], reproduce=False, probe=False)
        out = tmp_path / f"{p.stem}.json"
        out.write_text(json_report.dumps(m))
        jsons.append(out)
    from_results = diff.diff(diff.load(old), diff.load(new))
    from_reports = diff.diff(diff.load(jsons[0]), diff.load(jsons[1]))
    assert from_reports["rows"] == from_results["rows"]
    mixed = diff.diff(diff.load(jsons[0]), diff.load(new))
    assert mixed["rows"] == from_results["rows"]


def test_unreadable_input_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    old, _ = _pair(tmp_path)
    assert main(["diff", str(old), str(bad)]) == 2
    assert "not a kl-compat report" in capsys.readouterr().err


@pytest.mark.slow
def test_real_runs_diff(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("paddle")
    out = tmp_path / "real.jsonl"
    run([AdapterSpec("torch"), AdapterSpec("paddle")], out, patterns=["edge/negative-target/*", "core/proper/2d/*"])
    assert main(["diff", str(out), str(out)]) == 0
    # NEW: the same run with one matching record turned into a difference, and one difference fixed.
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    recs = [x for x in lines if x["type"] == "record"]
    match = next(x for x in recs if x["status"] == "match")
    differs = next(x for x in recs if x["status"] == "differs")
    match.update(status="differs", differences=[{"kind": "value", "message": "injected", "known": None}])
    differs.update(status="match", differences=[])
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(x) + "\n" for x in lines))
    d = diff.diff(diff.load(out), diff.load(edited))
    assert [(r["adapter"], r["surface"], r["case"]) for r in d["rows"]["broken"]] == [
        (match["adapter"], match["surface"], match["case"])]
    assert [(r["adapter"], r["surface"], r["case"]) for r in d["rows"]["fixed"]] == [
        (differs["adapter"], differs["surface"], differs["case"])]
    assert main(["diff", str(out), str(edited)]) == 1
    versions = {a.adapter: a.version for a in results.read(out).adapters}
    assert f"torch: {versions['torch']} (same version)" in d["context"]


def test_broken_rows_explained_by_new_known_entries(tmp_path, capsys):
    old = write_results(tmp_path / "old.jsonl", [adapter_line("paddle", "2.6.2")], [
        record("core/a/2d/float16/mean/log", "paddle", version="2.6.2", status="unsupported",
               kinds=["unsupported-argument"])])
    explained = record("core/a/2d/float16/mean/log", "paddle", version="3.3.1", status="error", kinds=["error-vs-value"])
    explained["differences"][0]["known"] = "known_differences:7"
    new = write_results(tmp_path / "new.jsonl", [adapter_line("paddle", "3.3.1")], [explained])
    d = diff.diff(diff.load(old), diff.load(new))
    assert [r["explained"] for r in d["rows"]["broken"]] == [True] and not d["broke_unexplained"]
    assert main(["diff", str(old), str(new)]) == 1  # broken is broken ...
    assert "[known]" in capsys.readouterr().out
    assert main(["diff", str(old), str(new), "--ignore-known"]) == 0  # ... unless explained, when asked
    unexplained = write_results(tmp_path / "new2.jsonl", [adapter_line("paddle", "3.3.1")], [
        record("core/a/2d/float16/mean/log", "paddle", version="3.3.1", status="error", kinds=["error-vs-value"])])
    assert main(["diff", str(old), str(unexplained), "--ignore-known"]) == 1


@pytest.mark.slow
def test_real_paddle_upgrade_diff(tmp_path):
    """Paddle 2.6.2 (its own environment, where one was created) against the project's Paddle 3."""
    from kl_compat import environments

    pytest.importorskip("paddle")
    try:
        old_spec = environments.adapter_spec("paddle@paddle-2.6.2")
    except environments.EnvError as e:
        pytest.skip(f"no Paddle 2.6.2 environment here ({e})")
    patterns = ["core/proper/2d/*", "edge/negative-target/2d/float32/*"]
    old, new = tmp_path / "p2.jsonl", tmp_path / "p3.jsonl"
    run([old_spec], old, patterns=patterns)
    run([AdapterSpec("paddle")], new, patterns=patterns)
    v_old = next(a.version for a in results.read(old).adapters)
    v_new = next(a.version for a in results.read(new).adapters)
    assert v_old != v_new
    d = diff.diff(diff.load(old), diff.load(new))
    assert d["context"] == [f"paddle: {v_old} -> {v_new}"]  # one column across the upgrade, keyed on the name
    assert not d["rows"]["new"] and not d["rows"]["removed"]
    # Every case either kept its state or is listed once, in exactly one category.
    listed = [(r["surface"], r["case"]) for cat in ("broken", "fixed", "changed") for r in d["rows"][cat]]
    assert len(listed) == len(set(listed))
    old_recs = {(r.surface, r.case): r for r in results.read(old).records}
    new_recs = {(r.surface, r.case): r for r in results.read(new).records}
    changed = {k for k in old_recs if (old_recs[k].status, old_recs[k].kinds()) != (new_recs[k].status, new_recs[k].kinds())}
    assert set(listed) == changed
