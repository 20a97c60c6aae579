"""The JAX (optax) and Keras columns: the adapters' documented mappings, refusals observed by calling, and
the whole matrix through each with every difference explained and no entry stale or fixed."""

import numpy as np
import pytest

from kl_compat import results
from kl_compat.run import AdapterSpec, run
from kl_compat.spec import Call


def test_optax_mapping_is_the_documented_table():
    from kl_compat.adapters.jax_backend import optax_call

    assert optax_call(Call("none")) == ("kl_divergence", {"axis": ()}, False)
    assert optax_call(Call("sum")) == ("kl_divergence", {"axis": None}, False)
    assert optax_call(Call("mean")) == ("kl_divergence", {"axis": ()}, True)
    assert optax_call(Call("batchmean", log_target=True)) == ("kl_divergence_with_log_targets", {}, True)
    # Anything optax has no way to say goes to optax as given, so that optax itself refuses it.
    assert optax_call(Call("avg")) == ("kl_divergence", {"reduction": "avg"}, False)
    assert optax_call(Call("sum", size_average=False)) == ("kl_divergence", {"size_average": False, "axis": None}, False)


def test_keras_reduction_names():
    from kl_compat.adapters.keras_backend import keras_reduction

    assert keras_reduction("batchmean") == "sum_over_batch_size"
    assert [keras_reduction(r) for r in ("none", "sum", "mean", "avg")] == ["none", "sum", "mean", "avg"]


def _observe(adapter, surface, call, dtype="float32"):
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    y = rng.dirichlet(np.ones(4), size=3)
    return adapter.observe("t", surface, x, y, call, dtype, dtype)


@pytest.mark.parametrize("surface", ["eager", "jit"])
def test_jax_observes_values_gradients_and_refusals(surface):
    pytest.importorskip("optax")
    from kl_compat.adapters.jax_backend import JaxAdapter

    a = JaxAdapter()
    a.load()
    o = _observe(a, surface, Call("batchmean"), "float64")  # float64 needs jax_enable_x64, set by load()
    assert o.status == "ok" and o.dtype == "float64" and o.shape == ()
    assert o.grad_input.status == "ok" and o.grad_input.value.shape == (3, 4)
    refused = _observe(a, surface, Call("sum", size_average=False))
    assert refused.status == "unsupported" and refused.unsupported == "size_average"
    assert "unexpected keyword argument" in refused.error["message"]


@pytest.mark.parametrize("surface", ["class", "function", "tf_function"])
def test_keras_observes_values_gradients_and_refusals(surface):
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    from kl_compat.adapters.keras_backend import KerasAdapter

    a = KerasAdapter()
    a.load()
    o = _observe(a, surface, Call("none"))
    assert o.status == "ok" and o.shape == (3,)  # Keras sums the last axis: one value per sample
    assert o.grad_input.status == "ok" and o.grad_input.value.shape == (3, 4)
    refused = _observe(a, surface, Call("sum", log_target=True))
    assert refused.status == "unsupported" and refused.unsupported == "log_target"


@pytest.mark.slow
@pytest.mark.parametrize("name,module", [("jax", "optax"), ("keras", "keras")])
def test_the_whole_matrix_is_explained(name, module, tmp_path, golden_cases):
    pytest.importorskip(module)
    out = tmp_path / "results.jsonl"
    summary = run([AdapterSpec(name)], out, strict=True)
    res = results.read(out)
    (info,) = res.adapters
    assert info.available, info.reason
    assert [f"{a}.{s} {c}: {d.message}" for a, s, c, d in summary.new] == []
    assert summary.known_problems == []
    statuses = {r.status for r in res.records}
    assert {"match", "differs", "unsupported"} <= statuses  # measured, not assumed
    assert summary.records == len(golden_cases) * len({r.surface for r in res.records})
