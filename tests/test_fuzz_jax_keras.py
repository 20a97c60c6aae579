"""Fuzzing the JAX and Keras columns: generated cases reach every surface of both adapters, their
differences are the known ones (the rank of a generated case is one of its features), and the examples'
database lives in kl_compat's cache."""

import os
import subprocess
import sys

import numpy as np
import pytest

from kl_compat import fuzz, spec


def test_the_default_database_is_in_kl_compats_cache(tmp_path):
    code = "from kl_compat import fuzz; print(fuzz.DEFAULT_CACHE_DIR)"
    env = dict(os.environ, KL_COMPAT_CACHE=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(tmp_path / "cache" / "hypothesis")


def test_a_0d_case_with_an_edge_is_also_a_0d_core_case():
    # The matrix's edge cases are 2-D: a 0-d case's rank (Keras' */0d/*, optax's 0-d batchmean) is matched
    # on the core cases of its rank.
    case = fuzz.make_case(np.array(0.0), np.array(0.0), spec.Call("sum"), "float32", "float32")
    ids = fuzz.candidate_ids(case)
    assert ids[0] == "edge/zero-target/2d/float32/sum/prob" and "core/proper/0d/float32/sum/prob" in ids
    flat = fuzz.make_case(np.zeros((2, 3)), np.zeros((2, 3)), spec.Call("sum"), "float32", "float32")
    assert not [i for i in fuzz.candidate_ids(flat) if i.startswith("core/")]


def test_jax_and_keras_are_fuzzed_with_every_difference_known():
    pytest.importorskip("optax")
    pytest.importorskip("keras")
    result = fuzz.fuzz(["jax", "keras"], max_examples=3, seed=1, cache_dir=None)
    assert result.unavailable == {}
    assert result.finding is None, fuzz.format_finding(result.finding)
    # jax.scipy.special.kl_div differs from the spec on every value it returns: known, not new
    assert result.examples == 3 and result.known > 0 and result.new == 0
