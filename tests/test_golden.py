import json
import shutil

import numpy as np
import pytest

from kl_compat import golden, spec
from kl_compat.cli import main
from kl_compat.conformance.matrix import build_matrix


@pytest.fixture
def golden_copy(tmp_path):
    d = tmp_path / "goldens"
    shutil.copytree(golden.default_dir(), d)
    return d


def test_stored_goldens_are_what_the_spec_generates_now():
    assert golden.drift() == [], "stored goldens drift from the spec: run `kl-compat golden` and commit"


def test_regeneration_is_byte_identical(tmp_path):
    golden.write(tmp_path / "a")
    golden.write(tmp_path / "b")
    for name in (*golden.DATA_FILES, golden.MANIFEST):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_matrix_size_and_coverage(golden_cases):
    assert len(golden_cases) >= golden.MIN_CASES
    groups = {c.group for c in golden_cases}
    assert {"core", "edge", "empty", "broadcast", "promotion", "integer", "legacy", "invalid", "large", "seed"} <= groups
    dtypes = {c.input_dtype for c in golden_cases}
    assert {"float16", "bfloat16", "float32", "float64", "int64", "int32"} <= dtypes
    shapes = {c.input.shape for c in golden_cases}
    assert {(), (7,), (4, 5), (2, 3, 2, 2), (0,), (3, 0), (128, 512)} <= shapes
    assert {c.call.reduction for c in golden_cases} >= set(spec.REDUCTIONS)
    assert any(c.expected.outcome == "error" for c in golden_cases)


def test_goldens_are_plain_npy_in_zip(golden_cases):
    # Readable without pickles, as any .npy reader would
    with np.load(golden.default_dir() / "samples.npz", allow_pickle=False) as data:
        assert all(data[k].dtype.kind in "fiub" for k in data.files[:50])
    c = next(c for c in golden_cases if c.input_dtype == "float16")
    assert c.input.dtype == np.float16


def test_golden_values_equal_the_spec_rounded_once(golden_cases):
    for c in golden_cases[::37]:
        if c.expected.outcome != "value":
            continue
        r = spec.reference(c.input.astype(np.float64), c.target.astype(np.float64), c.call, c.input_dtype, c.target_dtype)
        np.testing.assert_array_equal(c.expected.value, r.rounded())


def test_checksum_mismatch_names_the_file(golden_copy):
    with open(golden_copy / "expected.npz", "r+b") as f:
        f.seek(200)
        f.write(b"\x00garbage")
    with pytest.raises(golden.GoldenError, match=r"expected\.npz: sha256 .* does not match manifest\.json"):
        golden.load(golden_copy)


def test_missing_and_corrupt_manifest(golden_copy):
    (golden_copy / "manifest.json").write_text("{not json")
    with pytest.raises(golden.GoldenError, match=r"manifest\.json: not valid JSON"):
        golden.load(golden_copy)
    (golden_copy / "manifest.json").unlink()
    with pytest.raises(golden.GoldenError, match=r"manifest\.json: missing"):
        golden.load(golden_copy)


def test_missing_data_file(golden_copy):
    (golden_copy / "samples.npz").unlink()
    with pytest.raises(golden.GoldenError, match=r"samples\.npz: missing"):
        golden.load(golden_copy)


def test_never_green_on_empty(tmp_path):
    golden.write(tmp_path, build_matrix()[:10])
    with pytest.raises(golden.GoldenError, match="only 10 cases loaded, expected at least 1000"):
        golden.load(tmp_path)
    assert len(golden.load(tmp_path, min_cases=10)) == 10


def test_case_count_must_match_manifest(golden_copy):
    manifest = json.loads((golden_copy / "manifest.json").read_text())
    manifest["cases"] += 1
    (golden_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(golden.GoldenError, match="cases, manifest says"):
        golden.load(golden_copy)


def test_cli_golden_check_of_the_shipped_goldens(capsys):
    assert main(["golden", "--check"]) == 0
    assert "goldens match the spec" in capsys.readouterr().out


def test_cli_golden_check(golden_copy, capsys):
    assert main(["golden", "--check", "--dir", str(golden_copy)]) == 0
    assert "goldens match the spec" in capsys.readouterr().out
    (golden_copy / "cases.json").write_text("[]")
    assert main(["golden", "--check", "--dir", str(golden_copy)]) == 2
    assert "cases.json: sha256" in capsys.readouterr().err


def test_cli_golden_regenerates(tmp_path, capsys):
    assert main(["golden", "--dir", str(tmp_path)]) == 0
    assert f"wrote {len(build_matrix())} cases" in capsys.readouterr().out
    assert golden.drift(tmp_path) == []
