"""What a command needs before it writes: its optional dependencies, and locks on its outputs."""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

from ..errors import UsageError


def needs(module: str, extra: str, what: str) -> None:
    """A missing optional dependency as one line naming the extra that brings it (exit 2), not a traceback."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise UsageError(f"{what} needs {module}, which is not installed: pip install 'kl-compat[{extra}]'") from None


@contextlib.contextmanager
def outputs_locked(*dirs: Path, file: Path | None = None):
    """Locks for a command's outputs, held while it runs: `DIR/.kl-compat.lock` for each folder of outputs
    (created if missing, and removed again if the command fails leaving it empty), `FILE.lock` for one
    file. Another kl-compat process writing them makes this one fail at once: OutputLocked, exit 2."""
    from ..results import OutputLock

    locks, created = [], []
    try:
        for d in dict.fromkeys(Path(d).absolute() for d in dirs):
            if not d.exists():
                d.mkdir(parents=True)
                created.append(d)
            locks.append(OutputLock(d, lock_path=d / ".kl-compat.lock"))
        if file is not None:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            locks.append(OutputLock(file))
        yield
    finally:
        for lock in reversed(locks):
            lock.release()
        for d in reversed(created):
            try:
                d.rmdir()  # only when empty: nothing was written
            except OSError:
                pass
