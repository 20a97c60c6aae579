"""Messages between the runner and its worker processes: JSON plus NumPy arrays, no pickles.

A frame is a 4-byte big-endian length of the rest, a 4-byte length of the JSON header, the header, then
the raw C-order bytes of each array the header refers to: as
`{"__array__": [offset, nbytes], "dtype": "<f8", "shape": [...]}` (`pack`), the offset counted from the
end of the header, or, where the receiver knows where to look, as `[dtype, shape]`, laid out in the
order they were written (`Frame` and `Arrays`, for observations). Raw bytes rather than .npy, because
parsing .npy headers costs more than the kernels being measured; the leading total length lets a reader
see that a whole frame has arrived before it parses one, so it can read the pipe in large chunks.
Pickle is avoided so that a worker in another environment (another Python, another NumPy) can talk to
the runner, and so that nothing read from a pipe executes.
"""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

from .errors import KlCompatError

_LEN = struct.Struct(">I")
MAX_FRAME = 1 << 30  # a length beyond this is a corrupt stream, not a frame
_CHUNK = 1 << 16
_MAX_CHUNK = 1 << 20  # (the runner's answer pipes hold up to this: runner._widen)


class WireError(KlCompatError):
    """A frame that is truncated or malformed (usually: the worker died mid-write)."""


def pack(obj) -> bytes:
    """A frame for `obj`: JSON-able values, NumPy arrays and scalars, and dataclass instances, nested."""
    blobs: list[bytes] = []
    offset = 0

    def encode(o):  # called by the JSON encoder (in C) for each value it cannot write itself
        nonlocal offset
        if isinstance(o, np.ndarray):
            if o.dtype.hasobject:
                raise TypeError("object arrays cannot be sent")
            data = np.ascontiguousarray(o).tobytes()
            blobs.append(data)
            spec = {"__array__": [offset, len(data)], "dtype": o.dtype.str, "shape": list(o.shape)}
            offset += len(data)
            return spec
        if isinstance(o, np.generic):
            return o.item()
        if hasattr(o, "__dataclass_fields__") and not isinstance(o, type):
            return {name: getattr(o, name) for name in o.__dataclass_fields__}
        raise TypeError(f"{type(o).__name__} cannot be sent")

    return frame(json.dumps(obj, default=encode).encode(), blobs, offset)


def frame(header: bytes, blobs=(), size: int = 0) -> bytes:
    """A frame of a JSON header already encoded and the `blobs` (`size` bytes in all) it refers to."""
    return b"".join([_LEN.pack(_LEN.size + len(header) + size), _LEN.pack(len(header)), header, *blobs])


class Frame:
    """A frame built by hand, for messages sent by the thousand. Its arrays are referred to as compact
    [dtype, shape] lists and their bytes laid out in the order `array` was called, so the receiver reads
    them back in that same order (`Arrays`, over the frame's data, which `Reader.read` puts under
    "__data__"). The self-describing dicts that `pack` writes, and explicit offsets, would cost more to
    encode and decode than the rest of such a message."""

    # Such frames are lists and dicts built by their sender, never cyclic: checking costs ~8% of encoding.
    _encode = json.JSONEncoder(check_circular=False).encode

    def __init__(self):
        self.blobs: list[bytes] = []
        self.size = 0

    def array(self, a) -> list:
        if type(a) is not np.ndarray:
            a = np.asarray(a)
        name = _DTYPE_STR.get(a.dtype) or _dtype_str(a.dtype)
        data = a.tobytes()  # C order whatever the layout
        self.blobs.append(data)
        self.size += len(data)
        return [name, a.shape]  # (the shape tuple is written as a JSON list)

    def pack(self, obj: dict) -> bytes:
        return frame(self._encode(obj).encode(), self.blobs, self.size)


_DTYPE_STR: dict = {}  # np.dtype -> its .str, which NumPy builds anew on each call (costlier than a tobytes)


def _dtype_str(dtype: np.dtype) -> str:
    if dtype.hasobject:
        raise TypeError("object arrays cannot be sent")
    return _DTYPE_STR.setdefault(dtype, dtype.str)


class Arrays:
    """A Frame's arrays read back from its data, one `take` per `Frame.array` call, in the same order."""

    def __init__(self, data):
        self.data = b"" if data is None else data  # a frame whose arrays are all empty has no data
        self.at = 0

    def take(self, ref: list) -> np.ndarray:
        try:
            dtype_str, shape = ref
            dtype = _DTYPES.get(dtype_str) or _dtype(dtype_str)
            count = math.prod(shape)
        except (TypeError, ValueError) as e:
            raise WireError(f"malformed array reference {ref!r}: {e}") from None
        a = _view(self.data, dtype, shape, self.at, count, ref)
        self.at += a.nbytes
        return a


_DTYPES: dict = {}  # the dtypes named on the wire, made once each


def _dtype(name: str) -> np.dtype:
    dtype = np.dtype(name)
    if not dtype.hasobject:  # (refused by _view)
        _DTYPES[name] = dtype
    return dtype


def _view(body, dtype: np.dtype, shape, offset: int, count, ref) -> np.ndarray:
    """The `count` elements of `dtype` at `offset` in `body`, shaped, checked to lie within it. (Three
    arrays per observation come through here: it takes what its callers have already computed.)"""
    if dtype.hasobject:
        raise WireError("object arrays are refused")
    if type(count) is not int or count < 0 or offset < 0 or offset + dtype.itemsize * count > len(body):
        raise WireError(f"array reference {ref!r} does not fit the frame's {len(body)} data bytes")
    return np.frombuffer(body, dtype, count, offset).reshape(shape)


def _array(spec: dict, body: bytes, start: int) -> np.ndarray:
    try:
        (offset, nbytes), dtype, shape = spec["__array__"], np.dtype(spec["dtype"]), tuple(spec["shape"])
        count = math.prod(shape)
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"malformed array reference {spec!r}: {e}") from None
    if nbytes != dtype.itemsize * count:  # a byte count that disagrees with the shape
        raise WireError(f"array reference {spec!r} does not fit the frame's {len(body) - start} data bytes")
    return _view(memoryview(body)[start:], dtype, shape, offset, count, spec)


def unpack(body: bytes):
    """A frame's contents (everything after its leading length) back into objects and arrays."""
    if len(body) < _LEN.size:
        raise WireError("frame shorter than its header length")
    (header_len,) = _LEN.unpack_from(body)
    start = _LEN.size + header_len
    if start > len(body):
        raise WireError(f"frame header of {header_len} bytes overruns a frame of {len(body)}")

    def decode(d: dict):  # called by the JSON decoder for each object it has read
        return _array(d, body, start) if "__array__" in d else d

    try:
        obj = json.loads(body[_LEN.size:start], object_hook=decode)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WireError(f"malformed frame header: {e}") from None
    if isinstance(obj, dict) and start < len(body):
        obj["__data__"] = memoryview(body)[start:]  # for `Arrays`: a Frame's arrays are laid out there
    return obj


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
        end = self._frame_end()
        while end is None or len(self._buf) < end:
            # A large frame is read as far as the pipe holds, not in many small chunks.
            chunk = os.read(self.fd, _CHUNK if end is None else min(max(_CHUNK, end - len(self._buf)), _MAX_CHUNK))
            if not chunk:
                if not self._buf:
                    raise EOFError  # a clean end between frames
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
