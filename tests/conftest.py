import os
from pathlib import Path

import pytest

from kl_compat import golden

TESTS = Path(__file__).parent


@pytest.fixture(scope="session")
def golden_cases():
    return golden.load()


@pytest.fixture(scope="session")
def golden_by_id(golden_cases):
    return {c.id: c for c in golden_cases}


@pytest.fixture
def fault_env(monkeypatch):
    """Workers started by the runner can import tests/fault_adapters.py."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return path
