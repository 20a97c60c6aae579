"""The report's pictures as static SVG, written by hand into the HTML page.

Hand-written rather than drawn with a plotting library: the core depends on NumPy alone and the
report on jinja2, and a few lines, rectangles and labels do not justify matplotlib (tens of MB, slow
to import) in the `cli` extra. Each picture carries <title> and <desc> text alternatives, and the
page shows the same numbers in a table beside it (for screen readers, and for copying).

Every piece of text from data (column titles, versions, dtypes) is escaped here: the SVG is inserted
into the page as markup.
"""

from __future__ import annotations

import html
import math

WIDTH = 760  # viewBox units; the picture scales to the page's width
LEFT = 230  # the label column
ROW = 18


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _x(u: float, top: float) -> float:
    """ULPs on a log scale (0 at the left edge): log10(1 + u) of log10(1 + top)."""
    span = WIDTH - LEFT - 20
    return LEFT + span * math.log10(1 + u) / math.log10(1 + top)


_MEASURE_TEXT = {
    "ulp": ("acc", "Accuracy where a value is returned: ULP error", "cases' worst ULP error",
            "ULPs of the dtype (log scale)"),
    "cond": ("cond", "Accuracy relative to the condition: error / (eps * sum|terms|)",
             "cases' worst error relative to the condition (the error divided by eps times the sum of the absolute "
             "terms the reduction adds, or by eps times each term's own size unreduced)",
             "units of eps * sum|terms| (log scale)"),
    "grad_ulp": ("grad", "Accuracy of the gradients: ULP error", "cases' worst ULP error of either gradient",
                 "ULPs of the operand's dtype (log scale)"),
}


def accuracy_svg(rows: list[dict], title_of, measure: str = "ulp") -> str:
    """Median, 99th percentile and maximum error per column and dtype (accuracy.summary's rows), or per
    column, dtype and reduction (accuracy.by_reduction's rows of one `measure`: "ulp", "cond" or "grad_ulp")."""
    if not rows:
        return ""
    key, title, what, axis = _MEASURE_TEXT[measure]
    top = max(10.0, *(r["max"] for r in rows))
    decades = [0.0] + [10.0 ** k for k in range(0, int(math.log10(top)) + 1)]
    height = 34 + ROW * len(rows) + 24
    per = "dtype and reduction" if "reduction" in rows[0] else "dtype"
    out = [f'<svg class="plot" role="img" aria-labelledby="{key}-title {key}-desc" viewBox="0 0 {WIDTH} {height}" '
           f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
           f'<title id="{key}-title">{_e(title)} per framework, {per}</title>',
           f'<desc id="{key}-desc">For each framework version, {per}, a line from the median to the maximum of the '
           f'{_e(what)} (log scale), a dot at the median, a bar at the 99th percentile and a diamond at '
           'the maximum. The table below the picture holds the same numbers.</desc>']
    for u in decades:
        x = _x(u, top)
        out.append(f'<line x1="{x:.1f}" y1="22" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>'
                   f'<text x="{x:.1f}" y="16" font-size="10" text-anchor="middle" fill="#555">{_tick(u)}</text>')
    out.append(f'<text x="{LEFT}" y="{height - 6}" font-size="10" fill="#555">{_e(axis)}</text>')
    previous = None
    for i, r in enumerate(rows):
        y = 34 + ROW * i
        name = title_of(r["column"]) if r["column"] != previous else ""
        previous = r["column"]
        if name and i:
            out.append(f'<line x1="0" y1="{y - ROW / 2 - 1:.1f}" x2="{WIDTH}" y2="{y - ROW / 2 - 1:.1f}" '
                       'stroke="#bbb"/>')
        label = f'{r["dtype"]} {r["reduction"]}' if "reduction" in r else r["dtype"]
        out.append(f'<text x="4" y="{y + 4}" font-size="11" font-weight="600">{_e(name)}</text>'
                   f'<text x="{LEFT - 8}" y="{y + 4}" font-size="11" text-anchor="end">{_e(label)}</text>')
        xm, x99, xmax = (_x(r[k], top) for k in ("median", "p99", "max"))
        colour = "#b22" if r["p99"] > 16 else ("#c80" if r["p99"] > 1 else "#383")
        out.append(f'<line x1="{xm:.1f}" y1="{y}" x2="{xmax:.1f}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
                   f'<circle cx="{xm:.1f}" cy="{y}" r="3.5" fill="{colour}"/>'
                   f'<line x1="{x99:.1f}" y1="{y - 5}" x2="{x99:.1f}" y2="{y + 5}" stroke="{colour}" stroke-width="2"/>'
                   f'<path d="M{xmax:.1f} {y - 4}l4 4-4 4-4-4z" fill="none" stroke="{colour}"/>'
                   f'<title>{_e(title_of(r["column"]))} {_e(label)}: median {_num(r["median"])}, '
                   f'p99 {_num(r["p99"])}, max {_num(r["max"])} over {r["n"]} records</title>')
    out.append("</svg>")
    return "".join(out)


def _tick(u: float) -> str:
    return "0" if u == 0 else (f"{u:g}" if u < 1e4 else f"1e{int(math.log10(u))}")


def _num(u: float) -> str:
    return f"{u:g}" if u < 1e5 else f"{u:.2e}"


def history_svg(timelines: list) -> str:
    """Per framework, a bar per version (or run date) (share of records that match / differ, all known / differ, some
    new), and between consecutive versions how many records were fixed, broken or changed."""
    if not timelines:
        return ""
    block = 150
    height = block * len(timelines) + 10
    out = [f'<svg class="plot" role="img" aria-labelledby="hist-title hist-desc" viewBox="0 0 {WIDTH} {height}" '
           f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
           '<title id="hist-title">Versions over time: what each version matches, and what changed between them'
           '</title>',
           '<desc id="hist-desc">One row per framework; one bar per version, oldest first, split into the share of '
           'records that match the spec (green), differ in known ways (amber) and differ in new ways (red); between '
           'two versions, how many records were fixed, broken or changed. The table below holds the same numbers.'
           '</desc>']
    for t, line in enumerate(timelines):
        y0 = 10 + block * t
        out.append(f'<text x="4" y="{y0 + 12}" font-size="13" font-weight="600">{_e(line.name)}, by {_e(line.by)}</text>')
        gap = (WIDTH - 40) / max(len(line.points), 1)
        for i, p in enumerate(line.points):
            x = 20 + gap * i + gap / 2 - 30
            out.append(_stack(p, x, y0 + 22, 80))
            out.append(f'<text x="{x + 30:.1f}" y="{y0 + 118}" font-size="11" text-anchor="middle">'
                       f'{_e(p.label)}</text>')
            if i:
                s = line.steps[i - 1]
                mid = 20 + gap * i
                out.append(f'<text x="{mid:.1f}" y="{y0 + 48}" font-size="11" text-anchor="middle" fill="#1d5b16">'
                           f'{len(s.fixed)} fixed</text>'
                           f'<text x="{mid:.1f}" y="{y0 + 64}" font-size="11" text-anchor="middle" fill="#a11">'
                           f'{len(s.broken)} broken</text>'
                           f'<text x="{mid:.1f}" y="{y0 + 80}" font-size="11" text-anchor="middle" fill="#555">'
                           f'{len(s.changed)} changed</text>'
                           f'<path d="M{mid - 40:.1f} {y0 + 90}h80m-6 -4l6 4-6 4" fill="none" stroke="#888"/>')
    out.append("</svg>")
    return "".join(out)


def _stack(p, x: float, y: float, h: float) -> str:
    parts = [(p.match, "#7bc46f", "match"), (p.known, "#f0b400", "differ, known"), (p.new, "#d62828", "differ, new")]
    rest = p.run - p.match - p.known - p.new  # unsupported arguments, errors the spec also raises
    parts.append((rest, "#ccc", "other (unsupported, expected errors)"))
    out, top = [], y + h
    for n, fill, what in parts:
        if not p.run or not n:
            continue
        hh = h * n / p.run
        top -= hh
        out.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="60" height="{hh:.1f}" fill="{fill}">'
                   f'<title>{n} of {p.run} records: {what}</title></rect>')
    return "".join(out)
