"""Knowledge distillation in JAX, with PyTorch's KL-divergence semantics (distill_torch.py's loss).

optax.losses.kl_divergence has no 'batchmean' and sends nan back for zero targets; kl_compat.kl_div(...,
semantics="torch") on JAX arrays is pure jax.numpy, so jax.grad and jax.jit take it as they take any loss.
Run: python distill_jax.py STUDENT.csv TEACHER.csv [T]  (see common.py).
"""

from __future__ import annotations

import sys

import jax

jax.config.update("jax_enable_x64", True)  # float64, as the other examples compute

import jax.numpy as jnp  # noqa: E402
from common import print_result, read_arguments  # noqa: E402

import kl_compat  # noqa: E402


def distillation_loss(student_logits, teacher_logits, T):
    log_p = jax.nn.log_softmax(student_logits / T, axis=-1)
    q = jax.nn.softmax(teacher_logits / T, axis=-1)
    return kl_compat.kl_div(log_p, q, reduction="batchmean", semantics="torch") * T * T


def loss_and_gradient(student, teacher, T):
    step = jax.jit(jax.value_and_grad(distillation_loss), static_argnums=2)
    loss, grad = step(jnp.asarray(student, jnp.float64), jnp.asarray(teacher, jnp.float64), T)
    return float(loss), jax.device_get(grad)


if __name__ == "__main__":
    print_result(*loss_and_gradient(*read_arguments(sys.argv)))
