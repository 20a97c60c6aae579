"""What the five distillation examples share: reading the logits, and printing the result as JSON.

Each example (distill_torch.py, distill_paddle.py, distill_jax.py, distill_tensorflow.py,
distill_rtorch.R) is run as

    python distill_torch.py STUDENT.csv TEACHER.csv [T]

with the logits as CSV files (one row per sample, one column per class), and prints one JSON object:
{"loss": ..., "grad_student": [[...], ...]}, the loss and its gradient with respect to the student's
logits, in float64.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def read_arguments(argv: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """(student logits, teacher logits, temperature) from the command line."""
    if len(argv) not in (3, 4):
        sys.exit(f"usage: {argv[0]} STUDENT.csv TEACHER.csv [T]")
    student, teacher = (np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64) for path in argv[1:3])
    return student, teacher, float(argv[3]) if len(argv) == 4 else 2.0


def print_result(loss: float, grad_student: np.ndarray) -> None:
    # repr-exact: JSON floats round-trip a double
    print(json.dumps({"loss": float(loss), "grad_student": np.asarray(grad_student, np.float64).tolist()}))
