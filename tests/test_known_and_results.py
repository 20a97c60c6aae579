"""The known-differences matching and the results file's JSON, without running a framework."""

import json
import math

import numpy as np
import pytest

from kl_compat import known, results
from kl_compat.compare import Difference


def _entries(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(
        '[[difference]]\nadapter = "paddle"\ncases = "core/*"\nkind = "shape"\nreason = "paddle, any surface"\n'
        '[[difference]]\nadapter = "torch"\nsurface = "module"\ncases = ["edge/*", "core/a"]\nkind = "value"\n'
        'reason = "torch module only"\n'
        '[[difference]]\nadapter = "torch"\ncases = "core/*"\nkind = "value"\nversions = ">=3.0"\n'
        'reason = "torch 3 only"\n')
    return known.load(path)


def test_mark_is_scoped_by_adapter_surface_version_and_case(tmp_path):
    entries = _entries(tmp_path)
    marked = {}
    for adapter, surface, case, version in [("torch", "module", "core/a", "2.13.0"), ("torch", "functional", "core/a", "2.13.0"),
                                            ("torch", "module", "core/b", "2.13.0"), ("torch", "module", "core/b", "3.1.0"),
                                            ("paddle", "module", "core/b", "3.3.0"), ("paddle", "functional", "edge/x", "3.3.0")]:
        diffs = [Difference("value", "m"), Difference("shape", "m")]
        known.mark(entries, adapter, surface, case, version, diffs)
        marked[(adapter, surface, case, version)] = [d.known for d in diffs]
    assert marked == {
        ("torch", "module", "core/a", "2.13.0"): ["torch module only", None],
        ("torch", "functional", "core/a", "2.13.0"): [None, None],
        ("torch", "module", "core/b", "2.13.0"): [None, None],
        ("torch", "module", "core/b", "3.1.0"): ["torch 3 only", None],
        ("paddle", "module", "core/b", "3.3.0"): [None, "paddle, any surface"],
        ("paddle", "functional", "edge/x", "3.3.0"): [None, None],
    }
    assert [len(e.seen_cases) for e in entries] == [1, 1, 1]
    assert [e.seen_differences for e in entries] == [1, 1, 1]


def test_mark_accepts_a_plain_list_of_entries(tmp_path):
    entries = list(_entries(tmp_path))
    diffs = [Difference("value", "m")]
    known.mark(entries, "torch", "module", "edge/y", None, diffs)
    assert diffs[0].known == "torch module only"


def test_non_finite_values_are_written_as_strings(tmp_path):
    for dtype in (np.float16, np.float32, np.float64):
        value = np.array([[1.5, np.nan], [np.inf, -np.inf]], dtype)
        assert results.jsonable(value) == [[1.5, "nan"], ["inf", "-inf"]]
    assert results.jsonable(np.array(-np.inf)) == "-inf"
    assert results.jsonable(np.array([1, 2], np.int64)) == [1, 2]
    path = tmp_path / "r.jsonl"
    with results.Writer(path) as w:
        w.write({"value": [1.0, math.nan], "max_ulp": math.inf})
    assert json.loads(path.read_text()) == {"value": [1.0, "nan"], "max_ulp": "inf"}


@pytest.mark.parametrize("body, message", [
    ('adapter = ["torch"]\ncases = "*"\nkind = "value"\nreason = "r"', "'adapter' must be a glob"),
    ('adapter = "torch"\ncases = []\nkind = "value"\nreason = "r"', "'cases' must be a glob or list of globs"),
    ('adapter = "torch"\ncases = [" "]\nkind = "value"\nreason = "r"', "'cases' holds an empty glob"),
    ('adapter = "torch"\ncases = "*"\nkind = "value"\nreason = "r"\nversions = "~3"', "cannot read"),
    ('adapter = "torch"\ncases = "*"\nkind = "value"\nreason = "r"\nadvice = 3', "'advice' must be a sentence"),
])
def test_every_reader_of_a_known_file_checks_its_fields(tmp_path, capsys, body, message):
    """known.load is the one reader: run, merge, report, the plugin and fuzz all refuse a bad entry,
    naming the file, the entry and the field (fuzz once took a list as an adapter glob and ran on)."""
    from kl_compat import known
    from kl_compat.cli import main

    path = tmp_path / "known.toml"
    path.write_text("[[difference]]\n" + body + "\n")
    with pytest.raises(known.KnownDifferencesError, match=f"known.toml: \\[\\[difference\\]\\] number 1: .*{message}"):
        known.load(path)
    assert main(["fuzz", "--adapters", "torch", "--known", str(path), "--max-examples", "1"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "known.toml: [[difference]] number 1" in last and message in last
