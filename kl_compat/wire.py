"""The runner <-> worker protocol: four message types and the one encoding they share. No pickles.

A frame is a 4-byte big-endian length of the rest, a 4-byte length of the header, the header, then the
raw C-order bytes of the message's arrays. The header is JSON, `[type, fields]`; each array in the
fields is written as `[dtype, shape]` and its bytes follow the header in the order the fields name them,
so a message's `from_wire` reads them back (`Decoder.array`) in the order its `to_wire` wrote them
(`Encoder.array`). Raw bytes rather than .npy, because parsing .npy headers costs more than the kernels
being measured; the leading total length lets a reader see that a whole frame has arrived before it
parses one, so it reads the pipe in large chunks. Pickle is avoided so that a worker in another
environment (another Python, another NumPy) can talk to the runner, and so that nothing read from a
pipe executes.

The messages: the worker's first frame is a `Hello` (or `Unavailable`); then the runner sends `Tasks`
and the worker answers each batch with one `Answers` frame, in order.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .adapters.base import Observation
from .errors import KlCompatError
from .spec import Call

_LEN = struct.Struct(">I")
MAX_FRAME = 1 << 30  # a length beyond this is a corrupt stream, not a frame
_CHUNK = 1 << 16
_MAX_CHUNK = 1 << 20  # (the runner's answer pipes hold up to this: runner._widen)


class WireError(KlCompatError):
    """A frame that is truncated or malformed (usually: the worker died mid-write)."""


# ---- the encoding -----------------------------------------------------------------------------------

class Encoder:
    """Collects a message's array bytes while its fields are written."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.size = 0

    def array(self, a) -> list:
        """The reference the header holds for `a`, its bytes queued to follow the header."""
        a = np.asarray(a)
        if a.dtype.hasobject:
            raise TypeError("object arrays cannot be sent")
        data = a.tobytes()  # C order whatever the layout
        self.blobs.append(data)
        self.size += len(data)
        return [a.dtype.str, a.shape]


class Decoder:
    """A frame's array bytes, read back one `array` call per `Encoder.array` call, in the same order."""

    def __init__(self, data) -> None:
        self.data = data
        self.at = 0

    def array(self, ref) -> np.ndarray:
        try:
            name, shape = ref
            dtype = np.dtype(name)
            count = math.prod(shape)
        except (TypeError, ValueError) as e:
            raise WireError(f"malformed array reference {ref!r}: {e}") from None
        if dtype.hasobject:
            raise WireError("object arrays are refused")
        if type(count) is not int or count < 0 or self.at + dtype.itemsize * count > len(self.data):
            raise WireError(f"array reference {ref!r} does not fit the frame's {len(self.data)} data bytes")
        a = np.frombuffer(self.data, dtype, count, self.at).reshape(shape)
        self.at += a.nbytes
        return a


# Messages are trees built afresh by to_wire, never cyclic: json.dumps's cycle check would be wasted work on
# every observation.
_dumps = json.JSONEncoder(check_circular=False).encode


def encode(message) -> bytes:
    """One frame holding `message` (one of MESSAGES' types)."""
    arrays = Encoder()
    header = _dumps([message.TYPE, message.to_wire(arrays)]).encode()
    return b"".join([_LEN.pack(_LEN.size + len(header) + arrays.size), _LEN.pack(len(header)), header,
                     *arrays.blobs])


def decode(body: bytes):
    """The message in a frame's body (everything after its leading length). WireError if malformed."""
    if len(body) < _LEN.size:
        raise WireError("frame shorter than its header length")
    (header_len,) = _LEN.unpack_from(body)
    start = _LEN.size + header_len
    if start > len(body):
        raise WireError(f"frame header of {header_len} bytes overruns a frame of {len(body)}")
    arrays = Decoder(memoryview(body)[start:])
    try:
        kind, fields = json.loads(body[_LEN.size:start])
        message = MESSAGES[kind].from_wire(fields, arrays)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as e:  # (JSON's and Unicode's errors are ValueErrors)
        raise WireError(f"malformed frame header: {type(e).__name__}: {e}") from None
    if arrays.at != len(arrays.data):
        raise WireError(f"{len(arrays.data) - arrays.at} bytes of the frame's data belong to no array")
    return message


class Reader:
    """Reads messages from a file descriptor, a large chunk at a time (one system call serves many small
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
        """The next message; EOFError at a clean end between frames, WireError mid-frame."""
        end = self._frame_end()
        while end is None or len(self._buf) < end:
            # A large frame is read as far as the pipe holds, not in many small chunks.
            chunk = os.read(self.fd, _CHUNK if end is None else min(max(_CHUNK, end - len(self._buf)), _MAX_CHUNK))
            if not chunk:
                if not self._buf:
                    raise EOFError
                short = (end - len(self._buf)) if end else _LEN.size - len(self._buf)
                raise WireError(f"stream ended {short} bytes short of a frame")
            self._buf += chunk
            end = self._frame_end()
        body = bytes(self._buf[_LEN.size:end])
        del self._buf[:end]
        return decode(body)


def write(fd: int, data: bytes) -> None:
    """All of `data` (frames from `encode`), however many writes the pipe takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# ---- the messages -----------------------------------------------------------------------------------

@dataclass
class Hello:
    """A worker's first frame: its framework is imported and warmed up, and this is what it runs."""

    TYPE: ClassVar[str] = "hello"
    adapter: str
    framework: str
    version: str
    surfaces: list[str]
    batch_size: int
    runtime: dict  # the adapter's runtime() and the worker's python, numpy, platform, executable
    goldens: str | None = None  # the digest of the golden inputs it loaded (cases may then go by id)
    goldens_error: str | None = None  # why it loaded none

    def info(self) -> dict:
        """The flat dict the rest of kl_compat reads a worker's facts from (runner.AdapterRun.info)."""
        out = {"type": self.TYPE, "adapter": self.adapter, "framework": self.framework, "version": self.version,
               "surfaces": list(self.surfaces), "batch_size": self.batch_size, **self.runtime}
        out.update((k, v) for k, v in (("goldens", self.goldens), ("goldens_error", self.goldens_error)) if v)
        return out

    def to_wire(self, arrays: Encoder) -> list:
        return [self.adapter, self.framework, self.version, self.surfaces, self.batch_size, self.runtime,
                self.goldens, self.goldens_error]

    @classmethod
    def from_wire(cls, fields: list, arrays: Decoder) -> "Hello":
        return cls(*fields)


@dataclass
class Unavailable:
    """A worker's first frame when its adapter cannot run here (its framework does not import)."""

    TYPE: ClassVar[str] = "unavailable"
    adapter: str
    reason: str
    hint: str | None = None  # how to install what is missing

    def to_wire(self, arrays: Encoder) -> list:
        return [self.adapter, self.reason, self.hint]

    @classmethod
    def from_wire(cls, fields: list, arrays: Decoder) -> "Unavailable":
        return cls(*fields)


@dataclass
class Operands:
    """A case's inputs and call, for a task the worker cannot look up among its golden cases."""

    input: np.ndarray
    target: np.ndarray
    call: Call
    input_dtype: str
    target_dtype: str


@dataclass
class Task:
    """Observe one case on `surfaces`. `operands` travel only where the worker does not hold the case."""

    seq: int
    case_id: str
    surfaces: tuple[str, ...]
    operands: Operands | None = None

    def to_wire(self, arrays: Encoder) -> list:
        out: list = [self.seq, self.case_id, self.surfaces]
        o = self.operands
        if o is not None:
            c = o.call
            out += [arrays.array(o.input), arrays.array(o.target), o.input_dtype, o.target_dtype,
                    [c.reduction, c.log_target, c.size_average, c.reduce, c.requires_grad, c.order]]
        return out

    @classmethod
    def from_wire(cls, fields: list, arrays: Decoder) -> "Task":
        seq, case_id, surfaces, *rest = fields
        operands = None
        if rest:
            x, y, input_dtype, target_dtype, call = rest
            operands = Operands(arrays.array(x), arrays.array(y), Call(*call), input_dtype, target_dtype)
        return cls(seq, case_id, tuple(surfaces), operands)


@dataclass
class Tasks:
    """The runner's frame: tasks for the worker, answered in this order."""

    TYPE: ClassVar[str] = "tasks"
    tasks: list[Task] = field(default_factory=list)

    def to_wire(self, arrays: Encoder) -> list:
        return [t.to_wire(arrays) for t in self.tasks]

    @classmethod
    def from_wire(cls, fields: list, arrays: Decoder) -> "Tasks":
        return cls([Task.from_wire(f, arrays) for f in fields])


@dataclass
class Answers:
    """The worker's frame for a batch: one observation per task and surface, in the order asked, each
    with its task's seq. The observations' case_id and adapter do not travel: the runner knows them."""

    TYPE: ClassVar[str] = "answers"
    seqs: list[int]
    observations: list[Observation]

    def to_wire(self, arrays: Encoder) -> list:
        return [self.seqs, [o.to_wire(arrays) for o in self.observations]]

    @classmethod
    def from_wire(cls, fields: list, arrays: Decoder) -> "Answers":
        seqs, observations = fields
        if len(seqs) != len(observations):
            raise WireError(f"{len(observations)} observations for {len(seqs)} tasks")
        return cls(seqs, [Observation.from_wire(f, arrays) for f in observations])


MESSAGES: dict[str, Any] = {m.TYPE: m for m in (Hello, Unavailable, Tasks, Answers)}
