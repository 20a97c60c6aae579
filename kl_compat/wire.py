"""Messages between the runner and its worker processes: JSON plus NumPy arrays, no pickles.

A frame is a 4-byte big-endian length, then a JSON header, then the raw C-order bytes of each array the
header refers to (`{"__array__": i, "dtype": "<f8", "shape": [...], "nbytes": n}`; raw bytes rather than
.npy because parsing .npy headers costs more than the kernels being measured). Pickle is avoided so that a worker in another environment
(another Python, another NumPy) can talk to the runner, and so that nothing read from a pipe executes.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

_LEN = struct.Struct(">I")


class WireError(Exception):
    """A frame that is truncated or malformed (usually: the worker died mid-write)."""


_PLAIN = (str, int, float, bool, type(None))


def _encode(obj, blobs: list[bytes]):
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("object arrays cannot be sent")
        blobs.append(np.ascontiguousarray(obj).tobytes())
        return {"__array__": len(blobs) - 1, "dtype": obj.dtype.str, "shape": list(obj.shape),
                "nbytes": len(blobs[-1])}
    if hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type):
        return {name: _encode(getattr(obj, name), blobs) for name in obj.__dataclass_fields__}
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


_ARRAY_KEYS = {"__array__", "dtype", "shape", "nbytes"}


def _decode(obj, arrays: list[np.ndarray]):
    if type(obj) in _PLAIN:
        return obj
    if isinstance(obj, dict):
        if obj.keys() == _ARRAY_KEYS:
            return arrays[obj["__array__"]]
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def _array_specs(obj, specs: dict[int, dict]):
    if isinstance(obj, dict):
        if obj.keys() == _ARRAY_KEYS:
            specs[obj["__array__"]] = obj
        else:
            for v in obj.values():
                _array_specs(v, specs)
    elif isinstance(obj, list):
        for v in obj:
            _array_specs(v, specs)


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
        specs: dict[int, dict] = {}
        _array_specs(header, specs)
        arrays = []
        for i in range(len(specs)):
            spec = specs[i]
            dtype = np.dtype(spec["dtype"])
            if dtype.hasobject:
                raise WireError("object arrays are refused")
            data = self._read_exact(spec["nbytes"]) if spec["nbytes"] else b""
            arrays.append(np.frombuffer(data, dtype=dtype).reshape(spec["shape"]))
        return _decode(header, arrays)


def write(fd: int, obj) -> None:
    write_bytes(fd, pack(obj))


def write_bytes(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
