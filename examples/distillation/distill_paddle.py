"""Knowledge distillation in PaddlePaddle, with PyTorch's KL-divergence semantics (distill_torch.py's loss).

Paddle's own kl_div differs from PyTorch's at the edges (zero targets, the target's gradient, dtypes):
kl_compat.kl_div(..., semantics="torch") on Paddle tensors gives PyTorch's loss and gradients.
Run: python distill_paddle.py STUDENT.csv TEACHER.csv [T]  (see common.py).
"""

from __future__ import annotations

import sys

import paddle
import paddle.nn.functional as F
from common import print_result, read_arguments

import kl_compat


def distillation_loss(student_logits, teacher_logits, T):
    log_p = F.log_softmax(student_logits / T, axis=-1)
    q = F.softmax(teacher_logits / T, axis=-1)
    return kl_compat.kl_div(log_p, q, reduction="batchmean", semantics="torch") * T * T


def loss_and_gradient(student, teacher, T):
    s = paddle.to_tensor(student, dtype="float64", stop_gradient=False)
    loss = distillation_loss(s, paddle.to_tensor(teacher, dtype="float64"), T)
    loss.backward()
    return float(loss), s.grad.numpy()


if __name__ == "__main__":
    print_result(*loss_and_gradient(*read_arguments(sys.argv)))
