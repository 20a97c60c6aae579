"""What the torch and Paddle module forms share: the constructor's handling of the arguments."""

from __future__ import annotations

import warnings

from kl_compat import spec

from .semantics import get


def module_arguments(reduction, log_target, semantics, size_average, reduce):
    """(reduction, log_target, size_average, reduce) as the module's forward will pass them on."""
    sem = get(semantics)
    if sem.module_converts_legacy and (size_average is not None or reduce is not None):
        reduction = spec.effective_reduction(spec.Call(reduction, False, size_average, reduce))
        warnings.warn(sem.legacy_warning.format(reduction=reduction), UserWarning, stacklevel=3)
        size_average = reduce = None
    return reduction, log_target, size_average, reduce
