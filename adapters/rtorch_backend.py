"""R torch (mlverse): nnf_kl_div, nn_kl_div_loss and torch:::torch_kl_div, through embedded R (rpy2).

The R half is `rtorch.R` (next to this file): a batch driver, the tensor verbs and one kernel function per
surface, written as ordinary R functions. This module only starts R, checks that R torch can run, and
moves data across: `RBridge` turns a batch of tasks into R values (NumPy arrays through rpy2's numpy2ri
converter; every parameter a plain string, logical or number, never R source text), calls the R batch
driver once, and turns its results into `Observation`s. `RBridge` takes the name of an R kernel, so the
tests run the very same path with rtorch.R's base-R TEST kernel where R torch is not installed.

Every call reaches R with the arguments the case gives (log_target only when true, size_average and
reduce only when set, as a user would write the call): what R torch lacks is observed, not assumed. R's
own refusal, "unused argument (log_target = TRUE)", becomes status `unsupported` naming the argument, with
R's message kept as the error. torch_kl_div's reduction is an ATen enum: the names 'none', 'mean' and
'sum' are mapped to it, every other value goes in as given (klc_torch_reduction_enum in rtorch.R).

This module must never import PyTorch, not even lazily: R torch's libtorch and PyTorch's clash in one
process, and the worker that runs this adapter imports nothing else.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kl_compat.errors import KlCompatError
from kl_compat.porting.semantics import RTORCH_MEAN_WARNING, Semantics
from kl_compat.spec import SECOND_KEYS

from .base import (GRAD_ERROR, GRAD_NONE, GRAD_OK, OK, RAISED, UNSUPPORTED, Adapter, Gradient, Observation,
                   _first_lines)
from .framework import Api, Framework, Template

R_TORCH = Framework(
    key="rtorch", title="R torch", language="r",
    functional_api="nnf_kl_div", module_api="nn_kl_div_loss",
    functional='nnf_kl_div(input, target, reduction = "mean")',
    module='nn_kl_div_loss(reduction = "mean"), called as loss(input, target)',
    source=("r-torch-nn_kl_div_loss.txt (the module; its text mentions log_target, its signature has none); "
            "nnf_kl_div from R torch's R/nnf-loss.R"),
    params={"input": "input", "target": "target", "reduction": "reduction", "log_target": None,
            "size_average": None, "reduce": None},
    modules=("torch",), install='remotes::install_version("torch", "{version}"); torch::install_torch()',
    reproducer=Template("kl_compat.adapters", "templates/repro_rtorch.R.j2"),
    # R torch's nnf_kl_div as measured on R torch 0.17.0 (libtorch 2.13.0): torch's kernel underneath, no
    # log_target, no legacy arguments, unknown reductions silently unreduced (its reduction_enum) but NULL an
    # error, the first sentence of torch's 'mean' warning, and a 0-d 'batchmean' divided by NA (-2**31).
    semantics=Semantics("rtorch", nonpositive_target="nan", zero_times_inf="ieee", broadcast=True,
                        legacy="unsupported", unknown_reduction="none", null_reduction_raises=True,
                        batchmean_0d_divisor=-2**31, mean_warning=RTORCH_MEAN_WARNING, legacy_warning=None,
                        log_target=False, formula="xlogy", target_terms_in_target_dtype=True,
                        round_like_native=True, zero_target_gradient="nan"),
    # (also called as torch::nnf_kl_div: scan reads R's `::` itself)
    scan_apis=(Api("nnf_kl_div", "functional", ("input", "target", "reduction"), "nnf_kl_div"),
               Api("nn_kl_div_loss", "module", ("reduction",), "nn_kl_div_loss")),
)

R_SOURCE = Path(__file__).with_name("rtorch.R")
R_TORCH_FIX = 'in R: install.packages("torch"); torch::install_torch()'
RPY2_FIX = 'pip install "rpy2>=3.5.17" (or kl-compat[r]; needs R, e.g. apt-get install r-base-core)'

_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_INT_DTYPES = ("int32", "int64")
_MAX_EXACT_INT = 2**53  # integers travel as R doubles, exact up to here
_STATUSES = {"ok": OK, "raised": RAISED, "unsupported": UNSUPPORTED}
_NILSXP = 0  # R's type code of NULL (rpy2's RTYPES.NILSXP)


class RBridgeError(KlCompatError, RuntimeError):
    """The R batch driver itself failed, or answered out of step: a harness problem, not an observation."""


class _RSession:
    """Embedded R (one per process) with rtorch.R sourced into its own environment."""

    def __init__(self):
        try:
            import rpy2.rinterface as ri
            import rpy2.robjects as ro  # starts embedded R
            from rpy2.rinterface_lib.embedded import RRuntimeError
            from rpy2.robjects import numpy2ri
            from rpy2.robjects.conversion import localconverter
        except ImportError as e:
            raise ImportError(f"rpy2 is not importable ({e}); fix: {RPY2_FIX}") from e
        except Exception as e:  # rpy2 present, R not found or not startable
            raise ImportError(f"R could not be started through rpy2 ({type(e).__name__}: {e}); fix: install R "
                              f"(e.g. apt-get install r-base-core), then {RPY2_FIX}") from e
        self.ri, self.RRuntimeError, self.localconverter = ri, RRuntimeError, localconverter
        self.converter = ro.default_converter + numpy2ri.converter
        self.env = ri.baseenv["new.env"](parent=ri.globalenv)
        try:
            ri.baseenv["sys.source"](ri.StrSexpVector([str(R_SOURCE)]), envir=self.env)
        except RRuntimeError as e:
            raise ImportError(f"{R_SOURCE} does not load in R: {e}") from e
        self.r_version = str(ri.baseenv["R.version.string"][0])
        self.utf8 = bool(self.function("klc_session_setup")()[0])  # else non-ASCII messages arrive as <U+..>

    def function(self, name: str):
        return self.env.find(name)


_SESSION: _RSession | None = None


def r_session() -> _RSession:
    """Start embedded R and source rtorch.R, once per process. Raises ImportError with the reason."""
    global _SESSION
    if _SESSION is None:
        _SESSION = _RSession()
    return _SESSION


def _fields(sexp) -> dict:
    """An R named list as {name: element}, without converting the elements."""
    names = sexp.names
    return dict(zip(names, sexp)) if names is not None and len(names) else {}


def _is_null(sexp) -> bool:
    return sexp is None or sexp.typeof == _NILSXP


def _string(sexp) -> str | None:
    """The first element of an R character vector; None for NULL or NA."""
    return None if _is_null(sexp) or len(sexp) == 0 else _strings(sexp)[0]


def _strings(sexp) -> list[str | None]:
    """An R character vector as a list of str, NA as None."""
    if _is_null(sexp):
        return []
    return [None if type(s) is not str else s for s in sexp]  # NA_character_ is its own type


class RBridge:
    """Python <-> R for one kernel of rtorch.R: a batch of tasks in, one R call, `Observation`s out.

    A task is what `Adapter.observe` takes: (case_id, surface, input, target, call, input_dtype,
    target_dtype). Arrays go to R as R arrays with dim() = shape (numpy2ri writes them column-major, R's
    order), floats as doubles (exact for every float dtype), int32/int64 as doubles (exact up to 2**53,
    checked), bool as logicals; a 0-d array goes as a length-1 vector without dim(), which the R verbs
    read as 0-d. Results come back column-major with their shape and are returned row-major.
    `label` is the adapter name the observations carry.
    """

    def __init__(self, kernel: str, label: str):
        self.session = r_session()
        self.kernel, self.label = kernel, label
        self._entry = self.session.function("klc_bridge")

    # -- Python -> R --
    def r_array(self, array, dtype: str, cv):
        ri = self.session.ri
        a = np.asarray(array)
        if dtype == "bool":
            if a.dtype != np.bool_:
                if not np.isin(a, (0, 1)).all():
                    raise ValueError(f"a bool array holds values other than 0 and 1: {a.dtype}")
                a = a.astype(np.bool_)
        elif dtype in _FLOAT_DTYPES or dtype in _INT_DTYPES:
            if dtype in _INT_DTYPES and a.dtype.kind in "iu" and ((a > _MAX_EXACT_INT) | (a < -_MAX_EXACT_INT)).any():
                raise ValueError(f"{dtype} values beyond 2**53 cannot travel to R exactly (R has no int64)")
            a = a.astype(np.float64)
        else:
            raise ValueError(f"unknown dtype {dtype!r}")
        if a.ndim == 0:  # numpy2ri cannot write a 0-d array (R's array() refuses dim = integer(0))
            return ri.BoolSexpVector([bool(a)]) if a.dtype == np.bool_ else ri.FloatSexpVector([float(a)])
        return cv.py2rpy(a)

    def r_flag(self, value):
        """An optional logical argument: NULL when not given."""
        return self.session.ri.NULL if value is None else self.session.ri.BoolSexpVector([bool(value)])

    def r_reduction(self, reduction):
        """A reduction as the R value it is: a string, NULL, a logical or a number (passed as given)."""
        ri = self.session.ri
        if reduction is None:
            return ri.NULL
        if isinstance(reduction, str):
            return ri.StrSexpVector([reduction])
        if isinstance(reduction, (bool, np.bool_)):
            return ri.BoolSexpVector([bool(reduction)])
        if isinstance(reduction, (int, np.integer)) and -2**31 < reduction < 2**31:
            return ri.IntSexpVector([int(reduction)])
        if isinstance(reduction, (int, float, np.integer, np.floating)):
            return ri.FloatSexpVector([float(reduction)])
        raise TypeError(f"a reduction of type {type(reduction).__name__} has no R equivalent here: {reduction!r}")

    def r_columns(self, tasks) -> list:
        """The tasks as klc_bridge's columns after the kernel's name (case_id, surface, input, target,
        input_dtype, target_dtype, reduction, log_target, size_average, reduce, requires_grad, order), one
        element per task."""
        ri = self.session.ri
        with self.session.localconverter(self.session.converter) as cv:
            inputs = [self.r_array(t[2], t[5], cv) for t in tasks]
            targets = [self.r_array(t[3], t[6], cv) for t in tasks]
        return [
            ri.StrSexpVector([t[0] for t in tasks]),
            ri.StrSexpVector([t[1] for t in tasks]),
            ri.ListSexpVector(inputs),
            ri.ListSexpVector(targets),
            ri.StrSexpVector([t[5] for t in tasks]),
            ri.StrSexpVector([t[6] for t in tasks]),
            ri.ListSexpVector([self.r_reduction(t[4].reduction) for t in tasks]),
            ri.BoolSexpVector([bool(t[4].log_target) for t in tasks]),
            ri.ListSexpVector([self.r_flag(t[4].size_average) for t in tasks]),
            ri.ListSexpVector([self.r_flag(t[4].reduce) for t in tasks]),
            ri.StrSexpVector([t[4].requires_grad for t in tasks]),
            ri.IntSexpVector([t[4].order for t in tasks]),
        ]

    # -- one crossing --
    def run(self, tasks) -> list[dict]:
        """The R driver's results for `tasks`, in order, as Python values (arrays row-major)."""
        if not tasks:
            return []
        try:
            columns = _fields(self._entry(self.session.ri.StrSexpVector([self.kernel]), *self.r_columns(tasks)))
        except self.session.RRuntimeError as e:
            raise RBridgeError(f"the R batch driver failed ({self.kernel} kernel): {str(e).strip()}") from None
        records = _records(columns)
        if len(records) != len(tasks):
            raise RBridgeError(f"R returned {len(records)} results for {len(tasks)} tasks")
        for task, record in zip(tasks, records):
            if record["case_id"] != task[0]:
                raise RBridgeError(f"R answered case {record['case_id']!r} where {task[0]!r} was expected")
        return records

    def observe(self, tasks) -> list[Observation]:
        start = time.perf_counter()
        records = self.run(tasks)
        outside_tasks = time.perf_counter() - start - sum(r["seconds"] for r in records)
        share = max(outside_tasks, 0.0) / max(len(tasks), 1)
        return [self._observation(task, record, share) for task, record in zip(tasks, records)]

    # -- R -> Python --
    def _observation(self, task, record, crossing_seconds: float) -> Observation:
        case_id, surface = task[0], task[1]
        status = _STATUSES.get(record["status"])
        if status is None:
            raise RBridgeError(f"R reported an unknown status {record['status']!r} for {case_id!r}")
        obs = Observation(case_id, self.label, surface, status, warnings=record["warnings"])
        # The time R spent in the task, plus an equal share of the batch's conversions and crossing.
        obs.seconds = record["seconds"] + crossing_seconds
        if status == OK:
            obs.value, obs.shape, obs.dtype = record["value"], record["shape"], record["dtype"]
            obs.grad_input, obs.grad_target = record["grad_input"], record["grad_target"]
            obs.differentiable, obs.second = record["differentiable"], record["second"]
        else:  # raised, or unsupported: R's refusal is kept as the error it was
            err = record["error"] or {"type": "?", "message": ""}
            # (its type is the condition's class vector, "value_error/rlang_error/error/condition")
            obs.error = {"type": err["type"], "message": _message(err["message"]),
                         "classes": str(err["type"]).split("/")}
            if status == UNSUPPORTED:
                obs.unsupported = record["unsupported"]
        return obs


def _message(text: str | None) -> str:
    """An R torch error message without the C++ backtrace libtorch appends ("Exception raised from ...
    (most recent call first):" and a frame per line, with load addresses that change from one process to
    the next): the reason is the text before it, and a record must not differ between two runs."""
    text = text or ""
    cut = text.find("\nException raised from ")
    return _first_lines(text if cut < 0 else text[:cut])


def _records(c: dict) -> list[dict]:
    """klc_columns()'s columns (see rtorch.R) back into one dict per task, arrays row-major."""
    case_ids = _strings(c["case_id"])
    statuses = _strings(c["status"])
    seconds = list(c["seconds"])
    dtypes = _strings(c["dtype"])
    error_types, error_messages = _strings(c["error_type"]), _strings(c["error_message"])
    unsupported = _strings(c["unsupported"])
    counts = [int(n) for n in c["warning_count"]]
    categories, messages = _strings(c["warning_category"]), _strings(c["warning_message"])
    if sum(counts) != len(categories) or len(categories) != len(messages):
        raise RBridgeError(f"R returned {len(messages)} warnings where its counts add up to {sum(counts)}")
    grads = {which: _gradients(c, which) for which in ("grad_input", "grad_target", *SECOND_KEYS)}
    differentiable = _strings(c["differentiable"])
    records, w = [], 0
    for i, (case_id, status) in enumerate(zip(case_ids, statuses)):
        record: dict[str, Any] = {
            "case_id": case_id, "status": status, "seconds": float(seconds[i]),
            "warnings": [{"category": categories[k], "message": messages[k]} for k in range(w, w + counts[i])],
            "error": None, "unsupported": unsupported[i],
            "value": None, "shape": None, "dtype": None, "grad_input": None, "grad_target": None,
            "differentiable": None if differentiable[i] is None else differentiable[i] == "TRUE", "second": None,
        }
        w += counts[i]
        if error_types[i] is not None:
            record["error"] = {"type": error_types[i], "message": error_messages[i]}
        if status == "ok":
            record["value"], record["dtype"], record["shape"] = _read_array(c["value"][i], c["shape"][i], dtypes[i])
            record["grad_input"], record["grad_target"] = grads["grad_input"][i], grads["grad_target"][i]
            second = {k: grads[k][i] for k in SECOND_KEYS if grads[k][i] is not None}
            record["second"] = second or None
        records.append(record)
    return records


def _gradients(c: dict, which: str) -> list[Gradient | None]:
    out: list[Gradient | None] = []
    messages, dtypes = _strings(c[f"{which}_message"]), _strings(c[f"{which}_dtype"])
    for i, status in enumerate(_strings(c[f"{which}_status"])):
        if status is None:
            out.append(None)
        elif status == "ok":
            value, dtype, _ = _read_array(c[f"{which}_value"][i], c[f"{which}_shape"][i], dtypes[i])
            out.append(Gradient(GRAD_OK, value, dtype))
        elif status == "error":
            out.append(Gradient(GRAD_ERROR, message=_message(messages[i])))
        elif status == "none":
            out.append(Gradient(GRAD_NONE))
        else:
            raise RBridgeError(f"R reported an unknown gradient status {status!r}")
    return out


def _read_array(value_sexp, shape_sexp, dtype: str | None) -> tuple[np.ndarray, str, tuple[int, ...]]:
    if dtype is None:
        raise RBridgeError("R returned a value without its dtype")
    shape = tuple(int(n) for n in shape_sexp)
    # np.asarray sees R's dim() (a column-major view of R's memory): copy it out row-major.
    value = np.array(np.asarray(value_sexp), dtype=np.float64, order="C")
    if value.size != math.prod(shape):
        raise RBridgeError(f"R returned {value.size} values for shape {shape}")
    value = value.reshape(shape)
    if dtype in _INT_DTYPES or dtype == "bool":
        value = value.astype(np.int64)
    return value, dtype, shape


class RTorchAdapter(Adapter):
    """R torch through embedded R. `observe`/`observe_batch` are overridden: the verbs are R functions
    (klc_torch_make/read/backward/grad in rtorch.R), run by R's batch driver, one crossing per batch."""

    name = "rtorch"
    framework = "torch (R)"
    surfaces: tuple[str, ...] = ("nnf_kl_div", "nn_kl_div_loss", "torch_kl_div")
    install_hint = f'{R_TORCH_FIX}  (needs R, and rpy2: pip install "rpy2>=3.5.17")'
    batch_size = 64
    description = R_TORCH
    kernel = "torch"

    def load(self):
        session = r_session()
        status = _fields(session.function("klc_torch_status")())
        if not bool(status["ok"][0]):
            raise ImportError(f"{_string(status['reason'])}; fix: {_string(status['fix'])}")
        self._version = _string(status["version"])  # bare: known-differences version ranges match on it
        self._libtorch = _string(status.get("libtorch"))  # the libtorch it runs on, None when unknown
        self._bridge = RBridge(self.kernel, self.name)

    def version(self):
        return self._version

    def runtime(self):
        return {"r": r_session().r_version, "libtorch": self._libtorch}

    def observe(self, case_id, surface, input, target, call, input_dtype, target_dtype):
        return self.observe_batch([(case_id, surface, input, target, call, input_dtype, target_dtype)])[0]

    def observe_batch(self, tasks, started=None):
        # `started` is never called: one crossing into R observes the whole batch, so a crash is pinned
        # on the batch, and the runner finds the task by sending the batch again one task at a time. For
        # the same reason the batch's time limit is --timeout times its length (runner._await): a call
        # back into Python per task, to mark each one, would cost every observation what the one
        # crossing saves.
        for task in tasks:
            if task[1] not in self.surfaces:
                raise ValueError(f"rtorch has no surface {task[1]!r}: its surfaces are {', '.join(self.surfaces)}")
        return self._bridge.observe(tasks)


class RTorchAsTorch(RTorchAdapter):
    """klc_kl_div (rtorch.R): PyTorch's kl_div semantics for R torch users, held to torch's measurements
    as the Python porting layer is (its functional surface stands for torch's)."""

    name = "rtorch-as-torch"
    framework = "kl_compat.porting (R)"
    surfaces = ("functional",)
    # R torch's tensors with PyTorch's semantics: no snippet of R torch's own calls reproduces what it does.
    description = replace(R_TORCH, title="kl_compat's klc_kl_div on R torch", reproducer=None, semantics=None)
    kernel = "klc"

    def version(self):
        from kl_compat import __version__

        return f"{__version__} on R torch {self._version}"
