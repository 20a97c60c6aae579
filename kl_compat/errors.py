"""The one base class of kl_compat's own errors (imports nothing from the package, so any module can use it).

Every error kl_compat raises on purpose (a bad file, a bad option, a run that cannot start) derives from
KlCompatError. `kl-compat` prints such an error as one line, `kl-compat COMMAND: error: MESSAGE`, and
exits with the error's `exit_status` (2, usage or input error, unless a subclass says otherwise); any
other exception is a bug in kl_compat and keeps its traceback.
"""

from __future__ import annotations


class KlCompatError(Exception):
    """A problem with what kl_compat was asked to do or given to read, described in its message."""

    exit_status = 2
