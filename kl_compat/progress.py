"""Progress on stderr for long commands (`kl-compat run`, `kl-compat report`), in one place.

Two shapes of progress:

- a *bar* (`Progress.bar`) where the work is counted: tqdm on a terminal, counting what is really
  counted (e.g. "observations": one case on one surface), never a bar for work that will not happen;
- a *phase* (`Progress.phase`) where it is not (reproducers, signature probes, rendering): a status
  line with the elapsed time, refreshed on a terminal, and ended with how long it took.

When stderr is not a terminal (CI logs, a pipe) both print plain lines, one when a phase or bar starts
and one when it ends, never carriage returns. Without tqdm (the `cli` extra) the plain lines stand in
for the bars, after a one-line note saying so. Disabled (`--quiet`), nothing is printed.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

NO_TQDM = ("kl-compat: note: no progress bar: tqdm is not installed (pip install 'kl-compat[cli]'; "
           "--quiet to go without)")
_said_no_tqdm = False


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class Bar:
    """Counted work. `update(n)` as it goes, `close()` at the end (prints the plain end line)."""

    def __init__(self, owner: "Progress", desc: str, total: int, unit: str):
        self.owner, self.desc, self.total, self.unit = owner, desc, total, unit
        self.done, self.started = 0, time.monotonic()
        self._bar = None
        tqdm = _tqdm() if owner.fancy else None
        if tqdm is not None:
            self._bar = tqdm(total=total, desc=desc, unit=f" {unit}", leave=True, mininterval=0.5,
                             file=owner.stream)
        else:
            owner.line(f"{desc}: {total} {unit} ...")

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.owner.enabled:
            self.owner.line(f"{self.desc}: {self.done} of {self.total} {self.unit} in "
                            f"{time.monotonic() - self.started:.1f} s")


class _NoBar(Bar):
    def __init__(self):  # noqa: D401 - a bar that shows nothing (progress disabled)
        self.done, self.total = 0, 0

    def update(self, n: int = 1) -> None:
        self.done += n

    def close(self) -> None:
        pass


class Phase:
    """Uncounted work: a status line with the elapsed time (refreshed on a terminal), then its duration."""

    def __init__(self, owner: "Progress", name: str, detail: str = ""):
        self.owner, self.name, self.detail, self.what = owner, name, detail, detail
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> "Phase":
        self.started = time.monotonic()
        if not self.owner.enabled:
            return self
        if self.owner.tty:
            self._draw()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        else:
            self.owner.line(f"{self.name}: {self.detail} ..." if self.detail else f"{self.name} ...")
        return self

    def note(self, detail: str) -> None:
        """What the phase is doing now (shown on the status line; a plain line when not a terminal). A
        message that starts with the phase's own name ("reproducers: ...") does not repeat it."""
        self.detail = detail.removeprefix(self.name.rsplit(": ", 1)[-1] + ": ")
        if self.owner.enabled and not self.owner.tty:
            self.owner.line(f"{self.name}: {detail}")

    def _draw(self) -> None:
        elapsed = time.monotonic() - self.started
        what = f"{self.name}: {self.detail}" if self.detail else self.name
        text = f"{self.owner.prefix}: {what} ({elapsed:.0f} s)"
        self.owner.stream.write("\r\x1b[K" + text[:200])
        self.owner.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._draw()

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if not self.owner.enabled:
            return
        took = time.monotonic() - self.started
        ended = "failed" if exc_type is not None else "done"
        if self.owner.tty:
            self.owner.stream.write("\r\x1b[K")
        self.owner.line(f"{self.name}: {ended} in {took:.1f} s" + (f" ({self.what})" if self.what else ""))


class Progress:
    """Progress output of one command. `enabled=False` (--quiet) prints nothing."""

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, prefix: str = "kl-compat"):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.prefix = prefix
        self.tty = enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.fancy = enabled and self._tqdm_or_note() and self.tty

    def _tqdm_or_note(self) -> bool:
        """Is tqdm there? Said once when not, terminal or not (the plain lines stand in for its bars)."""
        global _said_no_tqdm
        if _tqdm() is not None:
            return True
        if not _said_no_tqdm:
            print(NO_TQDM, file=self.stream)
            _said_no_tqdm = True
        return False

    def line(self, text: str) -> None:
        if self.enabled:
            print(f"{self.prefix}: {text}", file=self.stream, flush=True)

    def bar(self, desc: str, total: int, unit: str = "observations") -> Bar:
        return Bar(self, desc, total, unit) if self.enabled else _NoBar()

    def phase(self, name: str, detail: str = "") -> Phase:
        return Phase(self, name, detail)

    def not_run(self, label: str, reason: str | None) -> None:
        """A framework that will not run is announced once, with why, and gets no bar."""
        self.line(f"{label}: NOT RUN: {reason or 'unavailable'}")
