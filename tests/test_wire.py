"""The runner <-> worker frames: round trips, and every malformed stream named as such."""

import json
import os
import struct
import threading
from dataclasses import dataclass

import numpy as np
import pytest

from kl_compat import wire
from kl_compat.adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, OK, RAISED, UNSUPPORTED, Gradient, Observation


@dataclass
class Inner:
    name: str
    value: np.ndarray | None = None


def _pipe_with(data: bytes) -> wire.Reader:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return wire.Reader(r)


def test_round_trip_of_nested_values_arrays_and_dataclasses():
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(2.5), np.zeros((0, 4)),
              np.array([np.nan, -np.inf, 5e-324]), np.array([1, 2], dtype=np.int64), np.array([True, False])]
    msg = {"type": "t", "n": 3, "x": 0.1, "none": None, "list": [1, "a", arrays[0]], "tuple": (arrays[1],),
           "inner": Inner("g", arrays[2]), "more": arrays[3:], "scalar": np.int64(7)}
    reader = _pipe_with(wire.pack(msg) * 2)
    for _ in range(2):
        got = reader.read()
        assert got["type"] == "t" and got["n"] == 3 and got["x"] == 0.1 and got["none"] is None
        assert got["list"][:2] == [1, "a"] and got["scalar"] == 7
        assert got["inner"]["name"] == "g"
        for sent, back in zip(arrays, [got["list"][2], got["tuple"][0], got["inner"]["value"], *got["more"]]):
            assert back.dtype == sent.dtype and back.shape == sent.shape
            np.testing.assert_array_equal(back, sent)
    with pytest.raises(EOFError):
        reader.read()


def test_many_frames_in_one_chunk_are_all_seen_without_another_read():
    r, w = os.pipe()
    os.write(w, b"".join(wire.pack({"i": i}) for i in range(50)))
    reader = wire.Reader(r)
    assert reader.read() == {"i": 0}
    os.close(w)  # everything else must come from the reader's buffer
    seen = []
    while reader.has_frame():
        seen.append(reader.read()["i"])
    assert seen == list(range(1, 50))


def test_a_frame_larger_than_the_pipe_arrives_whole_with_the_next_one_after_it():
    big = np.arange(3 * 2**20 // 8, dtype=np.float64)  # 3 MiB: many fills of a pipe, several reads
    r, w = os.pipe()
    writer = threading.Thread(target=wire.write_bytes, args=(w, wire.pack({"big": big}) + wire.pack({"next": 1})))
    writer.start()
    reader = wire.Reader(r)
    np.testing.assert_array_equal(reader.read()["big"], big)
    assert reader.read() == {"next": 1}
    writer.join()
    os.close(w)
    with pytest.raises(EOFError):
        reader.read()


def test_a_stream_cut_mid_frame_is_a_wire_error():
    frame = wire.pack({"value": np.arange(10.0)})
    with pytest.raises(wire.WireError, match="short of a frame"):
        _pipe_with(frame[:-3]).read()
    with pytest.raises(wire.WireError, match="short of a frame"):
        _pipe_with(frame[:2]).read()


def test_malformed_headers_and_array_references_are_refused():
    def frame(header: dict | bytes, data: bytes = b"") -> bytes:
        h = header if isinstance(header, bytes) else json.dumps(header).encode()
        return struct.pack(">I", 4 + len(h) + len(data)) + struct.pack(">I", len(h)) + h + data

    with pytest.raises(wire.WireError, match="malformed frame header"):
        _pipe_with(frame(b"{not json")).read()
    with pytest.raises(wire.WireError, match="does not fit"):
        _pipe_with(frame({"a": {"__array__": [0, 800], "dtype": "<f8", "shape": [100]}}, b"\0" * 8)).read()
    with pytest.raises(wire.WireError, match="does not fit"):  # nbytes that disagree with the shape
        _pipe_with(frame({"a": {"__array__": [0, 8], "dtype": "<f8", "shape": [2]}}, b"\0" * 16)).read()
    with pytest.raises(wire.WireError, match="object arrays"):
        _pipe_with(frame({"a": {"__array__": [0, 8], "dtype": "|O", "shape": [1]}}, b"\0" * 8)).read()
    with pytest.raises(wire.WireError, match="exceeds"):
        _pipe_with(struct.pack(">I", wire.MAX_FRAME + 1) + b"\0" * 8).read()


def test_objects_that_cannot_travel_are_refused_when_packed():
    with pytest.raises(TypeError, match="object arrays"):
        wire.pack({"a": np.array([object()])})
    with pytest.raises(TypeError, match="cannot be sent"):
        wire.pack({"a": {1, 2}})


def test_hand_built_frames_place_arrays_in_order():
    frame = wire.Frame()
    sent = [np.arange(5, dtype=np.float16), np.zeros((2, 0)), np.array(3.0), np.arange(6, dtype=np.int64).reshape(2, 3).T]
    refs = [frame.array(a) for a in sent]
    got = _pipe_with(frame.pack({"type": "results", "refs": refs})).read()
    arrays = wire.Arrays(got.get("__data__"))
    for a, ref in zip(sent, got["refs"]):
        back = arrays.take(ref)
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)
    with pytest.raises(wire.WireError, match="does not fit"):
        arrays.take(["<f8", [1]])  # past the last array
    for bad in (["<f8", [4], 0, 32], ["<f8"], ["no such dtype", [1]], [["<f8"], [1]]):
        with pytest.raises(wire.WireError, match="malformed array reference"):
            wire.Arrays(got["__data__"]).take(bad)
    with pytest.raises(wire.WireError, match="object arrays"):
        wire.Arrays(got["__data__"]).take(["|O", [1]])


def _observations():
    g = Gradient(GRAD_OK, np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), "bfloat16")
    yield Observation("c", "a", "functional", OK, np.float64(0.25) * np.ones(()), (), "float64",
                      [{"category": "UserWarning", "message": "reduction: 'mean' divides ..."}],
                      grad_input=g, grad_target=Gradient(GRAD_NONE), seconds=1.234567891)
    yield Observation("c", "a", "module", RAISED, error={"type": "ValueError", "message": "bad"},
                      grad_input=None, grad_target=None, seconds=0.0)
    yield Observation("c", "a", "module", OK, np.zeros((0, 4), np.float16), (0, 4), "float16",
                      grad_input=Gradient(GRAD_ERROR, message="RuntimeError: no"),
                      grad_target=Gradient(GRAD_ERROR, message="RuntimeError: no"))
    yield Observation("c", "a", "functional", UNSUPPORTED, unsupported="log_target", detail="d")


def test_observations_cross_the_wire_whole():
    frame = wire.Frame()
    sent = list(_observations())
    got = _pipe_with(frame.pack({"observations": [o.to_wire(frame) for o in sent]})).read()
    arrays = wire.Arrays(got.get("__data__"))
    back = [Observation.from_wire(fields, "c", "a", arrays) for fields in got["observations"]]
    for o, b in zip(sent, back, strict=True):
        for name in Observation.__dataclass_fields__:
            x, y = getattr(o, name), getattr(b, name)
            if name == "seconds":
                assert y == pytest.approx(x, abs=1e-9)
            elif isinstance(x, Gradient):
                assert (y.status, y.dtype, y.message) == (x.status, x.dtype, x.message)
                assert (x.value is None and y.value is None) or np.array_equal(x.value, y.value)
            elif isinstance(x, np.ndarray):
                assert y.dtype == x.dtype and y.shape == x.shape and np.array_equal(x, y)
            else:
                assert y == x, name
    with pytest.raises(wire.WireError, match="17 fields, not 18"):
        Observation.from_wire(got["observations"][0][:-1], "c", "a", arrays)
