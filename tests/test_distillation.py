"""The distillation example (examples/distillation/) in five frameworks: the same loss, kl_compat.kl_div with
PyTorch's semantics and 'batchmean' on temperature-softened logits, gives the same value and the same
gradient for the student's logits in PyTorch, Paddle, JAX, TensorFlow and R torch, in float64. Each example
runs as its own process, as a user runs it, on logits written to CSV files here; a framework that is not
installed is skipped, saying so."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "distillation"
RTORCH_R = Path(__file__).resolve().parent.parent / "adapters" / "rtorch.R"
T = 2.0
# float64 throughout: what is left is the frameworks' own log_softmax/softmax and summation order
RTOL, ATOL = 1e-12, 1e-15

_PYTHON = {"torch": "torch", "paddle": "paddle", "jax": "jax", "tensorflow": "tensorflow"}


@pytest.fixture(scope="module")
def logits(tmp_path_factory):
    rng = np.random.default_rng(20261202)
    folder = tmp_path_factory.mktemp("logits")
    # a batch of 6 over 7 classes; the teacher peaked enough that some probabilities are tiny
    student, teacher = rng.normal(0, 2, (6, 7)), rng.normal(0, 6, (6, 7))
    paths = []
    for name, values in (("student", student), ("teacher", teacher)):
        np.savetxt(folder / f"{name}.csv", values, delimiter=",", fmt="%.17g")
        paths.append(str(folder / f"{name}.csv"))
    return student, teacher, paths


def _run(command) -> dict:
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=EXAMPLES)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _python_example(framework, paths) -> dict:
    if importlib.util.find_spec(_PYTHON[framework]) is None:
        pytest.skip(f"{framework} is not installed")
    return _run([sys.executable, str(EXAMPLES / f"distill_{framework}.py"), *paths, str(T)])


@pytest.fixture(scope="module")
def reference(logits):
    """PyTorch's result, checked against the formula written out in NumPy."""
    student, teacher, paths = logits
    got = _python_example("torch", paths)

    def log_softmax(z):
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    log_p, log_q = log_softmax(student / T), log_softmax(teacher / T)
    q, n = np.exp(log_q), student.shape[0]
    loss = (q * (log_q - log_p)).sum() / n * T * T
    grad = (np.exp(log_p) - q) / n * T  # d/ds of T**2 * KL(q || softmax(s / T)) / n
    np.testing.assert_allclose(got["loss"], loss, rtol=1e-12)
    np.testing.assert_allclose(got["grad_student"], grad, rtol=1e-9, atol=1e-15)
    return got


@pytest.mark.parametrize("framework", ["paddle", "jax", "tensorflow"])
def test_distillation_example_agrees_with_pytorch(logits, reference, framework):
    got = _python_example(framework, logits[2])
    np.testing.assert_allclose(got["loss"], reference["loss"], rtol=RTOL)
    np.testing.assert_allclose(got["grad_student"], reference["grad_student"], rtol=RTOL, atol=ATOL)


@pytest.mark.r
@pytest.mark.rtorch
def test_distillation_example_in_r_torch_agrees_with_pytorch(logits, reference):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed")
    ready = subprocess.run(["Rscript", "-e", "quit(status = as.integer(!(requireNamespace('torch', quietly = TRUE)"
                            " && isTRUE(torch::torch_is_installed()))))"], capture_output=True, timeout=120)
    if ready.returncode != 0:
        pytest.skip("the R package torch (with libtorch) is not installed")
    got = _run(["Rscript", str(EXAMPLES / "distill_rtorch.R"), str(RTORCH_R), *logits[2], str(T)])
    np.testing.assert_allclose(got["loss"], reference["loss"], rtol=RTOL)
    np.testing.assert_allclose(got["grad_student"], reference["grad_student"], rtol=RTOL, atol=ATOL)
