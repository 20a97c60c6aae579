"""Differential fuzzing: hypothesis-generated kl_div calls through every adapter, judged against the spec.

`kl-compat fuzz --adapters torch,paddle --max-examples N` draws cases (`fuzz_cases()`), observes each on
every surface of every adapter (one persistent `runner.AdapterSession` per adapter: the framework import
is paid once), judges each observation with `compare.judge` against the spec's expectation, and marks
each difference known or new. A new difference fails the hypothesis test body, so hypothesis shrinks the
case to the smallest one that still shows a new difference of the same adapter and kind, and the command
prints that case, the messages and a reproducer; exit status 1. Otherwise exit status 0. Either way a
one-line summary ends the output.

Cases (`fuzz_cases`): shapes 0-d, 1-D and 2-D (dims 1..6), 3-D (dims 1..4), and sometimes empty (one
dim set to 0); dtypes float16, bfloat16, float32, float64, and the matrix's mixed pairs; element values
from families (probabilities, log-probabilities, uniform(-10, 10), tiny, large) and, in some arrays,
edges (0, -0.25, +-inf, nan), every value rounded to its dtype with `dtypes.round_to` (so a large
value can become inf in float16); reductions none/mean/sum/batchmean and sometimes an invalid one from
the matrix's list; log_target. Choices are ordered so that shrinking heads for 0-d, float32, 'sum',
log_target=False, no edges and not empty. The expected outcome comes from `golden.expectation`, the
code path that writes the goldens (`make_case`).

Known differences: the bridge between hand-declared cases and generated ones. Entries of
conformance/known_differences.toml match matrix case-id globs
(`{group}/{values}/{shape}/{dtypes}/{reduction}/{prob|log}`), so each generated case gets the matrix
ids of the cases it resembles (`candidate_ids`), and a difference is known when, for some candidate id,
an entry with the difference's kind applies (`known.Entry.applies`: adapter, surface, id, version).
The candidates come from the case's features:
  group/values   - invalid/<v>       the reduction is not one of the four names (v as below)
                 - promotion/<v>     the two dtypes differ
                 - empty/proper      some dimension is 0
                 - edge/<family>     one per edge feature present (all elements, after rounding):
                     zero-target        y == 0 (prob) or y == -inf (log: probability zero)
                     negative-target    finite y < 0 (prob only: a negative log-target is ordinary)
                     posinf-target      y == +inf          neginf-target    y == -inf
                     nan-target         y is nan           nan-input        x is nan
                     neginf-input       x == -inf          posinf-input     x == +inf
                     neginf-input-zero-target   x == -inf where y has probability zero (same element)
                     nan-input-zero-target      x is nan where y has probability zero (same element)
                 - otherwise core/<v>, v = proper when every input is <= 0 and every target is a
                   probability (prob: 0 <= y <= 1) or a log-probability (log: y <= 0), else uniform10;
                   also core/<v> when the case is not 2-D (and not empty): the other groups' cases are
                   2-D, so what depends on the rank (a 0-d input, a reduction over the last axis) is
                   matched on the core cases of the case's rank
                 - and also core/peaked when a target probability (prob) is subnormal in its dtype: the
                   matrix's "peaked" family exists for such tiny probabilities (near one-hot targets)
  shape          0d..4d by the number of dimensions; "2d" for edge candidates (the matrix's edge cases
                 are all 2-D); for empty candidates the matrix's names: empty-1d, empty-cols (n, 0),
                 empty-batch (0, n) and (0, 0), empty-3d
  dtypes         the input's dtype, or "<input>-<target>" when they differ (matrix.Sample.dtypes_label)
  reduction      as matrix.Case.reduction_label (e.g. "avg", "<NoneType:None>")
  prob|log       log_target
Matching is per case, not per element, exactly as for the matrix: an entry about one edge explains a
difference of its kind anywhere in a case showing that edge.

Determinism: `--seed` (default 0) seeds hypothesis (`hypothesis.seed`), so a run with the same seed,
settings and database contents examines the same examples. Failing examples are saved in a hypothesis
database under `--cache-dir` (default `hypothesis` in kl_compat's cache, $KL_COMPAT_CACHE, else
.kl-compat-cache in the working folder; one subdirectory per adapter list) and
replayed first by the next run; `--no-cache` runs without one.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import compare, golden, known, runner, spec
from . import dtypes as _dt
from .cache import cache_root
from .exitcode import ExitCode
from .golden import GoldenCase

DEFAULT_ADAPTERS = ("torch", "paddle")
DEFAULT_CACHE_DIR = cache_root() / "hypothesis"  # $KL_COMPAT_CACHE/hypothesis, else under the working folder
DEFAULT_MAX_EXAMPLES = 200

FLOATS = ("float32", "float64", "float16", "bfloat16")  # shrinking prefers the first
EDGE_VALUES = (0.0, -0.25, math.inf, -math.inf, math.nan)
# The matrix's edge families, in its order: fuzz cases are mapped onto them (one source of truth).
from .conformance.matrix import EDGE_VALUES as EDGE_FAMILIES  # noqa: E402


# ---- cases --------------------------------------------------------------------------------------------

def make_case(x, y, call: spec.Call, input_dtype: str, target_dtype: str, case_id: str | None = None) -> GoldenCase:
    """A GoldenCase for arbitrary inputs (rounded to their dtypes), expected outcome from the golden code path."""
    x = _dt.round_to(np.asarray(x, np.float64), input_dtype).astype(np.float64)
    y = _dt.round_to(np.asarray(y, np.float64), target_dtype).astype(np.float64)
    digest = case_digest(x, y, call, input_dtype, target_dtype)
    return golden.make_case(case_id or f"fuzz/{digest[:12]}", x, y, call, input_dtype, target_dtype, group="fuzz",
                             sample=digest)


def case_digest(x, y, call: spec.Call, input_dtype: str, target_dtype: str) -> str:
    h = hashlib.sha256()
    for a in (x, y):
        a = np.ascontiguousarray(np.asarray(a, np.float64))
        h.update(repr(a.shape).encode())
        h.update(a.tobytes())
    h.update(repr((input_dtype, target_dtype, call.reduction, type(call.reduction).__name__, call.log_target,
                   call.size_average, call.reduce)).encode())
    return h.hexdigest()


def fuzz_cases():
    """The hypothesis strategy: GoldenCase objects, small, shrinking towards 0-d float32 'sum' calls."""
    from hypothesis import strategies as st

    from .conformance.matrix import INVALID_REDUCTIONS, MIXED_DTYPES

    dtype_pairs = tuple((d, d) for d in FLOATS) * 2 + MIXED_DTYPES  # same dtypes twice as often
    # 'sum' first (the simplest to read), each name twice, one invalid marker last (about 1 in 9).
    reductions = ("sum", "none", "mean", "batchmean") * 2 + (None,)

    def element(edges: bool):
        families = [
            st.floats(0.0, 1.0),  # probabilities
            st.floats(-20.0, 0.0),  # log-probabilities
            st.floats(-10.0, 10.0),  # uniform10, as Paddle's doc example
            st.floats(0.0, 1e-5),  # tiny: subnormal in float16
            st.floats(-1e5, 1e5),  # large: beyond float16's range
        ]
        if edges:
            families.append(st.sampled_from(EDGE_VALUES))
        return st.one_of(*families)

    @st.composite
    def cases(draw):
        ndim = draw(st.integers(0, 3))
        shape = [draw(st.integers(1, 6 if ndim < 3 else 4)) for _ in range(ndim)]
        if ndim and draw(st.integers(0, 9)) == 9:  # sometimes empty
            shape[draw(st.integers(0, ndim - 1))] = 0
        shape = tuple(shape)
        input_dtype, target_dtype = draw(st.sampled_from(dtype_pairs))
        reduction = draw(st.sampled_from(reductions))
        if reduction is None:
            reduction = draw(st.sampled_from(INVALID_REDUCTIONS))
        log_target = draw(st.booleans())
        edges_x, edges_y = (draw(st.integers(0, 2)) == 2 for _ in "xy")  # a third of the arrays hold edges
        n = int(np.prod(shape, dtype=np.int64))
        # (input, target) pairs, element by element: a failing element keeps its partner when the
        # shrinker deletes the elements around it, so shapes shrink to a single element.
        pairs = draw(st.lists(st.tuples(element(edges_x), element(edges_y)), min_size=n, max_size=n))
        x = np.asarray([p[0] for p in pairs], np.float64).reshape(shape)
        y = np.asarray([p[1] for p in pairs], np.float64).reshape(shape)
        return make_case(x, y, spec.Call(reduction, log_target), input_dtype, target_dtype)

    return cases()


# ---- the bridge to the known-differences file -------------------------------------------------------

def edge_families(x, y, log_target: bool, target_dtype: str = "float64") -> list[str]:
    """The matrix's edge families whose edge values occur in (x, y), in EDGE_FAMILIES order."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    fmt = _dt.FLOAT_FORMATS.get(target_dtype, _dt.FLOAT_FORMATS["float64"])
    no_mass = (y == -np.inf) if log_target else (y == 0)
    with np.errstate(all="ignore"):
        # the target's own term (y log y, or exp(y)) overflows the target's dtype
        own_term = np.exp(y) if log_target else y * np.log(np.where(y > 1, y, 1.0))
        probability = np.exp(y) if log_target else y
        present = {
            "zero-target": no_mass.any(),
            "negative-target": (not log_target) and bool((np.isfinite(y) & (y < 0)).any()),
            "posinf-target": (y == np.inf).any(),
            "neginf-target": (y == -np.inf).any(),
            "nan-target": np.isnan(y).any(),
            "nan-input": np.isnan(x).any(),
            "neginf-input": (x == -np.inf).any(),
            "posinf-input": (x == np.inf).any(),
            "neginf-input-zero-target": ((x == -np.inf) & no_mass).any(),
            "nan-input-zero-target": (np.isnan(x) & no_mass).any(),
            "posinf-target-zero-input": ((y == np.inf) & (x >= 0)).any(),
            "posinf-input-zero-target": ((x == np.inf) & no_mass).any(),
            "subnormal-target": ((probability > 0) & (probability < 2.0 ** fmt.min_exponent)).any(),
            "overflow-target": (np.isfinite(y) & (own_term > fmt.max)).any(),
        }
    return [f for f in EDGE_FAMILIES if present[f]]


def _values_label(x, y, log_target: bool) -> str:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    with np.errstate(invalid="ignore"):
        targets_ok = (y <= 0).all() if log_target else ((y >= 0) & (y <= 1)).all()
        return "proper" if (x <= 0).all() and targets_ok else "uniform10"


def _empty_shape_label(shape) -> str:
    if len(shape) == 1:
        return "empty-1d"
    if len(shape) == 2:
        return "empty-batch" if shape[0] == 0 else "empty-cols"
    return "empty-3d"


def candidate_ids(case: GoldenCase) -> list[str]:
    """Matrix-style case ids for a generated case (see the module docstring), most specific first."""
    from .conformance.matrix import Case, Sample

    x, y, call = case.input, case.target, case.call
    space = "log" if call.log_target else "prob"
    values = _values_label(x, y, call.log_target)
    shape = x.shape
    rank_label = f"{len(shape)}d"

    def cid(group, values_, shape_name):
        sample = Sample(values_, shape_name, shape, shape, case.input_dtype, case.target_dtype, space)
        return Case(group, sample, call).id

    ids = []
    if not (isinstance(call.reduction, str) and call.reduction in spec.REDUCTIONS):
        ids.append(cid("invalid", values, rank_label))
    if case.input_dtype != case.target_dtype:
        ids.append(cid("promotion", values, rank_label))
        if "overflow-target" in edge_families(x, y, call.log_target, case.target_dtype):
            ids.append(cid("promotion", "overflow-target", "2d"))
    if 0 in shape:
        ids.append(cid("empty", "proper", _empty_shape_label(shape)))
    ids.extend(cid("edge", family, "2d") for family in edge_families(x, y, call.log_target, case.target_dtype))
    if not ids or (rank_label != "2d" and 0 not in shape):
        ids.append(cid("core", values, rank_label))  # (the other groups' cases are 2-D: the rank is a feature too)
    if has_subnormal_probability(y, case.target_dtype, call.log_target):
        ids.append(cid("core", "peaked", rank_label))
    if has_overflowing_term(x, y, case.input_dtype, case.target_dtype, call.log_target):
        ids.append(cid("core", "uniform10", rank_label))  # where the matrix's float16 terms overflow
    return ids


def has_subnormal_probability(y, dtype: str, log_target: bool) -> bool:
    """A target probability that is subnormal in its dtype: what the matrix's "peaked" family is for."""
    if log_target or not _dt.is_float(dtype):
        return False
    y = np.asarray(y, np.float64)
    return bool(((y > 0) & (y < 2.0 ** _dt.FLOAT_FORMATS[dtype].min_exponent)).any())


def has_overflowing_term(x, y, input_dtype: str, target_dtype: str, log_target: bool) -> bool:
    """A pointwise loss term, or an intermediate of it (y - x, y * x), beyond the result dtype's largest
    finite value: a kernel that computes in that dtype gets inf or nan (the matrix's uniform10 cases in
    float16 show it)."""
    if not (_dt.is_float(input_dtype) and _dt.is_float(target_dtype)) or np.shape(x) != np.shape(y):
        return False
    fmt = _dt.FLOAT_FORMATS[_dt.result_dtype(input_dtype, target_dtype)]
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    with np.errstate(all="ignore"):
        parts = (spec.pointwise(x, y, log_target), y - x if log_target else y * x)
    return any(bool((np.isfinite(p) & (np.abs(p) > fmt.max)).any()) for p in parts)


def explain(entries, adapter: str, surface: str, version: str | None, case_ids, differences) -> None:
    """Set `known` on each difference to the id of the entry (kl_compat.known.explain) that explains it
    for one of `case_ids`, the matrix cases the generated case resembles."""
    from .record import DIFFERS, Record

    records = [Record(c, adapter, surface, DIFFERS, version=version) for c in case_ids]
    for d in differences:
        if d.known is None:
            d.known = next((e.id for e in (known.explain(entries, r, d) for r in records) if e is not None), None)


# ---- running ------------------------------------------------------------------------------------------

@dataclass
class Seen:
    """One observation of one case, judged."""

    adapter: str
    surface: str
    observation: object
    verdict: compare.Verdict

    @property
    def new(self) -> list[compare.Difference]:
        return [d for d in self.verdict.differences if d.known is None]


@dataclass
class Finding:
    """The minimal case showing a new difference, after shrinking."""

    case: GoldenCase
    candidates: list[str]
    seen: list[Seen]  # every adapter's observations of the case
    versions: dict[str, str | None]

    @property
    def new(self) -> list[tuple[str, str, compare.Difference]]:
        return [(s.adapter, s.surface, d) for s in self.seen for d in s.new]


@dataclass
class FuzzResult:
    adapters: list[str]
    seed: int
    examples: int = 0  # examples judged before a new difference (or all of them)
    shrink_runs: int = 0  # examples judged while shrinking
    seconds: float = 0.0
    known: int = 0  # known difference records (adapter x surface x difference) in those examples
    new: int = 0  # new difference records in those examples
    examined: list[str] = field(default_factory=list)  # digests of the examples, in order
    unavailable: dict[str, str] = field(default_factory=dict)
    finding: Finding | None = None

    def summary(self) -> str:
        rate = self.examples / self.seconds if self.seconds else 0.0
        ran = [a for a in self.adapters if a not in self.unavailable]
        line = (f"fuzz: {self.examples} examples on {', '.join(ran) or 'no adapter'} (seed {self.seed}, "
                f"{self.seconds:.1f} s, {rate:.1f} examples/s): {self.known} known difference(s), {self.new} new")
        if self.finding is not None:
            line += f"; shrunk in {self.shrink_runs} more runs to the case above"
        return line


class _NewDifference(Exception):
    def __init__(self, case, seen):
        super().__init__(f"{len([d for s in seen for d in s.new])} new difference(s) on {case.id}")
        self.case, self.seen = case, seen


class Observer:
    """Every adapter's session, kept alive for the whole run; observes and judges one case at a time."""

    def __init__(self, adapters, *, timeout: float = runner.DEFAULT_TIMEOUT, known_path: Path | list[Path] | None = None,
                 python: str | None = None, env: dict | None = None):
        self.adapters = list(adapters)
        self.entries = known.load(known_path)
        self.sessions = {a: runner.AdapterSession(a, timeout=timeout, python=python, env=env) for a in self.adapters}
        self.unavailable: dict[str, str] = {}

    def start(self) -> None:
        for name, session in self.sessions.items():
            if not session.start():
                self.unavailable[name] = session.state.reason or "unavailable"

    def version(self, adapter: str) -> str | None:
        return self.sessions[adapter].state.info.get("version")

    def observe(self, case: GoldenCase, candidates=None) -> list[Seen]:
        candidates = candidate_ids(case) if candidates is None else candidates
        out: list[Seen] = []
        for name, session in self.sessions.items():
            if name in self.unavailable:
                continue
            observed: list[runner.Observation] = []
            session.run([case], observed.append)
            for obs in observed:
                verdict = compare.judge(case, obs)
                if verdict.status != compare.UNAVAILABLE:
                    explain(self.entries, name, obs.surface, self.version(name), candidates, verdict.differences)
                out.append(Seen(name, obs.surface, obs, verdict))
        return out

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _signature(seen) -> set[tuple[str, str]]:
    return {(s.adapter, d.kind) for s in seen for d in s.new}


def _database(cache_dir: Path | None, adapters):
    if cache_dir is None:
        return None
    from hypothesis.database import DirectoryBasedExampleDatabase

    # One database per adapter list: a failure of one set of adapters is no example for another.
    sub = "+".join(re.sub(r"[^A-Za-z0-9_.-]", "_", a) for a in adapters)
    return DirectoryBasedExampleDatabase(str(Path(cache_dir) / sub))


def fuzz(adapters=DEFAULT_ADAPTERS, *, max_examples: int = DEFAULT_MAX_EXAMPLES, seed: int = 0,
         cache_dir: Path | None = DEFAULT_CACHE_DIR, timeout: float = runner.DEFAULT_TIMEOUT,
         known_path: Path | list[Path] | None = None, python: str | None = None,
         env: dict | None = None) -> FuzzResult:
    """Fuzz `adapters` for `max_examples` examples; `cache_dir=None` runs without a database."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    adapters = list(adapters)
    result = FuzzResult(adapters, seed)
    signature: set = set()  # the (adapter, kind) pairs of the first new difference: what shrinking keeps

    with Observer(adapters, timeout=timeout, known_path=known_path, python=python, env=env) as observer:
        observer.start()
        result.unavailable = dict(observer.unavailable)
        if len(observer.unavailable) == len(adapters):
            return result

        @settings(max_examples=max_examples, database=_database(cache_dir, adapters), deadline=None,
                  derandomize=False, verbosity=Verbosity.quiet, print_blob=False,
                  report_multiple_bugs=False,
                  phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
                  suppress_health_check=list(HealthCheck))
        @hypothesis_seed(seed)
        @given(fuzz_cases())
        def examine(case):
            seen = observer.observe(case)
            if signature:  # shrinking: only the first difference's adapter and kind count
                result.shrink_runs += 1
            else:
                result.examples += 1
                result.examined.append(case.sample)
                for s in seen:
                    result.new += len(s.new)
                    result.known += len(s.verdict.differences) - len(s.new)
                signature.update(_signature(seen))
            if _signature(seen) & signature:
                # One raise statement: hypothesis tells failures apart by where they are raised.
                raise _NewDifference(case, seen)

        start = time.perf_counter()
        failure: _NewDifference | None
        try:
            examine()
        except _NewDifference as e:
            failure = e
        except Exception as e:  # FlakyFailure (an exception group): the minimal case did not fail on replay
            failure = next((x for x in _leaves(e) if isinstance(x, _NewDifference)), None)
            if failure is None:
                raise
        else:
            failure = None
        result.seconds = time.perf_counter() - start
        if failure is not None:
            result.shrink_runs = max(result.shrink_runs - 1, 0)  # the final replay is not a shrink step
            result.finding = Finding(failure.case, candidate_ids(failure.case), failure.seen,
                                     {a: observer.version(a) for a in adapters})
    return result


def _leaves(e: BaseException):
    group = getattr(e, "exceptions", None)  # exception groups (Python 3.11, or the backport on 3.10)
    if isinstance(group, (tuple, list)):
        for x in group:
            yield from _leaves(x)
    else:
        yield e


# ---- reporting ----------------------------------------------------------------------------------------

def harness_snippet(adapter: str, case: GoldenCase) -> str:
    """A reproducer for any adapter: the case rebuilt with make_case and run through kl_compat's runner."""
    from .reproducer import python_floats

    x = np.asarray(case.input, np.float64)
    y = np.asarray(case.target, np.float64)
    arr = lambda a: f"np.array({python_floats(a)}).reshape({a.shape!r})"  # noqa: E731
    return "\n".join([
        "import numpy as np",
        "from kl_compat import compare, runner",
        "from kl_compat.fuzz import make_case",
        "from kl_compat.spec import Call",
        "",
        f"case = make_case({arr(x)}, {arr(y)},",
        f"                 Call(reduction={case.call.reduction!r}, log_target={case.call.log_target!r}), "
        f"{case.input_dtype!r}, {case.target_dtype!r})",
        f"runner.run_adapter({adapter!r}, [case],",
        "                   lambda obs: print(obs.surface, [d.message for d in compare.judge(case, obs).differences]))",
    ])


def reproducer(adapter: str, surface: str, case: GoldenCase, seen: Seen, version: str | None) -> str:
    """The framework's own snippet where the adapter's framework description has a reproducer template,
    else the harness's."""
    try:
        from . import reproducer as _repro

        if _repro.no_snippet_reason(adapter, case) is None:
            code = _repro.render(adapter, surface, case, sorted({d.kind for d in seen.new}), version,
                                 _repro.outcome(case, seen.observation))
            if code:
                return code
    except ImportError:  # no kl_compat.reproducer, or no jinja2 (the [cli] extra)
        pass
    return harness_snippet(adapter, case)


def _show(a: np.ndarray, dtype: str) -> str:
    a = np.asarray(a, np.float64)
    body = np.array2string(a, precision=17, separator=", ", threshold=64) if a.ndim else repr(float(a))
    return f"{dtype}, shape {a.shape}: {body}"


def format_finding(f: Finding) -> str:
    c = f.case
    e = c.expects
    lines = ["new difference(s), shrunk to a minimal case:",
             f"  input   {_show(c.input, c.input_dtype)}",
             f"  target  {_show(c.target, c.target_dtype)}",
             f"  call    {c.call}",
             f"  as matrix ids (for known_differences.toml): {', '.join(f.candidates)}"]
    if e.outcome == "error":
        lines.append(f"  spec    raises {e.error}: {e.message}")
    else:
        lines.append(f"  spec    {e.dtype}, shape {tuple(e.shape or ())}: {np.asarray(e.value, np.float64).tolist()}")
    for s in f.seen:
        for d in s.verdict.differences:
            lines.append(f"  {s.adapter}.{s.surface} {'known' if d.known else 'NEW'} {d.kind}: {d.message}")
    done = set()
    for s in f.seen:
        if s.new and s.adapter not in done:
            done.add(s.adapter)
            code = reproducer(s.adapter, s.surface, c, s, f.versions.get(s.adapter))
            lines.append(f"\nreproducer ({s.adapter}.{s.surface}):\n")
            lines.extend("    " + line if line else "" for line in code.rstrip().splitlines())
    return "\n".join(lines)


# ---- the command --------------------------------------------------------------------------------------

def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return n


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fuzz", help="differential fuzzing: generated inputs through every adapter and the "
                                           "spec; new differences shrunk to a minimal case")
    from .adapters.names import adapter_names, adapters_help

    p.add_argument("--adapters", type=adapter_names, default=list(DEFAULT_ADAPTERS),
                   help=adapters_help(",".join(DEFAULT_ADAPTERS)))
    p.add_argument("--max-examples", type=_positive, default=DEFAULT_MAX_EXAMPLES,
                   help=f"examples to generate (default {DEFAULT_MAX_EXAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed: the same seed examines the same examples")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                   help=f"hypothesis database directory (default {DEFAULT_CACHE_DIR})")
    p.add_argument("--no-cache", action="store_true", help="no hypothesis database (no replay of past failures)")
    p.add_argument("--timeout", type=float, default=runner.DEFAULT_TIMEOUT,
                   help="seconds per case before its worker is killed")
    p.add_argument("--known", type=Path, action="append", default=None, metavar="FILE",
                   help="known-differences file (default: the package's); repeatable, the files' entries "
                        "combined in order (e.g. the package's, then your own)")
    p.set_defaults(func=cmd_fuzz)
    return p


def cmd_fuzz(args) -> int:
    if importlib.util.find_spec("hypothesis") is None:
        print("kl-compat fuzz: error: needs hypothesis (pip install 'kl-compat[test]')", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    try:
        result = fuzz(args.adapters, max_examples=args.max_examples, seed=args.seed,
                      cache_dir=None if args.no_cache else args.cache_dir, timeout=args.timeout,
                      known_path=args.known)
    except known.KnownDifferencesError as e:
        print(f"kl-compat fuzz: error: {e}", file=sys.stderr)
        return ExitCode.USAGE_ERROR
    for adapter, reason in result.unavailable.items():
        print(f"{adapter:>10} not run: {reason}")
    if len(result.unavailable) == len(result.adapters):
        print("kl-compat fuzz: error: no adapter could run", file=sys.stderr)
        return ExitCode.NOT_RUN
    if result.finding is not None:
        print(format_finding(result.finding))
        print()
    print(result.summary())
    # As for run: an adapter asked for that did not run outranks a finding (the fuzzing was not complete).
    return (ExitCode.NOT_RUN if result.unavailable else ExitCode.FAILED if result.finding is not None
            else ExitCode.OK)


def main(argv=None) -> int:
    """`kl-compat fuzz ARGS` without the rest of the CLI: main(["--adapters", "torch"])."""
    parser = argparse.ArgumentParser(prog="kl-compat")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fuzz", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
