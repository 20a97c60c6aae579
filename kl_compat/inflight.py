"""Which observations a worker is on, in a page of memory the worker and the runner both map.

A worker answers a batch of observations in one frame, so when it dies (or hangs) its answers do
not say which observation of the batch was running. Before each observation it writes the range it
may be in, here: [first, last] counted over every observation the worker has made; the exact one
where the adapter observes one at a time (`Adapter.observe_batch`'s `started`), the whole batch
where it cannot say (the R adapter crosses into R once per batch). The page outlives the worker, so
the runner reads it after a crash or a kill and blames the observation itself, instead of sending
the batch again one observation at a time to find it (which would cost a second crash, or a second
timeout, and a second framework import). Writing it costs no system call.
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile

_RANGE = struct.Struct("<qq")
NOTHING = (-1, -1)  # before the first observation


class Slot:
    """The shared range. The runner makes it (`create`) and passes `fd` to the worker, which opens it
    with `Slot(fd)`: both map the same page of one unlinked temporary file."""

    def __init__(self, fd: int):
        self.fd = fd
        self._map = mmap.mmap(fd, _RANGE.size)

    @classmethod
    def create(cls) -> "Slot":
        fd, path = tempfile.mkstemp(prefix="kl-compat-inflight-")
        os.unlink(path)  # nothing to clean up after a crash of either side
        os.ftruncate(fd, _RANGE.size)
        slot = cls(fd)
        slot.mark(*NOTHING)
        return slot

    def mark(self, first: int, last: int) -> None:
        _RANGE.pack_into(self._map, 0, first, last)

    def read(self) -> tuple[int, int]:
        return _RANGE.unpack_from(self._map, 0)

    def close(self) -> None:
        self._map.close()
        os.close(self.fd)
