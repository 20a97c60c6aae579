"""The Markdown report: short enough for a pull-request comment's top, complete enough for a README."""

from __future__ import annotations

from ..results import version_label

MAX_CASES = 10  # case ids listed per finding; the HTML and JSON reports list them all
FENCE = {"python": "python", "r": "r"}
VALUE_KINDS = ("value", "nan-inf", "shape", "dtype", "error-vs-value", "unsupported-argument")
PR_COMMENT_LIMIT = 65000  # characters GitHub takes in a comment (65536), with room to spare


def cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text) -> str:
    """Inline code that is safe in a table cell (GitHub reads a | inside a code span as a cell break)."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


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


def column_title(m: dict, cid: str) -> str:
    """A column's id with its version (results.version_label), unless the id already holds the version."""
    col = next((c for c in m["columns"] if c["id"] == cid), None)
    if col is None:
        return cid
    version = col.get("version")
    return version_label(cid, None if version and version in cid else version, col)


def render(m: dict) -> str:
    """The report; when it would not fit a pull-request comment, a compact form (fewer cases listed, no
    evidence column, reproducers for new differences only: the HTML and JSON reports have everything)."""
    text = _render(m, compact=False)
    return text if len(text) <= PR_COMMENT_LIMIT else _render(m, compact=True)


def _render(m: dict, compact: bool) -> str:
    info = m["run_info"]
    out = ["# KL divergence: conformance report", ""]
    out.append(f"Generated {m['generated']} by kl_compat {info['kl_compat']} from {len(info['inputs'])} results "
               f"file(s); goldens `{info['goldens'][:16]}`, known differences `"
               f"{(info['known_differences']['sha256'] or 'none')[:16]}`. The HTML report (report.html) has the "
               "full case lists; report.json is the machine-readable form (`kl-compat diff` reads it).")
    out.append("")
    if m["new"]:
        out.append(f"**{m['new']} record(s) show a NEW difference**, not explained by the known-differences file.")
    else:
        out.append("No new differences: every difference found is explained by the known-differences file.")
    out += ["", "## Summary", ""]
    out.append("| adapter | surface | run | match | differs: known | differs: new | unsupported | error | crashed | timeout |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in m["summary"]:
        err = f"{r['error']}" + (f" ({r['error_new']} new)" if r["error_new"] else "")
        out.append(f"| {cell(column_title(m, r['column']))} | {r['surface']} | {r['run']} | {r['match']} | "
                   f"{r['differs_known']} | {r['differs_new']} | {r['unsupported']} | {err} | {r['crashed']} | "
                   f"{r['timeout']} |")
    for c in m["columns"]:
        if not c["available"]:
            out.append(f"| {cell(c['id'])} | NOT RUN | — | — | — | — | — | — | — | — |")
    not_run = [c for c in m["columns"] if not c["available"]]
    if not_run:
        out.append("")
        for c in not_run:
            hint = f" (fix: {c['hint']})" if c.get("hint") and "fix:" not in (c.get("reason") or "") else ""
            out.append(f"- **{c['id']}: NOT RUN**, nothing about it is measured here: {cell(c.get('reason'))}{hint}")

    out += ["", "## Documented claims", "",
            "Claims the reference pages make, checked against what each framework version did "
            "(conformance/claims.toml).", "",
            "| claim | page | quote | version | result | evidence |", "|---|---|---|---|---|---|"]
    for c in m["claims"]:
        for r in c["results"]:
            ver = column_title(m, r["column"])
            mark = {"held": "held", "contradicted": "**contradicted**"}.get(r["status"], r["status"])
            evidence = cell(r["evidence"])[:100 if compact else 300]
            out.append(f"| `{c['id']}` | {c['source']} | {cell(c['quote'])[:160]} | {cell(ver)} | {mark} | "
                       f"{evidence} |")

    out += ["", "## Differences", ""]
    if not m["findings"]:
        out.append("None: every case that ran matches the spec.")
    if compact:
        out += ["This is the compact form (the full one would not fit a pull-request comment): see report.html.", ""]
    for n, f in enumerate(m["findings"], 1):
        out += _finding(m, n, f, compact)

    if m["known_problems"]:
        out += ["", "## Known-differences file problems", ""]
        out += [f"- {cell(p)}" for p in m["known_problems"]]
    if m["notes"]:
        out += ["", "## Notes", ""]
        out += [f"- {cell(p)}" for p in m["notes"]]
    out += ["", "## Run information", ""] + _run_info(m)
    return "\n".join(out).rstrip() + "\n"


def _finding(m: dict, n: int, f: dict, compact: bool = False) -> list[str]:
    who = column_title(m, f["column"])
    tag = "known" if f["known"] else "NEW"
    out = [f"### {n}. {who}: {f['title']}", "",
           f"<a id=\"{f['id']}\"></a>{tag}; kinds: {', '.join(f['kinds'])}; surfaces: {', '.join(f['surfaces'])}; "
           f"{f['count']} record(s)." + (f" Follows convention {', '.join(f['conventions'])}." if f["conventions"] else ""),
           ""]
    if f["known"]:
        entry = f" (known-differences entry {f['entry']})" if f.get("entry") else ""
        out.append(f"**Reason**{entry}: {' '.join(f['reason'].split())}" + (f" See {f['link']}." if f.get("link") else ""))
    else:
        out.append("**Reason**: not in the known-differences file. Explain it there, or fix it.")
    out.append("")
    for e in f["examples"]:
        out.append(f"- {e['kind']}, e.g. `{e['case']}` ({e['surface']}): {cell(e['message'])}")
    rep = f.get("reproducer") or {}
    if rep.get("spec") and rep.get("observed") and set(f["kinds"]) & set(VALUE_KINDS):
        out += ["", f"On the reproducer's input the spec gives {outcome_text(rep['spec'])}; {who} gives "
                    f"{outcome_text(rep['observed'])}."]
    cases = f["cases"]
    limit = 3 if compact else MAX_CASES
    listed = ", ".join(f"`{c['case']}` ({c['surface']})" for c in cases[:limit])
    more = f", and {len(cases) - limit} more (all in report.html and report.json)" if len(cases) > limit else ""
    out += ["", f"Cases: {listed}{more}.", ""]
    if compact and f["known"]:
        return out
    if rep.get("code"):
        size = len(_flat(rep.get("input")))
        how = (f"minimised to {size} element(s) from `{rep['case']}`" if rep.get("minimised")
               else f"{rep.get('note') or 'not minimised'}; from `{rep['case']}`")
        out += [f"Reproducer ({how}, {rep['surface']}):", "", f"```{FENCE.get(rep.get('language') or '', '')}",
                rep["code"].rstrip(), "```", ""]
    elif rep:
        out += [f"Reproducer: none printed ({rep.get('note') or 'the input is too large to print'}); "
                f"run `kl-compat run --cases '{rep.get('case')}'`.", ""]
    return out


def _flat(v):
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [] if v is None else [v]


def _run_info(m: dict) -> list[str]:
    info = m["run_info"]
    mach = info["machine"]
    out = ["| what | value |", "|---|---|",
           f"| kl_compat | {info['kl_compat']} |",
           f"| goldens (manifest digest) | `{info['goldens']}` |",
           f"| known differences | {cell(info['known_differences']['path'])} sha256 `{info['known_differences']['sha256']}` |",
           f"| claims | {cell(info['claims']['path'])} sha256 `{info['claims']['sha256']}` |",
           f"| report written on | Python {mach['python']}, NumPy {mach['numpy']}, {cell(mach['platform'])}, "
           f"R {mach['r'] or 'not installed'} |"]
    for c in m["columns"]:
        if c["available"]:
            extra = f", R {c['r']}" if c.get("r") else ""
            out.append(f"| {cell(c['id'])} | {cell(version_label(c.get('framework'), c.get('version'), c))}, "
                       f"Python {c.get('python')}, "
                       f"NumPy {c.get('numpy')}, {cell(c.get('platform'))}{extra} |")
        else:
            out.append(f"| {cell(c['id'])} | NOT RUN: {cell(c.get('reason'))} |")
    for i in info["inputs"]:
        shard = f", shard {i['shard'][0]}/{i['shard'][1]}" if i.get("shard") else ""
        cut = ", TRUNCATED" if i.get("truncated") else ""
        out.append(f"| input {cell(i['path'])} | started {i.get('started')}, finished {i.get('finished')}, "
                   f"{i.get('selected')} of {i.get('cases')} cases{shard}{cut}; Python {i.get('python')}, NumPy "
                   f"{i.get('numpy')}, {cell(i.get('platform'))} |")
    return out
