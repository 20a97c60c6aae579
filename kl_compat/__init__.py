"""kl_compat: the Kullback-Leibler divergence loss, pinned down across frameworks.

`kl_compat.spec` is the reference (NumPy); `kl_compat.conformance` the case matrix and goldens;
`kl_compat.adapters` one class per framework. Importing kl_compat imports no framework.
"""

__version__ = "0.1.0"
