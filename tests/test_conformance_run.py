"""The main job on the real frameworks: the whole matrix through torch and Paddle, every difference
explained by the known-differences file, and the file itself neither stale nor fixed."""

import json

import pytest

from kl_compat import known, results
from kl_compat.cli import main
from kl_compat.run import AdapterSpec, run

pytest.importorskip("torch")
pytest.importorskip("paddle")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results.jsonl"
    summary = run([AdapterSpec("torch"), AdapterSpec("paddle")], out, strict=True)
    return summary, results.read(out)


def test_every_case_on_every_surface_is_accounted_for(full_run, golden_cases):
    summary, res = full_run
    assert not res.truncated
    for adapter in ("torch", "paddle"):
        for surface in ("functional", "module"):
            got = [r.case for r in res.records if r.adapter == adapter and r.surface == surface]
            assert got == [c.id for c in golden_cases], (adapter, surface)
    from kl_compat.adapters import adapter_class

    surfaces = sum(len(adapter_class(name).surfaces) for name in ("torch", "paddle"))  # (Paddle's modes too)
    assert summary.records == surfaces * len(golden_cases)


def test_no_new_differences_and_no_stale_entries(full_run):
    summary, _ = full_run
    assert [f"{a}.{s} {c}: {d.message}" for a, s, c, d in summary.new] == []
    assert summary.known_problems == []


def test_the_run_finds_real_differences(full_run):
    _, res = full_run
    statuses = {(r.adapter, r.status) for r in res.records}
    # Not a list of expected findings: only that neither framework is reported as perfect or as absent.
    assert ("torch", "match") in statuses and ("torch", "differs") in statuses
    assert ("paddle", "match") in statuses and ("paddle", "differs") in statuses
    assert all(d.known in res.end.known for r in res.records for d in r.differences)  # each an entry's id


def test_run_info_is_captured(full_run):
    _, res = full_run
    for key in ("kl_compat", "python", "numpy", "platform", "goldens", "started"):
        assert getattr(res.run, key)
    versions = {a.adapter: a.version for a in res.adapters}
    import paddle
    import torch

    assert versions == {"torch": torch.__version__, "paddle": paddle.__version__}


def test_strict_fails_on_a_stale_entry(tmp_path, golden_cases):
    known_file = tmp_path / "known.toml"
    known_file.write_text(
        '[[difference]]\nadapter = "torch"\ncases = "no-such-group/*"\nkind = "value"\nreason = "nothing"\n'
        '[[difference]]\nadapter = "torch"\ncases = "core/proper/2d/float32/*"\nkind = "shape"\nreason = "fixed long ago"\n')
    entries = known.load(known_file)
    out = tmp_path / "r.jsonl"
    summary = run([AdapterSpec("torch")], out, known_path=known_file, strict=True)
    assert any(p.startswith("stale: entry 1") for p in summary.known_problems)
    assert any(p.startswith("fixed: entry 2") and "none of which shows a shape difference" in p
               for p in summary.known_problems)
    assert summary.failed(strict=True)
    assert len(entries) == 2


def test_cli_run_exit_status_and_errors(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert main(["run", "--adapters", "torch", "--cases", "core/proper/2d/float32/*", "--quiet", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[-1]["type"] == "end"
    assert main(["run", "--cases", "nothing/*", "--quiet", "--out", str(out)]) == 4  # nothing to check
    assert "no case matches ['nothing/*']" in capsys.readouterr().err
    # a new difference (an empty known-differences file explains nothing) fails the run
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["run", "--adapters", "torch", "--cases", "edge/zero-target/2d/float32/*", "--quiet",
                 "--known", str(empty), "--out", str(out)]) == 1


def test_bad_known_file_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[difference]]\nadapter = "torch"\ncases = "*"\nkind = "colour"\nreason = "x"\n')
    assert main(["run", "--known", str(bad), "--quiet", "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "kind 'colour' is not one of" in capsys.readouterr().err


def test_bad_shard_argument(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--shard", "3/2"])
    assert "need 1 <= i <= n" in capsys.readouterr().err


def test_results_reader_keeps_a_truncated_file(full_run, tmp_path):
    _, res = full_run
    text = res.path.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(text[:50]) + "\n" + text[50][:40])
    partial = results.read(cut)
    assert partial.truncated and len(partial.records) == 50 - 1 - len(partial.adapters)
    (tmp_path / "junk.jsonl").write_text("hello\n")
    with pytest.raises(results.ResultsError, match="junk.jsonl:1: not JSON"):
        results.read(tmp_path / "junk.jsonl")
