"""The one base class of kl_compat's own errors (imports nothing but the exit-code table, so any module can
use it).

Every error kl_compat raises on purpose (a bad file, a bad option, a run that cannot start) derives from
KlCompatError. `kl-compat` prints such an error as one line, `kl-compat COMMAND: error: MESSAGE`, and
exits with the error's `exit_status` (2, usage or input error, unless a subclass says otherwise); any
other exception is a bug in kl_compat and keeps its traceback.
"""

from __future__ import annotations

from .exitcode import ExitCode


class KlCompatError(Exception):
    """A problem with what kl_compat was asked to do or given to read, described in its message."""

    exit_status: int = ExitCode.USAGE_ERROR


class UsageError(KlCompatError):
    """What the user asked for cannot be done as asked: an option's value, a path of the wrong kind (a file
    where a folder is needed), a missing optional dependency (naming the extra that brings it)."""


class UnknownAdapter(UsageError):
    """An adapter name that is neither registered nor 'package.module:Class'."""
