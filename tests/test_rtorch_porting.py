"""klc_kl_div in adapters/rtorch.R: PyTorch's kl_div semantics for R torch users (issue 6).

With real R: the reduction check (the part that needs no R torch) and that the R file and the Python
porting layer agree on PyTorch's warning. With R torch (marked `rtorch`, skipped where it is absent):
values and gradients against the Python spec under torch's conventions.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from kl_compat.porting.semantics import TORCH_MEAN_WARNING

pytestmark = pytest.mark.r


@pytest.fixture(scope="module")
def r():
    pytest.importorskip("rpy2", reason="rpy2 is not installed (pip install 'rpy2>=3.5.17')")
    from kl_compat.adapters import rtorch_backend as rb

    return rb.r_session()


def _call_catching(r, fname, *args):
    """Call an R function; returns (value, [warnings], error message or None), all caught in R."""
    ri = r.ri
    capture = ri.baseenv["eval"](ri.parse("""function(f, args) {
        warnings <- character()
        value <- withCallingHandlers(
          tryCatch(do.call(f, args), error = function(e) structure(conditionMessage(e), class = "klc_err")),
          warning = function(w) { warnings <<- c(warnings, conditionMessage(w)); invokeRestart("muffleWarning") })
        list(value = value, warnings = warnings, error = inherits(value, "klc_err"))
    }"""))
    out = capture(r.function(fname), ri.ListSexpVector(list(args)))
    fields = dict(zip(out.names, out))
    error = str(fields["value"][0]) if fields["error"][0] else None
    return fields["value"], [str(w) for w in fields["warnings"]], error


def test_unknown_reduction_is_an_error_and_data_stays_data(r, tmp_path):
    marker = tmp_path / "pwned"
    evil = f"mean'); file.create('{marker}'); ('"
    _, _, error = _call_catching(r, "klc_check_reduction", r.ri.StrSexpVector([evil]))
    assert error == f"{evil} is not a valid value for reduction"
    assert not marker.exists()
    _, _, error = _call_catching(r, "klc_check_reduction", r.ri.NULL)
    assert error.startswith("reduction must be one string")


def test_mean_warning_is_pytorchs_own_text(r):
    _, warnings, error = _call_catching(r, "klc_check_reduction", r.ri.StrSexpVector(["mean"]))
    assert error is None and warnings == [TORCH_MEAN_WARNING]
    _, warnings, _ = _call_catching(r, "klc_check_reduction", r.ri.StrSexpVector(["batchmean"]))
    assert warnings == []


@pytest.mark.rtorch
def test_klc_kl_div_follows_torch_semantics_in_r_torch(r):
    """In a separate Rscript process: R torch's libtorch must not load beside PyTorch's."""
    status = r.function("klc_torch_status")()
    if not bool(dict(zip(status.names, status))["ok"][0]):
        pytest.skip("R package torch is not installed")
    from kl_compat import spec
    from kl_compat.adapters.rtorch_backend import R_SOURCE

    x = np.log(np.array([0.2, 0.3, 0.5, 0.25]))
    y = np.array([0.0, 0.5, 0.5, -0.25])
    script = Path(__file__).with_name("r") / "klc_kl_div_values.R"
    for reduction in ("none", "sum", "batchmean"):
        out = subprocess.run(["Rscript", str(script), str(R_SOURCE), reduction, ",".join(map(repr, x)),
                              ",".join(map(repr, y))], capture_output=True, text=True, check=True).stdout
        got = {line.split()[0]: np.array([float(v) for v in line.split()[1].split(",")])
               for line in out.splitlines() if line.strip()}
        want = spec.reference(x, y, spec.Call(reduction), convention=spec.Convention(zero_times_inf="ieee"))
        np.testing.assert_allclose(got["value"], np.ravel(want.value), rtol=1e-12, equal_nan=True)
        ok = np.ravel(want.grad_input_defined)  # where the spec defines a gradient
        np.testing.assert_allclose(got["grad_input"][ok], np.ravel(want.grad_input)[ok], rtol=1e-12)
