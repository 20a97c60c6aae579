"""`kl-compat diff`: accuracy that got worse between two runs, listed apart from broken verdicts."""

from __future__ import annotations

import json

from kl_compat import diff
from kl_compat.cli import main

from test_report import adapter_line, record, write_results


def _run(path, version, ulps, conds, extra=()):
    recs = []
    for i, (u, c) in enumerate(zip(ulps, conds)):
        r = record(f"core/v{i}/2d/float32/sum/prob", "torch", version=version)
        r["max_ulp"], r["max_cond"] = u, c
        recs.append(r)
    recs.extend(extra)
    return write_results(path, [adapter_line("torch", version)], recs)


def _pair(tmp_path, new_ulps, new_conds=None):
    old = _run(tmp_path / "old.jsonl", "2.13.0", [0.0] * 20 + [2.0], [0.0] * 20 + [0.5])
    new = _run(tmp_path / "new.jsonl", "2.14.1", new_ulps, new_conds or [0.0] * len(new_ulps))
    return old, new


def test_a_p99_that_more_than_doubles_is_worse_and_apart_from_broken(tmp_path):
    old, new = _pair(tmp_path, [0.0] * 20 + [5.0])
    d = diff.diff(diff.load(old), diff.load(new))
    assert d["worse"] == [{"adapter": "torch", "dtype": "float32", "reduction": "sum", "measure": "ulp",
                           "old_p99": 2.0, "new_p99": 5.0, "old_n": 21, "new_n": 21}]
    assert d["rows"]["broken"] == [] and d["broke"] is False


def test_rounding_noise_is_not_worse(tmp_path):
    old = _run(tmp_path / "old.jsonl", "2.13.0", [0.0] * 5, [0.0] * 5)
    new = _run(tmp_path / "new.jsonl", "2.14.1", [0.5] * 5, [2.0] * 5)  # 0 -> 0.5 ulp; 0 -> 2 (the floor's double)
    assert diff.diff(diff.load(old), diff.load(new))["worse"] == []
    new = _run(tmp_path / "new.jsonl", "2.14.1", [0.5] * 5, [2.5] * 5)
    assert [w["measure"] for w in diff.diff(diff.load(old), diff.load(new))["worse"]] == ["cond"]


def test_exit_status_only_with_fail_on_worse_and_each_format_lists_it(tmp_path, capsys):
    old, new = _pair(tmp_path, [0.0] * 20 + [5.0])
    assert main(["diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "Worse accuracy (1;" in out and "torch float32 sum (ulp): p99 2 -> 5 ulp (21 -> 21 records)" in out
    assert out.rstrip().endswith("0 broken, 0 fixed, 0 changed, 1 worse accuracy")
    assert main(["diff", str(old), str(new), "--fail-on-worse"]) == 1
    capsys.readouterr()
    assert main(["diff", str(old), str(new), "--format", "markdown"]) == 0
    assert "<summary>worse accuracy (1)</summary>" in capsys.readouterr().out
    assert main(["diff", str(old), str(new), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["worse"][0]["new_p99"] == 5.0
    # Better accuracy is never flagged, with or without the flag.
    assert main(["diff", str(new), str(old), "--fail-on-worse"]) == 0


def test_a_broken_record_still_breaks_and_files_without_max_cond_compare_ulps_only(tmp_path):
    was = record("core/b/2d/float32/sum/prob", "torch", version="2.13.0")
    now = record("core/b/2d/float32/sum/prob", "torch", version="2.14.1", status="differs", kinds=["value"])
    old = _run(tmp_path / "old.jsonl", "2.13.0", [0.0] * 21, [None] * 21, extra=[was])
    new = _run(tmp_path / "new.jsonl", "2.14.1", [0.0] * 20 + [9.0], [None] * 21, extra=[now])
    d = diff.diff(diff.load(old), diff.load(new))
    assert [w["measure"] for w in d["worse"]] == ["ulp"] and d["broke"]
    assert main(["diff", str(old), str(new)]) == 1
