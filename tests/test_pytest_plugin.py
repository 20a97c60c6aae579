"""The pytest plugin, as a user would use it: a tiny test file (no conftest: the installed package registers
the plugin through its pytest11 entry point), run by pytest in a subprocess. NumPy only: no framework."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kl_compat import spec
from kl_compat.pytest_plugin import (BFLOAT16_MISSING, ConformanceCase, ImplementationError, PluginError, _options,
                                     load_known, observe, select)

IMPLEMENTATIONS = '''
import warnings

import numpy as np
from kl_compat import spec
from kl_compat.dtypes import result_dtype


def exact(input, target, reduction, log_target):
    """The spec itself, with the warning it expects for 'mean' (S5): every selected case must pass."""
    if reduction == "mean":
        warnings.warn("reduction='mean' is not the KL divergence; 'batchmean' is")
    return spec.kl_div(input, target, reduction=reduction, log_target=log_target)


def silent(input, target, reduction, log_target):
    """The spec's values, and no warning for 'mean' (as Paddle)."""
    return spec.kl_div(input, target, reduction=reduction, log_target=log_target)


def batchmean_keeps_a_dim(input, target, reduction, log_target):
    """A plausible bug: 'batchmean' returns shape (1,) instead of ()."""
    out = exact(input, target, reduction, log_target)
    return out.reshape(1) if reduction == "batchmean" else out


def zero_for_negative_targets(input, target, reduction, log_target):
    """Paddle's convention: 0 for every target <= 0."""
    if reduction == "mean":
        warnings.warn("reduction='mean' is not the KL divergence; 'batchmean' is")
    return spec.kl_div(input, target, reduction=reduction, log_target=log_target,
                       convention=spec.Convention(nonpositive_target="zero"))


def raises_runtime_error(input, target, reduction, log_target):
    """The spec's values, but a RuntimeError (not the spec's ValueError/TypeError) for a bad reduction."""
    if reduction not in spec.REDUCTIONS:
        raise RuntimeError(f"bad reduction {reduction!r}")
    return silent(input, target, reduction, log_target)


class ReductionError(ValueError):
    pass


def raises_a_value_error_subclass(input, target, reduction, log_target):
    if not isinstance(reduction, str):
        raise TypeError("reduction must be a string")
    if reduction not in spec.REDUCTIONS:
        raise ReductionError(f"bad reduction {reduction!r}")
    return silent(input, target, reduction, log_target)


def forgets_to_return(input, target, reduction, log_target):
    spec.kl_div(input, target, reduction=reduction, log_target=log_target)


def bfloat16_aware(input, target, reduction, log_target):
    """The spec, returning ml_dtypes' bfloat16 where the result is bfloat16 (the spec returns float32 storage)."""
    out = silent(input, target, reduction, log_target)
    if result_dtype(input.dtype.name, target.dtype.name) == "bfloat16":
        import ml_dtypes
        out = out.astype(ml_dtypes.bfloat16)
    return out
'''


def _pytest(tmp_path, test_source: str, *extra, conftest: str | None = None, ini: str | None = None):
    (tmp_path / "impls.py").write_text(IMPLEMENTATIONS)
    (tmp_path / "test_user.py").write_text(textwrap.dedent(test_source))
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    if ini is not None:
        (tmp_path / "pytest.ini").write_text("[pytest]\n" + textwrap.dedent(ini))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfExs",
                           "--strict-markers", *extra], cwd=tmp_path, capture_output=True, text=True, timeout=600)


def _counts(output: str) -> dict:
    line = output.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)", line)}


# ---- registration --------------------------------------------------------------------------------------

def test_a_correct_implementation_passes_every_case_with_no_conftest(tmp_path):
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import exact

        @pytest.mark.kl_compat(cases=["core/proper/*", "edge/*/2d/float64/*"], dtypes=["float32", "float64"])
        def test_kl(kl_compat_case):
            kl_compat_case.check(exact)
    ''')
    assert not (tmp_path / "conftest.py").exists()
    want = len(select(["core/proper/*", "edge/*/2d/float64/*"], dtypes=["float32", "float64"]))
    assert want > 50
    assert _counts(proc.stdout) == {"passed": want}, proc.stdout[-3000:]


SMALL = '''
    import pytest
    from impls import exact

    @pytest.mark.kl_compat(cases="core/proper/2d/float32/*")
    def test_kl(kl_compat_case):
        kl_compat_case.check(exact)
'''


@pytest.mark.parametrize("how", ["conftest", "-p", "-p without autoload"])
def test_the_old_registration_still_works_beside_the_entry_point(tmp_path, monkeypatch, how):
    """pluggy refuses one module under two names: a `pytest_plugins` line left from before the entry point, or
    `-p kl_compat.pytest_plugin`, must neither fail nor register the plugin twice (8 cases, not 16)."""
    extra, conftest = (), None
    if how == "conftest":
        conftest = 'pytest_plugins = ["kl_compat.pytest_plugin"]\n'
    else:
        extra = ("-p", "kl_compat.pytest_plugin")
        if how == "-p without autoload":
            monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    proc = _pytest(tmp_path, SMALL, *extra, conftest=conftest)
    assert _counts(proc.stdout) == {"passed": 8}, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_the_fixture_is_listed_and_the_plugin_can_be_turned_off(tmp_path):
    proc = _pytest(tmp_path, SMALL, "--fixtures")
    assert re.search(r"^kl_compat_case\b.*\n\s+One kl_compat conformance case", proc.stdout, re.M), proc.stdout[-3000:]
    proc = _pytest(tmp_path, SMALL, "-p", "no:kl_compat")  # no plugin: no marker (--strict-markers), no fixture
    assert proc.returncode != 0 and "'kl_compat' not found in `markers` configuration option" in proc.stdout, \
        proc.stdout[-3000:]


def test_the_plugin_does_nothing_for_tests_that_do_not_use_it(tmp_path):
    proc = _pytest(tmp_path, '''
        import sys

        def test_plain(pytestconfig):
            assert pytestconfig.pluginmanager.get_plugin("kl_compat") is not None  # loaded by the entry point
            loaded = [m for m in sys.modules if m.split(".")[0] in ("numpy", "kl_compat")]
            assert sorted(loaded) == ["kl_compat", "kl_compat.errors", "kl_compat.exitcode", "kl_compat.pytest_plugin"]

        def test_parametrised_alone(request):
            assert not hasattr(request, "param")
    ''')
    assert _counts(proc.stdout) == {"passed": 2}, proc.stdout[-3000:]


# ---- outcomes ------------------------------------------------------------------------------------------

def test_failures_carry_the_comparison_s_messages(tmp_path):
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import batchmean_keeps_a_dim

        @pytest.mark.kl_compat(cases=["core/proper/2d/float32/*"])
        def test_kl(kl_compat_case):
            kl_compat_case.check(batchmean_keeps_a_dim)
    ''')
    counts = _counts(proc.stdout)
    assert counts == {"passed": 6, "failed": 2}, proc.stdout[-3000:]  # batchmean, on prob and log targets
    assert "out.shape=(1,), but the spec says () [kl_div(reduction='batchmean')]" in proc.stdout
    assert "test_kl[core/proper/2d/float32/batchmean/prob]" in proc.stdout


def test_known_differences_xfail_and_missing_arguments_skip(tmp_path):
    (tmp_path / "known.toml").write_text(textwrap.dedent('''
        [[difference]]
        adapter = "mine"
        cases = "edge/negative-target/*"
        kind = "nan-inf"
        reason = "we give 0 for negative targets, like Paddle"
    '''))
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import zero_for_negative_targets

        def no_log_target(input, target, reduction):
            return zero_for_negative_targets(input, target, reduction, False)

        @pytest.mark.kl_compat(cases=["edge/negative-target/2d/float32/*", "edge/zero-target/2d/float32/*"],
                               known="known.toml", adapter="mine")
        def test_kl(kl_compat_case):
            kl_compat_case.check(zero_for_negative_targets)

        @pytest.mark.kl_compat(cases=["edge/negative-target/2d/float32/*/log"])
        def test_without_log_target(kl_compat_case):
            kl_compat_case.check(no_log_target)
    ''')
    counts = _counts(proc.stdout)
    # negative-target/prob: 4 reductions differ (known) -> xfailed; /log (-0.25 is a valid log-probability) passes;
    # zero-target passes (both conventions give 0); the function without log_target skips its 4 log cases.
    assert counts == {"passed": 12, "xfailed": 4, "skipped": 4}, proc.stdout[-3000:]
    assert "known difference: we give 0 for negative targets, like Paddle" in proc.stdout
    assert "has no log_target" in proc.stdout
    assert "kl_compat known differences" not in proc.stdout  # the entry matched, and showed its difference


def test_an_empty_selection_and_bad_options_are_one_line_errors(tmp_path):
    for marker, said in [('cases=["no/such/case/*"]', "selects no conformance case"),
                         ('warnings="paddle"', "@pytest.mark.kl_compat(warnings=...): 'paddle' is not one of")]:
        proc = _pytest(tmp_path, f'''
            import pytest
            from impls import exact

            @pytest.mark.kl_compat({marker})
            def test_kl(kl_compat_case):
                kl_compat_case.check(exact)
        ''')
        assert proc.returncode != 0
        assert said in proc.stdout, proc.stdout[-3000:]
        assert "Traceback" not in proc.stdout and "raise PluginError" not in proc.stdout, proc.stdout[-3000:]


# ---- warnings and errors: the user's choice --------------------------------------------------------------

WARNING_TESTS = '''
    import pytest
    from impls import exact, silent
    {tests}
'''
WARNING_TEST = '''
    @pytest.mark.kl_compat(cases="core/proper/2d/float32/*"{options})
    def test_exact_{name}(kl_compat_case):
        kl_compat_case.check(exact)

    @pytest.mark.kl_compat(cases="core/proper/2d/float32/*"{options})
    def test_silent_{name}(kl_compat_case):
        kl_compat_case.check(silent)
'''


def test_warnings_are_the_user_s_choice(tmp_path):
    """Default: not judged; "torch": PyTorch's warnings (S5), no more, no fewer; "none": any warning differs.
    `exact` warns for 'mean' as PyTorch does, `silent` never warns; 8 cases each."""
    tests = "".join(WARNING_TEST.format(name=name, options=options) for name, options in
                    [("default", ""), ("torch", ', warnings="torch"'), ("none", ', warnings="none"')])
    proc = _pytest(tmp_path, WARNING_TESTS.format(tests=tests))
    failed = sorted(re.findall(r"^FAILED test_user.py::(\w+)\[core/proper/2d/float32/(\w+)/(\w+)\]", proc.stdout, re.M))
    assert failed == [("test_exact_none", "mean", "log"), ("test_exact_none", "mean", "prob"),
                      ("test_silent_torch", "mean", "log"), ("test_silent_torch", "mean", "prob")], proc.stdout[-3000:]
    assert _counts(proc.stdout) == {"passed": 44, "failed": 4}, proc.stdout[-3000:]
    assert "no 'mean-is-not-kl' warning, but the spec expects one" in proc.stdout
    assert "and warnings='none' expects no warning" in proc.stdout


def test_the_ini_option_sets_the_default_and_the_marker_overrides_it(tmp_path):
    tests = "".join(WARNING_TEST.format(name=name, options=options) for name, options in
                    [("ini", ""), ("ignore", ', warnings="ignore"')])
    proc = _pytest(tmp_path, WARNING_TESTS.format(tests=tests), ini="kl_compat_warnings = torch\n")
    assert _counts(proc.stdout) == {"passed": 30, "failed": 2}, proc.stdout[-3000:]
    assert "FAILED test_user.py::test_silent_ini[core/proper/2d/float32/mean/prob]" in proc.stdout
    proc = _pytest(tmp_path, SMALL, ini="kl_compat_errors = some\n")
    assert "ini option kl_compat_errors: 'some' is not one of 'spec', 'any'" in proc.stdout, proc.stdout[-3000:]


ERROR_TESTS = '''
    import pytest
    from impls import raises_runtime_error, raises_a_value_error_subclass

    @pytest.mark.kl_compat(groups="invalid")
    def test_runtime_error(kl_compat_case):
        kl_compat_case.check(raises_runtime_error)

    @pytest.mark.kl_compat(groups="invalid")
    def test_value_error_subclass(kl_compat_case):
        kl_compat_case.check(raises_a_value_error_subclass)

    @pytest.mark.kl_compat(groups="invalid", errors="any")
    def test_runtime_error_any(kl_compat_case):
        kl_compat_case.check(raises_runtime_error)
'''


def test_an_expected_error_must_be_the_spec_s_exception_type(tmp_path):
    n = len(select(groups=["invalid"]))
    assert n == 18
    proc = _pytest(tmp_path, ERROR_TESTS)
    # RuntimeError is neither the spec's ValueError nor its TypeError (unless errors="any"); a ValueError
    # subclass is a ValueError
    failed = set(re.findall(r"^FAILED test_user.py::(\w+)\[", proc.stdout, re.M))
    assert failed == {"test_runtime_error"}, proc.stdout[-3000:]
    assert _counts(proc.stdout) == {"passed": 2 * n, "failed": n}, proc.stdout[-3000:]
    assert ("raised RuntimeError: bad reduction 'avg', but the spec raises ValueError: unknown reduction 'avg'"
            in proc.stdout)
    assert "raised RuntimeError: bad reduction 1, but the spec raises TypeError" in proc.stdout


# ---- what the function returns -------------------------------------------------------------------------

def test_a_function_returning_none_fails_with_a_clear_message(tmp_path):
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import forgets_to_return

        @pytest.mark.kl_compat(cases="core/proper/2d/float32/sum/prob")
        def test_kl(kl_compat_case):
            kl_compat_case.check(forgets_to_return)
    ''')
    assert _counts(proc.stdout) == {"failed": 1}, proc.stdout[-3000:]
    assert ("core/proper/2d/float32/sum/prob: forgets_to_return returned None, not an array (a missing `return`?)"
            in proc.stdout)
    assert "Traceback" not in proc.stdout and "TypeError" not in proc.stdout, proc.stdout[-3000:]
    assert "another exception occurred" not in proc.stdout, proc.stdout[-3000:]


def test_returns_that_are_not_arrays_of_numbers_raise_implementation_error(golden_by_id):
    case = ConformanceCase(golden_by_id["core/proper/2d/float64/batchmean/prob"])
    with pytest.raises(ImplementationError, match=r"returned None, not an array"):
        case.judge(lambda x, y, reduction, log_target: None)
    with pytest.raises(ImplementationError, match=r"returned a str of dtype <U2, not an array of numbers: 'hi'"):
        case.judge(lambda x, y, reduction, log_target: "hi")
    fn = lambda x, y, reduction, log_target: spec.kl_div(x, y, reduction)  # noqa: E731
    with pytest.raises(ImplementationError, match=r"\(grad=\) returned None, not a pair"):
        case.judge(fn, grad=lambda x, y, reduction, log_target: None)
    with pytest.raises(ImplementationError, match=r"\(grad=\) returned tuple, not a pair"):
        case.judge(fn, grad=lambda x, y, reduction, log_target: (x,))


# ---- the known-differences file ------------------------------------------------------------------------

KNOWN_TEST = '''
    import pytest
    from impls import zero_for_negative_targets

    @pytest.mark.kl_compat(cases=["edge/negative-target/2d/float32/*/prob"], known="known.toml")
    def test_kl(kl_compat_case):
        kl_compat_case.check(zero_for_negative_targets)
'''


def test_a_malformed_known_file_is_one_line_at_collection(tmp_path):
    (tmp_path / "known.toml").write_text('[[difference]]\nadapter = ["user", "mine"]\ncases = "edge/*"\n'
                                         'kind = "nan-inf"\nreason = "r"\n')
    proc = _pytest(tmp_path, KNOWN_TEST)
    assert proc.returncode != 0
    assert (f"{tmp_path / 'known.toml'}: [[difference]] number 1: 'adapter' must be a string (an adapter-name glob), "
            "not a list: ['user', 'mine']") in proc.stdout, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout and "TypeError" not in proc.stdout, proc.stdout[-3000:]


@pytest.mark.parametrize("entry, said", [
    ('adapter = "user"\ncases = 3\nkind = "nan-inf"\nreason = "r"',
     "[[difference]] number 2: 'cases' must be a string or a list of strings (case-id globs), not a int: 3"),
    ('adapter = "user"\ncases = "edge/*"\nkind = ["nan-inf", 2]\nreason = "r"',
     "[[difference]] number 2: 'kind' must be a difference kind, or a list of them, not a list: ['nan-inf', 2]"),
    ('adapter = "user"\ncases = "edge/*"\nkind = "nan-inf"\nreason = "r"\nversions = "about 2"',
     "[[difference]] number 2: 'versions': version specifier 'about 2': cannot read 'about 2'"),
    ('adapter = "user"\ncases = "edge/*"\nkind = "nan"\nreason = "r"',
     "[[difference]] number 2: kind 'nan' is not one of"),
    ('adapter = "user"\ncases = "edge/*"\nkind = "nan-inf"', "[[difference]] number 2: missing 'reason'"),
], ids=["cases", "kind-list", "versions", "kind-name", "missing"])
def test_load_known_names_file_entry_and_field(tmp_path, entry, said):
    path = tmp_path / "known.toml"
    path.write_text('[[difference]]\nadapter = "user"\ncases = "core/*"\nkind = "value"\nreason = "fine"\n\n'
                    "[[difference]]\n" + entry + "\n")
    with pytest.raises(PluginError) as e:
        load_known(path)
    assert str(e.value).startswith(f"{path}: ") and said in str(e.value) and "\n" not in str(e.value)


def test_load_known_checks_before_known_load_can_trip(tmp_path):
    path = tmp_path / "k.toml"
    path.write_text("difference = 3\n")
    with pytest.raises(PluginError, match=r"'difference' must be an array of tables \(\[\[difference\]\]\), not a int"):
        load_known(path)
    with pytest.raises(PluginError, match="does not exist"):
        load_known(tmp_path / "missing.toml")
    path.write_text("[[difference\n")
    with pytest.raises(PluginError, match="not valid TOML"):
        load_known(path)


STALE_AND_FIXED = '''
[[difference]]
adapter = "user"
cases = "edge/negative-target/*"
kind = "nan-inf"
reason = "we give 0 for negative targets"

[[difference]]
adapter = "user"
cases = "edge/no-such-values/*"
kind = "value"
reason = "matches nothing"

[[difference]]
adapter = "user"
cases = "edge/negative-target/*"
kind = "shape"
reason = "was a bug, now fixed"
'''


def test_entries_that_match_nothing_or_no_longer_differ_are_reported(tmp_path):
    (tmp_path / "known.toml").write_text(STALE_AND_FIXED)
    proc = _pytest(tmp_path, KNOWN_TEST)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert _counts(proc.stdout) == {"xfailed": 4}, proc.stdout[-3000:]
    assert "kl_compat known differences" in proc.stdout
    assert "warning: " + str(tmp_path / "known.toml") + ": stale: entry 2 (user, value, edge/no-such-values/*) " \
           "matches no case the collected tests select" in proc.stdout
    assert "fixed: entry 3 (user, shape, edge/negative-target/*) matched 4 case(s), all judged, none of which " \
           "shows a shape difference any more" in proc.stdout
    assert "entry 1 " not in proc.stdout

    proc = _pytest(tmp_path, KNOWN_TEST, "--kl-compat-strict")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "error: " + str(tmp_path / "known.toml") + ": stale: entry 2" in proc.stdout
    proc = _pytest(tmp_path, KNOWN_TEST, ini="kl_compat_strict = true\n")
    assert proc.returncode == 1, proc.stdout[-3000:]

    # a run that judges only some of an entry's cases (-k) cannot say it is fixed; stale is still stale
    proc = _pytest(tmp_path, KNOWN_TEST, "-k", "batchmean")
    assert _counts(proc.stdout) == {"xfailed": 1}, proc.stdout[-3000:]
    assert "stale: entry 2" in proc.stdout and "fixed:" not in proc.stdout


# ---- bfloat16 ------------------------------------------------------------------------------------------

BFLOAT16_TEST = '''
    import pytest
    from impls import bfloat16_aware

    @pytest.mark.kl_compat(cases="core/proper/2d/bfloat16/*", dtypes=["bfloat16"])
    def test_kl(kl_compat_case):
        kl_compat_case.check(bfloat16_aware)
'''


@pytest.mark.skipif(importlib.util.find_spec("ml_dtypes") is None, reason="ml_dtypes is not installed here")
def test_bfloat16_cases_get_ml_dtypes_arrays(tmp_path):
    proc = _pytest(tmp_path, BFLOAT16_TEST)
    assert _counts(proc.stdout) == {"passed": 8}, proc.stdout[-3000:]


def test_bfloat16_cases_skip_saying_why_without_ml_dtypes(tmp_path):
    proc = _pytest(tmp_path, BFLOAT16_TEST, conftest='import sys\nsys.modules["ml_dtypes"] = None  # import fails\n')
    assert _counts(proc.stdout) == {"skipped": 8}, proc.stdout[-3000:]
    assert BFLOAT16_MISSING in proc.stdout


def test_bfloat16_outputs_are_judged_as_bfloat16(golden_by_id):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    case = ConformanceCase(golden_by_id["core/proper/2d/bfloat16/sum/prob"])
    seen = {}

    def fn(x, y, reduction, log_target):
        seen["dtypes"] = (x.dtype, y.dtype)
        return spec.kl_div(x, y, reduction).astype(ml_dtypes.bfloat16)

    assert case.judge(fn).status == "match"
    assert seen["dtypes"] == (np.dtype(ml_dtypes.bfloat16),) * 2
    as_float32 = case.judge(lambda x, y, reduction, log_target: spec.kl_div(x, y, reduction))  # storage, not bf16
    assert [d.message.split(" [")[0] for d in as_float32.differences] == ["out.dtype=float32, but the spec says bfloat16"]


# ---- in-process ----------------------------------------------------------------------------------------

def test_gradients_are_checked_when_given(golden_by_id):
    case = ConformanceCase(golden_by_id["core/proper/2d/float64/batchmean/prob"], {})

    def fn(x, y, reduction, log_target):
        return spec.kl_div(x, y, reduction=reduction, log_target=log_target)

    def grad(x, y, reduction, log_target):
        r = spec.reference(x, y, spec.Call(reduction, log_target), "float64", "float64")
        return r.grad_input, r.grad_target

    assert case.judge(fn, grad).status == "match"
    wrong = lambda x, y, reduction, log_target: (np.zeros_like(x), None)  # noqa: E731
    kinds = [(d.kind, d.message.split(",")[0]) for d in case.judge(fn, wrong).differences]
    assert ("gradient", "no gradient for the target") in [(k, m.split(" but")[0]) for k, m in kinds]
    assert any(k == "gradient" and m.startswith("grad_input[0]=") for k, m in kinds)


def test_observe_records_errors_and_warnings(golden_by_id):
    case = golden_by_id["core/proper/2d/float32/mean/prob"]

    def raising(x, y, reduction, log_target):
        raise ValueError("nope")

    obs = observe(raising, case)
    assert obs.status == "raised" and obs.error == {"type": "ValueError", "message": "nope",
                                                    "classes": ["ValueError", "Exception", "BaseException"]}

    def warning(x, y, reduction, log_target):
        import warnings

        warnings.warn("reduction='mean' is not KL; use 'batchmean'")
        return spec.kl_div(x, y, reduction=reduction, log_target=log_target)

    def silent(x, y, reduction, log_target):
        return spec.kl_div(x, y, reduction)

    torch = {"warnings": "torch"}
    assert ConformanceCase(case, torch).judge(warning).status == "match"  # PyTorch's 'mean' warning (S5)
    assert ConformanceCase(case, torch).judge(silent).status == "differs"  # ... and its absence is a difference
    assert ConformanceCase(case).judge(silent).status == "match"  # by default warnings are not judged
    assert ConformanceCase(case).judge(warning).status == "match"
    none = ConformanceCase(case, {"warnings": "none"}).judge(warning)
    assert none.status == "differs" and [d.kind for d in none.differences] == ["warning"]


def test_marker_options_are_checked_before_anything_is_loaded():
    with pytest.raises(PluginError, match="unknown option"):
        _options({"dtype": ["float32"]})
    with pytest.raises(ValueError):  # PluginError is a ValueError too (and a pytest collection error)
        _options({"errors": "some"})
    with pytest.raises(PluginError, match=r"unknown dtype\(s\) 'float128'"):
        _options({"dtypes": "float128"})
    assert _options({"cases": "core/*", "groups": "edge"})["cases"] == ("core/*",)
    assert _options({}) == {"adapter": "user", "warnings": "ignore", "errors": "spec", "tolerance": "default"}
