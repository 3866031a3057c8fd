"""The GraphStore contract, run against every implementation: LadybugDB (embedded) and a real Neo4j 5.26
Community server (started by the session from the Maven-built launcher). Idempotent loads, crash recovery,
retirement, typed reads, atomic transactions."""

from __future__ import annotations

import pandas as pd
import pytest

from kgflow.config import Settings, get_settings
from kgflow.graph import GraphBatch, open_graph_store
from kgflow.graph.embedded import EmbeddedGraphStore
from kgflow.nlp.normalize import entity_id
from kgflow.seams import GRAPH_STORES
from tests.contract import environment, implementations


def _batch(doc: str = "d1", people: tuple[str, ...] = ("Sarah Chen", "Quantara Bank")) -> GraphBatch:
    docs = pd.DataFrame({"doc_id": [doc], "uri": [f"file:///{doc}"], "title": [doc], "sha256": ["s"],
                         "department": ["hr"], "acl": [["hr"]]})
    chunks = pd.DataFrame({"chunk_id": [f"{doc}-c0", f"{doc}-c1"], "doc_id": [doc, doc], "text": ["a", "b"],
                           "ord": [0, 1], "page": [1, 1]})
    ents = pd.DataFrame({"entity_id": [entity_id(p) for p in people], "name": list(people),
                         "label": ["PERSON", "ORG"][: len(people)], "aliases": [[p] for p in people]})
    mentions = pd.DataFrame({"chunk_id": [f"{doc}-c0"] * len(people), "entity_id": ents["entity_id"],
                             "count": [1] * len(people)})
    rels = pd.DataFrame({"rel_id": [f"{doc}-r"], "src": [ents["entity_id"][0]], "dst": [ents["entity_id"][1]],
                         "type": ["work_for"], "weight": [1.0], "evidence_chunk": [f"{doc}-c0"]})
    return GraphBatch.from_staged(docs, chunks, mentions, ents, rels, ingested_at="2026-11-23T00:00:00Z")


@pytest.fixture(params=implementations(GRAPH_STORES))
def store(request, tmp_path):
    """The store named by the parameter, opened from settings as the pipeline opens it, on an empty graph."""
    if environment(GRAPH_STORES, request.param, {"embedded": "file", "neo4j": "server"}) == "server":
        request.getfixturevalue("neo4j_home")  # the server, emptied, named by neo4j_default
        s = get_settings().model_copy(update={"graph_backend": request.param})
    else:
        s = Settings(home=tmp_path, graph_backend=request.param)
    with open_graph_store(s) as store:
        yield store


def test_bulk_load_writes_the_data_model(store):
    store.bulk_write(_batch())
    assert store.counts() == {"documents": 1, "chunks": 2, "entities": 2, "mentions": 2, "relations": 1, "next": 1}


def test_loading_the_same_batch_twice_changes_nothing(store):
    store.bulk_write(_batch())
    before = store.counts()
    written = store.bulk_write(_batch())
    assert store.counts() == before
    assert set(written.values()) == {0}


def test_a_crash_mid_load_converges_on_rerun(store, tmp_path):
    full = _batch()
    # the "crash": only nodes and the first relationship type made it in
    partial = GraphBatch({k: v for k, v in full.frames.items() if k in ("Document", "Chunk", "Entity", "HAS_CHUNK")})
    store.bulk_write(partial)
    store.bulk_write(full)
    with EmbeddedGraphStore(tmp_path / "clean.lbug") as clean:
        clean.bulk_write(full)
        assert store.counts() == clean.counts()


def test_merge_path_and_bulk_path_build_the_same_graph(store, tmp_path):
    store.bulk_write(_batch())
    with EmbeddedGraphStore(tmp_path / "merge.lbug") as merged:
        merged.write(_batch())
        merged.write(_batch())
        assert merged.counts() == store.counts()


def test_retiring_a_document_removes_its_chunks_evidence_and_orphan_entities(store):
    store.bulk_write(_batch("d1", ("Sarah Chen", "Quantara Bank")))
    store.bulk_write(_batch("d2", ("Tomas Berg", "Quantara Bank")))
    store.retire_documents(["d1"])
    names = {r["name"] for r in store.run("MATCH (e:Entity) RETURN e.name AS name")}
    assert names == {"Tomas Berg", "Quantara Bank"}
    assert store.counts()["relations"] == 1 and store.counts()["documents"] == 1


@pytest.mark.parametrize("table", ["entities", "related", "mentions", "chunks"])
def test_snapshot_rows_return_each_table_of_the_query_time_view(store, table):
    store.bulk_write(_batch())
    expected = {"entities": 2, "related": 1, "mentions": 2, "chunks": 2}[table]
    assert len(store.snapshot_rows(table)) == expected


def test_typed_reads_name_entities_and_edges_without_cypher_at_the_call_site(store):
    store.bulk_write(_batch())
    assert {e.name for e in store.entities()} == {"Sarah Chen", "Quantara Bank"}
    assert [(r.src, r.type, r.dst) for r in store.related_edges()] == [
        ("Sarah Chen", "work_for", "Quantara Bank")]


def test_a_transaction_that_raises_leaves_the_graph_as_it_was(store):
    store.bulk_write(_batch("d1"))
    before = store.counts()
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.retire_documents(["d1"])
        tx.bulk_write(_batch("d2", ("Tomas Berg", "Quantara Bank")))
        raise RuntimeError("the run failed before publish")
    assert store.counts() == before


def test_a_transaction_commits_every_write_together(store):
    store.bulk_write(_batch("d1"))
    with store.transaction() as tx:
        tx.retire_documents(["d1"])
        tx.bulk_write(_batch("d2", ("Tomas Berg", "Quantara Bank")))
        assert tx.counts()["documents"] == 1  # the transaction reads its own writes
    assert {e.name for e in store.entities()} == {"Tomas Berg", "Quantara Bank"}


def test_an_export_written_back_into_an_empty_store_rebuilds_the_same_graph(store, tmp_path):
    store.bulk_write(_batch("d1"))
    store.bulk_write(_batch("d2", ("Tomas Berg", "Quantara Bank")))
    store.export().write_parquet(tmp_path / "export")
    with EmbeddedGraphStore(tmp_path / "restored.lbug") as restored:
        restored.bulk_write(GraphBatch.read_parquet(tmp_path / "export"))
        assert restored.counts() == store.counts()
        assert sorted(restored.export().frames["RELATED"]["id"]) == ["d1-r", "d2-r"]


def test_a_neo4j_load_larger_than_one_transaction_may_grow_fails_loudly_and_changes_nothing(tmp_path):
    from neo4j import GraphDatabase

    from kgflow.graph import GraphTransactionTooLarge
    from kgflow.graph.neo4j_server import local_neo4j
    from kgflow.graph.neo4j_store import Neo4jGraphStore

    names = [f"Person {i} of a company with a long name" for i in range(20000)]
    many = GraphBatch({"Entity": pd.DataFrame({"id": [entity_id(n) for n in names], "name": names, "label": "ORG",
                                               "aliases": [[n] for n in names]})})
    with local_neo4j(tmp_path / "small", transaction_memory_mb=4) as server:  # a server capping each at 4 MB
        with Neo4jGraphStore(GraphDatabase.driver(server.bolt_url, auth=("neo4j", server.password))) as store:
            store.bulk_write(_batch("d1"))
            before = store.counts()
            with pytest.raises(GraphTransactionTooLarge, match="max_documents"), store.transaction() as tx:
                tx.bulk_write(many)
            assert store.counts() == before
