"""Bad inputs to every command: each gives its documented exit status and a last line of stderr that names
the problem, never a traceback.

Most cases stop before any worker starts (usage errors, unreadable or malformed files); the few that must
start one use the spec adapter of tests/fault_adapters.py (no framework import) on eight golden cases.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kl_compat import golden
from kl_compat.cli import main
from kl_compat.run import AdapterSpec, run

TESTS = Path(__file__).parent
SPEC = "fault_adapters:SpecAdapter"
UNAVAILABLE = "fault_adapters:ImportFailsAdapter"
SELECT = "core/proper/2d/float32/*"  # eight golden cases


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Real results files of the spec adapter: the selection whole, and as shards 1/2 and 2/2."""
    d = tmp_path_factory.mktemp("base")
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p))
    try:
        run([AdapterSpec(SPEC)], d / "full.jsonl", patterns=[SELECT])
        run([AdapterSpec(SPEC)], d / "s1.jsonl", patterns=[SELECT], shard=(1, 2))
        run([AdapterSpec(SPEC)], d / "s2.jsonl", patterns=[SELECT], shard=(2, 2))
    finally:
        mp.undo()
    return d


class Ctx:
    def __init__(self, tmp: Path, base: Path):
        self.tmp, self.base = tmp, base
        self.full, self.s1, self.s2 = base / "full.jsonl", base / "s1.jsonl", base / "s2.jsonl"
        self.out = tmp / "out.jsonl"

    def file(self, name: str, content) -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return str(path)

    def lines(self, which: str = "full") -> list[dict]:
        return [json.loads(x) for x in (self.base / f"{which}.jsonl").read_text().splitlines()]

    def results(self, name: str, edit, which: str = "full") -> str:
        """A results file made from a real one: `edit(lines)` changes the parsed lines in place, or returns
        the new text."""
        lines = self.lines(which)
        text = edit(lines)
        if text is None:
            text = "".join(json.dumps(x) + "\n" for x in lines)
        return self.file(name, text)


def kl(argv, capsys) -> tuple[int, str, str]:
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def check(rc, err, want_rc, want_text):
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert lines, f"nothing on stderr (exit {rc})"
    assert rc == want_rc, (rc, err)
    assert want_text.lower() in lines[-1].lower(), (want_text, lines[-1])


# ---- data-file variants ----------------------------------------------------------------------------------

ENTRY = 'adapter = "torch"\ncases = "edge/*"\nkind = "value"\nreason = "a reason"\n'


def _entry(**fields) -> str:
    base = {"adapter": '"torch"', "cases": '"edge/*"', "kind": '"value"', "reason": '"a reason"'}
    base.update(fields)
    return "[[difference]]\n" + "".join(f"{k} = {v}\n" for k, v in base.items() if v is not None)


KNOWN_BAD = [
    ("syntax-error", "[[difference]\nadapter = 'torch'\n", "not valid TOML"),
    ("not-utf8", b"[[difference]]\nadapter = '\xff\xfe'\n", "not valid TOML"),
    ("unterminated-string", '[[difference]]\nadapter = "torch\n', "not valid TOML"),
    ("difference-number", "difference = 5\n", "must be [[difference]] tables"),
    ("difference-table", "[difference]\n" + ENTRY, "must be [[difference]] tables"),
    ("difference-strings", 'difference = ["a", "b"]\n', "must be [[difference]] tables"),
    ("typo-table", "[[differences]]\n" + ENTRY, "unknown table(s) differences"),
    ("top-level-key", 'colour = "red"\n' + _entry(), "unknown table(s) colour"),
    ("unknown-field", _entry(colour='"red"'), "unknown field(s) colour"),
    ("missing-adapter", _entry(adapter=None), "missing 'adapter'"),
    ("missing-cases", _entry(cases=None), "missing 'cases'"),
    ("missing-kind", _entry(kind=None), "missing 'kind'"),
    ("missing-reason", _entry(reason=None), "missing 'reason'"),
    ("adapter-number", _entry(adapter="5"), "'adapter' must be a glob"),
    ("adapter-list", _entry(adapter='["torch"]'), "'adapter' must be a glob"),
    ("adapter-empty", _entry(adapter='""'), "'adapter' holds an empty glob"),
    ("cases-number", _entry(cases="5"), "'cases' must be a glob or list of globs"),
    ("cases-numbers", _entry(cases="[1, 2]"), "'cases' must be a glob or list of globs"),
    ("cases-table", _entry(cases="{ a = 1 }"), "'cases' must be a glob or list of globs"),
    ("cases-empty-list", _entry(cases="[]"), "'cases' must be a glob or list of globs"),
    ("cases-empty-string", _entry(cases='""'), "'cases' holds an empty glob"),
    ("cases-blank", _entry(cases='"   "'), "'cases' holds an empty glob"),
    ("cases-empty-in-list", _entry(cases='["edge/*", ""]'), "'cases' holds an empty glob"),
    ("kind-unknown", _entry(kind='"colour"'), "kind 'colour' is not one of"),
    ("kind-unknown-in-list", _entry(kind='["value", "colour"]'), "kind 'colour' is not one of"),
    ("kind-number", _entry(kind="5"), "'kind' must be a kind or list of kinds"),
    ("kind-empty-list", _entry(kind="[]"), "'kind' must be a kind or list of kinds"),
    ("surface-number", _entry(surface="5"), "'surface' must be a glob or list of globs"),
    ("surface-empty-in-list", _entry(surface='[""]'), "'surface' holds an empty glob"),
    ("reason-number", _entry(reason="5"), "'reason' must be a sentence"),
    ("reason-empty", _entry(reason='""'), "'reason' holds an empty sentence"),
    ("link-number", _entry(link="5"), "'link' must be a URL"),
    ("versions-number", _entry(versions="3"), "'versions' must be a version specifier"),
    ("versions-empty", _entry(versions='""'), "'versions' holds an empty version specifier"),
    ("versions-unreadable", _entry(versions='"~=1.0"'), "cannot read '~=1.0'"),
    ("versions-unreadable-second", _entry(versions='">=1.0,banana"'), "cannot read 'banana'"),
]


def _set(index_of, **fields):
    def edit(lines):
        line = lines[index_of(lines)]
        for k, v in fields.items():
            if v is _DEL:
                del line[k]
            else:
                line[k] = v
    return edit


_DEL = object()


def _first(kind):
    return lambda lines: next(i for i, x in enumerate(lines) if x["type"] == kind)


RUN, ADAPTER, RECORD, END = (_first(k) for k in ("run", "adapter", "record", "end"))


def _no_end(lines):
    """A run that did not end normally: no end line."""
    lines.pop()


def _text(f):
    return lambda lines: f("".join(json.dumps(x) + "\n" for x in lines))


RESULTS_BAD = [
    ("empty", lambda lines: "", "empty results file"),
    ("blank-lines", lambda lines: "\n\n\n", "empty results file"),
    ("not-json", lambda lines: "hello\n", "not JSON"),
    ("json-array", lambda lines: "[1, 2]\n", "not a kl-compat results file"),
    ("json-number", lambda lines: "5\n", "not a kl-compat results file"),
    ("no-run-line", _text(lambda t: t.split("\n", 1)[1]), "not a kl-compat results file"),
    ("wrong-schema", _set(RUN, schema="kl-compat-results/99"), "not a kl-compat results file"),
    ("no-schema", _set(RUN, schema=_DEL), "not a kl-compat results file"),
    ("bad-json-middle", _text(lambda t: "\n".join(x if i != 3 else "{oops" for i, x in enumerate(t.split("\n")))),
     "not JSON"),
    ("unknown-line-type", lambda lines: lines.insert(2, {"type": "comment"}), "unknown line type 'comment'"),
    ("line-not-object", lambda lines: lines.insert(2, 5), "unknown line type None"),
    ("line-after-end", lambda lines: lines.append(dict(lines[RECORD(lines)])), "after the end line"),
    ("two-files-joined", _text(lambda t: t + t), "after the end line"),
    ("record-no-case", _set(RECORD, case=_DEL), "record without 'case'"),
    ("record-no-adapter", _set(RECORD, adapter=_DEL), "record without 'adapter'"),
    ("record-no-surface", _set(RECORD, surface=_DEL), "record without 'surface'"),
    ("record-no-status", _set(RECORD, status=_DEL), "record without 'status'"),
    ("record-no-differences", _set(RECORD, differences=_DEL), "record without 'differences'"),
    ("record-case-number", _set(RECORD, case=5), "'case' must be a string"),
    ("record-case-null", _set(RECORD, case=None), "'case' must be a string"),
    ("record-adapter-list", _set(RECORD, adapter=["torch"]), "'adapter' must be a string"),
    ("record-status-unknown", _set(RECORD, status="great"), "status 'great' is not one of"),
    ("record-status-number", _set(RECORD, status=5), "'status' must be a string"),
    ("record-differences-string", _set(RECORD, differences="none"), "'differences' must be a list"),
    ("record-difference-number", _set(RECORD, differences=[5]), "a difference must be an object"),
    ("record-difference-no-kind", _set(RECORD, differences=[{"message": "m", "known": None}]),
     "difference without 'kind'"),
    ("record-difference-no-message", _set(RECORD, differences=[{"kind": "value", "known": None}]),
     "difference without 'message'"),
    ("record-difference-kind-number", _set(RECORD, differences=[{"kind": 5, "message": "m", "known": None}]),
     "'kind' must be a string"),
    ("record-difference-known-number", _set(RECORD, differences=[{"kind": "value", "message": "m", "known": 5}]),
     "'known' must be a string or null"),
    ("record-version-number", _set(RECORD, version=2.1), "'version' must be a string or null"),
    ("record-observed-string", _set(RECORD, observed="ok"), "'observed' must be an object or null"),
    ("adapter-no-adapter", _set(ADAPTER, adapter=_DEL), "adapter without 'adapter'"),
    ("adapter-no-available", _set(ADAPTER, available=_DEL), "adapter without 'available'"),
    ("adapter-available-string", _set(ADAPTER, available="yes"), "'available' must be true or false"),
    ("adapter-surfaces-string", _set(ADAPTER, surfaces="functional"), "'surfaces' must be a list or null"),
    ("run-cases-string", _set(RUN, cases="many"), "'cases' must be an integer or null"),
    ("run-cases-bool", _set(RUN, cases=True), "'cases' must be an integer or null"),
    ("run-shard-string", _set(RUN, shard="1/2"), "'shard' must be a list or null"),
    ("run-shard-zero", _set(RUN, shard=[0, 2]), "'shard' must be [i, n]"),
    ("run-shard-reversed", _set(RUN, shard=[3, 2]), "'shard' must be [i, n]"),
    ("run-shard-three", _set(RUN, shard=[1, 2, 3]), "'shard' must be [i, n]"),
    ("run-patterns-string", _set(RUN, patterns="core/*"), "'patterns' must be a list or null"),
    ("run-goldens-number", _set(RUN, goldens=5), "'goldens' must be a string or null"),
    ("end-counts-list", _set(END, counts=[]), "'counts' must be an object"),
    ("end-strict-string", _set(END, strict="yes"), "'strict' must be true or false"),
]


@pytest.mark.parametrize("name, toml, want", KNOWN_BAD, ids=[c[0] for c in KNOWN_BAD])
@pytest.mark.parametrize("command", ["run", "merge", "report"])
def test_bad_known_file(command, name, toml, want, base, tmp_path, capsys):
    c = Ctx(tmp_path, base)
    known = c.file("known.toml", toml)
    argv = {"run": ["run", "--adapters", SPEC, "--cases", SELECT, "--quiet", "--out", c.out],
            "merge": ["merge", c.full, "--out", c.out],
            "report": ["report", c.full, "--out", tmp_path / "report", "--no-reproducers", "--no-screenshot",
                       "--quiet"]}[command] + ["--known", known]
    rc, _, err = kl(argv, capsys)
    check(rc, err, 2, want)
    assert not c.out.exists() and not (tmp_path / "report").exists()


@pytest.mark.parametrize("name, edit, want", RESULTS_BAD, ids=[c[0] for c in RESULTS_BAD])
@pytest.mark.parametrize("command", ["merge", "diff-new", "diff-old", "report"])
def test_malformed_results_file(command, name, edit, want, base, tmp_path, capsys):
    c = Ctx(tmp_path, base)
    bad = c.results("bad.jsonl", edit)
    argv = {"merge": ["merge", bad, "--out", c.out],
            "diff-new": ["diff", c.full, bad],
            "diff-old": ["diff", bad, c.full],
            "report": ["report", bad, "--out", tmp_path / "report", "--no-reproducers", "--no-screenshot", "--quiet"],
            }[command]
    rc, _, err = kl(argv, capsys)
    check(rc, err, 2, want)
    assert "bad.jsonl" in err.strip().splitlines()[-1]  # the file at fault is named
    assert not c.out.exists()


# ---- options and paths -----------------------------------------------------------------------------------

def _run(*extra):
    return lambda c: ["run", "--adapters", SPEC, "--cases", SELECT, "--quiet", "--out", c.out, *extra]


USAGE = [
    # run: adapters
    ("run-unknown-adapter", lambda c: ["run", "--adapters", "nosuch", "--out", c.out], 2, "unknown adapter 'nosuch'"),
    ("run-one-unknown-of-two", lambda c: ["run", "--adapters", "torch,nosuch", "--out", c.out], 2,
     "unknown adapter 'nosuch'"),
    ("run-unknown-adapter-at-env", lambda c: ["run", "--adapters", "nosuch@paddle-2.6.2", "--out", c.out], 2,
     "unknown adapter 'nosuch'"),
    ("run-unknown-environment", lambda c: ["run", "--adapters", "torch@nowhere", "--out", c.out], 2,
     "unknown environment 'nowhere'"),
    ("run-environment-of-another-adapter", lambda c: ["run", "--adapters", "torch@paddle-2.6.2", "--out", c.out], 2,
     "is for adapter 'paddle', not 'torch'"),
    ("run-adapter-twice", lambda c: ["run", "--adapters", "torch,torch", "--out", c.out], 2, "named twice"),
    ("run-adapters-empty", lambda c: ["run", "--adapters", "", "--out", c.out], 2, "at least one name"),
    ("run-adapters-commas", lambda c: ["run", "--adapters", ",,", "--out", c.out], 2, "at least one name"),
    ("run-adapter-typo-case", lambda c: ["run", "--adapters", "Torch", "--out", c.out], 2, "unknown adapter 'Torch'"),
    # run: timeout
    *[(f"run-timeout-{v}", _run("--timeout", v), 2, "timeout")
      for v in ("nan", "inf", "-inf", "0", "-1", "0.0", "1e9", "abc", "", "NaN")],
    # run: workers
    *[(f"run-workers-{v or 'empty'}", _run("--workers", v), 2, "workers")
      for v in ("0", "-1", "abc", "1.5", "100000", "")],
    ("run-workers-over-cpus", _run("--workers", str(2 * (os.cpu_count() or 1) + 1)), 2, "at most"),
    # run: shard
    *[(f"run-shard-{v.replace('/', '_') or 'empty'}", _run("--shard", v), 2, "shard")
      for v in ("0/1", "3/2", "1/0", "a/b", "1", "1/2/3", "", "-1/2", "1/-2", "0/0", "2/1")],
    # run: case selections that match nothing (exit 4: nothing to check; no file written)
    ("run-cases-nothing", lambda c: ["run", "--adapters", SPEC, "--cases", "nothing/*", "--quiet", "--out", c.out], 4,
     "no case matches"),
    ("run-cases-no-glob", lambda c: ["run", "--adapters", SPEC, "--cases", "core", "--quiet", "--out", c.out], 4,
     "no case matches"),
    ("run-cases-empty", lambda c: ["run", "--adapters", SPEC, "--cases", "", "--quiet", "--out", c.out], 4,
     "no case matches"),
    ("run-cases-empty-shard", lambda c: ["run", "--adapters", SPEC, "--cases", "core/proper/2d/float32/none/prob",
                                         "--shard", "2/2", "--quiet", "--out", c.out], 4, "in shard 2/2"),
    # run: known file paths
    ("run-known-missing", _run("--known", "nosuch.toml"), 2, "nosuch.toml: no such known-differences file"),
    ("run-known-directory", lambda c: [*_run()(c), "--known", c.tmp], 2, "is a directory"),
    # run: output paths
    ("run-out-directory", lambda c: ["run", "--adapters", SPEC, "--cases", SELECT, "--quiet", "--out", c.tmp], 2,
     "is a directory"),
    ("run-out-under-a-file", lambda c: ["run", "--adapters", SPEC, "--cases", SELECT, "--quiet",
                                        "--out", Path(c.file("f.txt", "x")) / "r.jsonl"], 2, "cannot create its folder"),
    ("run-out-in-proc", lambda c: ["run", "--adapters", SPEC, "--cases", SELECT, "--quiet",
                                   "--out", "/proc/kl-compat-test/r.jsonl"], 2, "cannot create its folder"),
    # merge
    ("merge-missing-input", lambda c: ["merge", c.tmp / "nosuch.jsonl", "--out", c.out], 2, "no such results file"),
    ("merge-input-directory", lambda c: ["merge", c.tmp, "--out", c.out], 2, "is a directory"),
    ("merge-input-binary", lambda c: ["merge", c.file("b.jsonl", b"\xff\xfe\x00\x01"), "--out", c.out], 2,
     "not a text file"),
    ("merge-no-out", lambda c: ["merge", c.full], 2, "--out"),
    ("merge-no-inputs", lambda c: ["merge", "--out", c.out], 2, "required"),
    ("merge-out-directory", lambda c: ["merge", c.full, "--out", c.tmp], 2, "is a directory"),
    ("merge-out-under-a-file", lambda c: ["merge", c.full, "--out", Path(c.file("f.txt", "x")) / "m.jsonl"], 2,
     "cannot create its folder"),
    ("merge-out-in-proc", lambda c: ["merge", c.full, "--out", "/proc/kl-compat-test/m.jsonl"], 2,
     "cannot create its folder"),
    ("merge-known-missing", lambda c: ["merge", c.full, "--out", c.out, "--known", "nosuch.toml"], 2,
     "no such known-differences file"),
    ("merge-known-directory", lambda c: ["merge", c.full, "--out", c.out, "--known", c.tmp], 2, "is a directory"),
    ("merge-one-shard-of-two", lambda c: ["merge", c.s1, "--out", c.out], 2, "shard(s) 2/2 missing"),
    ("merge-one-shard-of-two-strict", lambda c: ["merge", c.s1, "--out", c.out, "--strict"], 2,
     "shard(s) 2/2 missing"),
    ("merge-shard-twice", lambda c: ["merge", c.s1, c.s1, "--out", c.out], 2, "is also in"),
    ("merge-whole-twice", lambda c: ["merge", c.full, c.full, "--out", c.out], 2, "is also in"),
    ("merge-partial-input", lambda c: ["merge", c.results("cut.jsonl", _no_end), "--out", c.out],
     2, "incomplete"),
    ("merge-cut-mid-line", lambda c: ["merge", c.results("cut.jsonl", _text(lambda t: t[:len(t) // 2])),
                                      "--out", c.out], 2, "incomplete"),
    ("merge-partial-shard", lambda c: ["merge", c.results("cut.jsonl", _no_end, which="s1"), c.s2,
                                       "--out", c.out], 2, "incomplete"),
    ("merge-other-goldens", lambda c: ["merge", c.s1, c.results("g.jsonl", _set(RUN, goldens="0" * 64), "s2"),
                                       "--out", c.out], 2, "goldens"),
    ("merge-other-matrix-size", lambda c: ["merge", c.s1, c.results("n.jsonl", _set(RUN, cases=99), "s2"),
                                           "--out", c.out], 2, "cases"),
    ("merge-other-patterns", lambda c: ["merge", c.s1, c.results("p.jsonl", _set(RUN, patterns=["core/*"]), "s2"),
                                        "--out", c.out], 2, "patterns"),
    ("merge-different-splits", lambda c: ["merge", c.s1, c.results("3.jsonl", _set(RUN, shard=[2, 3]), "s2"),
                                          "--out", c.out], 2, "different splits"),
    ("merge-unknown-case", lambda c: ["merge", c.results("u.jsonl", _set(RECORD, case="no/such/case")),
                                      "--out", c.out], 2, "not in the goldens"),
    ("merge-record-without-adapter-line", lambda c: ["merge", c.results("a.jsonl", _set(RECORD, adapter="other")),
                                                     "--out", c.out], 2, "not in the goldens or adapter lines"),
    # diff
    ("diff-old-missing", lambda c: ["diff", c.tmp / "nosuch.jsonl", c.full], 2, "no such file"),
    ("diff-new-missing", lambda c: ["diff", c.full, c.tmp / "nosuch.jsonl"], 2, "no such file"),
    ("diff-old-directory", lambda c: ["diff", c.tmp, c.full], 2, "is a directory"),
    ("diff-new-directory", lambda c: ["diff", c.full, c.tmp], 2, "is a directory"),
    ("diff-report-json-empty-object", lambda c: ["diff", c.full, c.file("r.json", "{}")], 2, "not a kl-compat report"),
    ("diff-report-json-not-json", lambda c: ["diff", c.full, c.file("r.json", "{oops")], 2, "not JSON"),
    ("diff-report-json-other-schema", lambda c: ["diff", c.full, c.file("r.json", '{"schema": "kl-compat-report/9"}')],
     2, "schema"),
    ("diff-report-json-no-columns", lambda c: ["diff", c.full, c.file("r.json", '{"schema": "kl-compat-report/1"}')],
     2, "malformed kl-compat report"),
    ("diff-report-json-bad-columns", lambda c: ["diff", c.full, c.file(
        "r.json", '{"schema": "kl-compat-report/1", "columns": [5], "records": []}')], 2, "malformed kl-compat report"),
    ("diff-report-json-bad-records", lambda c: ["diff", c.full, c.file(
        "r.json", '{"schema": "kl-compat-report/1", "columns": [], "records": [{"column": "x"}]}')], 2,
     "malformed kl-compat report"),
    ("diff-partial-new", lambda c: ["diff", c.full, c.results("cut.jsonl", _no_end)], 2,
     "is partial"),
    ("diff-partial-old", lambda c: ["diff", c.results("cut.jsonl", _no_end), c.full], 2,
     "is partial"),
    ("diff-partial-file-name", lambda c: ["diff", c.full, c.results("r.partial.jsonl", _text(lambda t: t[:-300]))], 2,
     "--allow-partial"),
    ("diff-other-goldens", lambda c: ["diff", c.full, c.results("g.jsonl", _set(RUN, goldens="0" * 64))], 2,
     "different goldens"),
    ("diff-other-matrix-size", lambda c: ["diff", c.full, c.results("n.jsonl", _set(RUN, cases=99))], 2,
     "matrix holds"),
    ("diff-shard-against-whole", lambda c: ["diff", c.full, c.s1], 2, "--allow-mismatch"),
    ("diff-other-patterns", lambda c: ["diff", c.full, c.results("p.jsonl", _set(RUN, patterns=["core/*"]))], 2,
     "--allow-mismatch"),
    ("diff-bad-format", lambda c: ["diff", c.full, c.full, "--format", "xml"], 2, "invalid choice"),
    ("diff-bad-limit", lambda c: ["diff", c.full, c.full, "--limit", "many"], 2, "invalid int value"),
    ("diff-one-input", lambda c: ["diff", c.full], 2, "required"),
    # report
    ("report-missing-input", lambda c: ["report", c.tmp / "nosuch.jsonl", "--out", c.tmp / "rep"], 2,
     "no such results file"),
    ("report-input-directory", lambda c: ["report", c.base, "--out", c.tmp / "rep"], 2, "is a directory"),
    ("report-known-missing", lambda c: ["report", c.full, "--out", c.tmp / "rep", "--known", "nosuch.toml"], 2,
     "--known nosuch.toml: no such file"),
    ("report-known-directory", lambda c: ["report", c.full, "--out", c.tmp / "rep", "--known", c.tmp], 2,
     "is a directory"),
    ("report-claims-missing", lambda c: ["report", c.full, "--out", c.tmp / "rep", "--claims", "nosuch.toml"], 2,
     "--claims nosuch.toml: no such file"),
    ("report-out-is-a-file", lambda c: ["report", c.full, "--out", c.file("f.txt", "x")], 2, "is a file"),
    ("report-guides-is-a-file", lambda c: ["report", c.full, "--out", c.tmp / "rep", "--guides", c.file("g.txt", "x")],
     2, "is a file"),
    ("report-timeout-nan", lambda c: ["report", c.full, "--out", c.tmp / "rep", "--timeout", "nan"], 2, "timeout"),
    ("report-timeout-zero", lambda c: ["report", "--timeout", "0"], 2, "timeout"),
    ("report-timeout-text", lambda c: ["report", "--timeout", "soon"], 2, "invalid float value"),
    ("report-unknown-adapter", lambda c: ["report", "--adapters", "nosuch", "--run-out", c.out, "--out", c.tmp / "r"],
     2, "unknown adapter 'nosuch'"),
    ("report-adapter-twice", lambda c: ["report", "--adapters", "torch,torch", "--run-out", c.out,
                                        "--out", c.tmp / "r"], 2, "named twice"),
    ("report-adapters-with-files", lambda c: ["report", c.full, "--adapters", "torch", "--out", c.tmp / "r"], 2,
     "--adapters is for the run"),
    ("report-partial", lambda c: ["report", c.results("cut.jsonl", _no_end), "--out", c.tmp / "r"], 2,
     "is partial: its run did not end normally (killed or failed), so cases are missing (--allow-partial"),
    ("report-partial-beside-a-whole-one", lambda c: ["report", c.s1, c.results("s2.partial.jsonl", _no_end, "s2"),
                                                     "--out", c.tmp / "r"], 2, "--allow-partial"),
    ("report-other-goldens", lambda c: ["report", c.results("g.jsonl", _set(RUN, goldens="0" * 64)), "--out",
                                        c.tmp / "r"], 2, "than this kl_compat's"),
    ("report-inputs-of-different-goldens", lambda c: ["report", c.s1, c.results("g.jsonl", _set(RUN, goldens="0" * 64),
                                                                                "s2"), "--out", c.tmp / "r"], 2,
     "the inputs were judged against different goldens"),
    # golden
    ("golden-check-missing-dir", lambda c: ["golden", "--check", "--dir", c.tmp / "nothing"], 2, "missing"),
    ("golden-check-dir-is-a-file", lambda c: ["golden", "--check", "--dir", c.file("f.txt", "x")], 2, "is a file"),
    ("golden-write-dir-is-a-file", lambda c: ["golden", "--dir", c.file("f.txt", "x")], 2, "is a file"),
    ("golden-write-under-a-file", lambda c: ["golden", "--dir", Path(c.file("f.txt", "x")) / "g"], 2,
     "cannot create it"),
    ("golden-manifest-not-json", lambda c: ["golden", "--check", "--dir", _goldens(c, manifest="{oops")], 2,
     "not valid JSON"),
    ("golden-manifest-other-format", lambda c: ["golden", "--check", "--dir", _goldens(c, manifest='{"format": 9}')],
     2, "format 9"),
    ("golden-data-file-missing", lambda c: ["golden", "--check", "--dir", _goldens(c, remove="samples.npz")], 2,
     "samples.npz: missing"),
    ("golden-data-file-edited", lambda c: ["golden", "--check", "--dir", _goldens(c, edit="cases.json")], 2,
     "does not match"),
    # guide
    ("guide-unknown-from", lambda c: ["guide", c.full, "--from", "nosuch", "--to", "torch"], 2, "unknown framework"),
    ("guide-unknown-to", lambda c: ["guide", c.full, "--from", "torch", "--to", "nosuch"], 2, "unknown framework"),
    ("guide-missing-input", lambda c: ["guide", c.tmp / "nosuch.json", "--from", "torch", "--to", "paddle"], 2,
     "no such report"),
    ("guide-input-directory", lambda c: ["guide", c.tmp, "--from", "torch", "--to", "paddle"], 2, "is a directory"),
    ("guide-report-json-empty-object", lambda c: ["guide", c.file("r.json", "{}"), "--from", "torch", "--to",
                                                  "paddle"], 2, "not a kl-compat report"),
    ("guide-malformed-results", lambda c: ["guide", c.results("bad.jsonl", _set(RECORD, case=5)), "--from", "torch",
                                           "--to", "paddle"], 2, "'case' must be a string"),
    ("guide-out-directory", lambda c: ["guide", c.full, "--from", "torch", "--to", "paddle", "--out", c.tmp], 2,
     "is a directory"),
    ("guide-no-from", lambda c: ["guide", c.full, "--to", "paddle"], 2, "--from"),
    # doctor
    ("doctor-unknown-adapter", lambda c: ["doctor", "--adapters", "nosuch"], 2, "unknown adapter 'nosuch'"),
    ("doctor-adapters-empty", lambda c: ["doctor", "--adapters", ""], 2, "at least one name"),
    ("doctor-adapter-twice", lambda c: ["doctor", "--adapters", "torch,torch"], 2, "named twice"),
    ("doctor-adapter-at-env", lambda c: ["doctor", "--adapters", "paddle@paddle-2.6.2"], 2, "ADAPTER@ENV"),
    # env, and the command itself
    ("env-unknown-environment", lambda c: ["env", "create", "nowhere"], 2, "unknown environment 'nowhere'"),
    ("env-create-nothing", lambda c: ["env", "create"], 2, "name at least one environment"),
    ("env-unknown-verb", lambda c: ["env", "destroy"], 2, "invalid choice"),
    ("no-command", lambda c: [], 2, "required"),
    ("unknown-command", lambda c: ["frobnicate"], 2, "invalid choice"),
]


def _goldens(c: Ctx, *, manifest=None, remove=None, edit=None) -> Path:
    d = c.tmp / "goldens"
    shutil.copytree(golden.default_dir(), d)
    if manifest is not None:
        (d / "manifest.json").write_text(manifest)
    if remove:
        (d / remove).unlink()
    if edit:
        (d / edit).write_text((d / edit).read_text().replace('"core/', '"cure/', 1))
    return d


@pytest.mark.parametrize("name, argv, want_rc, want", USAGE, ids=[u[0] for u in USAGE])
def test_bad_option_or_path(name, argv, want_rc, want, base, tmp_path, capsys, fault_env):
    c = Ctx(tmp_path, base)
    rc, _, err = kl(argv(c), capsys)
    check(rc, err, want_rc, want)
    if name.startswith("run-") or name.startswith("merge-"):
        assert not c.out.exists(), "a failed command wrote its output"


# ---- adapters that do not run, and nothing run at all ------------------------------------------------------

NOT_RUN = [
    ("unavailable", [UNAVAILABLE], [], 3, "did not run: ImportError"),
    ("unavailable-beside-one-that-ran", [SPEC, UNAVAILABLE], [], 3, "did not run: ImportError"),
    ("unavailable-allowed", [SPEC, UNAVAILABLE], ["--allow-unavailable"], 0, "not run (allowed)"),
    ("every-adapter-unavailable-allowed", [UNAVAILABLE], ["--allow-unavailable"], 4, "nothing was checked"),
    ("unavailable-strict", [UNAVAILABLE], ["--strict"], 3, "did not run"),
]


@pytest.mark.parametrize("name, adapters, extra, want_rc, want", NOT_RUN, ids=[n[0] for n in NOT_RUN])
def test_adapters_that_did_not_run(name, adapters, extra, want_rc, want, tmp_path, capsys, fault_env):
    out = tmp_path / "r.jsonl"
    rc, stdout, err = kl(["run", "--adapters", ",".join(adapters), "--cases", SELECT, "--quiet", "--out", out, *extra],
                         capsys)
    check(rc, err, want_rc, want)
    assert "not run: ImportError" in stdout  # the summary says which, and why
    assert out.exists()  # what did run is kept


def test_doctor_exit_status_for_an_adapter_asked_for(capsys, fault_env):
    rc, out, err = kl(["doctor", "--adapters", UNAVAILABLE], capsys)
    check(rc, err, 3, "unavailable: fault_adapters:ImportFailsAdapter")
    assert "fix: pip install nothing-at-all" in out


def test_report_fails_for_an_adapter_asked_for_and_skips_one_of_the_default_list(tmp_path, capsys, fault_env,
                                                                               monkeypatch):
    from kl_compat.cli import report as cli_report

    argv = ["report", "--run-out", tmp_path / "r.jsonl", "--out", tmp_path / "report", "--guides", tmp_path / "g",
            "--no-reproducers", "--no-screenshot", "--quiet", "--timeout", "30"]
    rc, _, err = kl([*argv, "--adapters", f"{SPEC},{UNAVAILABLE}"], capsys)
    check(rc, err, 3, "fault_adapters:ImportFailsAdapter did not run")
    assert (tmp_path / "report" / "report.md").exists()  # the report is written all the same
    rc, _, err = kl([*argv, "--adapters", f"{SPEC},{UNAVAILABLE}", "--allow-unavailable"], capsys)
    assert rc == 0 and "Traceback" not in err
    monkeypatch.setattr(cli_report, "report_adapters", lambda: (SPEC, UNAVAILABLE))
    rc, _, err = kl(argv, capsys)
    assert rc == 0, err
    assert f"skipped {UNAVAILABLE}: ImportError" in err
    monkeypatch.setattr(cli_report, "report_adapters", lambda: (UNAVAILABLE,))
    rc, _, err = kl(argv, capsys)
    check(rc, err, 4, "nothing was checked")


# ---- what a flag allows -----------------------------------------------------------------------------------

def test_allow_flags_let_partial_and_mismatched_inputs_through_and_say_so(base, tmp_path, capsys):
    c = Ctx(tmp_path, base)
    cut = c.results("cut.jsonl", _no_end)
    rc, out, err = kl(["diff", c.full, cut, "--allow-partial"], capsys)
    assert rc == 0 and "warning:" in err and "is partial" in err and "Traceback" not in err
    assert "note: NEW" in out  # the text output carries it too
    rc, _, err = kl(["diff", c.full, c.s1, "--allow-mismatch"], capsys)
    assert rc == 0 and "warning: OLD ran 8 case(s)" in err
    rc, _, err = kl(["merge", c.s1, "--out", c.out, "--allow-partial"], capsys)
    assert rc == 0 and "shard(s) 2/2 missing" in err
    from kl_compat import results

    merged = results.read(c.out)
    assert merged.truncated and merged.run.incomplete  # the merged file says it is partial
    rc, _, err = kl(["diff", c.full, c.out], capsys)  # ... and is refused as such downstream
    check(rc, err, 2, "is partial")
    rc, _, err = kl(["merge", c.s1, c.s2, "--out", c.out, "--strict"], capsys)
    assert rc == 0, err
    assert not results.read(c.out).truncated
    # report: refused, then allowed and said, on stderr and in the report
    report = ["--out", tmp_path / "rep", "--no-reproducers", "--no-screenshot", "--quiet"]
    other = c.results("g.jsonl", _set(RUN, goldens="0" * 64))
    rc, _, err = kl(["report", cut, other, *report], capsys)
    check(rc, err, 2, "--allow-partial")
    assert "problem:" in err and "different goldens" in err  # the other problem is said too
    rc, _, err = kl(["report", cut, other, *report, "--allow-partial"], capsys)
    check(rc, err, 2, "--allow-mismatch")
    rc, _, err = kl(["report", cut, other, *report, "--allow-partial", "--allow-mismatch"], capsys)
    assert rc == 0 and "Traceback" not in err, err
    assert "warning: " + cut in err and "is partial" in err and "than this kl_compat's" in err
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "other goldens" in md and "TRUNCATED" in md
