"""The JAX (optax) and Keras columns: the adapters' documented mappings, refusals observed by calling,
jax.scipy.special's functions as surfaces of their own, the runtime facts in the results file, the calls
`kl-compat scan` finds, and the whole matrix through each with every difference explained and no entry
stale or fixed."""

import textwrap

import numpy as np
import pytest

from kl_compat import known, results, scan
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


def test_scipy_mapping_is_the_documented_table():
    from kl_compat.adapters.jax_backend import scipy_call

    assert [scipy_call(Call(r)) for r in ("none", "sum", "mean", "batchmean")] == [
        ({}, None), ({}, "sum"), ({}, "mean"), ({}, "batchmean")]
    # jax.scipy.special's functions take two arrays: everything else goes as given, to be refused.
    assert scipy_call(Call("sum", log_target=True)) == ({"log_target": True}, "sum")
    assert scipy_call(Call("avg")) == ({"reduction": "avg"}, None)


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


def test_scipy_surfaces_are_the_documented_functions():
    pytest.importorskip("jax")
    from kl_compat.adapters.jax_backend import JaxAdapter

    a = JaxAdapter()
    a.load()
    rng = np.random.default_rng(1)
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    y = rng.dirichlet(np.ones(4), size=3)
    rel = a.observe("t", "scipy_rel_entr", x, y, Call("none"), "float64", "float64")
    kl = a.observe("t", "scipy_kl_div", x, y, Call("none"), "float64", "float64")
    assert rel.status == kl.status == "ok" and rel.shape == kl.shape == (3, 4)
    np.testing.assert_allclose(rel.value, y * (np.log(y) - x), rtol=1e-12)  # p log(p/q), q = exp(input)
    np.testing.assert_allclose(kl.value, y * (np.log(y) - x) - y + np.exp(x), rtol=1e-12)  # ... - p + q
    np.testing.assert_allclose(kl.grad_input.value, rel.grad_input.value + np.exp(x), rtol=1e-12)
    for surface, name in (("scipy_rel_entr", "rel_entr"), ("scipy_kl_div", "kl_div")):
        refused = a.observe("t", surface, x, y, Call("sum", log_target=True), "float64", "float64")
        assert refused.status == "unsupported" and refused.unsupported == "log_target"
        assert f"{name}() got an unexpected keyword argument" in refused.error["message"]


def test_scipy_kl_div_differences_are_explained_as_another_function():
    jax_entries = [e for e in known.load(None) if e.adapter == "jax"]
    on = lambda surface: [e for e in jax_entries if surface in (e.surface if isinstance(e.surface, tuple) else (e.surface,))]  # noqa: E731
    (own,) = [e for e in on("scipy_kl_div") if e.cases == ("*",)]
    assert own.reason.startswith("jax.scipy.special.kl_div is a different function from kl_div")
    assert "p log(p/q) - p + q" in own.reason and "jax/_src/scipy/special.py" in own.reason
    # optax's findings stay optax's: none of them speaks for the scipy surfaces
    assert not [e for e in jax_entries if e.surface == "*"]


def test_scan_finds_optax_keras_and_tf_keras_calls(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent("""
        import optax
        import keras
        import tensorflow as tf
        from jax.scipy import special
        from torch import nn

        a = optax.losses.kl_divergence(log_p, q)
        b = optax.losses.kl_divergence_with_log_targets(log_p, log_q)
        c = optax.kl_divergence_with_log_targets(log_p, log_q)   # no such name at optax's top level
        d = special.kl_div(q, p)
        e = keras.losses.KLDivergence(reduction="sum")(q, p)
        f = tf.keras.losses.KLD(q, p)
        g = nn.KLDivLoss(reduction="batchmean")(log_p, q)
    """))
    sites = scan.find_calls([path])
    got = [(s.line, s.framework, s.surface, s.measured, s.arguments["reduction"], s.arguments["log_target"])
           for s in sites]
    assert got == [(8, "jax", "functional", "eager", "batchmean", False),
                   (9, "jax", "functional", "eager", "batchmean", True),
                   (11, "jax", "functional", "scipy_kl_div", "none", False),
                   (12, "keras", "module", "class", "sum", False),
                   (13, "keras", "functional", "function", "none", False),
                   (14, "torch", "module", "module", "batchmean", False)]
    m = scan.load_measurements(None)
    # optax has no loss class: a class's call is compared with the function, as a converter writes it
    (torch_site,) = scan.scan([sites[-1]], m, "torch", "jax")
    assert torch_site.cases > 0 and any(d.column == "jax" and d.explained for d in torch_site.differences)
    (keras_site,) = scan.scan([sites[3]], m, "keras", "torch")
    assert keras_site.cases > 0 and any(d.column == "keras" and d.explained for d in keras_site.differences)


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
    # The runtime's facts, read back from the results file: the worker turns float64 on (jax_enable_x64)
    facts = {"jax": ("jax", "jaxlib", "xla_backend", "jax_enable_x64"), "keras": ("tensorflow", "keras_backend")}
    assert set(facts[name]) <= set(info.runtime) and info.runtime.get("jax_enable_x64", True) is True
    assert [f"{a}.{s} {c}: {d.message}" for a, s, c, d in summary.new] == []
    assert summary.known_problems == []
    statuses = {r.status for r in res.records}
    assert {"match", "differs", "unsupported"} <= statuses  # measured, not assumed
    assert summary.records == len(golden_cases) * len({r.surface for r in res.records})
