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


@pytest.fixture(autouse=True)
def _r_torch_never_loads_in_the_test_process():
    """R torch's libtorch and PyTorch's clash in one process, and this process imports PyTorch: a test
    may start embedded R here (rpy2), but R torch only ever runs in worker or Rscript processes. Checked
    after every test, so the test that broke the rule is the one that fails."""
    yield
    import sys

    backend = sys.modules.get("kl_compat.adapters.rtorch_backend")
    session = getattr(backend, "_SESSION", None) if backend else None
    if session is not None:
        loaded = session.ri.baseenv["isNamespaceLoaded"](session.ri.StrSexpVector(["torch"]))[0]
        assert not loaded, "this test loaded R torch into the test process: run it in a worker or Rscript"
