"""Test session setup: an isolated kgflow/Airflow home, offline models, the real Airflow DAGs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="kgflow-test-"))
os.environ["KGFLOW_HOME"] = str(_SESSION_HOME / "default")
os.environ.setdefault("KGFLOW_TORCH_THREADS", "1")

# Airflow reads its configuration on import: set it before any test module imports airflow.
from kgflow.orchestration.airflow_home import airflow_env  # noqa: E402

airflow_env()


@pytest.fixture(scope="session")
def session_home() -> Path:
    return _SESSION_HOME


@pytest.fixture()
def kg_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh kgflow home (landing zone, graph, index, runs) for one test."""
    monkeypatch.setenv("KGFLOW_HOME", str(tmp_path / "kg"))
    return tmp_path / "kg"
