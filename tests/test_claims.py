"""Documented claims as data (conformance/claims.toml), checked against measured behaviour."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest

from kl_compat import claims
from kl_compat.adapters import REGISTRY
from kl_compat.record import Record

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [ROOT.parent / "shared" / "seeds", ROOT / "seeds"]


def _norm(text: str) -> str:
    text = " ".join(text.split())
    return re.sub(r"\s+([,.;:)\]])", r"\1", re.sub(r"([(\[])\s+", r"\1", text))


def _seed(name: str) -> str:
    for d in SEEDS:
        if (d / name).exists():
            return (d / name).read_text()
    pytest.skip(f"the seed documents are not on this machine ({name})")


def test_every_claim_quotes_its_page_verbatim():
    for c in claims.load():
        page = _norm(_seed(c["source"]))
        for part in c["quote"].split(" ... "):
            assert _norm(part.replace("\\\\", "\\")) in page, (c["id"], part)


def test_every_claim_is_about_a_registered_adapter_and_matches_cases(golden_cases):
    ids = [c.id for c in golden_cases]
    loaded = claims.load()
    assert {c["framework"] for c in loaded} == {"torch", "paddle", "rtorch"}
    for c in loaded:
        assert c["framework"] in REGISTRY, c["id"]
        for pattern in c["check"]["cases"]:
            assert any(fnmatch.fnmatchcase(i, pattern) for i in ids), (c["id"], pattern)


@pytest.mark.parametrize("body, error", [
    ('[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\n', "missing 'check'"),
    ('[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\n[claim.check]\ncases="*"\n',
     "exactly one of"),
    ('[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\n[claim.check]\ncases="*"\n'
     'shape=[]\nraises=true\n', "exactly one of"),
    ('[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\n[claim.check]\ncases="*"\n'
     'no_kind="colour"\n', "not one of"),
    ('[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\nextra=1\n[claim.check]\ncases="*"\n'
     'shape=[]\n', "unknown field"),
    ('[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\n[claim.check]\ncases="*"\nshape=[]\n'
     '[[claim]]\nid="a"\nframework="torch"\nsource="s"\nquote="q"\nasserts="x"\n[claim.check]\ncases="*"\nshape=[]\n',
     "duplicate id"),
])
def test_malformed_claims_are_rejected(tmp_path, body, error):
    p = tmp_path / "claims.toml"
    p.write_text(body)
    with pytest.raises(claims.ClaimsError, match=error):
        claims.load(p)


def _rec(status="ok", shape=(), value=0.5, kinds=(), unsupported=None, error=None, surface="functional"):
    record_status = {"ok": "differs" if kinds else "match", "raised": "error", "unsupported": "unsupported"}[status]
    return Record.from_json({
        "case": "", "adapter": "fw", "status": record_status, "surface": surface,
        "differences": [{"kind": k, "message": f"{k} message", "known": None} for k in kinds],
        "observed": {"status": status, "shape": list(shape), "value": value, "unsupported": unsupported,
                     "error": error}})


COL = {"id": "fw", "name": "fw", "version": "2.1.0", "available": True}


def _claim(check, versions=None):
    return {"id": "c", "framework": "fw", "source": "s", "quote": "q", "asserts": "a", "versions": versions,
            "check": {"surface": "*", **check}}


def _eval(check, records, column=COL, versions=None):
    recs = {("fw", r.surface, case): r for case, r in records.items()}
    return claims.evaluate_one(_claim(check, versions), column, recs)


def test_shape_check():
    recs = {"core/a/2d/f/batchmean/prob": _rec(shape=()), "core/b/2d/f/batchmean/prob": _rec(shape=()),
            "core/c/2d/f/batchmean/prob": _rec("raised", error={"type": "E"})}
    r = _eval({"cases": ["core/*/batchmean/*"], "shape": [4]}, recs)
    assert r["status"] == "contradicted" and r["checked"] == 2 and r["counter"] == 2
    assert _eval({"cases": ["core/*/batchmean/*"], "shape": []}, recs)["status"] == "held"
    only_raised = {"core/c/2d/f/batchmean/prob": _rec("raised", error={"type": "E"})}
    assert _eval({"cases": ["core/*"], "shape": []}, only_raised)["status"] == "not measured"


def test_raises_supports_no_kind_checks():
    recs = {"broadcast/a": _rec("raised", error={"type": "ValueError"}), "broadcast/b": _rec(shape=(4, 5))}
    r = _eval({"cases": ["broadcast/*"], "raises": True}, recs)
    assert r["status"] == "contradicted" and "broadcast/b (functional): returned shape [4, 5]" in r["evidence"]
    assert _eval({"cases": ["broadcast/a"], "raises": True}, recs)["status"] == "held"
    recs = {"x/log": _rec("unsupported", unsupported="log_target"), "y/log": _rec()}
    assert _eval({"cases": ["*/log"], "supports": "log_target"}, recs)["status"] == "contradicted"
    assert _eval({"cases": ["y/log"], "supports": "log_target"}, recs)["status"] == "held"
    recs = {"e/1": _rec(kinds=["nan-inf"]), "e/2": _rec()}
    assert _eval({"cases": ["e/*"], "no_kind": "nan-inf"}, recs)["status"] == "contradicted"
    assert _eval({"cases": ["e/*"], "no_kind": "value"}, recs)["status"] == "held"


def test_same_value_as_pairs_cases():
    recs = {"core/p/2d/f/mean/prob": _rec(value=[0.25]), "core/p/2d/f/batchmean/prob": _rec(value=[1.0]),
            "core/q/2d/f/mean/prob": _rec(value="nan"), "core/q/2d/f/batchmean/prob": _rec(value="nan")}
    r = _eval({"cases": ["core/*/mean/*"], "same_value_as": ["/mean/", "/batchmean/"]}, recs)
    assert r["status"] == "contradicted" and r["checked"] == 2 and r["counter"] == 1
    r = _eval({"cases": ["core/q/*/mean/*"], "same_value_as": ["/mean/", "/batchmean/"]}, recs)
    assert r["status"] == "held"  # nan equals nan here: the same behaviour


def test_unavailable_and_out_of_range_versions():
    recs = {"core/a": _rec(shape=())}
    down = dict(COL, available=False, reason="not installed")
    r = _eval({"cases": ["core/*"], "shape": []}, recs, column=down)
    assert r["status"] == "not measured" and "not installed" in r["evidence"]
    assert _eval({"cases": ["core/*"], "shape": []}, recs, versions=">=3.0")["status"] == "not applicable"
    assert _eval({"cases": ["core/*"], "shape": []}, recs, versions=">=2.0,<3")["status"] == "held"
    assert _eval({"cases": ["nothing/*"], "shape": []}, recs)["status"] == "not measured"


def test_evaluated_per_framework_version():
    cols = [dict(COL, id="fw@1.0", version="1.0"), dict(COL, id="fw@2.0", version="2.0"),
            {"id": "other", "name": "other", "version": "1", "available": True}]
    records = {("fw@1.0", "functional", "core/a"): _rec(shape=(4,)), ("fw@2.0", "functional", "core/a"): _rec(shape=())}
    (out,) = claims.evaluate([_claim({"cases": ["core/*"], "shape": []})], cols, records)
    assert [(r["column"], r["status"]) for r in out["results"]] == [("fw@1.0", "contradicted"), ("fw@2.0", "held")]
    (none,) = claims.evaluate([dict(_claim({"cases": ["core/*"], "shape": []}), framework="absent")], cols, records)
    assert none["results"][0]["status"] == "not measured"



def test_an_explicit_claims_file_must_exist_and_is_read_before_anything_runs(tmp_path, capsys, fault_env):
    from kl_compat.cli import main
    from kl_compat.report.assemble import build

    from test_report import adapter_line, record, write_results

    missing = tmp_path / "nosuch.toml"
    with pytest.raises(claims.ClaimsError, match="nosuch.toml: no such claims file"):
        claims.load(missing)  # never read as "no claims"
    with pytest.raises(claims.ClaimsError, match="is a directory"):
        claims.load(tmp_path)
    results_file = write_results(tmp_path / "r.jsonl", [adapter_line("alpha")],
                                 [record("core/a/2d/float32/mean/prob", "alpha")])
    with pytest.raises(claims.ClaimsError, match="no such claims file"):
        build([results_file], claims_path=missing, reproduce=False, probe=False, warn=lambda message: None)
    # the command: one line, exit 2; a malformed claims file fails before the matrix runs
    bad = tmp_path / "claims.toml"
    bad.write_text("[[claim]\n")
    run_out = tmp_path / "run.jsonl"
    for path, want in ((missing, "--claims"), (bad, "not valid TOML")):
        rc = main(["report", "--adapters", "fault_adapters:SpecAdapter", "--run-out", str(run_out), "--out",
                   str(tmp_path / "rep"), "--claims", str(path), "--no-reproducers", "--no-screenshot", "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and want in err[0] and "error:" in err[0], err
        assert not run_out.exists() and not (tmp_path / "rep").exists()
