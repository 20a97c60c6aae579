"""How the report names a column (a framework at a version, in an environment): for markdown.py, html.py,
heatmap.py and history.py alike. Imports nothing of the report, so that each of them can use it."""

from __future__ import annotations

from ..results import version_label


def column_title(m: dict, cid: str) -> str:
    """A column's id with its version (results.version_label), unless the id already holds the version."""
    col = next((c for c in m["columns"] if c["id"] == cid), None)
    if col is None:
        return cid
    version = col.get("version")
    return version_label(cid, None if version and version in cid else version, col)
