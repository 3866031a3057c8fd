"""kgflow's Neo4j driver is the one the Neo4j provider's hook builds: one Connection, one meaning."""

from __future__ import annotations

from kgflow.graph.neo4j_store import Neo4jGraphStore


def _store(monkeypatch, uri: str) -> Neo4jGraphStore:
    monkeypatch.setenv("AIRFLOW_CONN_NEO4J_CHECK", uri)
    monkeypatch.setattr(Neo4jGraphStore, "ensure_schema", lambda self: None)  # no server here: nothing is sent
    return Neo4jGraphStore.from_connection("neo4j_check")


def test_the_connection_s_schema_names_the_database(monkeypatch):
    store = _store(monkeypatch, "neo4j://u:p@graph.internal:7687/knowledge")
    assert store._database == "knowledge"
    store.close()


def test_the_provider_s_extras_choose_scheme_and_tls(monkeypatch):
    store = _store(monkeypatch, "neo4j://u:p@graph.internal:7687?neo4j_scheme=true&certs_trusted_ca=true")
    assert type(store._driver).__name__ == "Neo4jDriver" and store._driver.encrypted
    store.close()


def test_a_plain_connection_is_a_direct_bolt_connection_as_for_the_provider_s_operators(monkeypatch):
    store = _store(monkeypatch, "neo4j://u:p@graph.internal:7687")
    assert type(store._driver).__name__ == "BoltDriver" and not store._driver.encrypted
    store.close()
