"""Messages between the runner and its worker processes: JSON plus NumPy arrays, no pickles.

A frame is a 4-byte big-endian length of the rest, a 4-byte length of the JSON header, the header, then
the raw C-order bytes of each array the header refers to, as
`{"__array__": [offset, nbytes], "dtype": "<f8", "shape": [...]}` with the offset counted from the end
of the header. Raw bytes rather than .npy, because parsing .npy headers costs more than the kernels
being measured; the leading total length lets a reader see that a whole frame has arrived before it
parses one, so it can read the pipe in large chunks. Pickle is avoided so that a worker in another
environment (another Python, another NumPy) can talk to the runner, and so that nothing read from a
pipe executes.
"""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

_LEN = struct.Struct(">I")
MAX_FRAME = 1 << 30  # a length beyond this is a corrupt stream, not a frame
_CHUNK = 1 << 16


class WireError(Exception):
    """A frame that is truncated or malformed (usually: the worker died mid-write)."""


_PLAIN = (str, int, float, bool, type(None))


def _encode(obj, blobs: list[bytes], offset: list[int]):
    if type(obj) in _PLAIN:
        return obj
    if hasattr(obj, "__dataclass_fields__") and not isinstance(obj, type):
        obj = {name: getattr(obj, name) for name in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): v if type(v) in _PLAIN else _encode(v, blobs, offset) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("object arrays cannot be sent")
        data = np.ascontiguousarray(obj).tobytes()
        blobs.append(data)
        spec = {"__array__": [offset[0], len(data)], "dtype": obj.dtype.str, "shape": list(obj.shape)}
        offset[0] += len(data)
        return spec
    if isinstance(obj, (list, tuple)):
        return [v if type(v) in _PLAIN else _encode(v, blobs, offset) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def pack(obj) -> bytes:
    blobs: list[bytes] = []
    header = json.dumps(_encode(obj, blobs, [0])).encode()
    body_len = _LEN.size + len(header) + sum(map(len, blobs))
    return b"".join([_LEN.pack(body_len), _LEN.pack(len(header)), header, *blobs])


def _decode(obj, body: bytes, start: int):
    # Plain values are tested inline: most of a header is plain, and a call per value would cost more.
    if isinstance(obj, dict):
        if "__array__" in obj:
            return _array(obj, body, start)
        return {k: v if type(v) in _PLAIN else _decode(v, body, start) for k, v in obj.items()}
    if isinstance(obj, list):
        return [v if type(v) in _PLAIN else _decode(v, body, start) for v in obj]
    return obj


def _array(spec: dict, body: bytes, start: int) -> np.ndarray:
    try:
        (offset, nbytes), dtype, shape = spec["__array__"], np.dtype(spec["dtype"]), tuple(spec["shape"])
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"malformed array reference {spec!r}: {e}") from None
    if dtype.hasobject:
        raise WireError("object arrays are refused")
    if offset < 0 or start + offset + nbytes > len(body) or nbytes != dtype.itemsize * math.prod(shape):
        raise WireError(f"array reference {spec!r} does not fit the frame's {len(body) - start} data bytes")
    return np.frombuffer(body, dtype=dtype, count=nbytes // dtype.itemsize, offset=start + offset).reshape(shape)


def unpack(body: bytes):
    """A frame's contents (everything after its leading length) back into objects and arrays."""
    if len(body) < _LEN.size:
        raise WireError("frame shorter than its header length")
    (header_len,) = _LEN.unpack_from(body)
    start = _LEN.size + header_len
    if start > len(body):
        raise WireError(f"frame header of {header_len} bytes overruns a frame of {len(body)}")
    try:
        header = json.loads(body[_LEN.size:start])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WireError(f"malformed frame header: {e}") from None
    return _decode(header, body, start)


class Reader:
    """Reads frames from a file descriptor, a large chunk at a time (one system call serves many small
    frames). Reads block; a caller that polls the descriptor for readiness must first ask `has_frame`,
    since a whole frame may already sit in this reader's buffer."""

    def __init__(self, fd: int):
        self.fd = fd
        self._buf = bytearray()  # deleting from the front of a bytearray is O(1) in CPython

    def _frame_end(self) -> int | None:
        if len(self._buf) < _LEN.size:
            return None
        (length,) = _LEN.unpack_from(self._buf)
        if length > MAX_FRAME:
            raise WireError(f"frame length {length} exceeds {MAX_FRAME}: the stream is corrupt")
        return _LEN.size + length

    def has_frame(self) -> bool:
        end = self._frame_end()
        return end is not None and len(self._buf) >= end

    def read(self):
        while not self.has_frame():
            chunk = os.read(self.fd, _CHUNK)
            if not chunk:
                if not self._buf:
                    raise EOFError  # a clean end between frames
                end = self._frame_end()
                short = (end - len(self._buf)) if end else _LEN.size - len(self._buf)
                raise WireError(f"stream ended {short} bytes short of a frame")
            self._buf += chunk
        end = self._frame_end()
        body = bytes(self._buf[_LEN.size:end])
        del self._buf[:end]
        return unpack(body)


def write(fd: int, obj) -> None:
    write_bytes(fd, pack(obj))


def write_bytes(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
