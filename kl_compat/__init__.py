"""kl_compat: the Kullback-Leibler divergence loss, pinned down across frameworks.

`kl_compat.spec` is the reference (NumPy); `kl_compat.conformance` the case matrix and goldens;
`kl_compat.adapters` one class per framework. Importing kl_compat imports no framework.
"""

__version__ = "0.1.0"


_porting_kl_div = None  # kl_compat.porting.kl_div, once imported (an import statement per call costs microseconds)


def kl_div(input, target, reduction="mean", log_target=False, semantics="torch", *, size_average=None, reduce=None):
    """The porting layer (kl_compat.porting): torch or Paddle tensors in, the chosen semantics out."""
    global _porting_kl_div
    if _porting_kl_div is None:
        from .porting import kl_div as _porting_kl_div
    return _porting_kl_div(input, target, reduction, log_target, semantics, size_average=size_average, reduce=reduce)
