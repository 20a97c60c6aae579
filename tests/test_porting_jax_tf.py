"""The porting layer on JAX arrays and TensorFlow tensors, and the semantics "jax" (alias "optax") and "keras".

The proof that matters is the matrix: the porting adapters jax-as-torch, tensorflow-as-torch, torch-as-jax and
torch-as-keras held case by case to the measured torch, jax and keras adapters (compare.judge_against), here
on a selection of cases that touches every group (the whole matrix is measured in benchmarks/README.md);
a difference is allowed only where conformance/known_differences.toml explains it for that porting adapter.
Then what the matrix cannot show: jax.jit / jax.grad and tf.function / tf.GradientTape around kl_compat.kl_div,
and that asking which framework a tensor belongs to imports no other framework."""

import fnmatch
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import kl_compat
from kl_compat import compare, known
from observing import observe_all  # tests/ is on sys.path (rootdir conftest)
from kl_compat import porting
from kl_compat.porting import semantics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Each group, and the edge values, in one dtype or two: seconds per adapter, not the whole matrix's minutes.
SELECTION = ("edge/*/2d/float32/sum/prob", "edge/*/2d/float64/batchmean/log", "invalid/*/float32/*/prob",
             "legacy/*/2d/float32/batchmean,*/prob", "broadcast/*/float32/batchmean/prob", "empty/*/float32/sum/prob",
             "core/peaked/2d/float16/*/prob", "core/*/0d/float32/batchmean/prob", "core/*/1d/float64/batchmean/prob",
             "promotion/*/2d/*/mean/prob", "integer/*/2d/*/sum/prob", "requires-grad/*/2d/float32/*/prob")


@pytest.fixture(scope="module")
def selected(golden_cases):
    return [c for c in golden_cases if any(fnmatch.fnmatchcase(c.id, g) for g in SELECTION)]


@pytest.mark.parametrize("port,reference,surfaces", [
    ("jax-as-torch", "torch", {"functional": "functional", "jit": "functional"}),
    ("tensorflow-as-torch", "torch", {"functional": "functional", "tf_function": "functional"}),
    ("torch-as-jax", "jax", {"functional": "eager", "module": "jit"}),
    ("torch-as-keras", "keras", {"functional": "class", "module": "tf_function"}),
])
def test_porting_adapter_shows_no_unexplained_difference_from_measured_behaviour(selected, golden_by_id, port,
                                                                                reference, surfaces):
    pytest.importorskip("jax" if "jax" in (port, reference) or port.startswith("jax") else "tensorflow")
    p, r = observe_all(port, selected), observe_all(reference, selected)
    assert len(p) == len(surfaces) * len(selected) > 80
    entries = known.load()
    unexplained = [f"{case}.{surface}: {d.message}" for (case, surface), o in p.items()
                   for d in compare.judge_against(golden_by_id[case], r[(case, surfaces[surface])], o).differences
                   if not any(e.applies(port, surface, case, None) and d.kind in e.kinds for e in entries)]
    assert unexplained == []


def test_semantics_names_and_alias():
    assert semantics.get("optax") is semantics.get("jax") is semantics.OPTAX
    assert semantics.get("keras") is semantics.KERAS
    assert {"jax", "keras"} <= set(semantics.names())
    with pytest.raises(ValueError, match="unknown semantics"):
        semantics.get("optaxx")


def _logits(shape=(3, 5), seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    q = rng.dirichlet(np.ones(shape[-1]), shape[:-1])
    q[0, 0] = 0.0  # a zero-probability target: each framework's edge rule shows
    return log_p, q


def test_jax_arrays_under_jit_and_grad_give_the_eager_result_and_torchs():
    jax = pytest.importorskip("jax")
    torch = pytest.importorskip("torch")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    log_p, q = _logits()
    for reduction in ("none", "sum", "batchmean"):
        def loss(x, y, reduction=reduction):
            return kl_compat.kl_div(x, y, reduction, semantics="torch").sum()

        x, y = jnp.asarray(log_p), jnp.asarray(q)
        eager, jitted = loss(x, y), jax.jit(loss)(x, y)
        gx, gy = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, y)
        assert isinstance(eager, jax.Array) and eager.dtype == jnp.float64
        tx, ty = torch.tensor(log_p, requires_grad=True), torch.tensor(q, requires_grad=True)
        want = torch.nn.functional.kl_div(tx, ty, reduction=reduction).sum()
        want.backward()
        np.testing.assert_allclose(float(jitted), float(eager), rtol=1e-15)
        np.testing.assert_allclose(float(eager), want.item(), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-14)
        # torch's target gradient is nan at the zero target (xlogy's backward): so is the port's
        np.testing.assert_allclose(np.asarray(gy), ty.grad.numpy(), rtol=1e-14)
        assert np.isnan(np.asarray(gy)[0, 0])


def test_tensorflow_tensors_under_tf_function_and_tape_give_the_eager_result_and_torchs():
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    log_p, q = _logits()
    x, y = tf.constant(log_p), tf.constant(q)
    compiled = tf.function(lambda a, b: kl_compat.kl_div(a, b, "batchmean", semantics="torch"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        eager, traced = kl_compat.kl_div(x, y, "batchmean", semantics="torch"), compiled(x, y)
    assert isinstance(eager, tf.Tensor) and eager.dtype == tf.float64
    tx = torch.tensor(log_p, requires_grad=True)
    want = torch.nn.functional.kl_div(tx, torch.tensor(q), reduction="batchmean")
    want.backward()
    np.testing.assert_allclose(float(traced), float(eager), rtol=1e-15)
    np.testing.assert_allclose(float(eager), want.item(), rtol=1e-14)
    np.testing.assert_allclose(tape.gradient(traced, x).numpy(), tx.grad.numpy(), rtol=1e-14)


def test_optax_semantics_on_torch_tensors_give_optaxs_values_and_gradients():
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    torch = pytest.importorskip("torch")
    jax.config.update("jax_enable_x64", True)
    log_p, q = _logits((2, 3, 4))
    mapped = {"none": ((), False), "sum": (None, False), "mean": ((), True), "batchmean": (-1, True)}
    for reduction, (axis, mean) in mapped.items():
        def reference(x, y, axis=axis, mean=mean):
            out = optax.losses.kl_divergence(x, y, axis=axis)
            return (out.mean() if mean else out).sum()

        want = reference(jax.numpy.asarray(log_p), jax.numpy.asarray(q))
        gx, gy = jax.grad(reference, argnums=(0, 1))(jax.numpy.asarray(log_p), jax.numpy.asarray(q))
        tx, ty = torch.tensor(log_p, requires_grad=True), torch.tensor(q, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # optax never warns, not even for 'mean'
            got = kl_compat.kl_div(tx, ty, reduction, semantics="optax").sum()
        got.backward()
        np.testing.assert_allclose(got.item(), float(want), rtol=1e-14)
        np.testing.assert_allclose(tx.grad.numpy(), np.asarray(gx), rtol=1e-14)
        np.testing.assert_allclose(ty.grad.numpy(), np.asarray(gy), rtol=1e-14)  # nan at the zero target too
    with pytest.raises(porting.UnsupportedArgument):
        kl_compat.kl_div(torch.tensor(log_p), torch.tensor(q), "elementwise_mean", semantics="jax")
    with pytest.raises(ValueError, match="axis -1"):
        kl_compat.kl_div(torch.tensor(0.1), torch.tensor(0.2), "batchmean", semantics="jax")


def test_keras_semantics_on_torch_tensors_give_keras_values_and_gradients():
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    log_p, q = _logits((4, 5))
    log_p[1, 2] = 3.0  # exp(input) above 1: clipped, as the zero target is
    for reduction in ("none", "sum", "mean", "batchmean", None):
        x, y = tf.constant(log_p, tf.float32), tf.constant(q, tf.float32)
        loss = keras.losses.KLDivergence(reduction="sum_over_batch_size" if reduction == "batchmean" else reduction)
        with tf.GradientTape() as tape:
            tape.watch(x)
            want = loss(y, tf.exp(x))
        gx = tape.gradient(want, x, output_gradients=tf.ones_like(want))
        tx = torch.tensor(log_p, dtype=torch.float32, requires_grad=True)
        got = kl_compat.kl_div(tx, torch.tensor(q, dtype=torch.float32), reduction, semantics="keras")
        got.backward(torch.ones_like(got))
        assert got.dtype == torch.float32 and tuple(got.shape) == tuple(want.shape)
        np.testing.assert_allclose(got.detach().numpy(), want.numpy(), rtol=2e-6)
        np.testing.assert_allclose(tx.grad.numpy(), gx.numpy(), rtol=2e-6, atol=1e-9)
        assert tx.grad[1, 2] == 0  # the clip's gradient
    with pytest.raises(ValueError, match="invalid reduction"):
        kl_compat.kl_div(torch.tensor(log_p), torch.tensor(q), "elementwise_mean", semantics="keras")


def test_asking_a_tensors_framework_imports_no_other_framework():
    code = ("import sys, torch, kl_compat\n"
            "kl_compat.kl_div(torch.zeros(2, 3), torch.full((2, 3), 0.5), 'sum')\n"
            "print(sorted(m for m in ('jax', 'tensorflow', 'keras', 'paddle', 'optax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip() == "[]"
