"""The runner <-> worker protocol: every message round-trips, and every malformed stream is named as such."""

import json
import os
import struct
import threading

import numpy as np
import pytest

from kl_compat import wire
from kl_compat.adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, OK, RAISED, UNSUPPORTED, Gradient, Observation
from kl_compat.spec import Call


def _pipe_with(data: bytes) -> wire.Reader:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return wire.Reader(r)


def _frame(header, data: bytes = b"") -> bytes:
    """A frame built by hand around a header (JSON-able, or raw bytes) and array data."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">I", 4 + len(h) + len(data)) + struct.pack(">I", len(h)) + h + data


def _assert_same_array(back, sent):
    assert back.dtype == sent.dtype and back.shape == sent.shape
    np.testing.assert_array_equal(back, sent)


def test_hello_and_unavailable_round_trip():
    hello = wire.Hello("torch", "torch", "2.13.0", ["functional", "module"], 16, {"python": "3.11.2"},
                       goldens="ab" * 32)
    got = _pipe_with(wire.encode(hello) + wire.encode(wire.Unavailable("x", "ImportError: no", "pip install x"))
                     + wire.encode(wire.Unavailable("y", "died"))).read
    assert got() == hello
    assert got() == wire.Unavailable("x", "ImportError: no", "pip install x")
    assert got().hint is None
    assert hello.info() == {"type": "hello", "adapter": "torch", "framework": "torch", "version": "2.13.0",
                            "surfaces": ["functional", "module"], "batch_size": 16, "python": "3.11.2",
                            "goldens": "ab" * 32}


def test_tasks_by_id_and_with_their_operands_round_trip():
    x = np.arange(6, dtype=np.float32).reshape(2, 3).T  # not C-contiguous: sent in C order
    y = np.array([np.nan, -np.inf, 5e-324])
    tasks = wire.Tasks([wire.Task(0, "core/a", ("functional", "module")),
                        wire.Task(1, "fuzz/b", ("module",), wire.Operands(x, y, Call("sum", True, None, False),
                                                                          "bfloat16", "float64")),
                        wire.Task(2, "core/c", ("functional",))])
    got = _pipe_with(wire.encode(tasks)).read()
    assert [(t.seq, t.case_id, t.surfaces) for t in got.tasks] == [(0, "core/a", ("functional", "module")),
                                                                  (1, "fuzz/b", ("module",)), (2, "core/c", ("functional",))]
    assert got.tasks[0].operands is None and got.tasks[2].operands is None
    o = got.tasks[1].operands
    _assert_same_array(o.input, x)
    _assert_same_array(o.target, y)
    assert (o.call, o.input_dtype, o.target_dtype) == (Call("sum", True, None, False), "bfloat16", "float64")


def _observations():
    g = Gradient(GRAD_OK, np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3), "bfloat16")
    yield Observation("", "", "functional", OK, np.float64(0.25) * np.ones(()), (), "float64",
                      [{"category": "UserWarning", "message": "reduction: 'mean' divides ..."}],
                      grad_input=g, grad_target=Gradient(GRAD_NONE), seconds=1.234567891)
    yield Observation("", "", "module", RAISED, error={"type": "ValueError", "message": "bad"},
                      grad_input=None, grad_target=None, seconds=0.0)
    yield Observation("", "", "module", OK, np.zeros((0, 4), np.float16), (0, 4), "float16",
                      grad_input=Gradient(GRAD_ERROR, message="RuntimeError: no"),
                      grad_target=Gradient(GRAD_ERROR, message="RuntimeError: no"))
    yield Observation("", "", "functional", UNSUPPORTED, unsupported="log_target", detail="d")


def test_answers_carry_every_field_of_their_observations():
    sent = list(_observations())
    got = _pipe_with(wire.encode(wire.Answers([7, 7, 8, 9], sent))).read()
    assert got.seqs == [7, 7, 8, 9]
    for o, b in zip(sent, got.observations, strict=True):
        for name in Observation.__dataclass_fields__:
            x, y = getattr(o, name), getattr(b, name)
            if name == "seconds":
                assert y == pytest.approx(x, abs=1e-9)
            elif isinstance(x, Gradient):
                assert (y.status, y.dtype, y.message) == (x.status, x.dtype, x.message)
                assert (x.value is None and y.value is None) or np.array_equal(x.value, y.value)
            elif isinstance(x, np.ndarray):
                _assert_same_array(y, x)
            else:
                assert y == x, name


def test_many_frames_in_one_chunk_are_all_seen_without_another_read():
    r, w = os.pipe()
    os.write(w, b"".join(wire.encode(wire.Tasks([wire.Task(i, f"c{i}", ("functional",))])) for i in range(50)))
    reader = wire.Reader(r)
    assert reader.read().tasks[0].seq == 0
    os.close(w)  # everything else must come from the reader's buffer
    seen = []
    while reader.has_frame():
        seen.append(reader.read().tasks[0].seq)
    assert seen == list(range(1, 50))


def test_a_frame_larger_than_the_pipe_arrives_whole_with_the_next_one_after_it():
    big = np.arange(3 * 2**20 // 8, dtype=np.float64)  # 3 MiB: many fills of a pipe, several reads
    first = wire.Tasks([wire.Task(0, "big", ("functional",), wire.Operands(big, big[:1], Call(), "float64", "float64"))])
    r, w = os.pipe()
    writer = threading.Thread(target=wire.write, args=(w, wire.encode(first) + wire.encode(wire.Unavailable("n", "r"))))
    writer.start()
    reader = wire.Reader(r)
    np.testing.assert_array_equal(reader.read().tasks[0].operands.input, big)
    assert reader.read() == wire.Unavailable("n", "r")
    writer.join()
    os.close(w)
    with pytest.raises(EOFError):
        reader.read()


def test_a_stream_cut_mid_frame_is_a_wire_error():
    frame = wire.encode(wire.Answers([0], list(_observations())[:1]))
    with pytest.raises(wire.WireError, match="short of a frame"):
        _pipe_with(frame[:-3]).read()
    with pytest.raises(wire.WireError, match="short of a frame"):
        _pipe_with(frame[:2]).read()
    with pytest.raises(wire.WireError, match="exceeds"):
        _pipe_with(struct.pack(">I", wire.MAX_FRAME + 1) + b"\0" * 8).read()


def test_a_truncated_body_is_a_wire_error():
    body = wire.encode(wire.Hello("a", "f", "1", ["functional"], 1, {}))[4:]
    for cut in (body[:2], body[:10], body[:-1]):
        with pytest.raises(wire.WireError):
            wire.decode(cut)


@pytest.mark.parametrize("header, data, match", [
    (b"{not json", b"", "malformed frame header"),
    (b"\xff\xfe", b"", "malformed frame header"),
    (["no such type", []], b"", "malformed frame header"),
    ({"type": "hello"}, b"", "malformed frame header"),
    (["hello", ["a", "f"]], b"", "malformed frame header"),  # too few fields
    (["tasks", [[0, "c", ["functional"], ["<f8", [100]], ["<f8", [1]], "float64", "float64",
                 ["mean", False, None, None]]]], b"\0" * 16, "does not fit"),
    (["tasks", [[0, "c", ["functional"], ["|O", [1]], ["<f8", [1]], "float64", "float64",
                 ["mean", False, None, None]]]], b"\0" * 16, "object arrays"),
    (["tasks", [[0, "c", ["functional"], ["<f8", [1], 0], ["<f8", [1]], "float64", "float64",
                 ["mean", False, None, None]]]], b"\0" * 16, "malformed array reference"),
    (["tasks", [[0, "c", ["functional"], ["no such dtype", [1]], ["<f8", [1]], "float64", "float64",
                 ["mean", False, None, None]]]], b"\0" * 16, "malformed array reference"),
    (["tasks", [[0, "c", ["functional"]]]], b"\0" * 8, "belong to no array"),  # bytes left over
    (["answers", [[0, 1], [[]]]], b"", "2 tasks"),
    (["answers", [[0], [list(range(19))]]], b"", "19 fields, not 20"),
])
def test_garbage_frames_are_wire_errors(header, data, match):
    with pytest.raises(wire.WireError, match=match):
        _pipe_with(_frame(header, data)).read()


def test_what_cannot_travel_is_refused_when_encoded():
    with pytest.raises(TypeError, match="object arrays"):
        wire.encode(wire.Tasks([wire.Task(0, "c", ("functional",),
                                          wire.Operands(np.array([object()]), np.zeros(1), Call(), "f", "f"))]))
    with pytest.raises(TypeError):
        wire.encode(wire.Hello("a", "f", "1", ["functional"], 1, {"not json": {1, 2}}))
