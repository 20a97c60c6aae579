"""kl_compat: the Kullback-Leibler divergence loss, pinned down across frameworks.

`kl_compat.spec` is the reference (NumPy); `kl_compat.conformance` the case matrix and goldens;
`kl_compat.adapters` one class per framework. Importing kl_compat imports no framework.
"""

__version__ = "0.1.0"


def kl_div(input, target, reduction="mean", log_target=False, semantics="torch", *, size_average=None, reduce=None):
    """The porting layer (kl_compat.porting): torch or Paddle tensors in, the chosen semantics out."""
    from .porting import kl_div as _kl_div

    return _kl_div(input, target, reduction, log_target, semantics, size_average=size_average, reduce=reduce)
