"""Messages between the runner and its worker processes: JSON plus NumPy arrays, no pickles.

A frame is a 4-byte big-endian length, then a JSON header, then the .npy bytes of each array the header
refers to (`{"__array__": i, "nbytes": n}`). Pickle is avoided so that a worker in another environment
(another Python, another NumPy) can talk to the runner, and so that nothing read from a pipe executes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import struct

import numpy as np

_LEN = struct.Struct(">I")


class WireError(Exception):
    """A frame that is truncated or malformed (usually: the worker died mid-write)."""


def _encode(obj, blobs: list[bytes]):
    if isinstance(obj, np.ndarray):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, obj, allow_pickle=False)
        blobs.append(buf.getvalue())
        return {"__array__": len(blobs) - 1, "nbytes": len(blobs[-1])}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _encode(getattr(obj, f.name), blobs) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _encode(v, blobs) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, blobs) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def pack(obj) -> bytes:
    blobs: list[bytes] = []
    header = json.dumps(_encode(obj, blobs)).encode()
    return b"".join([_LEN.pack(len(header)), header, *blobs])


def _decode(obj, arrays: list[np.ndarray]):
    if isinstance(obj, dict):
        if "__array__" in obj and set(obj) == {"__array__", "nbytes"}:
            return arrays[obj["__array__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def _blob_sizes(obj, sizes: dict[int, int]):
    if isinstance(obj, dict):
        if "__array__" in obj and set(obj) == {"__array__", "nbytes"}:
            sizes[obj["__array__"]] = obj["nbytes"]
        else:
            for v in obj.values():
                _blob_sizes(v, sizes)
    elif isinstance(obj, list):
        for v in obj:
            _blob_sizes(v, sizes)


class Reader:
    """Reads frames from a file descriptor (blocking reads; the caller polls for readiness)."""

    def __init__(self, fd: int):
        self.fd = fd

    def _read_exact(self, n: int, frame_start: bool = False) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(self.fd, min(n - got, 1 << 20))
            if not chunk:
                if frame_start and got == 0:
                    raise EOFError  # a clean end between frames
                raise WireError(f"stream ended {n - got} bytes short of a frame")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def read(self):
        (length,) = _LEN.unpack(self._read_exact(_LEN.size, frame_start=True))
        try:
            header = json.loads(self._read_exact(length))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise WireError(f"malformed frame header: {e}") from None
        sizes: dict[int, int] = {}
        _blob_sizes(header, sizes)
        arrays = [np.lib.format.read_array(io.BytesIO(self._read_exact(sizes[i])), allow_pickle=False)
                  for i in range(len(sizes))]
        return _decode(header, arrays)


def write(fd: int, obj) -> None:
    data = memoryview(pack(obj))
    while data:
        data = data[os.write(fd, data):]
