"""The reproducer on a difference no smaller input shows: the original case is printed, and observed."""

from __future__ import annotations

import numpy as np

from kl_compat.report.assemble import build
from kl_compat.run import AdapterSpec, run

from fault_adapters import SpecAdapter  # tests/ is on sys.path (rootdir conftest)

CASE = "core/proper/2d/float32/sum/prob"  # 4 x 5 elements: every candidate has fewer
WHOLE = 20


class WholeCaseOnlyAdapter(SpecAdapter):
    """The spec, but a sum over the whole 4 x 5 case is 1 too large: no smaller input shows it.
    Workers load it as "test_reproducer:WholeCaseOnlyAdapter" (tests/ on PYTHONPATH, the fault_env fixture)."""

    name = "whole-case-only"

    def kl_div(self, surface, input, target, call):
        out = super().kl_div(surface, input, target, call)
        if np.size(input.values) >= WHOLE and call.reduction == "sum":
            out.values = out.values + 1.0
        return out


def test_an_unminimised_reproducer_shows_the_original_case_observed_on_its_own_column(fault_env, tmp_path,
                                                                                      golden_by_id):
    assert golden_by_id[CASE].input.size == WHOLE
    out = tmp_path / "r.jsonl"
    run([AdapterSpec("test_reproducer:WholeCaseOnlyAdapter"), AdapterSpec("fault_adapters:SpecAdapter")], out,
        patterns=[CASE])
    m = build([out], reproduce=True, probe=False)
    (f,) = m["findings"]
    rep = f["reproducer"]
    assert rep["minimised"] is False and rep["case"] == CASE and "no smaller input" in rep["note"]
    assert rep["input_shape"] == [4, 5]
    own = rep["observed"]
    assert own is not None, "the original case was not observed on its own column"
    assert own["status"] == "differs" and own["kinds"] == f["kinds"] and own["observed"] == "ok"
    spec_value = float(np.asarray(rep["spec"]["value"], np.float64))
    assert float(np.asarray(own["value"], np.float64)) == spec_value + 1.0
    # and on the other column, the same input as it is
    (other,) = rep["others"].values()
    assert other["status"] == "match" and float(np.asarray(other["value"], np.float64)) == spec_value
