"""The R column on real R torch: the whole matrix through all three R surfaces, every difference
explained by the known-differences file, and none of R torch's entries stale or fixed. R torch runs in
its worker process only (its libtorch must not load beside PyTorch's in this one)."""

import pytest

from kl_compat import results
from kl_compat.adapters.rtorch_backend import RTorchAdapter
from kl_compat.run import AdapterSpec, run

pytestmark = [pytest.mark.r, pytest.mark.rtorch, pytest.mark.slow]


@pytest.fixture(scope="module")
def rtorch_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "results.jsonl"
    summary = run([AdapterSpec("rtorch")], out, strict=True)
    res = results.read(out)
    (info,) = res.adapters
    if not info.available:
        pytest.skip(f"R torch is not available here: {info.reason}")
    return summary, res


def test_every_case_on_every_r_surface_is_accounted_for(rtorch_run, golden_cases):
    summary, res = rtorch_run
    assert not res.truncated
    for surface in RTorchAdapter.surfaces:
        got = [r.case for r in res.records if r.surface == surface]
        assert got == [c.id for c in golden_cases], surface
    assert summary.records == 3 * len(golden_cases)


def test_no_new_differences_and_no_stale_or_fixed_entries(rtorch_run):
    summary, _ = rtorch_run
    assert [f"{a}.{s} {c}: {d.message}" for a, s, c, d in summary.new] == []
    assert summary.known_problems == []


def test_the_r_column_is_measured_not_assumed(rtorch_run):
    _, res = rtorch_run
    statuses = {(r.surface, r.status) for r in res.records}
    for surface in RTorchAdapter.surfaces:
        assert (surface, "match") in statuses and (surface, "differs") in statuses, surface
    unsupported = [r for r in res.records if r.status == "unsupported"]
    assert unsupported and all(r.observed is not None and r.observed.error["message"].startswith("unused argument")
                               for r in unsupported)
    (info,) = res.adapters
    assert info.version and info.runtime.get("libtorch"), info
