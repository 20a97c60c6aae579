"""Another framework version in its own environment: Paddle 2.6.2 beside the current Paddle."""

import os

import pytest

from kl_compat import environments as envs
from kl_compat.run import AdapterSpec, run


def test_configured_and_ad_hoc_environments():
    env = envs.resolve("paddle-2.6.2")
    assert env.adapter == "paddle" and "paddlepaddle==2.6.2" in env.requirements
    adhoc = envs.resolve("paddle==2.5.2")
    assert adhoc.name == "paddle-2.5.2" and adhoc.requirements == ["paddlepaddle==2.5.2"]
    with pytest.raises(envs.EnvError, match="unknown environment 'nosuch==1'"):
        envs.resolve("nosuch==1")
    with pytest.raises(envs.EnvError, match=r"rtorch's framework \(R torch\) is installed in R"):
        envs.resolve("rtorch==0.16.0")  # (its description says how, in R)
    with pytest.raises(envs.EnvError, match="is for adapter 'paddle', not 'torch'"):
        envs.adapter_spec("torch@paddle-2.6.2")


def test_missing_environment_says_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KL_COMPAT_CACHE", str(tmp_path))
    with pytest.raises(envs.EnvError, match="run `kl-compat env create paddle-2.6.2`"):
        envs.adapter_spec("paddle@paddle-2.6.2")


def test_bad_config_is_named(tmp_path):
    bad = tmp_path / "environments.toml"
    bad.write_text('[environment."x"]\nrequirements = []\n')
    with pytest.raises(envs.EnvError, match="needs an 'adapter'"):
        envs.load(bad)


@pytest.fixture(scope="module")
def paddle_262():
    env = envs.resolve("paddle-2.6.2")
    if not env.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must create the paddle-2.6.2 environment (.ci/setup.sh: kl-compat env create --all)")
        pytest.skip("environment paddle-2.6.2 not created: run `kl-compat env create paddle-2.6.2`")
    return envs.adapter_spec("paddle@paddle-2.6.2")


def test_paddle_262_runs_beside_the_current_paddle(paddle_262, tmp_path):
    pytest.importorskip("paddle")
    summary = run([AdapterSpec("paddle"), paddle_262], tmp_path / "r.jsonl", strict=True)
    from kl_compat import results

    res = results.read(tmp_path / "r.jsonl")
    versions = {a.adapter: a.version for a in res.adapters}
    assert versions["paddle@paddle-2.6.2"] == "2.6.2" and versions["paddle"].startswith("3.")
    # every difference of both versions explained, no entry stale or fixed
    assert [f"{a}.{s} {c}: {d.message}" for a, s, c, d in summary.new] == []
    assert summary.known_problems == []
    # and the two versions really differ: 2.6 has no log_target, 3.x has it
    by = {(r.adapter, r.case, r.surface): r.status for r in res.records}
    case = "core/proper/2d/float32/sum/log"
    assert by[("paddle@paddle-2.6.2", case, "functional")] == "unsupported"
    assert by[("paddle", case, "functional")] != "unsupported"
