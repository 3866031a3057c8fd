"""Neo4j 5 through the official driver, which the Neo4j provider's `Neo4jHook` builds from the Airflow
Connection (`neo4j_default`): the same Connection means the same server, scheme and TLS to kgflow and to
the provider's own operators (extras `neo4j_scheme`, `encrypted`, `certs_trusted_ca`, `certs_self_signed`)."""

from __future__ import annotations

from typing import Any

from kgflow.graph.base import GraphStore
from kgflow.schemas import load_json


def neo4j_ddl() -> list[str]:
    schema = load_json("graph.json")
    stmts = [
        f"CREATE CONSTRAINT {label.lower()}_key IF NOT EXISTS FOR (n:{label}) REQUIRE n.{spec['key']} IS UNIQUE"
        for label, spec in schema["nodes"].items()
    ]
    stmts.append("CREATE INDEX chunk_doc IF NOT EXISTS FOR (c:Chunk) ON (c.doc_id)")
    stmts.append("CREATE INDEX related_id IF NOT EXISTS FOR ()-[r:RELATED]-() ON (r.id)")
    stmts.append("CREATE INDEX related_evidence IF NOT EXISTS FOR ()-[r:RELATED]-() ON (r.evidence_chunk)")
    return stmts


class Neo4jGraphStore(GraphStore):
    def __init__(self, driver: Any, database: str | None = None, batch_size: int = 5000) -> None:
        self._driver = driver
        self._database = database
        self.batch_size = batch_size
        self.ensure_schema()

    @classmethod
    def from_connection(cls, conn_id: str, batch_size: int = 5000) -> Neo4jGraphStore:
        """The provider's hook resolves the Connection (also from AIRFLOW_CONN_* outside a worker) and builds
        the driver; the Connection's schema names the database, as the hook's own `run` reads it."""
        from airflow.providers.neo4j.hooks.neo4j import Neo4jHook

        hook = Neo4jHook(conn_id=conn_id)
        driver = hook.get_conn()
        return cls(driver, database=hook.connection.schema or None, batch_size=batch_size)

    def ensure_schema(self) -> None:
        for stmt in neo4j_ddl():
            self.run(stmt)

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        records, _, _ = self._driver.execute_query(query, params or {}, database_=self._database)
        return [r.data() for r in records]

    def close(self) -> None:
        self._driver.close()
