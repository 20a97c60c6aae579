"""kl_compat as a pytest plugin: the conformance matrix against your own kl_div, in your own test suite.

    # conftest.py
    pytest_plugins = ["kl_compat.pytest_plugin"]

    # test_kl.py
    import pytest
    from mypackage import my_kl_div   # (input, target, reduction, log_target) -> np.ndarray

    @pytest.mark.kl_compat(dtypes=["float32", "float64"], known="kl_known.toml")
    def test_kl_div(kl_compat_case):
        kl_compat_case.check(my_kl_div)

Every test function that takes `kl_compat_case` is parametrised over the golden cases (one test per
case, named by the case id). `check` calls your function with NumPy arrays (each operand in its dtype;
the spec's reduction names, plus size_average/reduce only if your function accepts them), judges what
it returns, warns and raises with kl_compat.compare (the statuses and messages of `kl-compat run`), and:
  - passes on a match;
  - skips when your function lacks an argument the case needs (status "unsupported");
  - xfails when every difference is explained by the known-differences file (`known=`, the format of
    conformance/known_differences.toml; entries name the adapter "user" unless `adapter=` says otherwise);
  - fails otherwise, with one line per difference, e.g.
    out.shape=(1,), but the spec says () [kl_div(reduction='batchmean')].
Gradients are checked when you pass `grad=` a function (input, target, reduction, log_target) ->
(grad_input, grad_target) of the reduced output (for 'none', of its sum).

Options of the `kl_compat` marker: cases (case-id globs), groups, dtypes (default: every dtype NumPy has,
i.e. all but bfloat16), known, adapter. A selection that matches no case is an error (never green on
empty). Selecting needs no framework: the goldens and the spec are NumPy only.
"""

from __future__ import annotations

import fnmatch
import inspect
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from . import compare, golden, known
from .adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, OK, RAISED, UNSUPPORTED, Gradient, Observation

DEFAULT_DTYPES = ("float16", "float32", "float64", "int32", "int64")  # NumPy has no bfloat16
MARKER = "kl_compat"
_OPTIONS = {"cases", "groups", "dtypes", "known", "adapter"}
_GOLDENS: list | None = None
_KNOWN: dict = {}


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}(cases=None, groups=None, dtypes=None, known=None, adapter='user'): "
                                       "select the kl_compat conformance cases a test runs on")


def _goldens():
    global _GOLDENS
    if _GOLDENS is None:
        _GOLDENS = golden.load()
    return _GOLDENS


def select(cases=None, groups=None, dtypes=None) -> list:
    dtypes = tuple(dtypes or DEFAULT_DTYPES)
    out = []
    for c in _goldens():
        if cases and not any(fnmatch.fnmatchcase(c.id, p) for p in ([cases] if isinstance(cases, str) else cases)):
            continue
        if groups and c.group not in groups:
            continue
        if c.input_dtype not in dtypes or c.target_dtype not in dtypes:
            continue
        out.append(c)
    return out


def pytest_generate_tests(metafunc):
    if "kl_compat_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker else {}
    unknown = set(options) - _OPTIONS
    if unknown:
        raise ValueError(f"@pytest.mark.{MARKER}: unknown option(s) {', '.join(sorted(unknown))}; "
                         f"options are {', '.join(sorted(_OPTIONS))}")
    if options.get("known"):
        path = Path(options["known"])
        if not path.is_absolute():
            path = Path(str(metafunc.config.rootpath)) / path
        options["known"] = path
    cases = select(options.get("cases"), options.get("groups"), options.get("dtypes"))
    if not cases:
        raise ValueError(f"@pytest.mark.{MARKER}({', '.join(f'{k}={v!r}' for k, v in options.items())}) selects no "
                         "conformance case: a conformance test that runs nothing would pass on empty")
    metafunc.parametrize("kl_compat_case", [ConformanceCase(c, options) for c in cases], ids=[c.id for c in cases])


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _dtype(a: np.ndarray) -> str:
    return np.dtype(a.dtype).name


def observe(fn, case, grad=None, adapter: str = "user") -> Observation:
    """Call `fn` on a golden case as an adapter would, and record what happened (nothing judged yet)."""
    call = case.call
    obs = Observation(case.id, adapter, "functional", OK)
    missing = [n for n in ("size_average", "reduce") if getattr(call, n) is not None and not _accepts(fn, n)]
    if missing:
        obs.status, obs.unsupported = UNSUPPORTED, "size_average/reduce"
        return obs
    if call.log_target and not _accepts(fn, "log_target"):
        obs.status, obs.unsupported = UNSUPPORTED, "log_target"
        return obs
    kwargs = {"reduction": call.reduction, "log_target": call.log_target}
    for n in ("size_average", "reduce"):
        if getattr(call, n) is not None:
            kwargs[n] = getattr(call, n)
    x, y = np.array(case.input), np.array(case.target)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = np.asarray(fn(x.copy(), y.copy(), **kwargs))
        except Exception as e:  # the implementation's own error is an observation
            obs.status, obs.error = RAISED, {"type": type(e).__name__, "message": str(e)[:600]}
        else:
            obs.shape, obs.dtype = tuple(out.shape), _dtype(out)
            obs.value = out.astype(np.float64) if out.dtype.kind in "fc" else out.astype(np.int64)
            if grad is not None:
                obs.grad_input, obs.grad_target = _gradients(grad, x, y, kwargs)
    obs.seconds = time.perf_counter() - start
    obs.warnings = [{"category": w.category.__name__, "message": str(w.message)} for w in caught]
    return obs


def _gradients(grad, x, y, kwargs):
    try:
        gs = grad(x.copy(), y.copy(), **kwargs)
    except Exception as e:
        g = Gradient(GRAD_ERROR, message=f"{type(e).__name__}: {e}")
        return g, g
    out = []
    for g in gs:
        if g is None:
            out.append(Gradient(GRAD_NONE))
        else:
            a = np.asarray(g)
            out.append(Gradient(GRAD_OK, a.astype(np.float64), _dtype(a)))
    return tuple(out)


def _entries(path):
    if path is None:
        return []
    if path not in _KNOWN:
        if not Path(path).exists():
            raise FileNotFoundError(f"known-differences file {path} does not exist")
        _KNOWN[path] = known.load(path)
    return _KNOWN[path]


class ConformanceCase:
    """One golden case, as a test parameter: `case` is the kl_compat.golden.GoldenCase."""

    def __init__(self, case, options: dict):
        self.case = case
        self.options = options

    @property
    def id(self) -> str:
        return self.case.id

    def judge(self, fn, grad=None) -> compare.Verdict:
        """The verdict on `fn` for this case, with known differences marked; no pytest outcome."""
        adapter = self.options.get("adapter", "user")
        verdict = compare.judge(self.case, observe(fn, self.case, grad, adapter))
        known.mark(_entries(self.options.get("known")), adapter, "functional", self.case.id, None, verdict.differences)
        return verdict

    def check(self, fn, grad=None) -> compare.Verdict:
        """Judge `fn` on this case and turn the verdict into the test's outcome (see the module's docstring)."""
        verdict = self.judge(fn, grad)
        if verdict.status == compare.MATCH:
            return verdict
        if verdict.status == UNSUPPORTED:
            pytest.skip(f"unsupported: {verdict.differences[0].message}")
        lines = [f"{d.kind}: {d.message}" for d in verdict.differences]
        if verdict.differences and all(d.known for d in verdict.differences):
            pytest.xfail("known difference: " + "; ".join(sorted({d.known for d in verdict.differences})))
        pytest.fail(f"{self.case.id} {verdict.status}:\n" + "\n".join(lines), pytrace=False)

    def __repr__(self) -> str:
        return f"ConformanceCase({self.case.id!r})"
