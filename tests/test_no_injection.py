"""Nothing read from a results file or a report.json (case ids, a framework's error and warning messages,
adapter names, versions, paths) reaches report.md, report.html, `diff --format markdown`, the porting
guides or `scan --format markdown` as live Markdown or HTML; a printed shell command passes a case id
through as one argument; and `report` never runs an interpreter a results file names.

No Markdown renderer is installed in .venv (neither `markdown` nor `markdown-it-py`), so the Markdown is
checked on its text, with CommonMark's rules for code spans and fences: outside them no `<` but the
renderers' own few tags, no unescaped `[`, no table row broken or widened, no block started by data.
The HTML report is parsed with the standard library's HTMLParser.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kl_compat import __version__, guide, reproducer, scan
from kl_compat.cli import main
from kl_compat.diff import diff, load, render_markdown
from kl_compat.report import html, json_report, markdown
from kl_compat.report.assemble import build

from test_report import adapter_line, record, write_results

HOSTILE = ["<script>alert(1)</script>", "</td><img src=x onerror=alert(1)>", "a|b", "line1\n# heading",
           "`code` ``", "[link](javascript:alert(1))"]
EVIL = " ".join(HOSTILE)  # all of them in one string
SHELL_ID = "core/'; touch pwned; '/2d/float32/mean/prob"  # pasted into a shell unquoted, it runs `touch`
NEWLINE_ID = "core/line1\n# heading/2d/float32/mean/prob"
REAL_CASE = "core/proper/2d/float32/mean/prob"


# ---- what inert Markdown looks like -------------------------------------------------------------------------

def _blocks(md: str) -> tuple[list[str], list[list[str]]]:
    """(the lines outside fenced code blocks, the fenced blocks' lines), by CommonMark's rule: a fence of n
    backticks closes at the first line of at least n backticks and nothing else."""
    outside, fenced, fence = [], [], None
    for line in md.split("\n"):
        if fence is None:
            m = re.match(r"^ {0,3}(`{3,})", line)
            if m:
                fence = len(m.group(1))
                fenced.append([])
            else:
                outside.append(line)
        elif re.fullmatch(rf" {{0,3}}`{{{fence},}}\s*", line):
            fence = None
        else:
            fenced[-1].append(line)
    assert fence is None, "a fenced block is never closed: data closed or opened one"
    return outside, fenced


def _code_spans(line: str) -> tuple[str, list[str]]:
    """The line with each code span replaced by \\x00, and the spans' contents (CommonMark: an unescaped run
    of n backticks opens one, the next run of exactly n closes it; a run left unmatched is literal)."""
    out, spans, i = [], [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append(line[i:i + 2])
            i += 2
            continue
        if line[i] != "`":
            out.append(line[i])
            i += 1
            continue
        j = i
        while j < len(line) and line[j] == "`":
            j += 1
        close = next((m for m in re.finditer(r"`+", line[j:]) if len(m.group()) == j - i), None)
        if close is None:
            out.append(line[i:j])
            i = j
            continue
        content = line[j:j + close.start()]
        if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
            content = content[1:-1]
        spans.append(content)
        out.append("\x00")
        i = j + close.end()
    return "".join(out), spans


def _unescaped(text: str, ch: str) -> int:
    """How many times `ch` occurs not escaped by a backslash."""
    n, i = 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        n += text[i] == ch
        i += 1
    return n


# (a guide's "What will bite you" links each line to its section: <a href="#difference-N">...</a>)
OWN_TAGS = re.compile(r'<a id="[^"<>]*"></a>|<a href="#difference-\d+">|</a>|</?details>|</?summary>')
# (report.md links to report.html's sections: the words are the report's, the anchor percent-encoded)
OWN_LINKS = re.compile(r"\[[a-z. ]+\]\(report\.html#[A-Za-z0-9%._~-]*\)")


def assert_inert(md: str, *, payload: bool = True) -> None:
    """`md` shows its data as text only (see the module's docstring). With `payload`, the hostile strings
    did reach it (the check is not vacuous)."""
    outside, fenced = _blocks(md)
    table: list[str] = []
    for line in outside + [""]:
        plain, _ = _code_spans(line)
        plain = OWN_LINKS.sub("", plain)
        rest = OWN_TAGS.sub("", plain)
        assert "<" not in rest, f"live HTML from data: {line!r}"
        assert _unescaped(plain, "[") == 0, f"a link or image could open here: {line!r}"
        assert not re.match(r"^\s*(?:[-*+]\s+)?#{1,6}\s*heading", line), f"data started a heading: {line!r}"
        if line.startswith("|"):
            table.append(line)
            continue
        if table:  # a table ended: one header, one delimiter row, rows of as many cells as the header
            assert len(table) >= 2 and re.fullmatch(r"\|(?:\s*:?-+:?\s*\|)+", table[1]), \
                f"a table row was broken in two: {table[:2]!r}"
            widths = [_unescaped(row, "|") for row in table]
            assert len(set(widths)) == 1, f"a table row has more cells than its header: {table!r}"
            table = []
    if payload:
        assert "alert(1)" in md, "the hostile strings never reached the output: the test proves nothing"


# ---- a crafted results file -------------------------------------------------------------------------------

def _crafted(tmp_path: Path, executable: str, *, name_torch="torch", name_paddle="paddle") -> Path:
    """Two frameworks' columns whose labels, versions, platforms and so on are hostile, records whose case
    ids, surfaces, warning and error messages are, and an adapter that did not run with a hostile reason."""
    def line(label, name, version):
        a = adapter_line(label, version, name=name, surfaces=("functional", EVIL))
        a.update(framework=EVIL, python=HOSTILE[0], numpy=HOSTILE[1], platform=EVIL, executable=executable)
        return a

    recs = []
    for label, name in ((f"torch {HOSTILE[1]}", name_torch), (f"paddle {HOSTILE[2]}", name_paddle)):
        version = f"1.0 {HOSTILE[0]}"
        for k, h in enumerate(HOSTILE):
            case = f"core/{h}/2d/float32/mean/prob"
            r = record(case, label, version=version, status="differs", kinds=["warning", "value"])
            r["differences"][0]["message"] = f"warning: {h}"
            r["observed"]["warnings"] = [{"category": "UserWarning", "message": h}]
            recs.append(r)
            e = record(f"edge/{k}{h}/2d/float32/sum/prob", label, surface=EVIL, version=version, status="error",
                       kinds=["error-vs-value"], error={"type": h, "message": EVIL})
            e["differences"][0]["message"] = f"raised {h}: {EVIL}"
            recs.append(e)
        for case in (SHELL_ID, NEWLINE_ID):
            recs.append(record(case, label, version=version, status="differs", kinds=["value"]))
    lines = [line(f"torch {HOSTILE[1]}", name_torch, f"1.0 {HOSTILE[0]}"),
             line(f"paddle {HOSTILE[2]}", name_paddle, f"1.0 {HOSTILE[0]}"),
             adapter_line(f"rtorch {HOSTILE[3]}", available=False, reason=EVIL)]
    lines[2]["hint"] = HOSTILE[5]
    return write_results(tmp_path / "crafted.jsonl", lines, recs)


def _with_reproducers(m: dict) -> dict:
    """Reproducers as a crafted report.json could hold them: hostile values, messages, advice and code."""
    ids = [c["id"] for c in m["columns"] if c["available"]]
    outcome = {"status": "differs", "kinds": ["value"], "messages": [EVIL], "observed": "raised",
               "error": {"type": HOSTILE[0], "message": EVIL}}
    for n, f in enumerate(m["findings"]):
        other = next(i for i in ids if i != f["column"])
        f["reproducer"] = {
            "case": f["cases"][0]["case"], "surface": EVIL, "minimised": n % 2 == 0, "note": EVIL,
            "input": [[0.5]], "target": [[HOSTILE[4]]], "input_shape": [1, 1], "target_shape": [1, 1],
            "input_dtype": "float32" if n % 3 else EVIL, "target_dtype": "float32",
            "call": {"reduction": EVIL, "log_target": False, "size_average": None, "reduce": None},
            "spec": {"outcome": "error", "error": HOSTILE[1], "message": EVIL}, "observed": outcome,
            "others": {other: dict(outcome, kinds=["nan-inf"], surface="functional")},
            "language": "python", "code": None if n % 2 else f"print(1)\n# {EVIL}\n```\n{EVIL}\n````"}
        f["known"], f["reason"], f["advice"] = True, EVIL, EVIL
        f["advice_code"] = {"torch": f"x = 1  # ```\n{EVIL}", "paddle": f"y = 2\n```\n{EVIL}"}
        f["title"], f["link"] = EVIL, "javascript:alert(1)"
    return m


@pytest.fixture
def crafted(tmp_path):
    path = _crafted(tmp_path, executable=f"/tmp/{HOSTILE[0]}/python")
    m = build([path], reproduce=False, probe=False, warn=lambda message: None)
    return path, _with_reproducers(m)


# ---- the outputs --------------------------------------------------------------------------------------------

def test_the_helpers_escape_each_hostile_string():
    for h in HOSTILE + [EVIL, SHELL_ID, NEWLINE_ID, "1. item", "- item", "---", "___", "* * *", "a\\|b"]:
        line = f"| {markdown.text(h)} | {markdown.code(h)} |"
        assert "\n" not in line
        assert_inert("| a | b |\n|---|---|\n" + line + "\n", payload=False)
        assert_inert(f"- {markdown.text(h)}\n- {markdown.code(h, table=False)}\n", payload=False)
        plain, spans = _code_spans(markdown.code(h, table=False))
        assert plain == "\x00" and spans == [" ".join(h.split())]  # a code span shows the data verbatim


def test_report_md_and_html_show_data_as_text(crafted, tmp_path):
    _, m = crafted
    md = markdown.render(m)
    assert_inert(md)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "\\[link\\](javascript:alert(1))" in md
    for level in ("compact", "rows"):  # the shorter forms a long report takes
        assert_inert(markdown._render(m, level))

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.text = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

        def handle_data(self, data):
            self.text.append(data)

    page = Tags()
    rendered = html.render(m)
    page.feed(rendered)
    names = {t for t, _ in page.tags}
    scripts = [a for t, a in page.tags if t == "script"]  # the page's own code, and its data as JSON: none from the data
    assert scripts == [{"type": "application/json", "id": "page-data"}, {}]
    assert rendered.lower().count("</script") == 2
    block = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', rendered, re.S).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert any(HOSTILE[0] in case for case in json.loads(block)["cases"])  # the data, unchanged, as JSON strings
    assert all(a.get("class") == "plot" for t, a in page.tags if t == "svg")  # the page's own pictures only
    assert not names & {"img", "iframe", "object", "embed", "math", "base", "form"}
    for tag, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        href = attrs.get("href")
        assert href is None or href.startswith("#") or re.match(r"https?://", href), (tag, href)
    shown = "".join(page.text)
    assert HOSTILE[0] in shown and HOSTILE[1] in shown  # as text


def test_diff_markdown_shows_data_as_text(tmp_path):
    new = _crafted(tmp_path, executable=sys.executable)
    lines = [json.loads(x) for x in new.read_text().splitlines()]
    for x in lines:  # OLD: every record matched; so NEW's are broken, with hostile ids, surfaces and kinds
        if x["type"] == "record":
            x.update(status="match", differences=[])
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps(x) + "\n" for x in lines))
    d = diff(load(old), load(new))
    assert d["rows"]["broken"]
    md = render_markdown(d)
    assert_inert(md)
    assert "&lt;img src=x onerror=alert(1)&gt;" in md or "<img src=x onerror=alert(1)>`" in md


def test_guides_show_data_as_text(crafted, tmp_path, capsys):
    _, m = crafted
    crafted_frameworks = {"torch", "paddle", "rtorch"}  # the columns the crafted report has
    for src, dst in guide.pairs():
        if {src, dst} <= crafted_frameworks:
            assert_inert(guide.render(m, src, dst))
    page = guide.render(m, "torch", "paddle")
    assert "### 1. " in page and "Portable: " in page  # the differences, their advice and code did render
    # through the command, from a crafted report.json
    report = tmp_path / "report.json"
    report.write_text(json_report.dumps(m))
    assert main(["guide", str(report), "--from", "paddle", "--to", "torch"]) == 0
    assert_inert(capsys.readouterr().out)


def test_scan_markdown_shows_data_as_text():
    site = scan.CallSite(path=f"src/{EVIL}.py", line=3, framework="torch", surface="functional", api=EVIL,
                         arguments={"reduction": EVIL, "log_target": False, "size_average": None, "reduce": None})
    d = scan.Difference(column=EVIL, reason=EVIL, advice=EVIL, code=EVIL, link=HOSTILE[5], explained=True,
                        silent=True, cases=[SHELL_ID, EVIL])
    md = scan.render_markdown([scan.SiteReport(site, 2, [d], notes=[EVIL])], "torch", "paddle")
    assert_inert(md)


# ---- the printed command, and the interpreter a results file names -------------------------------------------

def test_report_never_runs_the_interpreter_a_results_file_names_and_quotes_its_commands(tmp_path, fault_env):
    marker = tmp_path / "evil-ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\nexec {sys.executable} \"$@\"\n")
    evil.chmod(0o755)
    spec = "fault_adapters:SpecAdapter"
    lines = [adapter_line(spec, __version__, surfaces=("functional",))]
    lines[0]["executable"] = str(evil)
    recs = [record(REAL_CASE, spec, version=__version__, status="differs", kinds=["value"]),  # a reproducer runs
            record(SHELL_ID, spec, version=__version__, status="differs", kinds=["value"]),
            record(NEWLINE_ID, spec, version=__version__, status="differs", kinds=["value"])]
    results_file = write_results(tmp_path / "r.jsonl", lines, recs)
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "kl_compat.cli", "report", str(results_file), "--out", str(out),
                           "--no-screenshot", "--quiet"], capture_output=True, text=True, env=dict(os.environ),
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 1, done.stderr  # new differences, reported
    assert not marker.exists(), "report ran the interpreter the results file named"
    assert f"the inputs name {evil} as the interpreter it ran in" in done.stderr and "not trusted" in done.stderr
    md = (out / "report.md").read_text()
    assert_inert(md, payload=False)
    assert "not trusted" in md  # the report says so too
    m = json.loads((out / "report.json").read_text())
    rep = next(f["reproducer"] for f in m["findings"] if f["cases"][0]["case"] == REAL_CASE)
    assert "no smaller input shows this difference" in rep["note"]  # its worker ran, in this environment
    # The printed commands, pasted into a shell: each case id arrives as one argument, and nothing runs.
    commands = [span for line in md.splitlines() if "Reproducer: none printed" in line
                for span in _code_spans(line)[1] if span.startswith("kl-compat run")]
    passed = []
    for command in commands:
        shell = "kl-compat() { printf '%s\\0' \"$@\"; }\n" + command
        got = subprocess.run(["bash", "-c", shell], capture_output=True, cwd=tmp_path, timeout=30)
        args = got.stdout.split(b"\0")[:-1]
        assert got.returncode == 0 and args[:2] == [b"run", b"--cases"] and len(args) == 3, (command, got)
        passed.append(args[2].decode())
    assert SHELL_ID in passed and NEWLINE_ID in passed, (commands, passed)
    assert not (tmp_path / "pwned").exists()


def test_the_interpreter_is_never_a_path_from_the_inputs(tmp_path):
    column = {"id": "torch", "name": "torch", "available": True, "version": "1.0", "executable": "/tmp/evil.sh",
              "environment": None}
    run, why = reproducer.runnable(column)
    assert run.python == sys.executable and why is None  # this environment's, for signatures and reproducers
    assert reproducer.untrusted_executable(column) == "/tmp/evil.sh"
    assert reproducer.untrusted_executable(dict(column, executable=sys.executable)) is None
    run, why = reproducer.runnable(dict(column, environment="nowhere"))
    assert run is None and "does not configure" in why
    run, why = reproducer.runnable(dict(column, name="paddle", environment="paddle-2.6.2", executable="/tmp/evil.sh"))
    assert run is None or run.python.endswith("/envs/paddle-2.6.2/bin/python")  # its own, made by env create
