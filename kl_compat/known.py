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

A guide shows a difference's advice only from the entry that explains it: the fix belongs to the cause.

A run marks each difference `known` (an entry matches it) or `new`. Under --strict, an entry that
matches no case at all is "stale" and an entry whose cases no longer show its difference is "fixed";
both fail the run, so the file cannot silently rot.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

from .compare import KINDS
from .errors import KlCompatError
from .tomlfile import read_toml

FILE_NAME = "known_differences.toml"
_FIELDS = {"adapter", "surface", "cases", "kind", "reason", "link", "versions", "advice", "advice_code"}


class KnownDifferencesError(KlCompatError):
    pass


def default_path() -> Path:
    from kl_compat import conformance

    return Path(conformance.__file__).parent / FILE_NAME


@dataclass
class Entry:
    index: int
    adapter: str
    cases: tuple[str, ...]
    kinds: tuple[str, ...]
    reason: str
    surface: str | tuple[str, ...] = "*"
    link: str | None = None
    versions: str | None = None
    advice: str | None = None
    advice_code: dict[str, str] = field(default_factory=dict)
    seen_cases: set = field(default_factory=set)  # case ids the entry's patterns matched this run
    seen_differences: int = 0

    def __post_init__(self):
        # Every record of a run is matched against the entries: compile the case globs once.
        self._cases = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.cases)).match

    def concerns(self, adapter: str, surface: str, version: str | None) -> bool:
        """Whether the entry is about this adapter, surface and version (whatever the case)."""
        surfaces = (self.surface,) if isinstance(self.surface, str) else self.surface
        return (fnmatch.fnmatchcase(adapter, self.adapter) and any(fnmatch.fnmatchcase(surface, s) for s in surfaces)
                and version_matches(version, self.versions))

    def applies(self, adapter: str, surface: str, case_id: str, version: str | None) -> bool:
        return self.concerns(adapter, surface, version) and self._cases(case_id) is not None

    def label(self) -> str:
        return f"entry {self.index} ({self.adapter}, {'/'.join(self.kinds)}, {', '.join(self.cases)})"


class Entries(list):
    """The file's entries, remembering which of them concern each (adapter, surface, version): a run
    marks every record it writes, and most entries are about another adapter or surface."""

    def concerning(self, adapter: str, surface: str, version: str | None) -> list[Entry]:
        cache = self.__dict__.setdefault("_concerning", {})
        key = (adapter, surface, version)
        if key not in cache:
            cache[key] = [e for e in self if e.concerns(adapter, surface, version)]
        return cache[key]


# Each field's type: a string, or (for the listed ones) a non-empty list of strings; none may be blank.
_FIELD_TYPES = {"adapter": "a glob", "surface": "a glob or list of globs", "cases": "a glob or list of globs",
                "kind": "a kind or list of kinds", "reason": "a sentence", "link": "a URL",
                "versions": "a version specifier", "advice": "a sentence"}
_LISTED = ("surface", "cases", "kind")


def load(path: Path | None = None) -> Entries:
    """The entries of a known-differences file, every field checked: a file named explicitly must exist
    (a typo never reads as "nothing is known"), and an unknown field, a field of the wrong type, an empty
    pattern or an unreadable version specifier fails here, naming the file, the entry and the field, for
    every reader alike (run, merge, report, fuzz, the pytest plugin)."""
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
    for i, raw in enumerate(raws, 1):
        where = f"{path}: [[difference]] number {i}"
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
    entries = Entries()
    for i, raw in enumerate(data.get("difference", []), 1):
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
        entries.append(Entry(i, raw["adapter"], cases, kinds, raw["reason"], surface,
                             raw.get("link"), raw.get("versions"), advice, dict(code)))
    return entries


def mark(entries: list[Entry], adapter: str, surface: str, case_id: str, version: str | None, differences,
         measured: bool = True) -> None:
    """Set `known` on each difference an entry explains; count what each entry matched.

    A record that was not measured (the API lacks an argument the case needs) cannot show that an entry
    is fixed; it counts only for entries about unsupported arguments."""
    if not isinstance(entries, Entries):
        entries = Entries(entries)
    for e in entries.concerning(adapter, surface, version):
        if e._cases(case_id) is not None:
            if measured or "unsupported-argument" in e.kinds:
                e.seen_cases.add((adapter, surface, case_id))
            for d in differences:
                if d.kind in e.kinds and d.known is None:
                    d.known = e.reason
                    e.seen_differences += 1


def problems(entries: list[Entry], ran: dict[str, set]) -> list[str]:
    """Stale and fixed entries. `ran` maps each adapter name that ran to the versions it ran in; an
    entry is judged only where one of them ran (an absent framework or version proves nothing)."""
    out = []
    for e in entries:
        if not any(fnmatch.fnmatchcase(name, e.adapter) and any(version_matches(v, e.versions) for v in versions)
                   for name, versions in ran.items()):
            continue
        if not e.seen_cases:
            out.append(f"stale: {e.label()} matches no case that ran")
        elif not e.seen_differences:
            out.append(f"fixed: {e.label()} matched {len(e.seen_cases)} record(s), none of which shows "
                       f"a {'/'.join(e.kinds)} difference any more")
    return out


_SPEC = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([0-9][0-9A-Za-z.+-]*)\s*$")


def _version_tuple(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", v)[:3])


def version_matches(version: str | None, specifier: str | None) -> bool:
    """A comma-separated list of comparisons on release numbers, e.g. ">=2.5,<3.0"."""
    if not specifier:
        return True
    if version is None:
        return False
    v = _version_tuple(version)
    for part in specifier.split(","):
        m = _SPEC.match(part)
        if not m:
            raise KnownDifferencesError(f"version specifier {specifier!r}: cannot read {part!r}")
        op, ref = m.group(1), _version_tuple(m.group(2))
        ok = {">=": v >= ref, "<=": v <= ref, "==": v == ref, "!=": v != ref, ">": v > ref, "<": v < ref}[op]
        if not ok:
            return False
    return True
