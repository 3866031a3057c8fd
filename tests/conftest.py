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


@pytest.fixture(scope="session")
def knowledge_base(session_home: Path) -> Path:
    """The sample corpus ingested once by the real knowledge_ingest DAG; read-only for its users."""
    from kgflow.corpus.generator import generate_corpus
    from kgflow.orchestration.run_dag import test_dag

    home = session_home / "kb"
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(home))
    generate_corpus(home / "landing", n_docs=50)
    run = test_dag("knowledge_ingest")
    assert str(run.state) == "success"
    mp.undo()
    return home


@pytest.fixture(scope="session")
def llama_server(session_home: Path):
    """A real llama.cpp server (llama-cpp-python) on the packaged gemma3-270m GGUF."""
    from kgflow.llm.llamacpp_server import LlamaServer

    server = LlamaServer(n_ctx=2048, threads=2, log_path=session_home / "llama.log").start(supervise=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def neo4j_server(session_home: Path):
    """A real Neo4j 5.26 Community server (the launcher built from Maven Central), Bolt on loopback."""
    from kgflow.graph.neo4j_server import local_neo4j

    with local_neo4j(session_home / "neo4j") as server:
        yield server


@pytest.fixture()
def neo4j_home(kg_home: Path, neo4j_server, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh kgflow home whose graph is the Neo4j server, emptied first (KGFLOW_GRAPH_BACKEND=neo4j, the
    neo4j_default Connection from the environment, as Airflow resolves AIRFLOW_CONN_* first)."""
    neo4j_server.empty()
    monkeypatch.setenv("KGFLOW_GRAPH_BACKEND", "neo4j")
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_DEFAULT", neo4j_server.conn_uri)
    return kg_home


@pytest.fixture(scope="session")
def engine(knowledge_base: Path):
    """A retrieval engine over the sample knowledge base (read-only; shared by the modules that query it)."""
    from kgflow.retrieval.engine import RetrievalEngine
    from tests.integration.gateway_harness import settings_for

    return RetrievalEngine(settings_for(knowledge_base, "http://unused"))


@pytest.fixture(scope="session")
def truth(knowledge_base: Path) -> dict:
    """The sample corpus's ground truth (entities, facts, multi-hop questions, PII planted)."""
    import json

    return json.loads((knowledge_base / "ground_truth.json").read_text())


@pytest.fixture()
def docker_engine():
    """(the fake Docker Engine API server, a `docker` client of it): no Docker engine runs here."""
    from tests.integration.fake_docker import fake_docker_engine

    with fake_docker_engine() as (fake, client, _):
        yield fake, client
