"""Documented claims, checked: what the reference pages say, against what the frameworks measurably do.

conformance/claims.toml holds [[claim]] tables:

    id        = "paddle-batchmean-shape-N"        # unique, stable
    framework = "paddle"                          # the adapter name the claim is about
    source    = "paddle-KLDivLoss.txt"            # the reference page (../shared/seeds/; PAGES: its address)
    quote     = "If reduction is 'batchmean', the output loss is the shape of [N] ..."
    asserts   = "reduction='batchmean' returns shape [N]: [4] for a (4, 5) input"   # the claim, checkable
    versions  = ">=2.0"                           # optional: the versions the claim is about
    [claim.check]
    cases     = ["core/*/2d/float32/batchmean/*"] # case-id globs (a string is one glob)
    surface   = "*"                               # optional glob
    # and exactly one of:
    shape         = [4]                 # every call that returned has this shape
    raises        = true                # every call raises (false: every call returns)
    supports      = "log_target"        # no call was refused for lacking this argument
    no_kind       = "nan-inf"           # no call shows this difference kind (kl_compat.compare.KINDS)
    same_value_as = ["/mean/", "/batchmean/"]   # each output equals the one of the case id rewritten so

Each claim is evaluated on every report column of its framework (one per framework version):
"held", "contradicted" (with the first counterexamples), "not measured" (the framework did not run, or
no matching case produced anything to check) or "not applicable" (a version outside `versions`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .compare import KINDS
from .errors import KlCompatError
from .known import version_matches
from .record import CRASHED, OBSERVED_OK, OBSERVED_RAISED, TIMEOUT, UNSUPPORTED, Observed, Record
from .tomlfile import read_toml

FILE_NAME = "claims.toml"
HELD, CONTRADICTED, NOT_MEASURED, NOT_APPLICABLE = "held", "contradicted", "not measured", "not applicable"
CHECKS = ("shape", "raises", "supports", "no_kind", "same_value_as")
_FIELDS = {"id", "framework", "source", "quote", "asserts", "versions", "check"}
_CHECK_FIELDS = {"cases", "surface", *CHECKS}


# The public address of each reference page a claim's `source` names (the pages pyproject's
# [project.urls] lists): what reports cite, so a reader can open the page the quote comes from.
PAGES = {
    "pytorch-KLDivLoss.txt": "https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html",
    "paddle-KLDivLoss.txt": "https://www.paddlepaddle.org.cn/documentation/docs/en/api/paddle/nn/KLDivLoss_en.html",
    "r-torch-nn_kl_div_loss.txt": "https://torch.mlverse.org/docs/reference/nn_kl_div_loss.html",
}


class ClaimsError(KlCompatError):
    pass


def default_path() -> Path:
    from kl_compat import conformance

    return Path(conformance.__file__).parent / FILE_NAME


def load(path: Path | None = None) -> list[dict]:
    """The claims of `path` (default: the package's claims.toml). A file named explicitly must exist: a
    typo never reads as "no claims", which would drop the report's claims section without a word."""
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ClaimsError(f"{path}: is a directory, not a claims file")
        if not path.exists():
            raise ClaimsError(f"{path}: no such claims file")
    path = Path(path or default_path())
    data = read_toml(path, ClaimsError)
    out, ids = [], set()
    for i, raw in enumerate(data.get("claim", []), 1):
        where = f"{path}: [[claim]] number {i}"
        unknown = set(raw) - _FIELDS
        if unknown:
            raise ClaimsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        for required in ("id", "framework", "source", "quote", "asserts", "check"):
            if not raw.get(required):
                raise ClaimsError(f"{where}: missing {required!r}")
        if raw["id"] in ids:
            raise ClaimsError(f"{where}: duplicate id {raw['id']!r}")
        ids.add(raw["id"])
        check = dict(raw["check"])
        unknown = set(check) - _CHECK_FIELDS
        if unknown:
            raise ClaimsError(f"{where}: unknown check field(s) {', '.join(sorted(unknown))}")
        kinds = [k for k in CHECKS if k in check]
        if len(kinds) != 1:
            raise ClaimsError(f"{where}: the check needs exactly one of {', '.join(CHECKS)}; has {kinds or 'none'}")
        if not check.get("cases"):
            raise ClaimsError(f"{where}: the check needs 'cases'")
        if isinstance(check["cases"], str):
            check["cases"] = [check["cases"]]
        if "no_kind" in check and check["no_kind"] not in KINDS:
            raise ClaimsError(f"{where}: no_kind {check['no_kind']!r} is not one of {', '.join(KINDS)}")
        if "same_value_as" in check and (not isinstance(check["same_value_as"], list) or len(check["same_value_as"]) != 2):
            raise ClaimsError(f"{where}: same_value_as takes [from, to], two strings")
        version_matches("0", raw.get("versions"))  # raises on a malformed specifier
        out.append({**raw, "check": check, "versions": raw.get("versions")})
    return out


_NOTHING = Observed("")  # a record that kept no observation


def _values(r: Record):
    return r.observed.values() if r.observed is not None else None


def _where(case, r: Record) -> str:
    return f"{case} ({r.surface})"


def evaluate_one(claim: dict, column: dict, records: dict) -> dict:
    """One claim on one column; `records` maps (column id, surface, case) -> Record."""
    out = {"column": column["id"], "version": column.get("version")}
    if not column.get("available"):
        return {**out, "status": NOT_MEASURED,
                "evidence": f"{column['id']} did not run: {column.get('reason') or 'unavailable'}"}
    if claim.get("versions") and not version_matches(column.get("version"), claim["versions"]):
        return {**out, "status": NOT_APPLICABLE,
                "evidence": f"the claim concerns versions {claim['versions']}; this is {column.get('version')}"}
    check = claim["check"]
    matched = _matched(check, column["id"], records)
    if not matched:
        return {**out, "status": NOT_MEASURED, "evidence": "no case of the matrix matches the claim's check"}
    kind = next((k for k in _CHECKS if k in check), "same_value_as")
    checked, bad, detail = _CHECKS[kind](check, matched, column["id"], records)
    return {**out, **_verdict(len(matched), checked, bad, detail)}


def _matched(check: dict, column: str, records: dict) -> list:
    """(case, record) of the column that ran, on the check's surfaces and cases, in case order."""
    import fnmatch

    surface = check.get("surface", "*")
    return sorted(((case, replace(r, surface=s)) for (cid, s, case), r in records.items()
                   if cid == column and r.ran and fnmatch.fnmatchcase(s, surface)
                   and any(fnmatch.fnmatchcase(case, p) for p in check["cases"])), key=lambda t: (t[0], t[1].surface))


def _verdict(matched: int, checked: int, bad: list[str], detail: str) -> dict:
    if not checked:
        return {"status": NOT_MEASURED,
                "evidence": f"{matched} matching record(s), none of which returned anything to check"}
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        return {"status": CONTRADICTED, "checked": checked, "counter": len(bad),
                "evidence": f"{len(bad)} of {checked} checked calls contradict it (expected: {detail}): "
                            + "; ".join(bad[:3]) + more}
    return {"status": HELD, "checked": checked, "evidence": f"all {checked} checked calls: {detail}"}


# Each check: (check, matched (case, record) pairs, column id, all records) -> (calls checked, the calls
# that contradict the claim, what the claim expects).

def _check_shape(check: dict, matched: list, column: str, records: dict) -> tuple[int, list[str], str]:
    checked, bad, want = 0, [], list(check["shape"])
    for case, r in matched:
        o = r.observed or _NOTHING
        if o.status != OBSERVED_OK:
            continue
        checked += 1
        if list(o.shape or []) != want:
            bad.append(f"{_where(case, r)}: shape {o.shape}")
    return checked, bad, f"shape {want}"


def _check_raises(check: dict, matched: list, column: str, records: dict) -> tuple[int, list[str], str]:
    checked, bad = 0, []
    for case, r in matched:
        o = r.observed or _NOTHING
        if o.status not in (OBSERVED_OK, OBSERVED_RAISED):
            continue
        checked += 1
        if (o.status == OBSERVED_RAISED) != bool(check["raises"]):
            what = f"raised {(o.error or {}).get('type')}" if o.status == OBSERVED_RAISED else \
                f"returned shape {o.shape}"
            bad.append(f"{_where(case, r)}: {what}")
    return checked, bad, "raises" if check["raises"] else "returns a value"


def _check_supports(check: dict, matched: list, column: str, records: dict) -> tuple[int, list[str], str]:
    checked, bad, arg = 0, [], check["supports"]
    for case, r in matched:
        o = r.observed or _NOTHING
        checked += 1
        if o.status == UNSUPPORTED and arg in str(o.unsupported):
            bad.append(f"{_where(case, r)}: no {o.unsupported}")
    return checked, bad, f"accepts {arg}"


def _check_no_kind(check: dict, matched: list, column: str, records: dict) -> tuple[int, list[str], str]:
    checked, bad, kind = 0, [], check["no_kind"]
    for case, r in matched:
        if r.status in (UNSUPPORTED, CRASHED, TIMEOUT):
            continue
        checked += 1
        d = next((d for d in r.differences if d.kind == kind), None)
        if d:
            bad.append(f"{_where(case, r)}: {d.message}")
    return checked, bad, f"no {kind} difference"


def _check_same_value(check: dict, matched: list, column: str, records: dict) -> tuple[int, list[str], str]:
    checked, bad = 0, []
    old, new = check["same_value_as"]
    for case, r in matched:
        other = records.get((column, r.surface, case.replace(old, new)))
        a, b = _values(r), None if other is None else _values(other)
        if a is None or b is None:
            continue
        checked += 1
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-6, atol=0, equal_nan=True):
            bad.append(f"{_where(case, r)}: {a.tolist()} where {case.replace(old, new)} gives {b.tolist()}")
    return checked, bad, f"the same value as with {new.strip('/')}"


_CHECKS = {"shape": _check_shape, "raises": _check_raises, "supports": _check_supports, "no_kind": _check_no_kind,
           "same_value_as": _check_same_value}  # a check names one of them (CHECKS), the first in this order


def evaluate(claims: list[dict], columns: list[dict], records: dict) -> list[dict]:
    out = []
    for c in claims:
        cols = [col for col in columns if col["name"] == c["framework"]]
        results = [evaluate_one(c, col, records) for col in cols] or [
            {"column": c["framework"], "version": None, "status": NOT_MEASURED,
             "evidence": f"no {c['framework']} results among the inputs"}]
        out.append({k: c.get(k) for k in ("id", "framework", "source", "quote", "asserts", "versions")}
                   | {"url": PAGES.get(c["source"]), "check": c["check"], "results": results})
    return out
