"""kl_compat.tomlfile: the one TOML reader, on the standard library's tomllib (3.11+) or tomli (3.10)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from kl_compat import tomlfile

ROOT = Path(__file__).resolve().parent.parent


class Bad(Exception):
    pass


@pytest.fixture(params=["tomllib", "tomli"])
def parser(request, monkeypatch):
    """Each parser in turn: tomllib hidden (as on Python 3.10) for the tomli run."""
    if request.param == "tomli":
        pytest.importorskip("tomli")
        monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` now fails, as on 3.10
    elif sys.version_info < (3, 11):
        pytest.skip("Python 3.10 has no tomllib")
    assert tomlfile._parser().__name__ == request.param
    return request.param


def test_reads_tables_and_names_the_file_on_errors(tmp_path, parser):
    path = tmp_path / "k.toml"
    path.write_text('[[difference]]\nadapter = "torch"\nreason = "δ ≠ 0"\n', encoding="utf-8")
    assert tomlfile.read_toml(path, Bad) == {"difference": [{"adapter": "torch", "reason": "δ ≠ 0"}]}
    assert tomlfile.read_toml(tmp_path / "missing.toml", Bad) == {}
    path.write_text("[[difference\n")
    with pytest.raises(Bad, match=re.escape(f"{path}: not valid TOML (")):
        tomlfile.read_toml(path, Bad)
    path.write_bytes(b'a = "\xff"\n')
    with pytest.raises(Bad, match=re.escape(f"{path}: not valid TOML (not UTF-8")):
        tomlfile.read_toml(path, Bad)


def test_the_project_s_data_files_read_the_same_with_either_parser(monkeypatch):
    files = sorted((ROOT / "conformance").glob("*.toml"))
    assert len(files) >= 3
    with_tomllib = {f.name: tomlfile.read_toml(f, Bad) for f in files} if sys.version_info >= (3, 11) else None
    pytest.importorskip("tomli")
    monkeypatch.setitem(sys.modules, "tomllib", None)
    with_tomli = {f.name: tomlfile.read_toml(f, Bad) for f in files}
    assert all(with_tomli.values())
    if with_tomllib is not None:
        assert with_tomli == with_tomllib


def test_no_other_module_imports_a_toml_parser():
    """Every TOML read goes through kl_compat.tomlfile (so Python 3.10 needs one fallback, in one place)."""
    offenders = []
    for folder in ("kl_compat", "adapters", "conformance", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "tomlfile.py" and path.parent.name == "kl_compat":
                continue
            if re.search(r"^\s*(import|from)\s+(tomllib|tomli)\b", path.read_text(encoding="utf-8"), re.M):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
