"""Differential fuzzing (kl_compat.fuzz): a planted difference is found and shrunk to one element, the
faithful adapter shows none, runs are deterministic, and a bounded run through torch and Paddle completes."""

import importlib.util

import numpy as np
import pytest

from kl_compat import fuzz, known, spec
from kl_compat.compare import Difference

PLANTED = "fault_adapters:PlantedAdapter"
FAITHFUL = "fault_adapters:SpecAdapter"


def test_planted_difference_is_found_shrunk_and_replayed(fault_env, tmp_path, capsys):
    result = fuzz.fuzz([PLANTED], max_examples=200, seed=0, cache_dir=tmp_path)
    f = result.finding
    assert f is not None, result.summary()
    assert result.new >= 1 and result.shrink_runs > 0
    assert {(a, d.kind) for a, _s, d in f.new} == {(PLANTED, "value")}
    # Shrunk: one element, whose target is what PlantedAdapter reacts to (finite and above 0.75).
    assert f.case.input.size <= 1 and f.case.target.size == f.case.input.size
    y = np.asarray(f.case.target, np.float64)
    assert np.isfinite(y).all() and (y > 0.75).all()
    assert f.case.expected.outcome == "value"

    # The command: the same seed and database replay the saved minimal case first; exit status 1.
    rc = fuzz.main(["--adapters", PLANTED, "--max-examples", "200", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "NEW value" in out and "reproducer" in out and "make_case(" in out
    assert out.strip().splitlines()[-1].startswith("fuzz: 1 examples on " + PLANTED)


def test_the_faithful_adapter_shows_no_difference(fault_env, capsys):
    assert fuzz.main(["--adapters", FAITHFUL, "--max-examples", "200", "--no-cache"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("fuzz: 200 examples on " + FAITHFUL) and last.endswith(": 0 known difference(s), 0 new")


def test_same_seed_same_examples(fault_env, tmp_path):
    runs = [fuzz.fuzz([FAITHFUL], max_examples=40, seed=s, cache_dir=tmp_path / str(i))
            for i, s in enumerate((0, 0, 1))]
    assert all(r.examples == 40 and r.finding is None for r in runs)
    assert runs[0].examined == runs[1].examined
    assert runs[0].examined != runs[2].examined


def test_generated_cases_are_well_formed():
    seen = {"ndims": set(), "empty": 0, "invalid": 0, "dtypes": set(), "log": set(), "edges": 0}
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    @settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @hseed(0)
    @given(fuzz.fuzz_cases())
    def check(case):
        x, y = np.asarray(case.input, np.float64), np.asarray(case.target, np.float64)
        assert x.shape == y.shape and all(n <= 6 for n in x.shape)
        for a, d in ((x, case.input_dtype), (y, case.target_dtype)):  # exactly representable
            np.testing.assert_array_equal(fuzz._dt.round_to(a, d).astype(np.float64), a)
        seen["ndims"].add(x.ndim)
        seen["empty"] += x.size == 0
        seen["invalid"] += case.call.reduction not in spec.REDUCTIONS
        seen["dtypes"].add((case.input_dtype, case.target_dtype))
        seen["log"].add(case.call.log_target)
        seen["edges"] += bool(fuzz.edge_families(x, y, case.call.log_target))
        assert fuzz.candidate_ids(case)

    check()
    assert seen["ndims"] == {0, 1, 2, 3} and seen["empty"] and seen["invalid"] and seen["edges"]
    assert len(seen["dtypes"]) >= 8 and seen["log"] == {False, True}


def _case(x, y, reduction="sum", log_target=False, dtypes=("float32", "float32")):
    return fuzz.make_case(np.asarray(x, float), np.asarray(y, float), spec.Call(reduction, log_target), *dtypes)


def test_candidate_ids_bridge_generated_cases_to_matrix_ids():
    inf, nan = np.inf, np.nan
    assert fuzz.candidate_ids(_case(-1.0, 0.5)) == ["core/proper/0d/float32/sum/prob"]
    assert fuzz.candidate_ids(_case([[3.0]], [[-2.0]], "mean", True)) == ["core/uniform10/2d/float32/mean/log"]
    assert fuzz.candidate_ids(_case([-1.0, -inf], [0.5, -inf], "none", True, ("float16", "float16"))) == [
        "edge/zero-target/2d/float16/none/log", "edge/neginf-target/2d/float16/none/log",
        "edge/neginf-input/2d/float16/none/log", "edge/neginf-input-zero-target/2d/float16/none/log",
        "core/uniform10/1d/float16/none/log"]  # the edge cases are 2-D: the rank is matched on core cases
    assert fuzz.candidate_ids(_case([nan, -1.0], [0.0, -0.25])) == [
        "edge/zero-target/2d/float32/sum/prob", "edge/negative-target/2d/float32/sum/prob",
        "edge/nan-input/2d/float32/sum/prob", "edge/nan-input-zero-target/2d/float32/sum/prob",
        "core/uniform10/1d/float32/sum/prob"]
    assert fuzz.candidate_ids(_case(np.zeros((0, 4)), np.zeros((0, 4)), "avg", dtypes=("float32", "float64"))) == [
        "invalid/proper/2d/float32-float64/avg/prob", "promotion/proper/2d/float32-float64/avg/prob",
        "empty/proper/empty-batch/float32-float64/avg/prob"]
    assert fuzz.candidate_ids(_case([-1.0], [1e-6], "mean", dtypes=("float16", "float16"))) == [
        "edge/subnormal-target/2d/float16/mean/prob", "core/proper/1d/float16/mean/prob",
        "core/peaked/1d/float16/mean/prob"]  # subnormal in float16
    assert "edge/overflow-target/2d/float16/sum/prob" in fuzz.candidate_ids(
        _case([29712.0], [29712.0], "sum", dtypes=("float16", "float16")))  # y log y beyond float16's max
    assert fuzz.candidate_ids(_case(-1.0, 0.5, None))[0] == "invalid/proper/0d/float32/<NoneType:None>/prob"


def test_known_entries_explain_generated_cases_through_their_candidates():
    entries = known.load()

    def explained(adapter, case, kind):
        d = Difference(kind, "text", "", observed="message")
        fuzz.explain(entries, adapter, "functional", None, fuzz.candidate_ids(case), [d])
        return d.known is not None

    zero_log = _case([-1.0, 2.0], [-np.inf, 0.5], "sum", True)
    assert explained("torch", zero_log, "nan-inf") and explained("paddle", zero_log, "nan-inf")
    assert not explained("torch", zero_log, "value")  # the entry is about nan-inf only
    plain = _case([-1.0, -2.0], [0.25, 0.75])
    assert not explained("torch", plain, "nan-inf") and not explained("torch", plain, "value")
    assert explained("paddle", plain, "gradient")  # Paddle has no gradient for the target, anywhere
    assert not explained("someone-else", zero_log, "nan-inf")


def _available(*modules):
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.fixture(scope="module")
def framework_run():
    return fuzz.fuzz(["torch", "paddle"], max_examples=200, seed=0, cache_dir=None)


@pytest.mark.torch
@pytest.mark.paddle
@pytest.mark.skipif(not _available("torch", "paddle"), reason="needs torch and paddle")
def test_bounded_fuzz_of_torch_and_paddle_completes(framework_run):
    r = framework_run
    assert r.unavailable == {}
    assert r.examples > 0 and r.known > 0  # the known differences do show up, and are recognised
    if r.finding is not None:  # a finding is a real, reported case, not a harness failure
        assert {a for a, _s, _d in r.finding.new} <= {"torch", "paddle"}
        assert "reproducer" in fuzz.format_finding(r.finding)


@pytest.mark.torch
@pytest.mark.paddle
@pytest.mark.skipif(not _available("torch", "paddle"), reason="needs torch and paddle")
def test_bounded_fuzz_of_torch_and_paddle_finds_nothing_new(framework_run):
    f = framework_run.finding
    assert f is None, fuzz.format_finding(f)


def test_an_adapter_that_did_not_run_is_exit_3(fault_env, capsys):
    """As run does: an adapter asked for that did not run is never a success, alone or beside others."""
    from kl_compat.fuzz import main

    assert main(["--adapters", "fault_adapters:ImportFailsAdapter", "--max-examples", "2", "--no-cache"]) == 3
    assert "no adapter could run" in capsys.readouterr().err
    assert main(["--adapters", "fault_adapters:SpecAdapter,fault_adapters:ImportFailsAdapter", "--max-examples", "2",
                 "--no-cache"]) == 3
    assert "not run" in capsys.readouterr().out
