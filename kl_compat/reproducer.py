"""Minimal reproducers: the smallest input that still shows a difference, printed in the framework's language.

For a finding (kl_compat.report.model), start from its representative failing case and build candidates,
smallest first:
  - every single element as a 1-element pair of the same rank, shape (1,)*ndim ((), when the case is 0-d),
    the element the difference is about first (its `where`, e.g. `out[3]`);
  - the first k elements (k = 2, 4, 8, ...) as shape (k, 1, ..., 1), for differences that need several
    terms (a float16 sum that overflows before 'batchmean' divides it);
  - for operands of different shapes (broadcasting), one element each, each keeping its own rank.
The spec's expectation for each comes from kl_compat.spec.reference; every candidate of one adapter goes
through that adapter's worker in one kl_compat.runner.run_adapter call, is judged by kl_compat.compare.judge,
and the smallest that shows the finding's kinds (else its first kind) is kept. When none does, or the adapter
cannot run here (R torch on this machine), the original case is printed instead, and the reproducer says so;
the original goes through the adapter's worker with the candidates, so its own outcome is shown beside it.

The chosen input is then run through every other runnable adapter too, so a porting guide can say what each
framework does with the same few numbers.

Snippets are rendered from the template each adapter's framework description names (its `reproducer`,
e.g. adapters/templates/repro_torch.py.j2), with the values written as literals of the framework's
language (Python or R).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from . import compare, golden, runner, spec
from . import dtypes as _dt
from .adapters import framework_of
from .adapters.framework import Template
from .golden import GoldenCase
from .results import version_label

MAX_LITERAL_ELEMENTS = 64  # larger inputs are not printed as literals
MAX_SINGLES = 64  # single-element candidates tried per finding


# ---- candidates ---------------------------------------------------------------------------------------

def candidate_arrays(case: GoldenCase, hint: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input, target) pairs in float64, smallest first, from the elements of `case`."""
    x = np.asarray(case.input, np.float64)
    y = np.asarray(case.target, np.float64)
    if x.size == 0 or y.size == 0:
        return []
    if x.shape != y.shape:
        one = lambda a: a.reshape(-1)[:1].reshape((1,) * a.ndim)  # noqa: E731
        return [(one(x), one(y))]
    shape1 = (1,) * x.ndim
    order = list(range(min(x.size, MAX_SINGLES)))
    if hint is not None and 0 <= hint < x.size:
        order = [hint] + [i for i in order if i != hint]
    fx, fy = x.reshape(-1), y.reshape(-1)
    out = [(fx[i:i + 1].reshape(shape1), fy[i:i + 1].reshape(shape1)) for i in order]
    if x.ndim:
        k = 2
        while k < x.size:
            shape = (k,) + (1,) * (x.ndim - 1)
            out.append((fx[:k].reshape(shape), fy[:k].reshape(shape)))
            k *= 2
    return out


def _hint(where: str | None) -> int | None:
    """The element a difference is about, from its `where` (`out[3]` -> 3): tried first when minimising."""
    from .record import element_index

    return element_index(where) if where and where.split("[")[0] in ("out", "grad_input", "grad_target") else None


# ---- running ------------------------------------------------------------------------------------------

@dataclass
class Runnable:
    name: str  # the adapter's registry name
    python: str  # the interpreter of its environment
    version: str | None


def interpreter(column: dict) -> tuple[str | None, str | None]:
    """The interpreter kl-compat runs a report column's adapter with here, or why there is none: this
    environment's own (sys.executable) for a column that ran outside a named environment, and for one
    that ran in a named environment, that environment's, when conformance/environments.toml configures it
    for the column's adapter and it exists on this machine. Never a path read from the inputs: a results
    file's `executable` only says where its run happened (see untrusted_executable)."""
    env_name = column.get("environment")
    if not env_name:
        return sys.executable, None
    from . import environments

    try:
        env = environments.load().get(env_name)
    except environments.EnvError as e:
        return None, str(e)
    if env is None or env.adapter != column.get("name"):
        return None, (f"{column['id']} ran in an environment named {env_name!r}, which conformance/environments.toml "
                      f"does not configure for {column.get('name')}")
    if not env.exists():
        return None, f"{column['id']}'s environment {env_name} is not on this machine (kl-compat env create {env_name})"
    return str(env.python()), None


def untrusted_executable(column: dict) -> str | None:
    """The interpreter the inputs name for a column (its adapter line's `executable`) when it is not the one
    kl-compat runs for it (interpreter()): a path from a results file, which kl-compat never runs."""
    exe = column.get("executable")
    if not exe or not column.get("available"):
        return None
    python, _ = interpreter(column)
    return None if python and os.path.abspath(str(exe)) == os.path.abspath(python) else str(exe)


def runnable(column: dict) -> tuple[Runnable | None, str | None]:
    """How to run a report column's adapter on this machine, or why it cannot be. The interpreter is one
    kl-compat knows (interpreter()); the version the worker reports must then be the column's (_observe)."""
    if not column.get("available"):
        return None, f"{column['id']} did not run ({column.get('reason') or 'unavailable'})"
    python, why = interpreter(column)
    if python is None:
        return None, why
    return Runnable(column["name"], python, column.get("version")), None


def _observe(run: Runnable, cases, surfaces, timeout) -> tuple[dict, str | None]:
    """{(case id, surface): Observation}, or the reason the adapter could not run them as recorded."""
    seen: dict = {}
    hello: dict = {}
    state = runner.run_adapter(run.name, cases, lambda o: seen.__setitem__((o.case_id, o.surface), o),
                               surfaces=tuple(surfaces), timeout=timeout, python=run.python,
                               on_hello=hello.update)
    if not state.available:
        return {}, f"{run.name} is not available here: {state.reason}"
    if run.version is not None and hello.get("version") != run.version:
        return {}, f"{run.name} here is version {hello.get('version')}, the results are from {run.version}"
    return seen, None


def outcome(case: GoldenCase, obs) -> dict:
    """What an adapter did on a case, judged: for reports and guides."""
    verdict = compare.judge(case, obs)
    out = {"status": verdict.status, "kinds": sorted({d.kind for d in verdict.differences}),
           "messages": [d.message for d in verdict.differences],
           "sentences": [d.sentence for d in verdict.differences], "observed": obs.status}
    if obs.status == "ok":
        out.update(shape=list(obs.shape), dtype=obs.dtype, value=_plain(obs.value))
    elif obs.status == "raised":
        out["error"] = obs.error
    elif obs.status == "unsupported":
        out["unsupported"] = obs.unsupported
    else:
        out["detail"] = obs.detail
    return out


def spec_summary(case: GoldenCase) -> dict:
    e = case.expects
    if e.outcome == "error":
        return {"outcome": "error", "error": e.error, "message": e.message}
    return {"outcome": "value", "dtype": e.dtype, "shape": list(e.shape or ()), "value": _plain(e.value),
            "warnings": list(e.warnings), "grad_input": _masked(e.grad_input_defined, e.grad_input),
            "grad_target": _masked(e.grad_target_defined, e.grad_target)}


def _masked(defined: np.ndarray | None, grad: np.ndarray | None):
    """A gradient with nan where the spec leaves it undefined (S9), as plain values; None without one."""
    return None if defined is None or grad is None else _plain(np.where(defined, grad, np.nan))


def _plain(a):
    """JSON-able nested lists (non-finite numbers as strings), or None for large arrays."""
    if a is None:
        return None
    a = np.asarray(a)
    if a.size > MAX_LITERAL_ELEMENTS:
        return None
    from .jsonvalues import jsonable

    return jsonable(a.astype(np.float64) if a.dtype.kind == "f" else a)


def reproduce(findings: list[dict], columns: dict[str, dict], goldens_by_id: dict, *, timeout: float = 60.0,
              cross: bool = True, log=None) -> None:
    """Fill `finding["reproducer"]` for each finding (see the module's docstring)."""
    plans, by_column = _plans(findings, goldens_by_id)

    def minimise(cid, fs):
        run, why_not = runnable(columns[cid])
        cases, surfaces, originals = [], set(), {}
        for f in fs:
            item, original, cands = plans[f["id"]]
            cases.extend(cands)
            originals[original.id] = original  # observed too: shown when no candidate shows the difference
            surfaces.add(item["surface"])
        cases.extend(originals.values())
        if log and run is not None:
            log(f"reproducers: {len(cases)} candidate(s) through {cid}")
        return ({}, why_not) if run is None else _observe(run, cases, sorted(surfaces), timeout)

    # One worker per adapter, all adapters at once (each call waits on its own worker process).
    observed = _parallel({cid: (minimise, cid, fs) for cid, fs in by_column.items()})
    chosen: dict = {}  # finding id -> (GoldenCase, outcome on its own column, minimised?, note)
    for cid, fs in by_column.items():
        seen, err = observed[cid]
        for f in fs:
            chosen[f["id"]] = _choose(f, plans[f["id"]], seen, err)
    column_of = {f["id"]: f["column"] for f in findings}
    cross_out = _cross(columns, chosen, column_of, plans, timeout) if cross else {}
    for f in findings:
        if f["id"] in chosen:
            case, own, minimised, note = chosen[f["id"]]
            f["reproducer"] = _reproducer(f, plans[f["id"]][0], columns[f["column"]], case, own, minimised, note,
                                          cross_out.get(f["id"], {}))


def _plans(findings: list[dict], goldens_by_id: dict) -> tuple[dict, dict[str, list]]:
    """finding id -> (representative item, original GoldenCase, [candidates]), and the findings to
    minimise by column; a finding whose case is not in the goldens gets its reproducer (a note) now."""
    from .report.model import representative

    plans = {}
    by_column: dict[str, list] = {}
    for f in findings:
        item = representative(f, goldens_by_id)
        original = goldens_by_id.get(item["case"])
        if original is None:
            f["reproducer"] = {"minimised": False, "note": f"case {item['case']} is not in the current goldens",
                               "case": item["case"], "surface": item["surface"]}
            continue
        hint = next((_hint(e.get("where")) for e in f["examples"] if e["case"] == item["case"]), None)
        cands = [golden.make_case(f"repro/{f['id']}/{i}", x, y, original.call, original.input_dtype,
                                  original.target_dtype)
                 for i, (x, y) in enumerate(candidate_arrays(original, hint))]
        plans[f["id"]] = (item, original, cands)
        by_column.setdefault(f["column"], []).append(f)
    return plans, by_column


def _choose(f: dict, plan: tuple, seen: dict, err: str | None) -> tuple:
    """(GoldenCase, outcome on its own column, minimised?, note): the smallest candidate that shows all
    of the finding's kinds (else its first kind), or the original case with a note why not, and with its
    own outcome where the adapter ran it here (None where it could not)."""
    item, original, cands = plan
    pick = None
    if not err:
        judged = []
        for c in cands:
            obs = seen.get((c.id, item["surface"]))
            if obs is not None:
                judged.append((c, obs, {d.kind for d in compare.judge(c, obs).differences}))
        pick = next(((c, o) for c, o, k in judged if set(f["kinds"]) <= k), None) or \
            next(((c, o) for c, o, k in judged if f["kinds"][0] in k), None)
    if pick is not None:
        c, o = pick
        return c, outcome(c, o), True, None
    note = (f"not minimised: {err}; the snippet is the failing case as recorded" if err else
            "not minimised: no smaller input shows this difference; the failing case is shown as it is")
    obs = None if err else seen.get((original.id, item["surface"]))
    return original, (None if obs is None else outcome(original, obs)), False, note


def _cross(columns: dict[str, dict], chosen: dict, column_of: dict, plans: dict, timeout: float) -> dict:
    """finding id -> {other column id: its outcome on the chosen input}, every other column at once."""
    jobs = {}
    for cid, col in columns.items():
        run, _ = runnable(col)
        todo = [(fid, c) for fid, (c, _o, _m, _n) in chosen.items() if column_of[fid] != cid]
        if run is not None and todo:
            surfaces = sorted(set(col.get("surfaces") or ["functional"]))
            jobs[cid] = (lambda run, todo, surfaces: (todo, surfaces, *_observe(run, [c for _f, c in todo], surfaces,
                                                                                  timeout)), run, todo, surfaces)
    cross_out: dict = {}
    for cid, (todo, surfaces, seen, err) in _parallel(jobs).items():
        col = columns[cid]
        if not err:
            for fid, c in todo:
                own_surface = plans[fid][0]["surface"]
                surface = own_surface if own_surface in surfaces else (col.get("surfaces") or ["functional"])[0]
                obs = seen.get((c.id, surface))
                if obs is not None:
                    cross_out.setdefault(fid, {})[cid] = dict(outcome(c, obs), surface=surface)
    return cross_out


def _reproducer(f: dict, item: dict, col: dict, case: GoldenCase, own, minimised: bool, note: str | None,
                others: dict) -> dict:
    """A finding's `reproducer`: the input shown, the outcomes on it, and the snippet (or why there is none)."""
    described = framework_of(col["name"])
    code = render(col["name"], item["surface"], case, f["kinds"], version_label(None, col.get("version"), col), own)
    why_none = no_snippet_reason(col["name"], case) if code is None else None
    if why_none and (note is None or why_none.startswith("no reproducer")):
        note = f"{note}; {why_none}" if note else why_none
    return {
        "case": item["case"], "surface": item["surface"], "minimised": minimised, "note": note,
        "input": _plain(case.input), "target": _plain(case.target),
        "input_shape": list(case.input.shape), "target_shape": list(case.target.shape),
        "input_dtype": case.input_dtype, "target_dtype": case.target_dtype,
        "call": _call_dict(case.call), "spec": spec_summary(case), "observed": own,
        "others": others,
        "language": described.language if described else None,
        "code": code,
    }


def _parallel(jobs: dict) -> dict:
    """{key: (fn, *args)} -> {key: fn(*args)}, run in threads (each job waits on its own worker process)."""
    if not jobs:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {k: pool.submit(fn, *args) for k, (fn, *args) in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def _call_dict(call: spec.Call) -> dict:
    return {"reduction": call.reduction, "log_target": call.log_target, "size_average": call.size_average,
            "reduce": call.reduce}


# ---- rendering ----------------------------------------------------------------------------------------

def _num_py(v: float, integer: bool) -> str:
    if integer:
        return str(int(v))
    if math.isnan(v):
        return 'float("nan")'
    if math.isinf(v):
        return 'float("inf")' if v > 0 else '-float("inf")'
    return repr(float(v))


def _num_r(v: float, integer: bool) -> str:
    if integer:
        return str(int(v))
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _nested(a: np.ndarray, fmt) -> str:
    if a.ndim == 0:
        return fmt(float(a))
    return "[" + ", ".join(_nested(sub, fmt) for sub in a) + "]"


def python_floats(a) -> str:
    """Python source for the float64 values of `a`: nested lists, nan and inf spelt as float(...)."""
    return _nested(np.asarray(a, np.float64), lambda v: _num_py(v, False))


def _r_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _py_value(v) -> str:
    return repr(v)


def _r_value(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return f"{v}L"
    if isinstance(v, float):
        return _num_r(v, False)
    return _r_string(str(v))


@dataclass(frozen=True)
class Operand:
    """One tensor of a reproducer, as its template sees it: `literal` is its values in the framework's
    language (Python: a nested list; R: the values in column-major order, R's, comma-separated), `dims`
    its shape there (Python: the tuple; R: c(...)), `float` whether it is of a floating dtype (and so
    takes a gradient)."""

    literal: str
    shape: tuple[int, ...]
    dims: str
    dtype: str
    float: bool
    empty: bool
    ndim: int


def operand(language: str, a: np.ndarray, dtype: str) -> Operand:
    a = np.asarray(a, np.float64)
    integer = not _dt.is_float(dtype)
    shape = tuple(int(n) for n in a.shape)
    if language == "r":
        literal = ", ".join(_num_r(v, integer) for v in a.flatten(order="F"))  # R arrays are column-major
        dims = _r_dims(shape)
    else:
        literal = _nested(a, lambda v: _num_py(v, integer)) if a.size else "[]"
        dims = repr(shape)
    return Operand(literal, shape, dims, dtype, not integer, a.size == 0, a.ndim)


def _r_dims(shape) -> str:
    return "c(" + ", ".join(str(n) for n in shape) + ")"


def literal(language: str, v) -> str:
    """A plain value (None, bool, int, float, str) as a literal of the language."""
    return _r_value(v) if language == "r" else _py_value(v)


def call_args(language: str, call: spec.Call) -> str:
    """The call's arguments as keywords in the language: reduction always, the others where given."""
    eq = " = " if language == "r" else "="
    parts = [f"reduction{eq}{literal(language, call.reduction)}"]
    if call.log_target:
        parts.append(f"log_target{eq}{literal(language, True)}")
    for k in ("size_average", "reduce"):
        if getattr(call, k) is not None:
            parts.append(f"{k}{eq}{literal(language, getattr(call, k))}")
    return ", ".join(parts)


def _short(v) -> str:
    from .jsonvalues import numbers  # JSON's "nan", "inf", "-inf" print as the numbers they stand for

    text = repr(numbers(v)) if not isinstance(v, str) else v
    return text if len(text) <= 300 else text[:297] + "..."


def _comments(framework: str, case: GoldenCase, kinds, version, own) -> list[str]:
    s = spec_summary(case)
    if s["outcome"] == "error":
        lines = [f"kl_compat's spec: raises {s['error']} ({s['message']})"]
    else:
        lines = [f"kl_compat's spec: {s['dtype']}, shape {tuple(s['shape'])}, value {_short(s['value'])}"]
        if s["warnings"]:
            lines.append(f"kl_compat's spec expects the warning(s): {', '.join(s['warnings'])}")
        if "gradient" in kinds:
            lines.append(f"kl_compat's spec: grad_input {_short(s['grad_input'])}, grad_target {_short(s['grad_target'])}")
    if own:
        who = f"{framework} {version}" if version else framework
        for m in own["messages"][:4]:
            lines.append(f"{who}: {m}")
    return [" ".join(line.split()) for line in lines]


_ENV = None
_TEMPLATES: dict = {}


def _template(source: Template):
    """The compiled reproducer template a framework description names (once per process)."""
    global _ENV
    if _ENV is None:
        import jinja2  # the [cli] extra; imported only when a report is written

        _ENV = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                  autoescape=False, undefined=jinja2.StrictUndefined)
    if source not in _TEMPLATES:
        _TEMPLATES[source] = _ENV.from_string(source.source())
    return _TEMPLATES[source]


def no_snippet_reason(name: str, case: GoldenCase) -> str | None:
    """Why render() gives no snippet for this adapter and case, or None when it gives one."""
    described = framework_of(name)
    if described is None:
        return "no reproducer: the adapter carries no framework description"
    if described.reproducer is None:
        return "no reproducer: the adapter's framework description has none"
    if case.input.size > MAX_LITERAL_ELEMENTS or case.target.size > MAX_LITERAL_ELEMENTS:
        return "the input is too large to print"
    return None


def render(name: str, surface: str, case: GoldenCase, kinds, version=None, own=None) -> str | None:
    """The snippet for `case` in the language of adapter `name`'s framework, from the template its
    framework description names; None where no_snippet_reason says why. `version` is shown in its comments
    only (results.version_label's form: "0.17.0 on libtorch 2.13.0").

    The template gets: `input`, `target` (Operand), `call` (the spec.Call), `args` (call_args), `lit` (a
    value as a literal of the language), `surface`, `gradient`, `warnings` and `second` (whether the
    difference is in the gradient, in the warnings, in the second derivatives: show them), `comments` (lines: the spec's expectation, what was seen),
    and the template's own values (Template.values, e.g. the porting adapters' `semantics`)."""
    if no_snippet_reason(name, case) is not None:
        return None
    described = framework_of(name)
    assert described is not None and described.reproducer is not None
    language = described.language
    kinds = list(kinds)
    return _template(described.reproducer).render(
        **dict(described.reproducer.values),
        input=operand(language, case.input, case.input_dtype), target=operand(language, case.target, case.target_dtype),
        call=case.call, args=call_args(language, case.call), lit=lambda v: literal(language, v), surface=surface,
        gradient="gradient" in kinds, warnings="warning" in kinds, second="second-order" in kinds,
        comments=_comments(name, case, kinds, version, own))
