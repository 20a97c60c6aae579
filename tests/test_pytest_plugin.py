"""The pytest plugin, as a user would use it: a tiny conftest and test file, run by pytest in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kl_compat import spec
from kl_compat.pytest_plugin import ConformanceCase, observe, select

CONFTEST = 'pytest_plugins = ["kl_compat.pytest_plugin"]\n'

IMPLEMENTATIONS = '''
import warnings

import numpy as np
from kl_compat import spec


def exact(input, target, reduction, log_target):
    """The spec itself, with the warning it expects for 'mean' (S5): every selected case must pass."""
    if reduction == "mean":
        warnings.warn("reduction='mean' is not the KL divergence; 'batchmean' is")
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
'''


def _pytest(tmp_path, test_source: str, *extra):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "impls.py").write_text(IMPLEMENTATIONS)
    (tmp_path / "test_user.py").write_text(textwrap.dedent(test_source))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfExs",
                           "--strict-markers", *extra], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    return proc


def _counts(output: str) -> dict:
    line = output.strip().splitlines()[-1]
    return {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)", line)}


def test_a_correct_implementation_passes_every_case(tmp_path):
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import exact

        @pytest.mark.kl_compat(cases=["core/proper/*", "edge/*/2d/float64/*"], dtypes=["float32", "float64"])
        def test_kl(kl_compat_case):
            kl_compat_case.check(exact)
    ''')
    want = len(select(["core/proper/*", "edge/*/2d/float64/*"], dtypes=["float32", "float64"]))
    assert want > 50
    assert _counts(proc.stdout) == {"passed": want}, proc.stdout[-3000:]


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


def test_an_empty_selection_is_an_error(tmp_path):
    proc = _pytest(tmp_path, '''
        import pytest
        from impls import exact

        @pytest.mark.kl_compat(cases=["no/such/case/*"])
        def test_kl(kl_compat_case):
            kl_compat_case.check(exact)
    ''')
    assert proc.returncode != 0
    assert "selects no conformance case" in proc.stdout


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
    assert obs.status == "raised" and obs.error == {"type": "ValueError", "message": "nope"}

    def warning(x, y, reduction, log_target):
        import warnings

        warnings.warn("reduction='mean' is not KL; use 'batchmean'")
        return spec.kl_div(x, y, reduction=reduction, log_target=log_target)

    assert ConformanceCase(case, {}).judge(warning).status == "match"  # the spec expects the 'mean' warning
    assert ConformanceCase(case, {}).judge(lambda x, y, reduction, log_target: spec.kl_div(x, y, reduction)).status \
        == "differs"  # ... and its absence is a difference


def test_plugin_needs_pytest_only_where_it_is_used():
    with pytest.raises(ValueError, match="unknown option"):
        class Meta:  # the smallest stand-in for pytest's metafunc
            fixturenames = ["kl_compat_case"]

            class definition:
                @staticmethod
                def get_closest_marker(name):
                    return type("M", (), {"kwargs": {"dtype": ["float32"]}})

        from kl_compat.pytest_plugin import pytest_generate_tests

        pytest_generate_tests(Meta)
