"""The parts of a porting guide computed from the measurements (kl_compat/guide.py renders the page).

  - the drop-in: kl_compat's porting layer called on the target framework's tensors with the source
    framework's semantics, how closely its porting adapter was held to the source framework's records,
    and its cost in speed, read from conformance/porting_speed.json (written by
    `benchmarks/bench_porting.py --json FILE`), never typed in. That file's schema:
        {"schema": "kl-compat-porting-speed/1", "measured": "<ISO date>",
         "rows": [{"framework": "paddle", "semantics": "torch", "elements": 1000000, "ratio": 1.1}, ...]}
    a row: kl_compat.kl_div(..., semantics=<semantics>) on <framework>'s tensors of <elements> elements,
    forward and backward, taking <ratio> times the time of that framework's own kl_div;
  - the comparison of two frameworks case by case: a finding of one framework is "the same in both" only
    where the other framework was measured on every one of its cases (same case id, the same kind of
    surface) and did the same there (same status, the finding's kinds among its own), and on the
    reproducer's input when both ran it;
  - the ranking of the differences that remain (RANKING_RULE, rank_key);
  - numbers as numbers: JSON holds non-finite floats as the strings "nan", "inf", "-inf"
    (jsonvalues.jsonable), which a page shows as nan, inf, -inf.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from .errors import KlCompatError
from .jsonvalues import numbers
from .text import attribute, fence, text
from .versions import release

SPEED_SCHEMA = "kl-compat-porting-speed/1"
SPEED_FILE = "porting_speed.json"
SPEED_BENCHMARK = "benchmarks/bench_porting.py"

# ---- numbers ------------------------------------------------------------------------------------------


def outcome_numbers(o: dict) -> dict:
    """An outcome (a framework's or the spec's on the reproducer's input) with its numbers decoded."""
    return {k: numbers(v) if k in ("value", "grad_input", "grad_target") else v for k, v in o.items()}


# ---- the porting speed --------------------------------------------------------------------------------

class PortingSpeedError(KlCompatError):
    """A porting-speed file that is unreadable or not of its schema."""


@dataclass(frozen=True)
class SpeedRow:
    framework: str  # the tensors' framework
    semantics: str  # the semantics kl_compat.kl_div was asked for
    elements: int
    ratio: float  # the porting layer's time over the native op's (forward and backward)


@dataclass(frozen=True)
class PortingSpeed:
    measured: str  # ISO date
    rows: tuple[SpeedRow, ...]

    def for_pair(self, framework: str, semantics: str) -> list[SpeedRow]:
        return sorted((r for r in self.rows if r.framework == framework and r.semantics == semantics),
                      key=lambda r: r.elements)


def default_speed_path() -> Path:
    from .checkout import conformance_dir

    return conformance_dir() / SPEED_FILE


def load_speed(path: Path | None = None) -> PortingSpeed | None:
    """The porting-speed file (default: the committed one), or None where there is none."""
    path = Path(path) if path is not None else default_speed_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PortingSpeedError(f"{path}: not a readable porting-speed file ({e})") from None
    return _speed_from(data, path)


def _speed_from(data, path: Path) -> PortingSpeed:
    def bad(why: str) -> PortingSpeedError:
        return PortingSpeedError(f"{path}: {why} (the schema is in kl_compat/guide_sections.py)")

    if not isinstance(data, dict) or data.get("schema") != SPEED_SCHEMA:
        raise bad(f"schema is {data.get('schema') if isinstance(data, dict) else None!r}, not {SPEED_SCHEMA!r}")
    measured = data.get("measured")
    if not isinstance(measured, str) or not _iso_date(measured):
        raise bad(f"'measured' must be an ISO date, got {measured!r}")
    rows = data.get("rows")
    if not isinstance(rows, list):
        raise bad("'rows' must be a list")
    out = []
    for i, r in enumerate(rows):
        ok = (isinstance(r, dict) and isinstance(r.get("framework"), str) and isinstance(r.get("semantics"), str)
              and isinstance(r.get("elements"), int) and not isinstance(r.get("elements"), bool)
              and r["elements"] > 0 and isinstance(r.get("ratio"), (int, float))
              and not isinstance(r.get("ratio"), bool) and math.isfinite(r["ratio"]) and r["ratio"] > 0)
        if not ok:
            raise bad(f"row {i} needs framework and semantics (strings), elements (a positive integer) and "
                      "ratio (a positive number)")
        out.append(SpeedRow(r["framework"], r["semantics"], r["elements"], float(r["ratio"])))
    return PortingSpeed(measured, tuple(out))


def _iso_date(s: str) -> bool:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(s)
            return True
        except ValueError:
            continue
    return False


# ---- records, case by case ----------------------------------------------------------------------------

RETURNS = ("match", "differs")  # statuses where the framework returned a value
NOT_MEASURED = ("crashed", "timeout", "unavailable")
# Surfaces that make the same kind of call in each framework (R torch's names for the function and the
# module); any other surface (R torch's torch_kl_div) stands beside the other framework's function.
_CALL_KIND = {"nnf_kl_div": "functional", "nn_kl_div_loss": "module"}


def record_index(m: dict) -> dict[tuple[str, str], dict[str, dict]]:
    """{(column id, surface): {case id: {"status", "kinds"}}} from a report model's records."""
    return {(r["column"], r["surface"]): r["cases"] for r in m.get("records") or []}


def counterpart(surface: str, surfaces) -> str | None:
    """The other framework's surface that makes the same kind of call as `surface`."""
    surfaces = list(surfaces)
    kind = _CALL_KIND.get(surface, surface)
    same = [s for s in surfaces if _CALL_KIND.get(s, s) == kind]
    if same:
        return same[0]
    functional = [s for s in surfaces if _CALL_KIND.get(s, s) == "functional"]
    return functional[0] if functional else None


def surfaces_of(index: dict, column_id: str) -> list[str]:
    return [s for (cid, s) in index if cid == column_id]


def same_record(own: dict, other: dict | None, kinds) -> bool | None:
    """Did the other framework do what the finding's framework did on a case? None: not measured there."""
    if other is None or other.get("status") in NOT_MEASURED:
        return None
    return other.get("status") == own.get("status") and set(kinds) <= set(other.get("kinds") or ())


# ---- ranking ------------------------------------------------------------------------------------------

SILENT, WARNING, LOUD = "silent", "warning", "loud"
LOUDNESS = (SILENT, WARNING, LOUD)  # the order of the ranking: the quietest difference bites hardest
RANKING_RULE = ("Ranked by how silently a difference shows (silent: both return a value, and the value, nan/inf, "
                "shape, dtype or gradients differ; then a difference in warnings only; then loud: one of them "
                "raises or refuses an argument), then by how many cases show it.")


def loudness(own_status: str | None, other_status: str | None, kinds) -> str:
    """How a difference shows on one case: silent where both frameworks return a value and more than a
    warning differs, warning where only warnings differ, loud where either raises or refuses."""
    if own_status in RETURNS and other_status in RETURNS:
        return SILENT if set(kinds) - {"warning"} else WARNING
    return LOUD


@dataclass(frozen=True)
class Comparison:
    """One finding of one framework, compared with the other framework of a guide case by case."""

    finding: dict
    other_column: str
    other: dict | None  # the other framework's outcome on the reproducer's input, or None
    differing: tuple[str, ...]  # case ids where the two did not do the same
    same: tuple[str, ...]  # case ids measured on both where they did the same
    unmeasured: tuple[str, ...]  # case ids measured on the finding's side only
    loudness: str
    agrees_on_input: bool = False  # the two do the same on the reproducer's input (they differ elsewhere)

    @property
    def cases(self) -> int:
        return len(self.differing)


def rank_key(c: Comparison):
    """The ranking (RANKING_RULE): silent before warning before loud, then more cases first."""
    return (LOUDNESS.index(c.loudness), -c.cases, str(c.finding.get("title")), str(c.finding.get("id")))


def compare_finding(f: dict, own_id: str, other_id: str, index: dict, other: dict | None) -> Comparison:
    """The finding's cases (each on its surface) looked up in the other column's records."""
    other_surfaces = surfaces_of(index, other_id)
    verdicts: dict[str, list[bool | None]] = {}
    quiet = []
    for item in f.get("cases") or []:
        own_rec = index.get((own_id, item["surface"]), {}).get(item["case"]) or {"status": item.get("status")}
        surface = counterpart(item["surface"], other_surfaces)
        other_rec = index.get((other_id, surface), {}).get(item["case"]) if surface else None
        same = same_record(own_rec, other_rec, f["kinds"])
        verdicts.setdefault(item["case"], []).append(same)
        if same is False:
            quiet.append(loudness(own_rec.get("status"), (other_rec or {}).get("status"), f["kinds"]))
    differing = tuple(c for c, v in verdicts.items() if False in v)
    same_cases = tuple(c for c, v in verdicts.items() if False not in v and True in v)
    unmeasured = tuple(c for c, v in verdicts.items() if set(v) == {None})
    level = min(quiet, key=LOUDNESS.index) if quiet else LOUD
    return Comparison(f, other_id, other, differing, same_cases, unmeasured, level)


def _reproducer_loudness(f: dict, other: dict) -> str:
    own = (f.get("reproducer") or {}).get("observed") or {}
    status = lambda o: "differs" if o.get("observed") == "ok" else o.get("observed")  # noqa: E731
    return loudness(status(own) if own else None, status(other), f["kinds"])


@dataclass
class Classified:
    differences: list[Comparison]  # ranked
    shared: list[Comparison]
    unmeasured: list[tuple[dict, str]]  # (finding, why it was not compared)


def classify(m: dict, a: dict | None, b: dict | None, agree: Callable[[dict, dict], bool]) -> Classified:
    """Every finding of the guide's two columns (both must have run): a difference between them, the same
    in both, or not compared. `agree(finding, other)` says whether the other framework's outcome on the
    reproducer's input is the finding framework's."""
    out = Classified([], [], [])
    if not (a and a.get("available") and b and b.get("available")):
        return out
    index = record_index(m)
    for f in m.get("findings") or []:
        if f["column"] not in (a["id"], b["id"]):
            continue
        other_col = b if f["column"] == a["id"] else a
        rep = f.get("reproducer") or {}
        other = (rep.get("others") or {}).get(other_col["id"])
        c = compare_finding(f, f["column"], other_col["id"], index, other)
        reproducer_agrees = other is None or agree(f, other)
        if not c.differing and reproducer_agrees:
            if c.same and not c.unmeasured:
                out.shared.append(c)
            else:
                out.unmeasured.append((f, _why_not_compared(c, rep)))
        elif not c.differing and other is not None:
            # The records (status and kinds) cannot tell the two apart, the reproducer's input does: the
            # difference stands for every case measured on both.
            differing = tuple(dict.fromkeys((*c.same, rep.get("case") or "?")))
            out.differences.append(Comparison(f, c.other_column, other, differing, (), c.unmeasured,
                                              _reproducer_loudness(f, other)))
        else:
            out.differences.append(replace(c, agrees_on_input=other is not None and reproducer_agrees))
    out.differences.sort(key=rank_key)
    return out


def _why_not_compared(c: Comparison, rep: dict) -> str:
    if c.same:
        return (f"measured on one side only on {len(c.unmeasured)} of its {len(c.unmeasured) + len(c.same)} "
                f"case(s); the same in both on the other {len(c.same)}")
    return rep.get("note") or "its cases were measured on one side only"


def recorded_outcome(index: dict, column_id: str, surface: str, case: str, finding: dict | None = None) -> str | None:
    """What a column's record says it did on a case (for an outcome the reproducer did not keep), or None."""
    rec = index.get((column_id, surface), {}).get(case)
    if finding is not None:
        for e in finding.get("examples") or []:
            if e.get("case") == case and e.get("surface") == surface and e.get("message"):
                return f"as recorded on this case: {e['message']}"
    if rec is None:
        return None
    what = _RECORDED.get(rec.get("status"), str(rec.get("status")))
    kinds = ", ".join(rec.get("kinds") or ())
    return f"as recorded on this case (its outcome not kept): {what}" + (f" ({kinds})" if kinds else "")


_RECORDED = {"match": "as the spec", "differs": "differs from the spec", "error": "raises where the spec computes",
             "unsupported": "refuses an argument", "crashed": "crashed", "timeout": "timed out"}


# ---- sections -----------------------------------------------------------------------------------------

def anchor(n: int) -> str:
    return f"difference-{n}"


def bite_list(diffs: list[Comparison], titles: dict) -> list[str]:
    """"What will bite you": the ranked differences, one line each, linking to their sections (numbered
    in the same order). `titles` maps column ids to the framework names shown."""
    out = ["## What will bite you", ""]
    if not diffs:
        return out + ["Nothing: no measured difference between the two (see below)."]
    out += [RANKING_RULE, ""]
    for n, c in enumerate(diffs, 1):
        who = titles.get(c.finding["column"], c.finding["column"])
        # (an HTML link: the title is data, shown as text, which a Markdown link's [...] would have to hold)
        out.append(f'{n}. <a href="#{attribute(anchor(n))}">{text(c.finding["title"])}</a> ({text(who)}): '
                   f"{c.cases} case(s), **{c.loudness}**")
    return out


def section_anchor(n: int) -> str:
    """The line put before a difference's heading, which the bite list links to."""
    return f'<a id="{attribute(anchor(n))}"></a>'


@dataclass(frozen=True)
class Framework:
    """What the drop-in section needs to know of one framework of the guide."""

    name: str  # the registry name: torch, paddle, rtorch
    title: str
    language: str  # python | r
    native: str  # its own function, e.g. paddle.nn.functional.kl_div


def porting_adapter(src: str, dst: str) -> str | None:
    """The adapter that runs dst's tensors with src's semantics, if kl_compat has one."""
    from . import adapters

    name = f"{dst}-as-{src}"
    return name if name in adapters.REGISTRY else None


def drop_in(m: dict, src: Framework, dst: Framework, speed: PortingSpeed | None) -> list[str]:
    """The section that leads a guide: the one call that keeps src's behaviour on dst's tensors."""
    adapter = porting_adapter(src.name, dst.name)
    out = [f"## Drop-in: {src.title}'s behaviour on {dst.title} tensors", ""]
    if adapter is None:
        return out + [f"None: kl_compat has no {src.title} semantics for {dst.title} (its {dst.title} drop-in, "
                      "klc_kl_div, gives PyTorch's). Port each difference below by its fix."]
    if dst.language == "r":
        out += [f"`klc_kl_div(input, target, reduction, log_target)`, from the R file shipped with kl_compat "
                "(`adapters/rtorch.R` in a checkout; `python -c \"from kl_compat.adapters.rtorch_backend import "
                f"R_SOURCE; print(R_SOURCE)\"` prints its path), called on {dst.title} tensors, reproduces "
                f"{src.title}'s kl_div: value, shape, dtype, gradients and warnings.", "",
                *fence('source("rtorch.R")  # the path printed above\n'
                       'loss <- klc_kl_div(input, target, reduction = "batchmean")', "r")]
    else:
        # (a module form only where the porting layer has one for dst's framework: torch's and Paddle's)
        module = (f" (module form: `kl_compat.porting.{dst.name}_module.KLDivLoss(..., semantics={src.name!r})`)"
                  if (Path(__file__).parent / "porting" / f"{dst.name}_module.py").is_file() else "")
        out += [f"`kl_compat.kl_div(input, target, reduction, log_target, semantics={src.name!r})` called on "
                f"{dst.title} tensors reproduces {src.title}'s kl_div: value, shape, dtype, gradients and "
                f"warnings{module}.", "",
                *fence(f"import kl_compat\nloss = kl_compat.kl_div(input, target, reduction='batchmean', "
                       f"semantics={src.name!r})", "python")]
    return out + ["", f"- Held to {src.title}: {held_to(m, adapter, src)}",
                  f"- Cost: {cost(speed, src, dst)}"]


def pick_column(m: dict, name: str) -> dict | None:
    """The column of framework `name` a guide uses: the newest version that ran, else any."""
    cols = [c for c in m["columns"] if c["name"] == name]
    ran = [c for c in cols if c["available"]]
    if ran:
        return max(ran, key=lambda c: release(c.get("version") or "0"))
    return cols[0] if cols else None


def held_counts(m: dict, adapter: str, source: str) -> tuple[int, int] | None:
    """(cases compared, differences): the porting adapter's records against framework `source`'s, case by
    case where both were measured (status and difference kinds, surface by surface); None where `m` holds
    no such pair of columns that ran."""
    port, ref = pick_column(m, adapter), pick_column(m, source)
    if not (port and port.get("available") and ref and ref.get("available")):
        return None
    index = record_index(m)
    ref_surfaces = surfaces_of(index, ref["id"])
    # Where the source has no surface of the porting adapter's kind (JAX's eager/jit, Keras' class and
    # function against a function and a module), its primary surface, the first it declares, stands for it.
    primary = next((s for s in ref.get("surfaces") or () if s in ref_surfaces), ref_surfaces[0] if ref_surfaces else "")
    cases: set[str] = set()
    differences = 0
    for (cid, surface), recs in index.items():
        if cid != port["id"]:
            continue
        theirs = index.get((ref["id"], counterpart(surface, ref_surfaces) or primary), {})
        for case, rec in recs.items():
            other = theirs.get(case)
            if other is None or other.get("status") in NOT_MEASURED or rec.get("status") in NOT_MEASURED:
                continue
            cases.add(case)
            if rec.get("status") != other.get("status") or set(rec.get("kinds") or ()) != set(other.get("kinds") or ()):
                differences += 1
    return len(cases), differences


def held_summary(m: dict, adapter: str, source: str) -> tuple[int, int] | None:
    """held_counts from the columns where `m` has both; else from its `porting` summary (the report's
    run of the porting adapters, kl_compat/porting_check.py), where it has the pair."""
    counts = held_counts(m, adapter, source)
    if counts is not None:
        return counts
    entry = next((e for e in m.get("porting") or () if isinstance(e, dict) and e.get("adapter") == adapter
                  and e.get("source") == source), None)
    return None if entry is None else (int(entry["cases"]), int(entry["differences"]))


def held_to(m: dict, adapter: str, src: Framework) -> str:
    """How the porting adapter compares with src's own records, case by case, where both are measured."""
    counts = held_summary(m, adapter, src.name)
    if counts is None:
        return (f"not measured: these measurements hold no `{adapter}` column beside {src.title}'s (run "
                f"`kl-compat run --adapters {adapter},{src.name}`, or a report with both).")
    cases, differences = counts
    return (f"the `{adapter}` adapter was held to {src.title}'s records on {cases} case(s) (status and "
            f"difference kinds, surface by surface): {differences} difference(s).")


def cost(speed: PortingSpeed | None, src: Framework, dst: Framework) -> str:
    rows = speed.for_pair(dst.name, src.name) if speed else []
    if not rows:
        return (f"not measured (`python {SPEED_BENCHMARK} --json conformance/{SPEED_FILE}` measures it, "
                "where it has a row for this pair).")
    assert speed is not None
    ratios = ", ".join(f"{r.ratio:.3g}x at {r.elements:,} elements" for r in rows)
    return (f"its forward and backward time over `{dst.native}`'s: {ratios} (measured {text(speed.measured)} "
            f"by {SPEED_BENCHMARK}).")
