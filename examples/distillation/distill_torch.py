"""Knowledge distillation in PyTorch: the student learns the teacher's softened distribution.

The loss is kl_compat.kl_div with PyTorch's semantics, reduction='batchmean', on the temperature-softened
log-probabilities of the student and probabilities of the teacher, scaled by T**2 (Hinton et al., 2015).
Run: python distill_torch.py STUDENT.csv TEACHER.csv [T]  (see common.py).
"""

from __future__ import annotations

import sys

import torch
from common import print_result, read_arguments

import kl_compat


def distillation_loss(student_logits, teacher_logits, T):
    log_p = torch.log_softmax(student_logits / T, dim=-1)
    q = torch.softmax(teacher_logits / T, dim=-1)
    return kl_compat.kl_div(log_p, q, reduction="batchmean", semantics="torch") * T * T


def loss_and_gradient(student, teacher, T):
    s = torch.tensor(student, dtype=torch.float64, requires_grad=True)
    loss = distillation_loss(s, torch.tensor(teacher, dtype=torch.float64), T)
    loss.backward()
    return loss.item(), s.grad.numpy()


if __name__ == "__main__":
    print_result(*loss_and_gradient(*read_arguments(sys.argv)))
