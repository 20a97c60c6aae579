"""The exit statuses of every `kl-compat` command, in one table (as pytest's ExitCode).

Below the command line (imports nothing), because the layers that decide a status use it too: a run's
summary, diff, merge, scan, fuzz, and KlCompatError's `exit_status`. The README's "Exit codes" section
and each subcommand's --help (kl_compat.cli.helptext) describe them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0                 # everything checked is explained; nothing broke
    FAILED = 1             # a difference the known-differences file does not explain; diff: something broke;
                           # golden --check: the goldens drift from the spec
    USAGE_ERROR = 2        # a bad option or input, said in one line on stderr
    NOT_RUN = 3            # an adapter asked for did not run
    NOTHING_CHECKED = 4    # no case selected, every adapter unavailable, no record to compare
    INTERRUPTED = 130      # Ctrl-C
    TERMINATED = 143       # SIGTERM
