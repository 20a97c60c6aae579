"""A knowledge-distillation training step in PyTorch, as people write it (a sample for `kl-compat scan`)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.functional import kl_div as kld


class DistillLoss(nn.Module):
    def __init__(self, T=4.0, alpha=0.9):
        super().__init__()
        self.T, self.alpha = T, alpha
        self.kl = nn.KLDivLoss(reduction="batchmean")

    def forward(self, student_logits, teacher_logits, labels):
        soft = self.kl(F.log_softmax(student_logits / self.T, dim=1), F.softmax(teacher_logits / self.T, dim=1))
        hard = F.cross_entropy(student_logits, labels)
        return self.alpha * soft * self.T * self.T + (1 - self.alpha) * hard


def legacy_kl(student_log_probs, teacher_probs):
    # written before reduction= existed, then half-updated
    return F.kl_div(student_log_probs, teacher_probs, size_average=False, reduction="batchmean")


def masked_kl(student_log_probs, teacher_log_probs):
    return kld(student_log_probs, teacher_log_probs, reduction="sum", log_target=True)


def train_step(model, teacher, optimizer, x, y, loss_fn=DistillLoss()):
    optimizer.zero_grad()
    with torch.no_grad():
        t = teacher(x)
    loss = loss_fn(model(x), t, y)
    loss.backward()
    optimizer.step()
    return loss.item()
