"""Data as Markdown text, inline code, code blocks, HTML attributes and shell words, shown as exactly its
characters (NumPy-free; imports nothing from the package).

Everything kl_compat shows from data (results files, report.json, a framework's messages, case ids,
versions, paths) goes through `text` or `code` (and shell commands through `shell_quote`): it renders as
exactly its characters, never as HTML, a link, an image, a heading, a list or a broken table row. The
report (kl_compat.report.markdown), the porting guides (kl_compat.guide), `diff --format markdown` and
`scan --format markdown` all use these.
"""

from __future__ import annotations

import html
import re
import shlex

_ALWAYS = re.compile(r"([\\`|\[\]])")  # backslash, code, table cell, link and image brackets
_EMPHASIS = "*_~"
# What would start a block at the start of a line (or of a list item): a heading, a list item, a rule, a setext
# underline, a fence. "-inf", "#include" or "3.11.7" would not, and stay as they are.
_BLOCK_START = re.compile(r"^(?:[#+*=~_-](?=[\s#+*=~_-]|$)|\d{1,9}(?=[.)](?:\s|$)))")


def text(value, limit: int | None = None) -> str:
    """Data as Markdown (GitHub's, CommonMark) that renders as exactly its characters, in one line, safe in a
    table cell: whitespace (newlines included) collapsed to single spaces, so it cannot end a table row or
    start a block; HTML's &, < and > as entities, so no tag, comment or entity of the data's is live;
    backslash, backtick, |, [ and ] backslash-escaped (no code span, cell break, link or image), and so is
    any *, _ or ~ that could open or close emphasis (one between spaces, or _ inside a word, cannot); a
    leading "# ", "- ", "1. ", "---" or the like, which would start a block, is escaped too. `limit` cuts the text (to
    limit characters, "..." included) before it is escaped, so that no escape is cut in half."""
    s = " ".join(str(value).split())
    if limit is not None and len(s) > limit:
        s = s[:max(limit - 3, 0)] + "..."
    s = _ALWAYS.sub(r"\\\1", s)
    out = []
    for i, ch in enumerate(s):
        if ch in _EMPHASIS:
            before = s[i - 1] if i else " "
            after = s[i + 1] if i + 1 < len(s) else " "
            inert = (before.isspace() and after.isspace()) or (ch == "_" and before.isalnum() and after.isalnum())
            if not inert:
                out.append("\\")
        out.append(ch)
    s = "".join(out)
    m = _BLOCK_START.match(s)
    if m:
        s = s[:m.end()] + "\\" + s[m.end():] if m.group().isdigit() else "\\" + s
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


cell = text  # a table cell: the same escaping (| included)


def code(value, *, table: bool = True) -> str:
    """Data as inline code, shown verbatim in one line: fenced by more backticks than any run inside it
    (and padded when it starts or ends with one), so it cannot close early; a code span is literal text
    to a Markdown renderer, HTML included. In a table (`table`), | is escaped (GitHub reads a | inside a
    code span as a cell break unless it is); elsewhere it stays as it is, e.g. in a shell command."""
    s = " ".join(str(value).split())
    if table:  # GitHub splits a row at a | not paired with a backslash: \\| is a backslash, then a break
        s = re.sub(r"(\\*)\|", lambda m: m.group(1) + "\\" * (len(m.group(1)) % 2) + "\\|", s)
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if not s or s[0] == "`" or s[-1] == "`" else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def fence(body: str, info: str = "") -> list[str]:
    """A fenced code block holding `body` verbatim: the fence is longer than any run of backticks in it."""
    ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", body)), default=0) + 1)
    return [f"{ticks}{info}", body, ticks]


def attribute(value) -> str:
    """Data as an HTML attribute value (inside double quotes), in one line."""
    return html.escape(" ".join(str(value).split()), quote=True)


def shell_quote(value) -> str:
    """One shell word that bash, zsh or sh reads back as exactly `value`, printable in one line: shlex's
    single quotes, or, when the value holds a control character, a non-printable one or spaces that a
    renderer could collapse (a run of them, or one at either end), bash's $'...' with those escaped."""
    s = str(value)
    if s.isprintable() and "  " not in s and s == s.strip():
        return shlex.quote(s)
    out = []
    for ch in s:
        if ch in "\\'":
            out.append("\\" + ch)
        elif ch == " ":
            out.append("\\x20")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "$'" + "".join(out) + "'"
