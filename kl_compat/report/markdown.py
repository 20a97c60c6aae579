"""The Markdown report: short enough for a pull-request comment's top, complete enough for a README.

Everything shown from data (results files, report.json, a framework's messages, case ids, versions,
paths) goes through `text` or `code` (and shell commands through `shell_quote`), from kl_compat.text: it
renders as exactly its characters, never as HTML, a link, an image, a heading, a list or a broken table
row.
"""

from __future__ import annotations

from urllib.parse import quote

from ..results import version_label
from .columns import column_title
from ..text import attribute, cell, code, fence, shell_quote, text  # noqa: F401 (markdown.text etc. stay valid)

MAX_CASES = 10  # case ids listed per finding; the HTML and JSON reports list them all
FENCE = {"python": "python", "r": "r"}
VALUE_KINDS = ("value", "nan-inf", "shape", "dtype", "error-vs-value", "error-type", "unsupported-argument")
PR_COMMENT_LIMIT = 65000  # characters GitHub takes in a comment (65536), with room to spare


def outcome_text(o: dict | None) -> str:
    """What the spec or a framework did, in one line."""
    if not o:
        return "not measured"
    if o.get("outcome") == "error":
        return f"raises {o['error']}"
    if o.get("outcome") == "value":
        return f"{o['dtype']}, shape {tuple(o['shape'])}, {_value(o.get('value'))}"
    status = o.get("observed")
    if status == "ok":
        return f"{o['dtype']}, shape {tuple(o['shape'])}, {_value(o.get('value'))}"
    if status == "raised":
        err = o.get("error") or {}
        msg = " ".join(str(err.get("message", "")).split())
        return f"raises {err.get('type')}" + (f": {msg[:120]}{'...' if len(msg) > 120 else ''}" if msg else "")
    if status == "unsupported":
        return f"has no {o.get('unsupported')}"
    return f"{status}: {o.get('detail')}"


def _value(v) -> str:
    if v is None:
        return "value not recorded"
    text = repr(v)
    return text if len(text) <= 120 else text[:117] + "..."


HTML_SECTIONS = (("scoreboard", "scoreboard"), ("accuracy", "accuracy"), ("versions", "history"),
                 ("claims", "claims"), ("differences", "differences"), ("cases by cell", "cases"))


def html_link(label: str, anchor: str) -> str:
    """A link to a section of report.html (beside report.md): `label` is the report's own words, never
    data; `anchor` (a section's or finding's id, which may hold data) is percent-encoded, so it cannot
    end the link or open another (a browser decodes it to match the element's id)."""
    return f"[{label}](report.html#{quote(str(anchor), safe='')})"


def render(m: dict) -> str:
    """The report; when it would not fit a pull-request comment, a compact form (fewer cases listed, no
    evidence column, reproducers for new differences only), and when that would not fit either, the
    known differences as one table row each (new ones stay whole): the HTML and JSON reports have
    everything, and every row links to its section of report.html."""
    for level in ("full", "compact", "rows"):
        out = _render(m, level)
        if len(out) <= PR_COMMENT_LIMIT:
            break
    return out


def _render(m: dict, level: str) -> str:
    compact = level != "full"
    out = _heading(m) + _summary(m) + _errors(m) + _claims(m, compact)
    out += ["", "## Differences", ""]
    if not m["findings"]:
        out.append("None: every case that ran matches the spec.")
    if compact:
        out += ["This is the compact form (the full one would not fit a pull-request comment): see report.html.", ""]
    numbered = list(enumerate(m["findings"], 1))
    for n, f in numbered:
        if level != "rows" or not f["known"]:
            out += _finding(m, n, f, compact)
    if level == "rows":
        out += _known_rows(m, [(n, f) for n, f in numbered if f["known"]])

    if m["known_problems"]:
        out += ["", "## Known-differences file problems", ""]
        out += [f"- {text(p)}" for p in m["known_problems"]]
    if m["notes"]:
        out += ["", "## Notes", ""]
        out += [f"- {text(p)}" for p in m["notes"]]
    out += ["", "## Run information", ""] + _run_info(m)
    return "\n".join(out).rstrip() + "\n"


def _heading(m: dict) -> list[str]:
    """The title, where the report comes from, links into report.html, and whether anything is new."""
    info = m["run_info"]
    out = ["# KL divergence: conformance report", ""]
    out.append(f"Generated {text(m['generated'])} by kl_compat {text(info['kl_compat'])} from {len(info['inputs'])} "
               f"results file(s); goldens {code(str(info['goldens'])[:16])}, known differences "
               f"{code(str(info['known_differences']['sha256'] or 'none')[:16])}. The HTML report (report.html) has "
               "the full case lists; report.json is the machine-readable form (`kl-compat diff` reads it).")
    from .history import timelines  # the versions section is there only when a framework has several

    sections = [(what, anchor) for what, anchor in HTML_SECTIONS if anchor != "history" or timelines(m)]
    out += ["", "In report.html: " + ", ".join(html_link(what, anchor) for what, anchor in sections) + "."]
    out.append("")
    if m["new"]:
        out.append(f"**{text(m['new'])} record(s) show a NEW difference**, not explained by the known-differences "
                   "file.")
    else:
        out.append("No new differences: every difference found is explained by the known-differences file.")
    return out


def _summary(m: dict) -> list[str]:
    """The counts of each column and surface, and the columns that did not run, with why."""
    out = ["", "## Summary", ""]
    out.append("| adapter | surface | run | match | differs: known | differs: new | unsupported | error | crashed | timeout |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in m["summary"]:
        err = f"{text(r['error'])}" + (f" ({text(r['error_new'])} new)" if r["error_new"] else "")
        out.append(f"| {text(column_title(m, r['column']))} | {text(r['surface'])} | {text(r['run'])} | "
                   f"{text(r['match'])} | {text(r['differs_known'])} | {text(r['differs_new'])} | "
                   f"{text(r['unsupported'])} | {err} | {text(r['crashed'])} | {text(r['timeout'])} |")
    for c in m["columns"]:
        if not c["available"]:
            out.append(f"| {text(c['id'])} | NOT RUN | — | — | — | — | — | — | — | — |")
    not_run = [c for c in m["columns"] if not c["available"]]
    if not_run:
        out.append("")
        for c in not_run:
            hint = (f" (fix: {text(c['hint'])})" if c.get("hint") and "fix:" not in (c.get("reason") or "")
                    else "")
            out.append(f"- **{text(c['id'])}: NOT RUN**, nothing about it is measured here: "
                       f"{text(c.get('reason'))}{hint}")
    return out


def _errors(m: dict) -> list[str]:
    """Each kind of bad call: the exception the spec raises, and what each framework version raises (or
    does) instead, so that code catching the spec's class sees what it will not catch."""
    from .errors import cell_text

    rows = m.get("errors") or []
    if not rows:
        return []
    cols = [c["id"] for c in m["columns"] if c["available"] and any(c["id"] in r["columns"] for r in rows)]
    out = ["", "## Errors", "",
           "What each framework raises where the spec raises (counts are records: cases x surfaces); "
           "\"not caught\": a handler for the spec's exception (`except ValueError:`; R: `value_error`) "
           "does not catch it.", "",
           "| " + " | ".join(["the call", "the spec raises", *(text(column_title(m, c)) for c in cols)]) + " |",
           "|---|---|" + "---|" * len(cols)]
    for r in rows:
        cells = [text(cell_text(r["columns"].get(c, []))) or "—" for c in cols]
        out.append("| " + " | ".join([f"{text(r['what'])} ({text(r['rule'])}, {text(r['cases'])} cases)",
                                      code(r["expected"]), *cells]) + " |")
    return out


def _claims(m: dict, compact: bool) -> list[str]:
    out = ["", "## Documented claims", "",
           "Claims the reference pages make, checked against what each framework version did "
           "(conformance/claims.toml).", "",
           "| claim | page | quote | version | result | evidence |", "|---|---|---|---|---|---|"]
    for c in m["claims"]:
        for r in c["results"]:
            ver = column_title(m, r["column"])
            mark = {"held": "held", "contradicted": "**contradicted**"}.get(r["status"], text(r["status"]))
            evidence = text(r["evidence"], 100 if compact else 300)
            out.append(f"| {code(c['id'])} | {text(c.get('url') or c['source'])} | {text(c['quote'], 160)} | {text(ver)} | {mark} | "
                       f"{evidence} |")
    return out


def _finding(m: dict, n: int, f: dict, compact: bool = False) -> list[str]:
    who = text(column_title(m, f["column"]))
    tag = "known" if f["known"] else "NEW"
    out = [f"### {n}. {who}: {text(f['title'])}", "",
           f"<a id=\"{attribute(f['id'])}\"></a>{tag}; kinds: {text(', '.join(map(str, f['kinds'])))}; surfaces: "
           f"{text(', '.join(map(str, f['surfaces'])))}; {text(f['count'])} record(s)."
           + (f" Follows convention {text(', '.join(map(str, f['conventions'])))}." if f["conventions"] else "")
           + f" All cases: {html_link('in report.html', f['id'])}.",
           ""]
    if f["known"]:
        entry = f" (known-differences entry {text(f['entry'])})" if f.get("entry") else ""
        out.append(f"**Reason**{entry}: {text(f['reason'])}" + (f" See {text(f['link'])}." if f.get("link") else ""))
    else:
        out.append("**Reason**: not in the known-differences file. Explain it there, or fix it.")
    out.append("")
    for e in f["examples"]:
        out.append(f"- {text(e['kind'])}, e.g. {code(e['case'], table=False)} ({text(e['surface'])}): "
                   f"{text(e['message'])}")
    rep = f.get("reproducer") or {}
    if rep.get("spec") and rep.get("observed") and set(f["kinds"]) & set(VALUE_KINDS):
        out += ["", f"On the reproducer's input the spec gives {text(outcome_text(rep['spec']))}; {who} gives "
                    f"{text(outcome_text(rep['observed']))}."]
    cases = f["cases"]
    limit = 3 if compact else MAX_CASES
    listed = ", ".join(f"{code(c['case'], table=False)} ({text(c['surface'])})" for c in cases[:limit])
    more = f", and {len(cases) - limit} more (all in report.html and report.json)" if len(cases) > limit else ""
    out += ["", f"Cases: {listed}{more}.", ""]
    if compact and f["known"]:
        return out
    if rep.get("code"):
        size = len(_flat(rep.get("input")))
        how = (f"minimised to {size} element(s) from {code(rep['case'], table=False)}" if rep.get("minimised")
               else f"{text(rep.get('note') or 'not minimised')}; from {code(rep['case'], table=False)}")
        out += [f"Reproducer ({how}, {text(rep['surface'])}):", "",
                *fence(str(rep["code"]).rstrip(), FENCE.get(rep.get("language") or "", "")), ""]
    elif rep:
        command = f"kl-compat run --cases {shell_quote(rep.get('case'))}"  # pasted into a shell: one argument
        out += [f"Reproducer: none printed ({text(rep.get('note') or 'the input is too large to print')}); "
                f"run {code(command, table=False)}.", ""]
    return out


def _known_rows(m: dict, findings: list[tuple[int, dict]]) -> list[str]:
    """The known differences, a table row each: its column, what it is (the reason's first words), its
    kinds and records, and the link to its section of report.html (reason, cases and reproducer)."""
    if not findings:
        return []
    out = ["Known differences, each explained in report.html:", "",
           "| # | framework | difference | kinds | records | details |", "|---|---|---|---|---|---|"]
    for n, f in findings:
        out.append(f"| {n} | {text(column_title(m, f['column']))} | {text(f['title'], 90)} | "
                   f"{text(', '.join(map(str, f['kinds'])))} | {text(f['count'])} | "
                   f"{html_link('section', f['id'])} |")
    return out + [""]


def _flat(v):
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [] if v is None else [v]


def _run_info(m: dict) -> list[str]:
    info = m["run_info"]
    mach = info["machine"]
    out = ["| what | value |", "|---|---|",
           f"| kl_compat | {text(info['kl_compat'])} |",
           f"| goldens (manifest digest) | {code(info['goldens'])} |",
           f"| known differences | {text(info['known_differences']['path'])} sha256 "
           f"{code(info['known_differences']['sha256'])} |",
           f"| claims | {text(info['claims']['path'])} sha256 {code(info['claims']['sha256'])} |",
           f"| report written on | Python {text(mach['python'])}, NumPy {text(mach['numpy'])}, "
           f"{text(mach['platform'])}, R {text(mach['r'] or 'not installed')} |"]
    for c in m["columns"]:
        if c["available"]:
            extra = f", R {text(c['r'])}" if c.get("r") else ""
            out.append(f"| {text(c['id'])} | {text(version_label(c.get('framework'), c.get('version'), c))}, "
                       f"Python {text(c.get('python'))}, NumPy {text(c.get('numpy'))}, {text(c.get('platform'))}"
                       f"{extra} |")
        else:
            out.append(f"| {text(c['id'])} | NOT RUN: {text(c.get('reason'))} |")
    for i in info["inputs"]:
        shard = f", shard {text(i['shard'][0])}/{text(i['shard'][1])}" if i.get("shard") else ""
        cut = ", TRUNCATED" if i.get("truncated") else ""
        out.append(f"| input {text(i['path'])} | started {text(i.get('started'))}, finished "
                   f"{text(i.get('finished'))}, {text(i.get('selected'))} of {text(i.get('cases'))} cases{shard}"
                   f"{cut}; Python {text(i.get('python'))}, NumPy {text(i.get('numpy'))}, "
                   f"{text(i.get('platform'))} |")
    return out
