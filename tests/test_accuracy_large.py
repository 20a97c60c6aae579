"""The million-term cases: inputs made again from a recorded generator and seed wherever the goldens are
loaded (never stored), checked against the manifest's sha256; gradients computed from the spec on first use."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kl_compat import golden, npzio
from kl_compat.conformance.matrix import build_matrix

CASE = "large/dyadic/large-1m/float16/mean/prob"


@pytest.fixture(scope="module")
def manifest():
    return golden.read_manifest(golden.default_dir())


def test_large_cases_cover_every_float_dtype_and_reduction_with_a_million_terms(golden_by_id):
    large = [c for c in golden_by_id.values() if c.id.startswith("large/dyadic/large-1m/")]
    assert {(c.input_dtype, c.call.reduction) for c in large} == {
        (d, r) for d in ("float16", "bfloat16", "float32", "float64") for r in ("sum", "mean", "batchmean")}


def test_their_inputs_are_not_stored_but_recorded_with_a_hash(manifest):
    made = manifest["generated"]
    assert set(made) == {f"dyadic/large-1m/{d}/prob" for d in ("float16", "bfloat16", "float32", "float64")}
    assert all(m["seed"] and len(m["sha256"]) == 64 and m["input_shape"] == [1000, 1000] for m in made.values())
    stored = npzio.read_npz(golden.default_dir() / "samples.npz")
    assert not any(k.split("/input")[0].split("/target")[0] in made for k in stored)
    assert golden.default_dir().joinpath("samples.npz").stat().st_size < 2_000_000


def test_loading_makes_the_matrix_s_own_inputs_exactly(golden_by_id):
    case = golden_by_id["large/dyadic/large-1m/bfloat16/sum/prob"]
    sample = next(c.sample for c in build_matrix() if c.id == case.id)
    x, y = sample.arrays
    assert case.input.shape == (1000, 1000) and case.input.dtype == np.float32  # bfloat16's storage
    assert np.array_equal(case.input.astype(np.float64), x) and np.array_equal(case.target.astype(np.float64), y)
    assert (y > 0).all() and (x < 0).all()


def test_a_worker_s_load_makes_the_same_inputs_lazily():
    case = next(c for c in golden.load(expected=False) if c.id == CASE)
    assert "_expected" not in case.__dict__ and case.expected is None
    assert golden._sha256((case.input, case.target)) == golden.read_manifest(golden.default_dir())[
        "generated"][case.sample]["sha256"]


def test_gradients_made_at_load_are_the_spec_s(golden_by_id):
    case = golden_by_id[CASE]
    want = golden.expectation(case.input.astype(np.float64), case.target.astype(np.float64), case.call,
                              case.input_dtype, case.target_dtype)
    got = case.expected
    assert got.value == want.value and got.shape == want.shape == () and got.reduction == "mean"
    for k in ("grad_input", "grad_target"):
        assert np.array_equal(getattr(got, k), getattr(want, k), equal_nan=True)
        assert np.array_equal(getattr(got, f"{k}_defined"), getattr(want, f"{k}_defined"))


def test_inputs_that_drift_are_an_error_naming_the_sample(tmp_path):
    d = tmp_path / "goldens"
    shutil.copytree(golden.default_dir(), d)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["generated"]["dyadic/large-1m/float16/prob"]["sha256"] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(manifest))
    case = next(c for c in golden.load(d, expected=False) if c.id == CASE)
    with pytest.raises(golden.GoldenError, match="generated sample dyadic/large-1m/float16/prob: the inputs made here"):
        case.input
