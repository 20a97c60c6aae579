"""The known-differences matching, the typed results records and the results file's JSON, without running
a framework."""

import dataclasses
import json
import math

import numpy as np
import pytest

from kl_compat import jsonvalues, known, record, results
from kl_compat.record import AdapterLine, Difference, EndLine, GradientSummary, Observed, Record, RunLine

def _entries(tmp_path):
    path = tmp_path / "known.toml"
    path.write_text(
        '[[difference]]\nadapter = "paddle"\ncases = "core/*"\nkind = "shape"\nreason = "paddle, any surface"\n'
        '[[difference]]\nadapter = "torch"\nsurface = "module"\ncases = ["edge/*", "core/a"]\nkind = "value"\n'
        'reason = "torch module only"\n'
        '[[difference]]\nadapter = "torch"\ncases = "core/*"\nkind = "value"\nversions = ">=3.0"\n'
        'reason = "torch 3 only"\n')
    return known.load(path)



def _diff(kind, where="out"):
    return Difference(kind, "is", where, "1.0", "2.0", "kl_div(reduction='sum')")


def _record(adapter, surface, case, version, kinds=("value", "shape"), status="differs"):
    return Record(case, adapter, surface, status, [_diff(k) for k in kinds], version=version)


def test_explain_is_scoped_by_adapter_surface_version_and_case(tmp_path):
    entries = _entries(tmp_path)
    marked = {}
    for adapter, surface, case, version in [("torch", "module", "core/a", "2.13.0"), ("torch", "functional", "core/a", "2.13.0"),
                                            ("torch", "module", "core/b", "2.13.0"), ("torch", "module", "core/b", "3.1.0"),
                                            ("paddle", "module", "core/b", "3.3.0"), ("paddle", "functional", "edge/x", "3.3.0")]:
        r = _record(adapter, surface, case, version)
        marked[(adapter, surface, case, version)] = [d.known for d in known.explained(entries, r).differences]
    assert marked == {
        ("torch", "module", "core/a", "2.13.0"): ["known:2", None],
        ("torch", "functional", "core/a", "2.13.0"): [None, None],
        ("torch", "module", "core/b", "2.13.0"): [None, None],
        ("torch", "module", "core/b", "3.1.0"): ["known:3", None],
        ("paddle", "module", "core/b", "3.3.0"): [None, "known:1"],
        ("paddle", "functional", "edge/x", "3.3.0"): [None, None],
    }
    r = _record("torch", "module", "core/a", "2.13.0")
    e = known.explain(entries, r, r.differences[0])
    assert e is entries[1] and e.reason == "torch module only"
    assert known.explain(entries, r) is entries[1]  # the record's first explained difference
    assert known.explain(entries, r, r.differences[1]) is None
    # a label's registry name, and a version for a record without one
    r = _record("paddle@old", "module", "core/b", None)
    assert known.explain(entries, r, r.differences[1], name="paddle").id == "known:1"
    assert known.explain(entries, r, r.differences[1]) is None
    assert known.explain(entries, _record("torch", "module", "core/b", None), _diff("value"), version="3.0") is entries[2]


def test_explain_is_pure_and_entries_hold_no_state(tmp_path):
    entries = _entries(tmp_path)
    r = _record("torch", "module", "core/a", "2.13.0")
    first = known.explained(entries, r)
    assert [d.known for d in r.differences] == [None, None]  # the record given is left as it was
    assert known.explained(entries, first) == known.explained(entries, r) == first
    with pytest.raises(dataclasses.FrozenInstanceError):
        entries[0].reason = "changed"  # type: ignore[misc]
    assert not any(hasattr(e, "seen_cases") or hasattr(e, "seen_differences") for e in entries)
    assert known.explain(list(entries), r, r.differences[0]) is entries[1]  # a plain list does as well
    unavailable = Record("core/a", "torch", "module", record.UNAVAILABLE, [_diff("value")], version="2.13.0")
    assert known.explain(entries, unavailable) is None


def test_problems_stale_and_fixed(tmp_path):
    entries = _entries(tmp_path)
    records = [
        _record("torch", "module", "core/a", "2.13.0", kinds=()),  # entry 2 matches it, no value difference: fixed
        _record("paddle", "module", "core/b", "3.3.0", kinds=("shape",)),  # entry 1 explains it
    ]
    found = known.problems(entries, records)
    assert [(p.kind, p.entry.id, p.matched) for p in found] == [("fixed", "known:2", 1)]
    # entry 3 (torch >= 3.0) is not judged: no torch 3 ran; with one, nothing of it matches a case: stale
    assert str(found[0]) == ("fixed: entry 2 (torch, value, edge/*, core/a) matched 1 record(s), none of which "
                             "shows a value difference any more")
    records.append(_record("torch", "functional", "other/x", "3.1.0", kinds=()))
    found = known.problems(entries, records)
    assert [(p.kind, p.entry.id) for p in found] == [("fixed", "known:2"), ("stale", "known:3")]
    assert str(found[1]).startswith("stale: entry 3 (torch, value, core/*) matches no case that ran")
    # `ran` decides where entries are judged; a paddle that did not run proves nothing about entry 1
    assert known.problems(entries, records[:1], ran={"torch": {"2.13.0"}})[0].entry.id == "known:2"
    assert known.problems(entries, [], ran={"paddle": {"3.3.0"}})[0].kind == "stale"
    # labels map to registry names
    labelled = [dataclasses.replace(records[1], adapter="paddle@new")]
    assert known.problems(entries, labelled, names={"paddle@new": "paddle"}) == []


def test_an_unsupported_record_cannot_show_an_entry_fixed(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text('[[difference]]\nadapter = "paddle"\ncases = "core/*"\nkind = "value"\nreason = "v"\n'
                    '[[difference]]\nadapter = "paddle"\ncases = "core/*"\nkind = "unsupported-argument"\nreason = "u"\n')
    entries = known.load(path)
    unsupported = Record("core/a", "paddle", "functional", record.UNSUPPORTED,
                         [Difference("unsupported-argument", "unsupported", "call", "log_target", "paddle.functional")],
                         version="3.0")
    found = known.problems(entries, [known.explained(entries, unsupported)])
    assert [(p.kind, p.entry.index) for p in found] == [("stale", 1)]  # matched nothing measured; entry 2 explains it


def test_known_files_combine_in_order_with_stable_ids(tmp_path):
    shipped = tmp_path / "shipped.toml"
    shipped.write_text('[[difference]]\nadapter = "torch"\ncases = "core/*"\nkind = "value"\nreason = "shipped"\n')
    own = tmp_path / "mine.toml"
    own.write_text('[[difference]]\nadapter = "torch"\ncases = "*"\nkind = ["value", "shape"]\nreason = "mine"\n'
                   '[[difference]]\nid = "my-dtype"\nadapter = "*"\ncases = "*"\nkind = "dtype"\nreason = "dtypes"\n')
    entries = known.load([shipped, own])
    assert [e.id for e in entries] == ["shipped:1", "mine:1", "my-dtype"]
    assert [e.label().split(" (")[0] for e in entries] == ["entry 1", "entry mine:1", "entry my-dtype"]
    r = Record("core/a", "torch", "functional", "differs", [_diff("value"), _diff("shape"), _diff("dtype")])
    assert [d.known for d in known.explained(entries, r).differences] == ["shipped:1", "mine:1", "my-dtype"]
    assert [d.known for d in known.explained(known.load([own, shipped]), r).differences] == ["mine:1", "mine:1",
                                                                                              "my-dtype"]
    assert known.load(shipped)[0].id == known.load([shipped])[0].id == "shipped:1"
    assert known.load()[0].id == "known_differences:1"  # the package's file
    twin = tmp_path / "other" / "shipped.toml"
    twin.parent.mkdir()
    twin.write_text(shipped.read_text())
    with pytest.raises(known.KnownDifferencesError, match="entry id 'shipped:1' is also in"):
        known.load([shipped, twin])
    dup = tmp_path / "dup.toml"
    dup.write_text('[[difference]]\nid = "x"\nadapter = "a"\ncases = "*"\nkind = "value"\nreason = "r"\n' * 2)
    with pytest.raises(known.KnownDifferencesError, match="entry id 'x' is given to 2 entries"):
        known.load(dup)


def test_a_merge_combines_known_files(tmp_path):
    from kl_compat import merge

    r = Record("core/proper/0d/float32/sum/prob", "torch", "functional", "differs", [_diff("value"), _diff("dtype")],
               group="core", version="2.0")
    src = tmp_path / "in.jsonl"
    with results.Writer(src) as w:
        w.write(RunLine(cases=1406, selected=1))
        w.write(AdapterLine("torch", True, "torch", version="2.0", surfaces=["functional"]))
        w.write(r)
        w.write(EndLine("2026-01-01T00:00:00+00:00"))
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('[[difference]]\nadapter = "torch"\ncases = "core/*"\nkind = "value"\nreason = "A"\n')
    b.write_text('[[difference]]\nadapter = "torch"\ncases = "core/*"\nkind = "dtype"\nreason = "B"\n')
    summary = merge.merge([src], tmp_path / "out.jsonl", known_path=[a, b])
    assert summary.new == []
    out = results.read(tmp_path / "out.jsonl")
    assert [d.known for d in out.records[0].differences] == ["a:1", "b:1"]
    assert out.end.known == {"a:1": "A", "b:1": "B"}
    summary = merge.merge([src], tmp_path / "out2.jsonl", known_path=[a])
    assert [(d.kind, d.known) for *_, d in summary.new] == [("dtype", None)]


# ---- the typed records ----------------------------------------------------------------------------------

def _full_record() -> Record:
    observed = Observed("ok", [2], "float32", [{"category": "UserWarning", "message": "w"}], None, [1.5, "nan"],
                        GradientSummary("ok", "float32", None), GradientSummary("error", None, "boom"), 0.25, None,
                        None)
    return Record("core/a", "paddle@2.6.2", "module", "differs",
                  [Difference("value", "is", "out[1]", "0.5", "nan", "kl_div(reduction='none')", note="; error 3 ulp",
                              follows="nonpositive_target='zero'", known="known_differences:4"),
                   Difference("warning", "warned", "warnings", observed="UserWarning: 'w'",
                              call="kl_div(reduction='none')")],
                  "core", "2.6.2", 3.0, "nonpositive_target='zero'", observed)


def test_every_line_type_round_trips(tmp_path):
    run = RunLine(kl_compat="0.1.0", started="2026-01-01T00:00:00+00:00", argv=["kl-compat", "run"], python="3.11",
                  numpy="2.0", platform="linux", goldens="ab" * 32, cases=1406, selected=2, shard=[1, 2],
                  patterns=["core/*"], extra={"from_a_newer_writer": 1})
    adapters = [AdapterLine("paddle@2.6.2", True, "paddle", "paddle-2.6.2", "paddle", "2.6.2", "3.10", "1.26",
                            "linux", "/env/bin/python", ["functional", "module"], runtime={"libtorch": "2.13.0"}),
                AdapterLine("rtorch", False, "rtorch", reason="R is not installed", hint="apt-get install r-base")]
    end = EndLine("2026-01-01T00:01:00+00:00", {"paddle@2.6.2": {"module": {"differs": 1}}}, ["stale: entry 3 (...)"],
                  True, {"rtorch": "R is not installed"}, {"known_differences:4": "why"})
    unavailable = Record("core/a", "rtorch", "functional", record.UNAVAILABLE, group="core")
    lines = [run, *adapters, _full_record(), unavailable, end]
    for line in lines:
        assert type(line).from_json(json.loads(json.dumps(line.to_json()))) == line
    path = tmp_path / "r.jsonl"
    with results.Writer(path) as w:
        for line in lines:
            w.write(line)
    res = results.read(path)
    assert (res.run, res.adapters, res.records, res.end, res.truncated) == (run, adapters, [_full_record(), unavailable],
                                                                             end, False)
    assert res.run.schema == record.SCHEMA == "kl-compat-results/2"
    assert res.records[0].observed.values().tolist()[0] == 1.5 and math.isnan(res.records[0].observed.values()[1])
    assert res.records[0].new == [res.records[0].differences[1]] and unavailable.new == []


def test_a_message_is_rendered_from_the_fields_never_read_back(tmp_path):
    d = _full_record().differences[0]
    assert d.message == ("out[1]=nan, but the spec says 0.5; error 3 ulp [kl_div(reduction='none')]; "
                         "follows convention nonpositive_target='zero'")
    assert (d.index, d.array, d.sentence) == (1, "out", "out[1]=nan, but the spec says 0.5; error 3 ulp")
    assert dataclasses.replace(d, by="the reference").message.startswith("out[1]=nan, but the reference says 0.5")
    assert json.loads(json.dumps(d.to_json()))["message"] == d.message  # in the file, for people and tools
    path = tmp_path / "r.jsonl"
    line = _full_record().to_json()
    line["differences"][0]["message"] = "something else entirely"
    path.write_text("\n".join(json.dumps(x) for x in [RunLine().to_json(), line, EndLine().to_json()]) + "\n")
    assert results.read(path).records[0].differences[0].message == d.message
    for form in record.FORMS:  # every form renders (no field it needs is missing from a difference)
        assert Difference("value", form, "grad_input[2]", "a", "b", "c").message.endswith("[c]") or form == "raised-other"


@pytest.mark.parametrize("schema", ["kl-compat-results/1", "kl-compat-results/3", "something"])
def test_a_results_file_of_another_schema_is_refused_in_one_line(tmp_path, schema):
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"type": "run", "schema": schema}) + "\n" + json.dumps(EndLine().to_json()) + "\n")
    with pytest.raises(results.ResultsError) as e:
        results.read(path)
    text = str(e.value)
    assert "\n" not in text and f"schema {json.dumps(schema)}" in text and "kl-compat-results/2" in text
    assert "run it again with this version" in text


def test_non_finite_values_are_written_as_strings(tmp_path):
    for dtype in (np.float16, np.float32, np.float64):
        value = np.array([[1.5, np.nan], [np.inf, -np.inf]], dtype)
        assert jsonvalues.jsonable(value) == [[1.5, "nan"], ["inf", "-inf"]]
    assert jsonvalues.jsonable(np.array(-np.inf)) == "-inf"
    assert jsonvalues.jsonable(np.array([1, 2], np.int64)) == [1, 2]
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


def test_junit_names_the_reason_of_a_known_difference_from_the_end_line(tmp_path):
    from kl_compat import junit

    path = tmp_path / "r.jsonl"
    with results.Writer(path) as w:
        w.write(RunLine())
        w.write(AdapterLine("paddle@2.6.2", True, "paddle"))
        w.write(_full_record())
        w.write(EndLine(known={"known_differences:4": "Paddle 2.6 says so."}))
    (suite,) = junit.document(results.read(path))
    (case,) = suite.findall("testcase")
    assert case.find("system-out").text == ("known: value: " + _full_record().differences[0].message
                                            + " (Paddle 2.6 says so.)")
    assert case.find("failure").get("type") == "warning"  # the second difference is new


def test_the_pytest_plugin_takes_a_list_of_known_files(tmp_path):
    """known=[A, B]: B's entries on top of A's, one accounting (an entry of A that explains nothing is
    reported as fixed, B's explains the difference and names its reason in the xfail)."""
    from test_pytest_plugin import _counts, _pytest

    (tmp_path / "a.toml").write_text('[[difference]]\nadapter = "mine"\ncases = "edge/negative-target/*"\n'
                                     'kind = "value"\nreason = "not this one"\n')
    (tmp_path / "b.toml").write_text('[[difference]]\nadapter = "mine"\ncases = "edge/negative-target/*"\n'
                                     'kind = "nan-inf"\nreason = "we give 0 for negative targets"\n')
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import zero_for_negative_targets

        @pytest.mark.kl_compat(cases=["edge/negative-target/2d/float32/*/prob"], known=["a.toml", "b.toml"],
                               adapter="mine")
        def test_kl(kl_compat_case):
            kl_compat_case.check(zero_for_negative_targets)
    ''')
    assert _counts(proc.stdout) == {"xfailed": 4}, proc.stdout[-3000:]
    assert "known difference: we give 0 for negative targets" in proc.stdout
    assert "fixed: entry 1 (mine, value, edge/negative-target/*)" in proc.stdout, proc.stdout[-3000:]
