"""Observations for tests: one built from a golden case's expected results, and a whole adapter's run."""

from __future__ import annotations

import numpy as np
import pytest

from kl_compat import runner
from kl_compat.adapters.base import GRAD_OK, Gradient, Observation


def expected_observation(case, **kw) -> Observation:
    """What an adapter that does exactly what the spec says would observe for `case`, with `kw` changed."""
    e = case.expected
    base = dict(case_id=case.id, adapter="t", surface="functional", status="ok", value=np.asarray(e.value, np.float64),
                shape=e.shape, dtype=e.dtype,
                warnings=[{"category": "UserWarning", "message": "use 'batchmean'"}] if e.warnings else [],
                grad_input=Gradient(GRAD_OK, np.asarray(e.grad_input, np.float64), case.input_dtype),
                grad_target=Gradient(GRAD_OK, np.asarray(e.grad_target, np.float64), case.target_dtype))
    base.update(kw)
    return Observation(**base)


def observe_all(name, cases) -> dict:
    """(case id, surface) -> Observation of adapter `name` on `cases`, run as `kl-compat run` runs it;
    skips the test where the adapter cannot run here."""
    out: dict = {}
    state = runner.run_adapter(name, cases, lambda o: out.__setitem__((o.case_id, o.surface), o))
    if not state.available:
        pytest.skip(f"{name} is not available: {state.reason}")
    return out
