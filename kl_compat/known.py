"""The known-differences file: each difference a framework is known to have, with the reason.

Model: array-api-tests' xfail files and WPT's metadata. conformance/known_differences.toml holds
[[difference]] tables:

    adapter = "paddle"                # adapter name (glob)
    surface = "*"                     # optional: "functional", "module", ... (glob or list of globs, default "*")
    cases   = ["edge/negative-target/*"]   # case-id globs; a string is one glob
    kind    = "nan-inf"               # a difference kind (kl_compat.compare.KINDS), or a list of them
    reason  = "why, in a sentence"
    link    = "https://..."           # optional
    versions = ">=3.0"                # optional: framework versions the entry applies to
    advice  = "what to write instead"  # optional: the portable way around it, shown in porting guides
    advice_code = { torch = "...", paddle = "...", rtorch = "..." }  # optional: that advice as code,
                                      # per framework the code is ported to
    id      = "paddle-no-float16"     # optional: a stable name; default "<file stem>:<number>",
                                      # e.g. "known_differences:12" (results files carry it)

A guide shows a difference's advice only from the entry that explains it: the fix belongs to the cause.

Several files may be combined (`--known A --known B`, a user's own on top of the shipped one): their
entries are read in that order, and a difference is explained by the first entry that fits it.

Every reader (run, merge, report, fuzz, the pytest plugin) asks the same two pure functions:
`explain(entries, record, difference)` gives the entry explaining a difference (its id is what the
record's difference carries as `known`, else None: a new difference), and `problems(entries, records)`
the entries that no longer fit: an entry that matches no case at all is "stale", one whose cases no
longer show its difference is "fixed". Under --strict both fail the run, so the file cannot silently rot.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .compare import KINDS
from .errors import KlCompatError
from .record import Difference, Record
from .tomlfile import read_toml
from .versions import release

FILE_NAME = "known_differences.toml"
_FIELDS = {"id", "adapter", "surface", "cases", "kind", "reason", "link", "versions", "advice", "advice_code"}


class KnownDifferencesError(KlCompatError):
    pass


def default_path() -> Path:
    from kl_compat import conformance

    return Path(conformance.__file__).parent / FILE_NAME


@dataclass(frozen=True, eq=False)
class Entry:
    """One [[difference]] table. Immutable: what it explains is computed from records (`explain`,
    `problems`), never counted on it."""

    index: int  # its place in its file, from 1
    adapter: str
    cases: tuple[str, ...]
    kinds: tuple[str, ...]
    reason: str
    surface: str | tuple[str, ...] = "*"
    link: str | None = None
    versions: str | None = None
    advice: str | None = None
    advice_code: dict[str, str] = field(default_factory=dict)
    id: str = ""  # stable: the entry's `id` field, else "<file stem>:<index>"; records carry it
    shown: str = ""  # how problems name it: its index in the first file given, else its id

    def __post_init__(self):
        # Every record of a run is matched against the entries: compile the case globs once.
        pattern = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.cases))
        object.__setattr__(self, "_cases", pattern.match)
        object.__setattr__(self, "id", self.id or f"entry:{self.index}")
        object.__setattr__(self, "shown", self.shown or str(self.index))

    def concerns(self, adapter: str, surface: str, version: str | None) -> bool:
        """Whether the entry is about this adapter, surface and version (whatever the case)."""
        surfaces = (self.surface,) if isinstance(self.surface, str) else self.surface
        return (fnmatch.fnmatchcase(adapter, self.adapter) and any(fnmatch.fnmatchcase(surface, s) for s in surfaces)
                and version_matches(version, self.versions))

    def matches_case(self, case_id: str) -> bool:
        return self._cases(case_id) is not None  # type: ignore[attr-defined]

    def applies(self, adapter: str, surface: str, case_id: str, version: str | None) -> bool:
        return self.concerns(adapter, surface, version) and self.matches_case(case_id)

    def label(self) -> str:
        return f"entry {self.shown} ({self.adapter}, {'/'.join(self.kinds)}, {', '.join(self.cases)})"


# Each field's type: a string, or (for the listed ones) a non-empty list of strings; none may be blank.
_FIELD_TYPES = {"adapter": "a glob", "surface": "a glob or list of globs", "cases": "a glob or list of globs",
                "kind": "a kind or list of kinds", "reason": "a sentence", "link": "a URL",
                "versions": "a version specifier", "advice": "a sentence", "id": "a name"}
_LISTED = ("surface", "cases", "kind")


def load(paths: Path | str | Sequence[Path | str] | None = None) -> tuple[Entry, ...]:
    """The entries of one or more known-differences files, in the order given (a user's own file after
    the shipped one: `--known A --known B`), each file read by `load_file`. None (or an empty list) reads
    the package's file. Entry ids must be unique across the files: a clash names both files."""
    if paths is None or isinstance(paths, (str, Path)):
        paths = [paths] if paths is not None else []
    files: list[Path | str | None] = [*paths] or [None]
    entries: list[Entry] = []
    where: dict[str, Path] = {}
    for n, path in enumerate(files):
        for e in load_file(path, first=n == 0):
            if e.id in where:
                raise KnownDifferencesError(f"{path or default_path()}: entry id {e.id!r} is also in {where[e.id]}; "
                                            "give one of them an explicit `id`, or rename one file")
            where[e.id] = Path(path or default_path())
            entries.append(e)
    return tuple(entries)


def given(paths) -> Path | list[Path]:
    """The known-differences file(s) as a command was given them (--known, repeatable): one Path (the
    package's file when none), or the list of several."""
    if paths is None or isinstance(paths, (str, Path)):
        return Path(paths or default_path())
    paths = [Path(p) for p in paths]
    return paths[0] if len(paths) == 1 else (paths or default_path())


def load_file(path: Path | str | None = None, first: bool = True) -> tuple[Entry, ...]:
    """The entries of a known-differences file, every field checked: a file named explicitly must exist
    (a typo never reads as "nothing is known"), and an unknown field, a field of the wrong type, an empty
    pattern or an unreadable version specifier fails here, naming the file, the entry and the field, for
    every reader alike (run, merge, report, fuzz, the pytest plugin)."""
    path, raws = _read_tables(path)
    for i, raw in enumerate(raws, 1):
        _check_field_types(raw, f"{path}: [[difference]] number {i}")
    entries = tuple(_entry(raw, i, path, first) for i, raw in enumerate(raws, 1))
    ids = [entry.id for entry in entries]
    for entry_id in ids:
        if ids.count(entry_id) > 1:
            raise KnownDifferencesError(f"{path}: entry id {entry_id!r} is given to {ids.count(entry_id)} entries")
    return entries


def _read_tables(path: Path | str | None) -> tuple[Path, list[dict]]:
    """The file's path (the default when None) and its [[difference]] tables."""
    if path is not None and not Path(path).exists():
        raise KnownDifferencesError(f"{path}: no such known-differences file")
    if path is not None and Path(path).is_dir():
        raise KnownDifferencesError(f"{path}: is a directory, not a known-differences file")
    path = Path(path or default_path())
    try:
        data = read_toml(path, KnownDifferencesError)
    except OSError as e:
        raise KnownDifferencesError(f"{path}: cannot read: {e.strerror or e}") from None
    extra = set(data) - {"difference"}
    if extra:
        raise KnownDifferencesError(f"{path}: unknown table(s) {', '.join(sorted(extra))}; "
                                    "entries are [[difference]] tables")
    raws = data.get("difference", [])
    if not isinstance(raws, list) or not all(isinstance(e, dict) for e in raws):
        raise KnownDifferencesError(f"{path}: 'difference' must be [[difference]] tables")
    return path, raws


def _check_field_types(raw: dict, where: str) -> None:
    """Each field of one entry of its type (strings, non-empty), its version specifier readable."""
    for name, what in _FIELD_TYPES.items():
        if name not in raw:
            continue
        v = raw[name]
        items = v if name in _LISTED and isinstance(v, list) else [v]
        if not items or not all(isinstance(x, str) for x in items):
            raise KnownDifferencesError(f"{where}: {name!r} must be {what}, got {v!r}")
        if not all(x.strip() for x in items):
            raise KnownDifferencesError(f"{where}: {name!r} holds an empty {what.split(' or ')[0][2:]}")
    for part in raw["versions"].split(",") if raw.get("versions") else ():
        try:
            version_matches("0", part)  # raises naming a comparison it cannot read
        except KnownDifferencesError as e:
            raise KnownDifferencesError(f"{where}: 'versions': {e}") from None


def _entry(raw: dict, i: int, path: Path, first: bool) -> Entry:
    """The Entry of the file's i-th table (fields of their types already), its fields and values checked."""
    where = f"{path}: [[difference]] number {i}"
    unknown = set(raw) - _FIELDS
    if unknown:
        raise KnownDifferencesError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for required in ("adapter", "cases", "kind", "reason"):
        if not raw.get(required):
            raise KnownDifferencesError(f"{where}: missing {required!r}")
    kinds = (raw["kind"],) if isinstance(raw["kind"], str) else tuple(raw["kind"])
    for kind in kinds:
        if kind not in KINDS:
            raise KnownDifferencesError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    cases = raw["cases"]
    cases = (cases,) if isinstance(cases, str) else tuple(cases)
    surface = raw.get("surface", "*")
    surface = surface if isinstance(surface, str) else tuple(surface)
    advice, code = raw.get("advice"), raw.get("advice_code", {})
    if advice is not None and (not isinstance(advice, str) or not advice.strip()):
        raise KnownDifferencesError(f"{where}: 'advice' must be a non-empty string")
    if not isinstance(code, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                             for k, v in code.items()):
        raise KnownDifferencesError(f"{where}: 'advice_code' must be a table of framework = \"code\" strings")
    if code and advice is None:
        raise KnownDifferencesError(f"{where}: 'advice_code' needs an 'advice' text to go with it")
    entry_id = raw.get("id") or f"{path.stem}:{i}"
    return Entry(i, raw["adapter"], cases, kinds, raw["reason"], surface, raw.get("link"), raw.get("versions"),
                 advice, dict(code), entry_id, str(i) if first else entry_id)


# ---- which entry explains what: pure functions of the entries and the records -------------------------

@functools.lru_cache(maxsize=4096)
def _concerning(entries: tuple, adapter: str, surface: str, version: str | None) -> tuple:
    # Most entries are about another adapter or surface; which ones concern a column is asked for every
    # record, so it is remembered (a function of its arguments alone: entries never change).
    return tuple(e for e in entries if e.concerns(adapter, surface, version))


def explain(entries, record: Record, difference: Difference | None = None, *, name: str | None = None,
            version: str | None = None) -> Entry | None:
    """The entry that explains `difference` of `record` (the first in order whose adapter, surface,
    version, case and kind fit), or None; without `difference`, the entry explaining the record's first
    difference that one explains. `name` is the adapter's registry name when the record's adapter is a
    label ("paddle@paddle-2.6.2" is named "paddle"); `version` stands in for a record without one.
    A record the adapter did not observe (unavailable) is explained by nothing."""
    if not record.ran:
        return None
    found = _concerning(tuple(entries), name or record.adapter, record.surface, record.version or version)
    fits = [e for e in found if e.matches_case(record.case)]
    for d in ([difference] if difference is not None else record.differences):
        for e in fits:
            if d.kind in e.kinds:
                return e
    return None


def explained(entries, record: Record, *, name: str | None = None, version: str | None = None) -> Record:
    """A copy of `record` whose differences carry the id of the entry explaining each (or None)."""
    ids = []
    for d in record.differences:
        e = explain(entries, record, d, name=name, version=version)
        ids.append(e.id if e is not None else None)
    return record.with_known(ids)


@dataclass(frozen=True)
class Problem:
    """A known-differences entry that no longer fits the records: "stale" (its patterns match no record)
    or "fixed" (it matched `matched` records, none of which shows its difference any more)."""

    kind: str
    entry: Entry
    matched: int = 0

    def __str__(self) -> str:
        if self.kind == "stale":
            return f"stale: {self.entry.label()} matches no case that ran"
        return (f"fixed: {self.entry.label()} matched {self.matched} record(s), none of which shows "
                f"a {'/'.join(self.entry.kinds)} difference any more")


def problems(entries, records, *, names: dict[str, str] | None = None, ran: dict[str, set] | None = None,
             versions: dict[str, str | None] | None = None) -> list[Problem]:
    """Stale and fixed entries over `records` (the whole of a run). An entry is judged only where its
    adapter ran: `ran` maps each adapter name that ran to the versions it ran in (by default, those of
    the records the adapters observed); an absent framework or version proves nothing. `names` maps a
    record's adapter label to its registry name, `versions` a label to the version of a record without one.

    A record that was not measured (the API lacks an argument the case needs) cannot show that an entry
    is fixed; it counts as a match only for entries about unsupported arguments."""
    names, versions = names or {}, versions or {}
    if ran is None:
        ran = {}
        for r in records:
            if r.ran:
                ran.setdefault(names.get(r.adapter, r.adapter), set()).add(r.version or versions.get(r.adapter))
    matched: dict[str, int] = {}
    shown: set[str] = set()
    surfaces: set[tuple[str, str]] = set()  # (adapter, surface) that ran
    for r in records:
        if not r.ran:
            continue
        name, version = names.get(r.adapter, r.adapter), r.version or versions.get(r.adapter)
        surfaces.add((name, r.surface))
        for e in _concerning(tuple(entries), name, r.surface, version):
            if e.matches_case(r.case) and (r.measured or "unsupported-argument" in e.kinds):
                matched[e.id] = matched.get(e.id, 0) + 1
        for d in r.differences:
            e = explain(entries, r, d, name=name, version=version)
            if e is not None:
                shown.add(e.id)
    out = []
    for e in entries:
        if not any(fnmatch.fnmatchcase(n, e.adapter) and any(version_matches(v, e.versions) for v in vs)
                   for n, vs in ran.items()):
            continue
        # An entry about surfaces none of which ran where its adapter's records did (e.g. torch's opt-in
        # `compile`) is neither stale nor fixed.
        globs = (e.surface,) if isinstance(e.surface, str) else e.surface
        own = [s for n, s in surfaces if fnmatch.fnmatchcase(n, e.adapter)]
        if own and not any(fnmatch.fnmatchcase(s, g) for s in own for g in globs):
            continue
        if not matched.get(e.id):
            out.append(Problem("stale", e))
        elif e.id not in shown:
            out.append(Problem("fixed", e, matched[e.id]))
    return out


_SPEC = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.+-]*)\s*$")


def version_matches(version: str | None, specifier: str | None) -> bool:
    """A comma-separated list of comparisons on release numbers, e.g. ">=2.5,<3.0"."""
    if not specifier:
        return True
    if version is None:
        return False
    v = release(version)
    for part in specifier.split(","):
        m = _SPEC.match(part)
        if not m:
            raise KnownDifferencesError(f"version specifier {specifier!r}: cannot read {part!r}")
        op, ref = m.group(1), release(m.group(2))
        ok = {">=": v >= ref, "<=": v <= ref, "==": v == ref, "!=": v != ref, ">": v > ref, "<": v < ref}[op]
        if not ok:
            return False
    return True
