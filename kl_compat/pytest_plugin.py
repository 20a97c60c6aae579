"""kl_compat as a pytest plugin: the conformance matrix against your own kl_div, in your own test suite.

Installing kl-compat registers this plugin with pytest (the `pytest11` entry point `kl_compat`): no
`pytest_plugins` line is needed (one left from before does no harm), and `pytest -p no:kl_compat` turns
it off. It does nothing, and imports
nothing of kl_compat but its error classes (kl_compat.errors) nor NumPy, unless a test uses the
`kl_compat_case` fixture.

    # test_kl.py
    import pytest
    from mypackage import my_kl_div   # (input, target, reduction, log_target) -> np.ndarray

    @pytest.mark.kl_compat(dtypes=["float32", "float64"], known="kl_known.toml")
    def test_kl_div(kl_compat_case):
        kl_compat_case.check(my_kl_div)

Every test that uses the `kl_compat_case` fixture runs once per golden case the marker selects (named by
the case id). `check` calls your function with NumPy arrays (each operand in its dtype; the spec's
reduction names, plus size_average/reduce only if your function accepts them), judges what it returns,
warns and raises with kl_compat.compare (the statuses and messages of `kl-compat run`), and:
  - passes on a match;
  - skips when your function lacks an argument the case needs (status "unsupported");
  - xfails when every difference is explained by the known-differences file (`known=`, the format of
    conformance/known_differences.toml; entries name the adapter "user" unless `adapter=` says otherwise);
  - fails otherwise, with one line per difference, e.g.
    out.shape=(1,), but the spec says () [kl_div(reduction='batchmean')];
  - fails, saying so, when your function returns None or something that is not a numeric array.
Gradients are checked when you pass `grad=` a function (input, target, reduction, log_target) ->
(grad_input, grad_target) of the reduced output (for 'none', of its sum); None for a gradient that
does not exist.

Options of the `kl_compat` marker (keywords):
  cases     case-id globs (a string is one glob)
  groups    case groups: core, edge, empty, broadcast, promotion, integer, legacy, invalid, large, seed
  dtypes    operand dtypes; default every dtype NumPy has (float16, float32, float64, int32, int64).
            "bfloat16" cases get ml_dtypes' bfloat16 arrays (pip install 'kl-compat[bfloat16]'); without
            ml_dtypes they skip, saying so
  known     a known-differences file, relative to pytest's rootdir, or a list of them (their entries
            combined in order, e.g. the package's and your own)
  adapter   the adapter name the file's entries are matched against (default "user")
  warnings  "ignore" (default): warnings are not judged; "none": any warning is a difference;
            "torch": exactly the warnings PyTorch gives (spec S5: size_average/reduce and reduction='mean')
  errors    "spec" (default): where the spec raises, the function must raise the spec's exception type
            (ValueError or TypeError, subclasses included); "any": any exception will do
  tolerance "default" (kl-compat run's), or "strict": values held to the bound of a backward-stable
            evaluation (kl_compat/tolerance.py), which catches e.g. naive accumulation in a narrow dtype
A selection that matches no case is an error (never green on empty). Selecting needs no framework: the
goldens and the spec are NumPy only.

Settings for the whole run (pytest.ini, or [tool.pytest.ini_options] in pyproject.toml):
`kl_compat_warnings`, `kl_compat_errors` and `kl_compat_tolerance` (the defaults of the marker's options), `kl_compat_strict`
(or `--kl-compat-strict` on the command line). At the end of a run, the known-differences entries that
match no case the collected tests select ("stale"), or whose cases all ran without showing their
difference ("fixed"), are listed as warnings; with kl_compat_strict they fail the run, as
`kl-compat run --strict` does.
"""

from __future__ import annotations

import builtins
import fnmatch
import inspect
import sys
import warnings
from pathlib import Path

import pytest

from .errors import KlCompatError

MARKER = "kl_compat"
FIXTURE = "kl_compat_case"
DEFAULT_DTYPES = ("float16", "float32", "float64", "int32", "int64")  # NumPy's own; bfloat16 needs ml_dtypes
WARNINGS = ("ignore", "none", "torch")
ERRORS = ("spec", "any")
TOLERANCES = ("default", "strict")  # kl_compat.tolerance.MODES (not imported: NumPy only when a test runs)
_OPTIONS = ("cases", "groups", "dtypes", "known", "adapter", "warnings", "errors", "tolerance")
SURFACE = "functional"
BFLOAT16_MISSING = "bfloat16 needs ml_dtypes (NumPy has no bfloat16): pip install 'kl-compat[bfloat16]'"


class PluginError(KlCompatError, pytest.Collector.CollectError, ValueError):
    """A marker option or a known-differences file the plugin cannot use; pytest shows its one line."""


class ImplementationError(KlCompatError):
    """What the function under test returned cannot be judged (None, a string, a pair that is not two)."""


class Bfloat16Unavailable(KlCompatError, ImportError):
    """A bfloat16 case, and no ml_dtypes to make its arrays."""


# ---- pytest hooks and the fixture -------------------------------------------------------------------

_STATE = pytest.StashKey["_Session"]()


ENTRY_POINT = "kl_compat"  # the name of the pytest11 entry point (pyproject.toml): `-p no:kl_compat`


def pytest_addoption(parser, pluginmanager):
    # Registered under one name, the plugin blocks the other, so that it is never registered twice (pluggy
    # refuses a module under a second name): the entry point `kl_compat` ignores a `pytest_plugins =
    # ["kl_compat.pytest_plugin"]` line left from before it existed, and `-p kl_compat.pytest_plugin`
    # (or that line, with PYTEST_DISABLE_PLUGIN_AUTOLOAD) keeps the entry point from loading it again.
    registered_as = pluginmanager.get_name(sys.modules[__name__])
    for alias in (ENTRY_POINT, __name__):
        if registered_as and alias != registered_as and pluginmanager.get_plugin(alias) is None:
            pluginmanager.set_blocked(alias)
    group = parser.getgroup("kl_compat", "kl_compat conformance cases")
    group.addoption("--kl-compat-strict", action="store_true", default=False,
                    help="fail the run when a known-differences entry is stale or fixed (ini: kl_compat_strict)")
    parser.addini("kl_compat_warnings", f"warnings judged by default by the kl_compat marker: {', '.join(WARNINGS)}",
                  default="ignore")
    parser.addini("kl_compat_errors", f"errors accepted by default by the kl_compat marker: {', '.join(ERRORS)}",
                  default="spec")
    parser.addini("kl_compat_tolerance", f"values' tolerance by default for the kl_compat marker: {', '.join(TOLERANCES)}",
                  default="default")
    parser.addini("kl_compat_strict", "fail the run when a known-differences entry is stale or fixed",
                  type="bool", default=False)


def pytest_configure(config):
    config.addinivalue_line("markers", f"{MARKER}(cases=None, groups=None, dtypes=None, known=None, adapter='user', "
                                       "warnings='ignore', errors='spec', tolerance='default'): the kl_compat conformance cases a test "
                                       "using the kl_compat_case fixture runs on, and how they are judged")
    config.stash[_STATE] = _Session()


def pytest_generate_tests(metafunc):
    if FIXTURE not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is not None and marker.args:
        raise PluginError(f"@pytest.mark.{MARKER} takes keyword options only ({', '.join(_OPTIONS)}), "
                          f"got {marker.args!r}")
    options = _options(dict(marker.kwargs) if marker else {}, metafunc.config)
    known_file = metafunc.config.stash[_STATE].known_file(options["known"]) if options.get("known") else None
    cases = select(options.get("cases"), options.get("groups"), options.get("dtypes"))
    if not cases:
        given = ", ".join(f"{k}={v!r}" for k, v in (marker.kwargs.items() if marker else ()))
        raise PluginError(f"@pytest.mark.{MARKER}({given}) selects no conformance case: a conformance test that "
                          "runs nothing would pass on empty")
    if known_file is not None:
        known_file.selected.update((options["adapter"], c.id) for c in cases)
    metafunc.parametrize(FIXTURE, [ConformanceCase(c, options, known_file=known_file) for c in cases],
                         ids=[c.id for c in cases], indirect=True)


@pytest.fixture
def kl_compat_case(request) -> "ConformanceCase":
    """One kl_compat conformance case: a golden case's inputs, arguments and the spec's expected outcome.

    A test that uses it runs once per case the `@pytest.mark.kl_compat(...)` marker selects (every case
    in NumPy's dtypes without one); `kl_compat_case.check(fn, grad=None)` judges your implementation
    on it and passes, skips, xfails or fails the test (see kl_compat.pytest_plugin).
    """
    case = getattr(request, "param", None)
    if not isinstance(case, ConformanceCase):
        pytest.fail(f"{FIXTURE} is parametrised when tests are collected: ask for it as an argument of the test "
                    "(or of a fixture the test uses), not through request.getfixturevalue", pytrace=False)
    if case.needs_bfloat16 and _ml_dtypes() is None:
        pytest.skip(BFLOAT16_MISSING)
    return case


def pytest_sessionfinish(session, exitstatus):
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    state.problems = [p for f in state.known.values() for p in f.problems()]
    if state.problems and _strict(session.config) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash.get(_STATE, None)
    if state is None or not state.problems:
        return
    strict = _strict(config)
    terminalreporter.section("kl_compat known differences", sep="-", red=strict, yellow=not strict)
    for p in state.problems:
        terminalreporter.line(("error: " if strict else "warning: ") + p)
    if strict:
        terminalreporter.line("(kl_compat_strict: a stale or fixed entry fails the run; remove or update it)")


def _strict(config) -> bool:
    return bool(config.getoption("kl_compat_strict", False) or config.getini("kl_compat_strict"))


def _options(given: dict, config=None) -> dict:
    """The marker's options, checked, with the run's defaults filled in and `known` made a path."""
    unknown = set(given) - set(_OPTIONS)
    if unknown:
        raise PluginError(f"@pytest.mark.{MARKER}: unknown option(s) {', '.join(sorted(unknown))}; "
                          f"options are {', '.join(_OPTIONS)}")
    options = dict(given)
    for name in ("cases", "groups", "dtypes"):
        if isinstance(options.get(name), str):
            options[name] = (options[name],)
    options["adapter"] = options.get("adapter") or "user"
    for name, allowed in (("warnings", WARNINGS), ("errors", ERRORS), ("tolerance", TOLERANCES)):
        value = options.get(name) or (config.getini(f"kl_compat_{name}") if config is not None else allowed[0])
        if value not in allowed:
            where = f"@pytest.mark.{MARKER}({name}=...)" if options.get(name) else f"ini option kl_compat_{name}"
            raise PluginError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        options[name] = value
    if options.get("dtypes"):
        from .dtypes import ALL_DTYPES

        wrong = [d for d in options["dtypes"] if d not in ALL_DTYPES]
        if wrong:
            raise PluginError(f"@pytest.mark.{MARKER}(dtypes=...): unknown dtype(s) {', '.join(map(repr, wrong))}; "
                              f"dtypes are {', '.join(ALL_DTYPES)}")
    if options.get("known"):
        files = options["known"] if isinstance(options["known"], (list, tuple)) else [options["known"]]
        paths = []
        for p in files:
            path = Path(p)
            if not path.is_absolute() and config is not None:
                path = Path(str(config.rootpath)) / path
            paths.append(path)
        options["known"] = tuple(paths)
    return options


# ---- selecting and observing --------------------------------------------------------------------------

_GOLDENS: list | None = None


def _goldens():
    global _GOLDENS
    if _GOLDENS is None:
        from . import golden

        _GOLDENS = golden.load()
    return _GOLDENS


def select(cases=None, groups=None, dtypes=None) -> list:
    """The golden cases whose id matches a glob of `cases`, in `groups`, with both operands in `dtypes`."""
    patterns = (cases,) if isinstance(cases, str) else cases
    groups = (groups,) if isinstance(groups, str) else groups
    dtypes = (dtypes,) if isinstance(dtypes, str) else tuple(dtypes or DEFAULT_DTYPES)
    out = []
    for c in _goldens():
        if patterns and not any(fnmatch.fnmatchcase(c.id, p) for p in patterns):
            continue
        if groups and c.group not in groups:
            continue
        if c.input_dtype not in dtypes or c.target_dtype not in dtypes:
            continue
        out.append(c)
    return out


def _ml_dtypes():
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes


def _operand(stored, dtype: str):
    """A case's operand as the function under test gets it: bfloat16 (stored as float32) as ml_dtypes'."""
    import numpy as np

    a = np.array(stored)
    if dtype == "bfloat16":
        ml_dtypes = _ml_dtypes()
        if ml_dtypes is None:
            raise Bfloat16Unavailable(BFLOAT16_MISSING)
        a = a.astype(ml_dtypes.bfloat16)  # exact: the stored values are bfloat16 values
    return a


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _array(value, what: str):
    """`value` as a NumPy array of numbers, or ImplementationError saying what `what` returned instead."""
    import numpy as np

    if value is None:
        raise ImplementationError(f"{what} returned None, not an array (a missing `return`?)")
    try:
        a = np.asarray(value)
    except Exception as e:
        raise ImplementationError(f"{what} returned a {type(value).__name__} that NumPy cannot read as an array "
                                  f"({type(e).__name__}: {e})") from None
    if a.dtype.kind not in "fcbiu" and a.dtype.name != "bfloat16":
        raise ImplementationError(f"{what} returned a {type(value).__name__} of dtype {a.dtype}, not an array of "
                                  f"numbers: {str(value)[:80]!r}")
    return a


def _as_observed(a):
    import numpy as np

    return a.astype(np.float64) if a.dtype.kind in "fc" or a.dtype.name == "bfloat16" else a.astype(np.int64)


def observe(fn, case, grad=None, adapter: str = "user"):
    """Call `fn` on a golden case as an adapter would, and record what happened (an Observation, nothing
    judged yet). Raises ImplementationError when `fn` returns something that is not an array of numbers."""
    return _observe(fn, case, grad, adapter)[0]


def _observe(fn, case, grad=None, adapter: str = "user"):
    """The observation, and the exception `fn` raised (None when it returned): adapters.base.observe_one,
    the adapters' own routine, with `fn` (and `grad`) as the verbs."""
    from .adapters.base import OK, Observation, observe_one

    verbs = _Function(fn, grad)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        obs = observe_one(verbs, caught, Observation(case.id, adapter, SURFACE, OK), case.input, case.target,
                          case.call, case.input_dtype, case.target_dtype)
    return obs, verbs.raised


class _Function:
    """The function under test (and its gradient function) as the verbs observe_one calls: "tensors" are
    NumPy arrays, each call gets its own copies, and a return value that is not an array of numbers, or
    a bfloat16 case without ml_dtypes, is the test's fault (raised), not an observation."""

    not_observed: tuple[type[Exception], ...] = (ImplementationError, Bfloat16Unavailable)

    def __init__(self, fn, grad):
        self.fn, self.grad = fn, grad
        self.kwargs: dict = {}
        self.raised: BaseException | None = None

    def unsupported_argument(self, surface, call, input_dtype, target_dtype) -> str | None:
        # Decided from the signature, not by calling: this is the user's own function, called as the plugin
        # documents it (input, target, reduction, log_target); an argument it does not declare is not one
        # to pass and see refused (a **kwargs function would take it silently), but one it does not have.
        if any(getattr(call, n) is not None and not _accepts(self.fn, n) for n in ("size_average", "reduce")):
            return "size_average/reduce"
        return "log_target" if call.log_target and not _accepts(self.fn, "log_target") else None

    def tensor(self, array, dtype: str, requires_grad: bool):
        return _operand(array, dtype)

    def kl_div(self, surface, x, y, call):
        self.kwargs = {"reduction": call.reduction, "log_target": call.log_target}
        self.kwargs.update((n, getattr(call, n)) for n in ("size_average", "reduce") if getattr(call, n) is not None)
        try:
            return self.fn(x.copy(), y.copy(), **self.kwargs)
        except Exception as e:  # the implementation's own error is an observation; the judge needs it whole
            self.raised = e
            raise

    def to_numpy(self, result):
        out = _array(result, _name(self.fn))
        return _as_observed(out), out.dtype.name, tuple(out.shape)

    def gradients(self, result, x, y):
        return (None, None) if self.grad is None else _gradients(self.grad, x, y, self.kwargs)

    def differentiable(self, result) -> None:
        return None  # (NumPy arrays: no notion of it)

    def second_order(self, result, x, y) -> None:
        return None  # (the plugin takes no second derivatives)


def _gradients(grad, x, y, kwargs):
    from .adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, Gradient

    what = f"{_name(grad)} (grad=)"
    try:
        gs = grad(x.copy(), y.copy(), **kwargs)
    except Exception as e:
        g = Gradient(GRAD_ERROR, message=f"{type(e).__name__}: {e}")
        return g, g
    try:
        pair = tuple(gs)
    except TypeError:
        pair = None
    if pair is None or len(pair) != 2:
        raise ImplementationError(f"{what} returned {'None' if gs is None else type(gs).__name__}, not a pair "
                                  "(grad_input, grad_target); None stands for a gradient that does not exist")
    out = []
    for g in pair:
        if g is None:
            out.append(Gradient(GRAD_NONE))
        else:
            a = _array(g, what)
            out.append(Gradient(GRAD_OK, _as_observed(a), a.dtype.name))
    return tuple(out)


# ---- known differences --------------------------------------------------------------------------------

def _is_string(v) -> bool:
    return isinstance(v, str)


def _is_strings(v) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and len(v) > 0 and all(isinstance(s, str) for s in v))


_FIELD_TYPES = {
    "adapter": (_is_string, "a string (an adapter-name glob)"),
    "cases": (_is_strings, "a string or a list of strings (case-id globs)"),
    "kind": (_is_strings, "a difference kind, or a list of them"),
    "reason": (_is_string, "a string"),
    "surface": (_is_strings, "a string or a list of strings (globs)"),
    "link": (_is_string, "a string (a URL)"),
    "versions": (_is_string, "a string such as \">=2.0,<3\""),
    "advice": (_is_string, "a string"),
    "advice_code": (lambda v: isinstance(v, dict) and all(isinstance(s, str) for s in v.values()),
                    "a table of framework = \"code\" strings"),
}


def _shown(value) -> str:
    text = repr(value)
    return f"a {type(value).__name__}: {text if len(text) <= 60 else text[:57] + '...'}"


def load_known(paths) -> tuple:
    """The entries of a known-differences file (or of several, combined in order), every field's type
    checked first: a malformed file is one PluginError naming the file, the entry and the field (at
    collection, not a TypeError mid-run)."""
    from . import known

    paths = [Path(p) for p in paths] if isinstance(paths, (list, tuple)) else [Path(paths)]
    for path in paths:
        _check_known_file(path)
    try:
        return known.load(paths)
    except known.KnownDifferencesError as e:
        raise PluginError(str(e)) from None


def _check_known_file(path: Path) -> None:
    from . import known
    from .tomlfile import read_toml

    if not path.is_file():
        raise PluginError(f"known-differences file {path} does not exist (known= of @pytest.mark.{MARKER} is "
                          "relative to pytest's rootdir)")
    data = read_toml(path, PluginError)
    differences = data.get("difference", [])
    if not isinstance(differences, list) or not all(isinstance(d, dict) for d in differences):
        raise PluginError(f"{path}: 'difference' must be an array of tables ([[difference]]), not "
                          f"{_shown(differences)}")
    for i, raw in enumerate(differences, 1):
        for name, value in raw.items():
            check, want = _FIELD_TYPES.get(name, (None, None))
            if check is not None and not check(value):
                raise PluginError(f"{path}: [[difference]] number {i}: {name!r} must be {want}, not {_shown(value)}")
        try:
            known.version_matches("0", raw.get("versions"))  # a specifier that cannot be read fails now, not mid-run
        except known.KnownDifferencesError as e:
            raise PluginError(f"{path}: [[difference]] number {i}: 'versions': {e}") from None


class _KnownFile:
    """One known-differences file (or list of files) in a run: its entries (shared by every test naming
    it), the (adapter, case id) pairs the collected tests select, those judged so far, and the ids of the
    entries that explained a difference of theirs (kl_compat.known.explain)."""

    def __init__(self, paths, entries):
        self.paths = tuple(paths) if isinstance(paths, (list, tuple)) else (Path(paths),)
        self.path = ", ".join(str(p) for p in self.paths)  # how problems name it
        self.entries = entries
        self.selected: set = set()
        self.checked: set = set()
        self.explained: set[str] = set()

    def reason(self, entry_id: str) -> str:
        return next((e.reason for e in self.entries if e.id == entry_id), entry_id)

    def problems(self) -> list[str]:
        out = []
        for e in self.entries:
            matched = {pair for pair in self.selected if e.applies(pair[0], SURFACE, pair[1], None)}
            if not matched:
                out.append(f"{self.path}: stale: {e.label()} matches no case the collected tests select")
            elif matched <= self.checked and e.id not in self.explained:
                out.append(f"{self.path}: fixed: {e.label()} matched {len(matched)} case(s), all judged, none of "
                           f"which shows a {'/'.join(e.kinds)} difference any more")
        return out


class _Session:
    def __init__(self):
        self.known: dict[tuple, _KnownFile] = {}
        self.problems: list[str] = []

    def known_file(self, paths) -> _KnownFile:
        key = tuple(Path(p).resolve() for p in (paths if isinstance(paths, (list, tuple)) else [paths]))
        if key not in self.known:
            self.known[key] = _KnownFile(key, load_known(key))
        return self.known[key]


# ---- judging ----------------------------------------------------------------------------------------

def _raised_as_spec_says(raised: BaseException, name: str) -> bool:
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        return isinstance(raised, cls)
    return any(k.__name__ == name for k in type(raised).__mro__)


def _apply_options(verdict, case, obs, raised, options: dict) -> None:
    """The marker's `warnings` and `errors` choices, applied to compare.judge's verdict."""
    from .adapters.base import OK, RAISED
    from .compare import _one_line, DIFFERS, MATCH, Difference

    exp = case.expected
    mode = options.get("warnings", WARNINGS[0])
    if obs.status == OK and exp.outcome == "value" and mode != "torch":
        verdict.differences[:] = [d for d in verdict.differences if d.kind != "warning"]
        if mode == "none":
            verdict.differences.extend(
                Difference("warning", "warned-none", "warnings", observed=f"{w['category']}: {_one_line(w['message'])!r}",
                           call=str(case.call)) for w in obs.warnings)
        verdict.status = DIFFERS if verdict.differences else MATCH
    if exp.outcome == "error" and obs.status == RAISED:  # the marker's `errors` decides, below (judge's
        # error-type is the check errors="spec" makes, said here with the exception's message and the option)
        verdict.differences[:] = [d for d in verdict.differences if d.kind != "error-type"]
        verdict.status = DIFFERS if verdict.differences else MATCH
    if (exp.outcome == "error" and obs.status == RAISED and options.get("errors", ERRORS[0]) == "spec"
            and not _raised_as_spec_says(raised, exp.error)):
        verdict.status = DIFFERS
        verdict.differences.append(Difference(
            "error-vs-value", "raised-other", "error", f"{exp.error}: {exp.message}",
            f"{type(raised).__name__}: {_one_line(str(raised))}", str(case.call)))


class ConformanceCase:
    """One golden case, as a test parameter: `case` is the kl_compat.golden.GoldenCase."""

    def __init__(self, case, options: dict | None = None, *, known_file: _KnownFile | None = None):
        self.case = case
        self.options = dict(options or {})
        self._known_file = known_file

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def needs_bfloat16(self) -> bool:
        return "bfloat16" in (self.case.input_dtype, self.case.target_dtype)

    def _known(self) -> _KnownFile | None:
        if self._known_file is None and self.options.get("known"):
            paths = self.options["known"]
            paths = [Path(p) for p in paths] if isinstance(paths, (list, tuple)) else [Path(paths)]
            self._known_file = _KnownFile(paths, load_known(paths))
        return self._known_file

    def judge(self, fn, grad=None):
        """The verdict (kl_compat.compare.Verdict) on `fn` for this case, with the options applied and known
        differences marked; no pytest outcome. Raises ImplementationError for a return value that is not an
        array of numbers, Bfloat16Unavailable for a bfloat16 case without ml_dtypes."""
        from . import compare, known
        from .record import Record

        adapter = self.options.get("adapter") or "user"
        obs, raised = _observe(fn, self.case, grad, adapter)
        verdict = compare.judge(self.case, obs, self.options.get("tolerance") or TOLERANCES[0])
        _apply_options(verdict, self.case, obs, raised, self.options)
        known_file = self._known()
        if known_file is not None:
            known_file.checked.add((adapter, self.case.id))
            record = Record(self.case.id, adapter, SURFACE, verdict.status, verdict.differences)
            for d in verdict.differences:
                e = known.explain(known_file.entries, record, d)
                d.known = e.id if e is not None else None
                if e is not None:
                    known_file.explained.add(e.id)
        return verdict

    def check(self, fn, grad=None):
        """Judge `fn` on this case and turn the verdict into the test's outcome (see the module's docstring)."""
        from . import compare
        from .adapters.base import UNSUPPORTED

        try:
            verdict, problem = self.judge(fn, grad), None
        except (Bfloat16Unavailable, ImplementationError) as e:
            verdict, problem = None, e
        if isinstance(problem, Bfloat16Unavailable):  # (outside the except: no "during handling of" chain)
            pytest.skip(str(problem))
        if problem is not None:
            pytest.fail(f"{self.case.id}: {problem}", pytrace=False)
        if verdict.status == compare.MATCH:
            return verdict
        if verdict.status == UNSUPPORTED:
            pytest.skip(f"unsupported: {verdict.differences[0].message}")
        lines = [f"{d.kind}: {d.message}" for d in verdict.differences]
        if verdict.differences and all(d.known for d in verdict.differences):
            known_file = self._known()
            reasons = {known_file.reason(d.known) if known_file else d.known for d in verdict.differences}
            pytest.xfail("known difference: " + "; ".join(sorted(str(r) for r in reasons)))
        pytest.fail(f"{self.case.id} {verdict.status}:\n" + "\n".join(lines), pytrace=False)

    def __repr__(self) -> str:
        return f"ConformanceCase({self.case.id!r})"
