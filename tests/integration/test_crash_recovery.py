"""A real crash in the middle of the graph load: the load_graph step runs in its own process on a batch
large enough to take seconds, is killed with SIGKILL part-way, and the rerun converges to the counts of
an uninterrupted load of the same batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kgflow.config import Settings, get_settings
from kgflow.graph import open_graph_store, staged_graph
from kgflow.ingest import steps
from kgflow.ingest.isolate import write_table

pytestmark = pytest.mark.slow
# large enough that an uninterrupted embedded load takes seconds with the process start (12k documents: 2.2 s;
# the bulk load writes a new chunk's relationships without looking them up), small enough for one Neo4j
# transaction on the local server's heap (~3 KB a row)
N_DOCS, CHUNKS_PER_DOC, N_ENTITIES = 12_000, 8, 30_000


def _staged_run(run: Path) -> None:
    """A synthetic but schema-true staged run: 12k documents, 96k chunks, 30k entities, ~400k edges."""
    rng = np.random.default_rng(7)
    run.mkdir(parents=True)
    doc_ids = [f"doc_{i:06d}" for i in range(N_DOCS)]
    docs = pd.DataFrame({"doc_id": doc_ids, "uri": [f"file:///landing/hr/{d}.txt" for d in doc_ids],
                         "title": doc_ids, "tags": [[]] * N_DOCS, "sha256": doc_ids, "department": "hr",
                         "acl": [["hr"]] * N_DOCS,
                         "format": "txt", "size_bytes": 1000, "n_elements": CHUNKS_PER_DOC,
                         "n_chunks": CHUNKS_PER_DOC, "duplicate_of": None})
    chunk_doc = np.repeat(doc_ids, CHUNKS_PER_DOC)
    ords = np.tile(np.arange(CHUNKS_PER_DOC), N_DOCS)
    chunk_ids = [f"chk_{i:07d}" for i in range(len(chunk_doc))]
    chunks = pd.DataFrame({"chunk_id": chunk_ids, "doc_id": chunk_doc, "ord": ords.astype("int32"),
                           "text": [f"chunk {i} text about entity {i % N_ENTITIES}" for i in range(len(chunk_ids))],
                           "page": np.ones(len(chunk_ids), "int32"), "n_chars": np.full(len(chunk_ids), 40, "int32"),
                           "section": ""})
    ent_ids = [f"ent_{i:06d}" for i in range(N_ENTITIES)]
    entities = pd.DataFrame({"entity_id": ent_ids, "name": [f"Entity {i}" for i in range(N_ENTITIES)],
                             "label": "ORG", "aliases": [[f"Entity {i}"] for i in range(N_ENTITIES)]})
    m_chunk = rng.integers(0, len(chunk_ids), 60_000)
    m_ent = rng.integers(0, N_ENTITIES, 60_000)
    mentions = pd.DataFrame({"chunk_id": np.array(chunk_ids)[m_chunk], "doc_id": chunk_doc[m_chunk],
                             "entity_id": np.array(ent_ids)[m_ent], "name": "n", "label": "ORG",
                             "count": np.ones(60_000, "int32")}).drop_duplicates(["chunk_id", "entity_id"])
    r_chunk = rng.integers(0, len(chunk_ids), 40_000)
    relations = pd.DataFrame({"rel_id": [f"rel_{i:06d}" for i in range(40_000)],
                              "src": np.array(ent_ids)[rng.integers(0, N_ENTITIES, 40_000)],
                              "dst": np.array(ent_ids)[rng.integers(0, N_ENTITIES, 40_000)], "type": "co_occurs",
                              "weight": 0.5, "evidence_chunk": np.array(chunk_ids)[r_chunk],
                              "doc_id": chunk_doc[r_chunk]})
    relations = relations[relations["src"] != relations["dst"]]
    for name, df in (("documents", docs), ("chunks", chunks), ("entities", entities), ("mentions", mentions),
                     ("relations", relations)):
        write_table(run, name, df)
    pd.DataFrame({"doc_id": doc_ids, "change": "new"}).to_parquet(run / "changes.parquet")


def _load_in_process(home: Path, run: Path) -> subprocess.Popen:
    code = ("import sys; from pathlib import Path; from kgflow.config import get_settings; "
            "from kgflow.ingest import steps; steps.load_graph(Path(sys.argv[1]), get_settings())")
    return subprocess.Popen([sys.executable, "-c", code, str(run)], env={**os.environ, "KGFLOW_HOME": str(home)})


def _counts(home: Path, run: Path) -> dict:
    """Counts of the run's loaded graph (the staged copy that publish would make live)."""
    s = Settings(home=home)
    with open_graph_store(s, read_only=True, path=staged_graph(s, run.name)) as g:
        return g.counts()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("crash")
    run = base / "run"
    _staged_run(run)
    start = time.monotonic()
    proc = _load_in_process(base / "reference", run)
    assert proc.wait(timeout=600) == 0
    return {"run": run, "seconds": time.monotonic() - start, "counts": _counts(base / "reference", run),
            "base": base}


def test_the_uninterrupted_load_takes_seconds(reference):
    assert reference["seconds"] >= 2, reference["seconds"]
    assert reference["counts"]["chunks"] == N_DOCS * CHUNKS_PER_DOC


def test_a_load_killed_part_way_converges_on_rerun(reference):
    home = reference["base"] / "crashed"
    proc = _load_in_process(home, reference["run"])
    graph = home / "graph" / "staging" / f"{reference['run'].name}.lbug"
    deadline = time.monotonic() + 120
    while not graph.exists() and time.monotonic() < deadline:  # wait for the load to start writing
        time.sleep(0.05)
    time.sleep(reference["seconds"] * 0.1)  # ~1 s of the reference is the process starting, before the copy
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the load finished before it could be killed"
    steps.load_graph(reference["run"], settings=Settings(home=home))
    assert _counts(home, reference["run"]) == reference["counts"]


# Neo4j: publish loads the run in one transaction (steps.candidate_graph), so the crash is a kill inside it.

def _publish_load_in_process(run: Path) -> subprocess.Popen:
    code = ("import sys; from pathlib import Path; from kgflow.config import get_settings; "
            "from kgflow.ingest import steps\n"
            "with steps.candidate_graph(get_settings(), Path(sys.argv[1])): pass")
    return subprocess.Popen([sys.executable, "-c", code, str(run)], env=os.environ.copy())


def _neo4j_counts() -> dict:
    with open_graph_store(get_settings(), read_only=True) as g:
        return g.counts()


@pytest.fixture()
def neo4j_reference(reference, neo4j_home) -> dict:
    """The counts of the same staged run loaded into an empty Neo4j without interruption."""
    assert _publish_load_in_process(reference["run"]).wait(timeout=900) == 0
    return _neo4j_counts()


def _kill_part_way(run: Path) -> None:
    """SIGKILL the publish load once the server shows its transaction writing, a few batches in."""
    proc = _publish_load_in_process(run)
    deadline = time.monotonic() + 300
    with open_graph_store(get_settings()) as g:
        while not g.run("SHOW TRANSACTIONS YIELD currentQuery WHERE currentQuery CONTAINS $merge "
                        "RETURN count(*) AS n", {"merge": "UNWIND $rows AS row MERGE"})[0]["n"]:
            assert proc.poll() is None and time.monotonic() < deadline, "the load never started writing"
            time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the load finished before it could be killed"


def test_a_neo4j_load_killed_part_way_leaves_the_published_graph_unchanged(reference, neo4j_reference,
                                                                           neo4j_server):
    neo4j_server.empty()
    _kill_part_way(reference["run"])
    assert set(_neo4j_counts().values()) == {0}  # the transaction died with its process: nothing committed


def test_a_neo4j_load_killed_part_way_converges_on_rerun(reference, neo4j_reference, neo4j_server):
    neo4j_server.empty()
    _kill_part_way(reference["run"])
    assert _publish_load_in_process(reference["run"]).wait(timeout=900) == 0
    assert _neo4j_counts() == neo4j_reference == reference["counts"]
