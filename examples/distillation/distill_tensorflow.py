"""Knowledge distillation in TensorFlow, with PyTorch's KL-divergence semantics (distill_torch.py's loss).

keras.losses.KLDivergence clips probabilities to [1e-7, 1] and averages per sample; kl_compat.kl_div(...,
semantics="torch") on TensorFlow tensors gives PyTorch's 'batchmean', differentiable under
tf.GradientTape and traceable by tf.function.
Run: python distill_tensorflow.py STUDENT.csv TEACHER.csv [T]  (see common.py).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter on stderr

import tensorflow as tf  # noqa: E402
from common import print_result, read_arguments  # noqa: E402

import kl_compat  # noqa: E402


def distillation_loss(student_logits, teacher_logits, T):
    log_p = tf.nn.log_softmax(student_logits / T, axis=-1)
    q = tf.nn.softmax(teacher_logits / T, axis=-1)
    return kl_compat.kl_div(log_p, q, reduction="batchmean", semantics="torch") * T * T


def loss_and_gradient(student, teacher, T):
    s = tf.constant(student, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(s)
        loss = tf.function(distillation_loss)(s, tf.constant(teacher, tf.float64), T)
    return float(loss), tape.gradient(loss, s).numpy()


if __name__ == "__main__":
    print_result(*loss_and_gradient(*read_arguments(sys.argv)))
