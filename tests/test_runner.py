"""The runner against adapters that crash, hang, raise and return garbage: every case is accounted for."""

import collections
import dataclasses

import numpy as np
import pytest

from kl_compat import golden, runner, wire
from kl_compat.compare import judge


@pytest.fixture(scope="module")
def small_cases(golden_cases):
    # 0-d, 2-d and 4-d cases: the 4-d ones crash SegfaultAdapter, the 0-d ones hang HangAdapter.
    picked = [c for c in golden_cases if c.group == "core" and c.sample.startswith("proper/")
              and "/float32/" in c.id]
    assert len(picked) == 40
    return picked


def _run(adapter, cases, **kw):
    seen = []
    state = runner.run_adapter(adapter, cases, seen.append, **kw)
    return state, seen


def test_spec_adapter_matches_every_golden(fault_env, golden_cases):
    state, seen = _run("fault_adapters:SpecAdapter", golden_cases)
    assert state.available and state.restarts == 0
    assert [o.case_id for o in seen] == [c.id for c in golden_cases]
    by_id = {c.id: c for c in golden_cases}
    verdicts = [judge(by_id[o.case_id], o) for o in seen]
    bad = [(o.case_id, [d.message for d in v.differences]) for o, v in zip(seen, verdicts) if v.status != "match"]
    assert bad == []


def test_segfault_is_recorded_and_the_run_goes_on(fault_env, small_cases):
    state, seen = _run("fault_adapters:SegfaultAdapter", small_cases)
    assert [o.case_id for o in seen] == [c.id for c in small_cases]
    for o, c in zip(seen, small_cases):
        if c.input.ndim == 4:
            assert o.status == "crashed" and "SIGSEGV" in o.detail
        else:
            assert o.status == "ok"
    assert state.restarts == sum(c.input.ndim == 4 for c in small_cases)


@pytest.mark.parametrize("adapter", ["BatchingSegfaultAdapter", "OneGoSegfaultAdapter"])
def test_batching_worker_crash_is_pinned_on_the_right_case(fault_env, small_cases, adapter):
    state, seen = _run(f"fault_adapters:{adapter}", small_cases)
    assert [o.case_id for o in seen] == [c.id for c in small_cases]
    statuses = {o.case_id: o.status for o in seen}
    assert all(statuses[c.id] == ("crashed" if c.input.ndim == 4 else "ok") for c in small_cases)
    crashes = sum(c.input.ndim == 4 for c in small_cases)
    if adapter == "BatchingSegfaultAdapter":
        assert state.restarts == crashes  # its in-flight slot named each case: one death each
    else:  # no slot to read: each batch that died is sent again one task at a time, so two deaths each
        assert crashes < state.restarts <= 2 * crashes


def test_a_crash_mid_batch_keeps_what_came_before_it_and_the_order(fault_env, small_cases):
    state, seen = _run("fault_adapters:TwoSurfaceSegfaultAdapter", small_cases)
    assert [(o.case_id, o.surface) for o in seen] == [(c.id, s) for c in small_cases for s in ("functional", "module")]
    for o, (c, s) in zip(seen, [(c, s) for c in small_cases for s in ("functional", "module")]):
        assert o.status == ("crashed" if c.input.ndim == 4 and s == "module" else "ok"), (o.case_id, o.surface)
    assert state.restarts == sum(c.input.ndim == 4 for c in small_cases)


def test_a_hang_in_a_batch_costs_one_timeout(fault_env, small_cases):
    cases = [c for c in small_cases if c.input.ndim in (0, 1)][:6]
    hangs = sum(c.input.ndim == 0 for c in cases)
    assert hangs >= 1
    state, seen = _run("fault_adapters:BatchingHangAdapter", cases, timeout=1.5)
    assert [o.status for o in seen] == ["timeout" if c.input.ndim == 0 else "ok" for c in cases]
    assert state.restarts == hangs  # not a second timeout to find the culprit


def _timed(adapter, cases, **kw):
    import time

    start = time.monotonic()
    state, seen = _run(adapter, cases, **kw)
    return state, seen, time.monotonic() - start


def test_the_timeout_is_per_observation_not_per_batch(fault_env, small_cases):
    """Batches of 16 observations of 0.2 s each (3.2 s a batch) under --timeout 2: none times out."""
    cases = [c for c in small_cases if c.input.ndim > 0][:20]
    state, seen, seconds = _timed("fault_adapters:BatchingSlowAdapter", cases, timeout=2.0)
    assert [o.status for o in seen] == ["ok"] * 20, [(o.case_id, o.status, o.detail) for o in seen if o.status != "ok"]
    assert state.restarts == 0
    assert seconds >= 20 * 0.2  # the batches did take longer than the timeout


def test_one_slow_observation_in_a_batch_still_times_out_alone(fault_env, small_cases):
    cases = [c for c in small_cases if c.input.ndim > 0][:8]
    (hang,) = [c for c in small_cases if c.input.ndim == 0][:1]
    cases = cases[:5] + [hang] + cases[5:]  # in the middle of one batch, after 1 s of observations
    state, seen, seconds = _timed("fault_adapters:BatchingSlowHangAdapter", cases, timeout=2.0)
    assert [o.case_id for o in seen] == [c.id for c in cases]
    assert [o.status for o in seen] == ["timeout" if c is hang else "ok" for c in cases]
    (late,) = [o for o in seen if o.status == "timeout"]
    assert late.detail == "no answer within 2 s; worker killed"
    assert state.restarts == 1
    assert seconds < 30  # the hang cost one timeout, not a wait for the hour it sleeps


def test_an_adapter_observing_a_batch_in_one_go_has_the_timeout_times_its_length(fault_env, small_cases):
    """As the R adapter: the slot names the whole batch (16 observations: 16 x 2 s), so a batch of 3.2 s
    is within it; a batch holding a hang times out, and the one-at-a-time re-send finds the culprit."""
    cases = [c for c in small_cases if c.input.ndim > 0][:20]
    state, seen, _ = _timed("fault_adapters:OneGoSlowAdapter", cases, timeout=2.0)
    assert [o.status for o in seen] == ["ok"] * 20 and state.restarts == 0
    few = [c for c in small_cases if c.input.ndim > 0][:3]
    (hang,) = [c for c in small_cases if c.input.ndim == 0][:1]
    cases = few[:1] + [hang] + few[1:]
    state, seen, _ = _timed("fault_adapters:OneGoSlowHangAdapter", cases, timeout=0.5)
    assert [o.status for o in seen] == ["timeout" if c is hang else "ok" for c in cases]
    assert "no answer within 0.5 s" in next(o.detail for o in seen if o.status == "timeout")
    assert state.restarts == 2  # the batch's limit (4 x 0.5 s), then the hang alone (0.5 s)


def test_hang_times_out_and_the_run_goes_on(fault_env, small_cases):
    cases = [c for c in small_cases if c.input.ndim in (0, 1)][:6]
    assert any(c.input.ndim == 0 for c in cases)
    state, seen = _run("fault_adapters:HangAdapter", cases, timeout=1.5)
    assert [o.case_id for o in seen] == [c.id for c in cases]
    for o, c in zip(seen, cases):
        assert o.status == ("timeout" if c.input.ndim == 0 else "ok")
        if o.status == "timeout":
            assert "no answer within 1.5 s" in o.detail


def test_an_adapter_that_always_raises(fault_env, small_cases):
    _, seen = _run("fault_adapters:RaiseAdapter", small_cases)
    assert len(seen) == len(small_cases)
    assert {o.status for o in seen} == {"raised"}
    assert seen[0].error == {"type": "RuntimeError", "message": "this adapter raises on every case",
                             "classes": ["RuntimeError", "Exception", "BaseException"]}


def test_garbage_shapes_are_judged_not_fatal(fault_env, small_cases, golden_by_id):
    _, seen = _run("fault_adapters:GarbageShapeAdapter", small_cases)
    assert len(seen) == len(small_cases)
    kinds = collections.Counter(d.kind for o in seen for d in judge(golden_by_id[o.case_id], o).differences)
    assert kinds["shape"] == len(small_cases)
    assert kinds["gradient"] > 0


def test_unavailable_adapter_marks_every_task(fault_env, small_cases):
    state, seen = _run("fault_adapters:ImportFailsAdapter", small_cases[:3])
    assert not state.available
    assert "No module named 'nothing_at_all'" in state.reason and state.hint == "pip install nothing-at-all"
    assert [o.status for o in seen] == ["unavailable"] * 3


def test_unknown_adapter_name(small_cases):
    state, seen = _run("no-such-adapter", small_cases[:2])
    assert not state.available and "unknown adapter 'no-such-adapter'" in state.reason
    assert len(seen) == 2


@pytest.fixture(scope="module")
def goldens(golden_cases):
    d = golden.default_dir()
    return runner.Goldens.of(d, golden.read_manifest(d), golden_cases)


def test_a_worker_holding_the_goldens_is_sent_their_ids_and_other_cases_whole(fault_env, small_cases, goldens):
    # Same id, other inputs: only the very object loaded from the goldens may travel as an id.
    other = dataclasses.replace(small_cases[1], input=small_cases[1].input - 1.0)
    cases = [small_cases[0], other, small_cases[2]]
    sent = []
    real_send = runner.Worker.send

    def send(worker, payload):  # one frame of tasks: by id, or whole with their operands
        msg = wire.decode(payload[4:])
        assert 4 + int.from_bytes(payload[:4], "big") == len(payload) and isinstance(msg, wire.Tasks)
        sent.extend(("by id" if t.operands is None else "whole", t.case_id) for t in msg.tasks)
        real_send(worker, payload)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner.Worker, "send", send)
        state, seen = _run("fault_adapters:SpecAdapter", cases, goldens=goldens)
    assert state.info["goldens"] == goldens.digest
    assert sent == [("by id", cases[0].id), ("whole", other.id), ("by id", cases[2].id)]
    expected = [golden.expectation(np.asarray(c.input, np.float64), np.asarray(c.target, np.float64), c.call,
                                   c.input_dtype, c.target_dtype).value for c in cases]
    assert [o.status for o in seen] == ["ok"] * 3
    for o, want in zip(seen, expected):
        np.testing.assert_array_equal(o.value, want)
    assert not np.array_equal(seen[1].value, small_cases[1].expected.value)  # the edited inputs were used


def test_goldens_the_worker_cannot_confirm_are_sent_whole(fault_env, small_cases, goldens, tmp_path):
    # A digest that is not the directory's, then a directory that does not load: the worker says so
    # in its hello and every case travels with its arrays, observed as before.
    for bad in (dataclasses.replace(goldens, digest="0" * 64), dataclasses.replace(goldens, directory=tmp_path)):
        state, seen = _run("fault_adapters:SpecAdapter", small_cases[:4], goldens=bad)
        assert state.available
        assert [o.status for o in seen] == ["ok"] * 4
        assert state.info.get("goldens") != bad.digest
    assert "manifest.json: missing" in state.info["goldens_error"]


def test_a_batching_worker_crash_is_pinned_with_cases_sent_by_id(fault_env, small_cases, goldens):
    state, seen = _run("fault_adapters:BatchingSegfaultAdapter", small_cases, goldens=goldens)
    assert state.info["goldens"] == goldens.digest
    assert [o.case_id for o in seen] == [c.id for c in small_cases]
    assert all(o.status == ("crashed" if c.input.ndim == 4 else "ok") for o, c in zip(seen, small_cases))
    assert state.restarts == sum(c.input.ndim == 4 for c in small_cases)


def test_the_answer_pipe_is_widened_where_linux_allows(fault_env):
    fcntl = pytest.importorskip("fcntl")
    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("no F_GETPIPE_SZ (not Linux): the default pipe size is kept")
    with open("/proc/sys/fs/pipe-max-size") as f:
        if int(f.read()) < runner._ANSWER_PIPE_BYTES:
            pytest.skip("pipe-max-size is below the size the runner asks for")
    with runner.AdapterSession("fault_adapters:SpecAdapter") as session:
        assert session.start()
        fd = session.worker.proc.stdout.fileno()
        # A worker can write a large case's answer (arrays of ~100k elements) without waiting for the runner.
        assert fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) >= runner._ANSWER_PIPE_BYTES
