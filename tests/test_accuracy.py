"""Accuracy measured for every record: max_ulp and max_cond (the error relative to the sum's condition),
kept in the results file, summarised per column, dtype and reduction, and drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from kl_compat import compare, record, tolerance
from kl_compat.adapters.base import GRAD_OK, Gradient, Observation
from kl_compat.dtypes import FLOAT_FORMATS
from kl_compat.report import accuracy, plots


def _obs(case, value=None):
    e = case.expected
    return Observation(case_id=case.id, adapter="t", surface="functional", status="ok",
                       value=np.asarray(e.value if value is None else value, np.float64), shape=e.shape, dtype=e.dtype,
                       warnings=[{"category": "UserWarning", "message": "use 'batchmean'"}] if e.warnings else [],
                       grad_input=Gradient(GRAD_OK, np.asarray(e.grad_input, np.float64), case.input_dtype),
                       grad_target=Gradient(GRAD_OK, np.asarray(e.grad_target, np.float64), case.target_dtype))


def _sum_of_abs_terms(case) -> float:
    from kl_compat import spec

    x, y = (np.asarray(a, np.float64) for a in (case.input, case.target))
    return float(np.abs(spec.pointwise(x, y, case.call.log_target)).sum())


def test_the_golden_itself_has_no_error_in_either_measure(golden_by_id):
    case = golden_by_id["core/proper/2d/float32/sum/prob"]
    v = compare.judge(case, _obs(case))
    assert v.max_ulp == 0 and v.max_cond == 0


def test_max_cond_is_the_error_over_eps_times_the_sum_of_absolute_terms(golden_by_id):
    case = golden_by_id["core/near-equal/2d/float32/sum/prob"]  # cancels: |sum| << sum|terms|
    eps = FLOAT_FORMATS["float32"].eps
    scale = _sum_of_abs_terms(case)
    off = float(case.expected.value) + 3 * eps * scale  # three units of the condition away
    off = float(np.float32(off))
    v = compare.judge(case, _obs(case, off))
    want = abs(off - float(case.expected.value)) / (eps * scale + FLOAT_FORMATS["float32"].smallest_subnormal)
    assert v.max_cond == pytest.approx(want, rel=1e-12)
    assert 2.5 < v.max_cond < 3.5
    assert v.max_ulp > 2 * v.max_cond  # more ULPs of a result that cancels than units of its condition


def test_max_cond_per_element_when_unreduced(golden_by_id):
    case = golden_by_id["core/proper/2d/float64/none/prob"]
    value = np.array(case.expected.value, np.float64)
    value.reshape(-1)[3] = np.nextafter(np.nextafter(value.reshape(-1)[3], np.inf), np.inf)
    v = compare.judge(case, _obs(case, value))
    scale = tolerance.condition_scale(case.input, case.target, False, "none", 1, "float64").reshape(-1)[3]
    assert v.max_cond == pytest.approx(abs(value.reshape(-1)[3] - case.expected.value.reshape(-1)[3]) / scale)


def test_the_record_keeps_max_cond_and_an_older_line_reads_as_none():
    r = record.Record("core/a/2d/float32/sum/prob", "torch", "functional", "match", max_ulp=2.0, max_cond=0.5)
    line = r.to_json()
    assert line["max_cond"] == 0.5 and record.Record.from_json(line).max_cond == 0.5
    del line["max_cond"]
    assert record.Record.from_json(line).max_cond is None


@dataclass
class Rec:
    max_ulp: float | None
    max_cond: float | None = None


def test_by_reduction_gives_both_measures_per_column_dtype_and_reduction():
    recs = {("a", "functional", f"core/v{i}/2d/float32/sum/prob"): Rec(float(i), i / 10) for i in range(100)}
    recs[("a", "module", "core/w/2d/float32/none/prob")] = Rec(4.0, None)  # cond not measured (older file)
    recs[("a", "module", "legacy/w/2d/float32/mean,size_average=True,reduce=None/prob")] = Rec(1.0, 1.0)
    rows = accuracy.by_reduction(recs, [{"id": "a"}])
    got = {(r["reduction"], r["measure"]): (r["n"], r["median"], r["p99"], r["max"]) for r in rows}
    assert got == {("none", "ulp"): (1, 4.0, 4.0, 4.0), ("sum", "ulp"): (100, 49.0, 98.0, 99.0),
                   ("sum", "cond"): (100, 4.9, 9.8, 9.9), ("other", "ulp"): (1, 1.0, 1.0, 1.0),
                   ("other", "cond"): (1, 1.0, 1.0, 1.0)}
    svg = plots.accuracy_svg([r for r in rows if r["measure"] == "cond"], lambda c: f"<{c}>", "cond")
    assert '<title id="cond-title">' in svg and "<desc" in svg and "float32 sum" in svg
    assert "&lt;a&gt;" in svg and "<a>" not in svg


def test_strict_is_tighter_than_the_default_and_looser_than_one_rounding(golden_by_id):
    case = golden_by_id["core/proper/2d/float32/sum/prob"]
    args = (case.input, case.target, False, "sum", 1, case.expected.value, "float32")
    default, strict = tolerance.value_tolerance(*args), tolerance.value_tolerance(*args, mode=tolerance.STRICT)
    half_ulp = np.spacing(np.float32(case.expected.value)) / 2
    assert half_ulp < strict < default / 4


def test_gradients_are_measured_in_ulps_where_the_spec_defines_them(golden_by_id):
    case = golden_by_id["core/proper/2d/float32/batchmean/prob"]
    assert compare.judge(case, _obs(case)).grad_max_ulp == 0
    gt = np.array(case.expected.grad_target, np.float32)
    gt.reshape(-1)[5] = np.nextafter(np.nextafter(gt.reshape(-1)[5], np.float32(np.inf)), np.float32(np.inf))
    obs = _obs(case)
    obs.grad_target = Gradient(GRAD_OK, gt.astype(np.float64), "float32")
    v = compare.judge(case, obs)
    assert v.grad_max_ulp == 2.0 and v.max_ulp == 0
    r = record.Record(case.id, "t", "functional", v.status, grad_max_ulp=v.grad_max_ulp)
    assert record.Record.from_json(r.to_json()).grad_max_ulp == 2.0
    rows = accuracy.by_reduction({("a", "functional", case.id): r}, [{"id": "a"}])
    assert [(x["measure"], x["max"]) for x in rows] == [("grad_ulp", 2.0)]
    assert '<title id="grad-title">' in plots.accuracy_svg(rows, str, "grad_ulp")
