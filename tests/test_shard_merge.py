"""Scale-out: sharded runs merge into the unsharded run's results; several workers per adapter give the
same records as one."""

import json

import pytest

from kl_compat import merge, results
from kl_compat.run import AdapterSpec, run

pytest.importorskip("torch")
pytest.importorskip("paddle")

TIMING = {"started", "finished", "argv", "seconds", "merged_from", "shard", "selected"}


def _comparable(path):
    """The results file's lines without timing and provenance fields."""
    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in TIMING}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj
    return [strip(json.loads(line)) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "all.jsonl"
    run([AdapterSpec("torch"), AdapterSpec("paddle"), AdapterSpec("rtorch")], out)
    return out


def test_shards_merge_to_the_unsharded_run(unsharded, tmp_path):
    shards = []
    for i in (1, 2, 3):
        shards.append(tmp_path / f"shard{i}.jsonl")
        run([AdapterSpec("torch"), AdapterSpec("paddle"), AdapterSpec("rtorch")], shards[-1], shard=(i, 3))
    # shard order on the command line does not matter
    summary = merge.merge([shards[2], shards[0], shards[1]], tmp_path / "merged.jsonl")
    assert _comparable(tmp_path / "merged.jsonl") == _comparable(unsharded)
    assert summary.known_problems == [] and summary.new == []


def test_shards_are_disjoint_and_cover_the_matrix(golden_cases, tmp_path):
    ids = []
    for i in (1, 2):
        out = tmp_path / f"s{i}.jsonl"
        run([AdapterSpec("torch")], out, shard=(i, 2))
        ids.append({r.case for r in results.read(out).records})
    assert not ids[0] & ids[1]
    assert ids[0] | ids[1] == {c.id for c in golden_cases}


def test_merge_refuses_overlaps_and_incomplete_shards(tmp_path, unsharded):
    with pytest.raises(merge.MergeError, match="is also in"):
        merge.merge([unsharded, unsharded], tmp_path / "m.jsonl")
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(unsharded.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(merge.MergeError, match="incomplete"):
        merge.merge([cut], tmp_path / "m.jsonl")


def test_two_workers_per_adapter_give_the_same_records(unsharded, tmp_path):
    out = tmp_path / "two.jsonl"
    run([AdapterSpec("torch"), AdapterSpec("paddle"), AdapterSpec("rtorch")], out, workers=2)
    assert _comparable(out) == _comparable(unsharded)
