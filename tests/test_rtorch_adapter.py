"""The R torch adapter (adapters/rtorch_backend.py + adapters/rtorch.R).

Three kinds of test:
  - no marker: pure Python (capabilities, routing of unsupported calls, no PyTorch import);
  - `r` (R and rpy2): the real Python <-> R plumbing, run with rtorch.R's base-R TEST kernel, which is
    NOT R torch and is never reported as such: conversions, warnings and errors, batching, injection,
    and the "unavailable" path where the R package torch is missing;
  - `rtorch` (the R package torch itself): the adapter on golden cases, always in a worker process (the
    way a run uses it; R torch's libtorch must not share a process with PyTorch).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kl_compat.adapters import REGISTRY
from kl_compat.adapters import rtorch_backend as rb
from kl_compat.adapters.base import GRAD_ERROR, GRAD_NONE, GRAD_OK, OK, RAISED, UNAVAILABLE, UNSUPPORTED, Observation
from kl_compat.spec import Call

TEST_KERNEL = "TEST_base_r"
TEST_LABEL = "TEST-base-r (not R torch)"
FLOATS = ("float16", "bfloat16", "float32", "float64")
ALL_DTYPES = FLOATS + ("int32", "int64", "bool")


# ---- fixtures -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session():
    pytest.importorskip("rpy2", reason="rpy2 is not installed (pip install 'rpy2>=3.5.17')")
    try:
        return rb.r_session()
    except ImportError as e:
        pytest.skip(f"R cannot be started through rpy2: {e}")


@pytest.fixture(scope="module")
def bridge(session):
    """The real bridge, with the base-R TEST kernel instead of R torch."""
    return rb.RBridge(TEST_KERNEL, TEST_LABEL)


def _r_torch_installed(session) -> bool:
    # find.package does not load the package (loading it would put libtorch in this process).
    return len(session.ri.baseenv["find.package"](session.ri.StrSexpVector(["torch"]),
                                                  quiet=session.ri.BoolSexpVector([True]))) > 0


@pytest.fixture(scope="module")
def r_torch_missing(session):
    # Debian's R adds its site library whatever R_LIBS_SITE says (Renviron.site), so where R torch is
    # installed there, no R process started from here can be made to miss it.
    if _r_torch_installed(session):
        pytest.skip("the R package torch is installed here: the unavailable path cannot be observed")


@pytest.fixture(scope="module")
def r_torch(session):
    if not _r_torch_installed(session):
        pytest.skip("R package torch is not installed")
    from kl_compat.runner import run_adapter

    state = run_adapter("rtorch", [], lambda obs: None)
    if not state.available:
        pytest.skip(f"R package torch is installed but cannot run: {state.reason}")
    return state


def task(case_id, surface, x, y, reduction="none", input_dtype="float64", target_dtype=None, log_target=False):
    return (case_id, surface, x, y, Call(reduction, log_target), input_dtype, target_dtype or input_dtype)


# ---- pure Python ----------------------------------------------------------------------------------------

def test_registry_has_rtorch_and_never_the_test_kernel():
    assert REGISTRY["rtorch"] == "kl_compat.adapters.rtorch_backend:RTorchAdapter"
    assert not any("TEST" in target or "TEST" in name for name, target in REGISTRY.items())


def test_declared_identity():
    a = rb.RTorchAdapter
    assert (a.name, a.framework) == ("rtorch", "torch (R)")
    assert a.surfaces == ("nnf_kl_div", "nn_kl_div_loss", "torch_kl_div")
    assert a.batch_size >= 32
    assert 'install.packages("torch")' in a.install_hint and "torch::install_torch()" in a.install_hint


def test_module_has_no_pytorch_import():
    for path in (Path(rb.__file__),):
        assert not re.search(r"^\s*(import\s+torch\b|from\s+torch\b)", path.read_text(), re.M), path


def test_adapter_declares_no_unsupported_arguments():
    """What a surface lacks is observed by calling it, never declared: no call is filtered in Python."""
    a = rb.RTorchAdapter()
    for surface in a.surfaces:
        for call in (Call("mean", size_average=False), Call("sum", log_target=True), Call("batchmean"), Call(None)):
            assert a.unsupported_argument(surface, call, "float32", "float32") is None


class _RecordingBridge:
    """A stand-in for RBridge in one routing test (no R): records what would cross, answers in order."""

    def __init__(self):
        self.sent = []

    def observe(self, tasks):
        self.sent.append(list(tasks))
        return [Observation(t[0], "recording", t[1], OK) for t in tasks]


def test_every_task_goes_to_r_in_one_crossing_and_order_is_kept():
    a = rb.RTorchAdapter()
    a._bridge = _RecordingBridge()
    x = np.zeros((2, 2))
    tasks = [task("a", "nnf_kl_div", x, x, "sum"),
             task("b", "nnf_kl_div", x, x, "sum", log_target=True),
             task("c", "torch_kl_div", x, x, "batchmean"),
             ("d", "nn_kl_div_loss", x, x, Call("mean", size_average=True), "float64", "float64")]
    out = a.observe_batch(tasks)
    assert [o.case_id for o in out] == list("abcd")
    assert len(a._bridge.sent) == 1 and [t[0] for t in a._bridge.sent[0]] == list("abcd")
    with pytest.raises(ValueError, match="no surface"):
        a.observe_batch([task("g", "functional", x, x)])


# ---- R, with the base-R TEST kernel ---------------------------------------------------------------------

def _bfloat16_values(values) -> np.ndarray:
    """float32 values that bfloat16 holds exactly (the low 16 bits cleared)."""
    bits = np.asarray(values, np.float32).view(np.uint32) & np.uint32(0xFFFF0000)
    return bits.view(np.float32)


def _values(dtype: str, n: int) -> np.ndarray:
    """n distinct values of `dtype` in its storage, led by the awkward ones."""
    if dtype == "bool":
        return (np.arange(n) % 3 == 1)
    if dtype == "int32":
        special = [-2**31, 2**31 - 1, 0, -1, 7]  # -2**31 is NA_integer_ in R: must not become NA
        return np.array((special + list(range(100, 100 + n)))[:n], np.int32)
    if dtype == "int64":
        special = [-2**53, 2**53, -2**31, 2**31 + 5, 0, -3]
        return np.array((special + list(range(100, 100 + n)))[:n], np.int64)
    special = [-0.0, np.nan, np.inf, -np.inf, 0.0, 1 / 3, -2.5]
    special += {"float16": [6e-8, 65504.0], "bfloat16": [1e-40, 3e38], "float32": [1e-45, 3.4e38],
                "float64": [5e-324, 1.7e308]}[dtype]
    storage = np.float16 if dtype == "float16" else np.float64 if dtype == "float64" else np.float32
    values = np.array((special + [0.5 + k / 64 for k in range(n)])[:n]).astype(storage)
    return _bfloat16_values(values) if dtype == "bfloat16" else values


def _layouts(dtype: str):
    """(label, array) pairs: 0-d, empty, 1-D, 3-D and two non-contiguous views."""
    def make(shape):
        return _values(dtype, int(np.prod(shape))).reshape(shape)
    yield "0d", make(())
    yield "empty-0", make((0,))
    yield "empty-3x0", make((3, 0))
    yield "1d", make((7,))
    yield "3d", make((2, 3, 4))
    t = make((3, 4)).T
    assert not t.flags.c_contiguous
    yield "transposed", t
    s = make((6, 9))[::2, 1::3]
    assert not s.flags.c_contiguous and not s.flags.f_contiguous
    yield "strided", s


def _same(observed: np.ndarray, expected: np.ndarray) -> bool:
    expected = np.asarray(expected)
    if observed.shape != expected.shape:
        return False
    e = expected.astype(np.float64)
    return bool(np.array_equal(observed, e, equal_nan=True) and np.array_equal(np.signbit(observed), np.signbit(e)))


@pytest.mark.r
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_round_trip_every_dtype_and_layout(bridge, dtype):
    """numpy -> R -> numpy through the identity surface, for every dtype and layout the matrix uses.

    What is checked, and what base R can represent: the values come back bit for bit (nan, +-inf, -0.0,
    subnormals and extremes included) because every float dtype travels as an R double (which holds all
    their values) and int32/int64 as doubles (exact to 2**53, which covers the values used; R has no
    int64, and -2**31 is NA as an R integer), bool as logicals; the shape comes back exactly, 0-d as a
    length-1 R vector without dim(); the dtype name comes back as sent (R has no float16, bfloat16 or
    int64 arrays: the name travels beside the values); the result is row-major whatever the input's
    strides. The gradient of the identity is ones for float dtypes and "none" for the others (they
    never require a gradient); the target's gradient is "none" (it is not used).
    """
    layouts = list(_layouts(dtype))
    tasks = [task(f"{dtype}/{label}", "identity", a, a, input_dtype=dtype) for label, a in layouts]
    observations = bridge.observe(tasks)
    for (label, a), obs in zip(layouts, observations):
        where = f"{dtype}/{label}"
        assert obs.case_id == where and obs.adapter == TEST_LABEL and obs.status == OK, (where, obs)
        assert obs.shape == a.shape and obs.dtype == dtype, where
        assert obs.value.shape == a.shape and obs.value.flags.c_contiguous, where
        assert obs.value.dtype == (np.float64 if dtype in FLOATS else np.int64), where
        assert _same(obs.value, a), (where, obs.value, a)
        assert obs.warnings == [] and obs.error is None
        if dtype in FLOATS:
            assert obs.grad_input.status == GRAD_OK and obs.grad_input.dtype == dtype, where
            assert _same(obs.grad_input.value, np.ones(a.shape)), where
        else:
            assert obs.grad_input.status == GRAD_NONE, where
        assert obs.grad_target.status == GRAD_NONE, where


@pytest.mark.r
@pytest.mark.parametrize("view", ["c", "transposed", "strided"])
def test_r_sees_numpy_indexing(session, bridge, view):
    """In R, x[i, j, k] is NumPy's a[i-1, j-1, k-1]: R torch builds tensors from R's indexing."""
    base = np.arange(2 * 3 * 4 * 3, dtype=np.float64)
    a = {"c": base[:24].reshape(2, 3, 4),
         "transposed": base[:24].reshape(4, 3, 2).transpose(2, 1, 0),
         "strided": base.reshape(2, 3, 12)[:, :, ::3]}[view]
    ri = session.ri
    with session.localconverter(session.converter) as cv:
        r = bridge.r_array(a, "float64", cv)
    assert tuple(ri.baseenv["dim"](r)) == (2, 3, 4)
    for i, j, k in [(1, 1, 1), (2, 1, 1), (1, 2, 1), (1, 1, 2), (2, 3, 4), (1, 3, 2)]:
        got = ri.baseenv["["](r, ri.IntSexpVector([i]), ri.IntSexpVector([j]), ri.IntSexpVector([k]))[0]
        assert got == a[i - 1, j - 1, k - 1], (i, j, k)


@pytest.mark.r
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_values_and_gradients_keep_their_layout(bridge, log_target):
    rng = np.random.default_rng(7)
    x = np.log(rng.uniform(0.05, 1, (2, 3, 4)))
    y = rng.uniform(0.05, 1, (2, 3, 4)) if not log_target else np.log(rng.uniform(0.05, 1, (2, 3, 4)))
    x_view, y_view = x.transpose(0, 2, 1), y.transpose(0, 2, 1)  # non-contiguous operands
    terms = np.exp(y_view) * (y_view - x_view) if log_target else y_view * (np.log(y_view) - x_view)
    gx = -np.exp(y_view) if log_target else -y_view
    gy = np.exp(y_view) * (y_view - x_view + 1) if log_target else np.log(y_view) + 1 - x_view
    scales = {"none": 1, "sum": 1, "mean": 1 / terms.size, "batchmean": 1 / 2}
    values = {"none": terms, "sum": terms.sum(), "mean": terms.mean(), "batchmean": terms.sum() / 2}
    obs = bridge.observe([task(r, "kl_div", x_view, y_view, r, "float32", "float64", log_target) for r in scales])
    for (reduction, scale), o in zip(scales.items(), obs):
        assert o.status == OK and o.dtype == "float64", o
        assert o.shape == np.shape(values[reduction])
        np.testing.assert_allclose(o.value, values[reduction], rtol=1e-13)
        np.testing.assert_allclose(o.grad_input.value, gx * scale, rtol=1e-13)
        np.testing.assert_allclose(o.grad_target.value, gy * scale, rtol=1e-13)
        assert (o.grad_input.dtype, o.grad_target.dtype) == ("float32", "float64")
        assert [w["category"] for w in o.warnings] == (["klc_test_mean_warning/warning/condition"]
                                                       if reduction == "mean" else [])


@pytest.mark.r
def test_reductions_that_are_not_strings_arrive_as_null_and_numbers(bridge):
    x = np.ones((2, 2))
    none, one, half, flag = bridge.observe([task("n", "kl_div", x, x, None), task("i", "kl_div", x, x, 1),
                                            task("d", "kl_div", x, x, 0.5), task("b", "kl_div", x, x, True)])
    assert none.status == one.status == half.status == flag.status == RAISED
    assert none.error["message"] == "TEST kernel: reduction must be one string, not NULL"
    assert one.error["message"] == "TEST kernel: reduction must be one string, not 1L"
    assert half.error["message"] == "TEST kernel: reduction must be one string, not 0.5"
    assert flag.error["message"] == "TEST kernel: reduction must be one string, not TRUE"
    assert none.error["type"] == "simpleError/error/condition"


@pytest.mark.r
def test_an_argument_r_refuses_is_unsupported_with_rs_own_message(bridge):
    x = np.full((2, 2), 0.5)
    one, both, kept = bridge.observe([
        ("s", "kl_div", x, x, Call("sum", size_average=False), "float64", "float64"),
        ("b", "kl_div", x, x, Call("sum", size_average=True, reduce=False), "float64", "float64"),
        ("k", "kl_div", x, x, Call("sum"), "float64", "float64")])
    assert one.status == UNSUPPORTED and one.unsupported == "size_average"
    assert one.error == {"type": "simpleError/error/condition", "message": "unused argument (size_average = FALSE)",
                         "classes": ["simpleError", "error", "condition"]}
    assert both.status == UNSUPPORTED and both.unsupported == "size_average/reduce"
    assert both.error["message"] == "unused arguments (size_average = TRUE, reduce = FALSE)"
    assert kept.status == OK and kept.unsupported is None


@pytest.mark.r
def test_only_rs_unused_argument_error_means_unsupported(session):
    classify = session.function("klc_unused_arguments")
    make = session.ri.baseenv["simpleError"]
    for message, want in (("unused argument (log_target = TRUE)", ["log_target"]),
                          ("unused arguments (size_average = FALSE, reduce = NULL)", ["size_average/reduce"]),
                          ("an unused argument (x = 1) somewhere", None),
                          ("unused argument", None),
                          ("Not compatible with requested type: [type=character; target=double].", None)):
        got = classify(make(session.ri.StrSexpVector([message])))
        assert (None if got.typeof == 0 else list(got)) == want, message


@pytest.mark.r
def test_int64_beyond_2_53_is_refused_before_crossing(bridge):
    big = np.array([2**53 + 1], np.int64)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        bridge.observe([task("big", "identity", big, big, input_dtype="int64")])


ODD_MESSAGES = [
    "quotes \" ' and `backticks`",
    "backslashes \\ \\n \\\\ and a real\nnewline and a\ttab",
    "format traps %s %d %% {x} {{y}} $1 \\1",
    "non-ASCII: Kullback\u2013Leibler \u2211 p\u00b7log(p/q) \u00fc\u00df \u65e5\u672c\u8a9e \U0001F600",
    "R code: '); system('echo pwned'); ('",
]


@pytest.mark.r
@pytest.mark.parametrize("message", ODD_MESSAGES)
def test_warnings_and_errors_arrive_verbatim(bridge, message):
    x = np.array([0.25, 0.5])
    warned, raised, backward, unknown = bridge.observe([
        task("w", "warn", x, x, message), task("e", "error", x, x, message),
        task("b", "backward_error", x, x, message), task("k", "kl_div", x, x, message)])
    assert warned.status == OK
    assert warned.warnings == [{"category": "klc_test_warning/warning/condition", "message": message},
                               {"category": "simpleWarning/warning/condition", "message": "plain: " + message}]
    assert raised.status == RAISED and raised.value is None
    assert raised.error == {"type": "klc_test_error/error/condition", "message": message,
                            "classes": ["klc_test_error", "error", "condition"]}
    assert backward.status == OK and _same(backward.value, x)
    for g in (backward.grad_input, backward.grad_target):
        assert g.status == GRAD_ERROR and g.message == "klc_test_backward_error/error/condition: " + message
    assert unknown.status == RAISED and unknown.error["message"] == "TEST kernel: unknown reduction " + message


@pytest.mark.r
def test_a_batch_crosses_once_and_answers_in_order(bridge, monkeypatch):
    calls = []
    entry = bridge._entry
    monkeypatch.setattr(bridge, "_entry", lambda *args: calls.append(len(args[1])) or entry(*args))
    kinds = ("identity", "warn", "error", "kl_div")
    tasks = []
    for i in range(200):
        x = np.full((2, 3), float(i)) if i % 2 else np.full((), float(i))
        y = np.full(x.shape, 0.5)
        tasks.append(task(f"case-{i:03d}", kinds[i % 4], x, y, "sum" if kinds[i % 4] == "kl_div" else f"task {i}"))
    observations = bridge.observe(tasks)
    assert calls == [200]
    assert [o.case_id for o in observations] == [t[0] for t in tasks]
    for i, (t, o) in enumerate(zip(tasks, observations)):
        kind, x = kinds[i % 4], t[2]
        if kind == "identity":
            assert o.status == OK and _same(o.value, x)
        elif kind == "warn":
            assert [w["message"] for w in o.warnings] == [f"task {i}", f"plain: task {i}"]
        elif kind == "error":
            assert o.status == RAISED and o.error["message"] == f"task {i}"
        else:
            assert o.status == OK and o.shape == () and o.value == pytest.approx(np.sum(0.5 * (np.log(0.5) - x)))
            assert o.grad_input.value.shape == x.shape


@pytest.mark.r
def test_r_code_in_strings_is_never_evaluated(bridge, tmp_path):
    target = tmp_path / "pwned"
    payloads = [
        f"'); system('touch {target}'); ('",
        f'"); system("touch {target}"); ("',
        f"`); system('touch {target}'); (`",
        f"\\'); system('touch {target}'); #",
        f"{{system('touch {target}')}}",  # glue syntax
        "mean'); stop('injected'); ('",
    ]
    literal = "'); system('touch /tmp/pwned'); ('"  # the issue's own example
    literal_existed = Path("/tmp/pwned").exists()
    x = np.array([0.25, 0.5])
    tasks = []
    for p in payloads + [literal]:
        tasks += [task(p, "warn", x, x, p), task(p, "error", x, x, p), task(p, "kl_div", x, x, p)]
    records = bridge.run(tasks)  # run() also checks that R echoed every case id verbatim
    assert [r["case_id"] for r in records] == [t[0] for t in tasks]
    for p, (warned, raised, kl) in zip(payloads + [literal], zip(*[iter(records)] * 3)):
        assert warned["warnings"][0]["message"] == p
        assert raised["error"]["message"] == p
        assert kl["error"]["message"] == "TEST kernel: unknown reduction " + p
    assert not target.exists()
    if not literal_existed:
        assert not Path("/tmp/pwned").exists()


@pytest.mark.r
def test_the_worker_never_imports_pytorch():
    code = ("import sys\n"
            "from kl_compat.adapters import adapter_class\n"
            "a = adapter_class('rtorch')()\n"
            "try:\n    a.load()\nexcept ImportError:\n    pass\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ---- R, without the R package torch: the unavailable path ------------------------------------------------

@pytest.mark.r
def test_load_names_the_missing_package_and_the_fix(r_torch_missing):
    code = ("from kl_compat.adapters import rtorch_backend as rb\n"
            "try:\n    rb.RTorchAdapter().load()\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "the R package torch is not installed" in out.stdout
    assert 'install.packages("torch"); torch::install_torch()' in out.stdout


@pytest.mark.r
def test_a_run_records_every_task_unavailable(r_torch_missing):
    from kl_compat import golden
    from kl_compat.runner import run_adapter

    cases = golden.load()[:5]
    seen = []
    state = run_adapter("rtorch", cases, seen.append, surfaces=rb.RTorchAdapter.surfaces)
    assert not state.available
    assert "the R package torch is not installed" in state.reason and "torch::install_torch()" in state.reason
    assert state.hint == rb.RTorchAdapter.install_hint
    assert len(seen) == len(cases) * 3
    assert [(o.case_id, o.surface) for o in seen] == [(c.id, s) for c in cases for s in rb.RTorchAdapter.surfaces]
    assert all(o.status == UNAVAILABLE and o.adapter == "rtorch" and o.detail == state.reason for o in seen)


@pytest.mark.r
def test_doctor_lists_rtorch_unavailable_with_reason_and_fix(r_torch_missing, capsys):
    from kl_compat import cli

    assert cli.main(["doctor", "--adapters", "rtorch"]) == 3  # an adapter asked for that cannot run
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1] == "kl-compat doctor: error: unavailable: rtorch"
    assert re.search(r"rtorch\s+unavailable: ImportError: the R package torch is not installed", out)
    assert 'fix: in R: install.packages("torch"); torch::install_torch()' in out


# ---- the R package torch itself (skipped where it is not installed) ---------------------------------------

def _golden_cases(patterns):
    from kl_compat import golden
    from kl_compat.run import select_cases

    return select_cases(golden.load(), patterns)


@pytest.mark.r
@pytest.mark.rtorch
def test_rtorch_on_golden_cases(r_torch):
    """Shapes and dtypes of R torch's answers on a few golden cases, through a worker, as a run does.

    float16/bfloat16 may raise (whether libtorch's CPU kernel takes them is R torch's business, judged
    by compare); where they answer, the dtype must be theirs. Everything else must answer.
    """
    from kl_compat.runner import run_adapter

    cases = _golden_cases(["core/proper/2d/*/none/prob", "core/proper/2d/*/sum/prob",
                           "core/proper/2d/*/batchmean/prob", "core/proper/3d/float32/*/prob",
                           "core/proper/0d/float64/none/prob", "core/proper/1d/float64/sum/prob",
                           "core/proper/2d/float32/sum/log"])
    assert len(cases) == 19
    by_id = {c.id: c for c in cases}
    seen = []
    state = run_adapter("rtorch", cases, seen.append)
    assert state.available and state.info["framework"] == "torch (R)"
    assert [(o.case_id, o.surface) for o in seen] == [(c.id, s) for c in cases for s in rb.RTorchAdapter.surfaces]
    for obs in seen:
        case = by_id[obs.case_id]
        if case.call.log_target and obs.surface != "torch_kl_div":
            # observed: R itself refuses the argument
            assert obs.status == UNSUPPORTED and obs.unsupported == "log_target", obs
            assert obs.error["message"] == "unused argument (log_target = TRUE)"
            continue
        if obs.surface == "torch_kl_div" and case.call.reduction == "batchmean":
            # ATen's reduction is an integer enum: the string is refused by R torch's argument conversion
            assert obs.status == RAISED and "Not compatible with requested type" in obs.error["message"], obs
            continue
        if case.input_dtype in ("float16", "bfloat16") and obs.status == RAISED:
            continue
        assert obs.status == OK, obs
        assert obs.shape == case.expected.shape and obs.value.shape == case.expected.shape, obs
        assert obs.dtype == case.expected.dtype, obs
        assert obs.grad_input.status == GRAD_OK and obs.grad_input.value.shape == case.input.shape, obs
        assert obs.grad_input.dtype == case.input_dtype


@pytest.mark.r
@pytest.mark.rtorch
def test_rtorch_mean_warns_and_strings_stay_strings(r_torch):
    from kl_compat.runner import run_adapter

    cases = _golden_cases(["core/proper/2d/float32/mean/prob", "invalid/proper/2d/float32/mean'*/prob"])
    seen = []
    run_adapter("rtorch", cases, seen.append, surfaces=("nnf_kl_div",))
    mean, injected = seen
    from kl_compat.compare import warning_topic
    from kl_compat.spec import W_MEAN

    assert mean.status == OK and [warning_topic(w["message"]) for w in mean.warnings] == [W_MEAN], mean
    # R torch maps an unknown reduction string to 'none': the injected text was a string, not code
    assert injected.status == OK and injected.shape == (4, 5), injected
