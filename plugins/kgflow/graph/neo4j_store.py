"""Neo4j 5 through the official driver; connection details from the Airflow Connection `neo4j_default`."""

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
        """Resolve the Airflow Connection (also from AIRFLOW_CONN_* outside a worker) into a driver."""
        import neo4j
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        scheme = (conn.extra_dejson or {}).get("scheme", "neo4j")
        uri = f"{scheme}://{conn.host}:{conn.port or 7687}"
        driver = neo4j.GraphDatabase.driver(uri, auth=(conn.login, conn.password))
        return cls(driver, database=conn.schema or None, batch_size=batch_size)

    def ensure_schema(self) -> None:
        for stmt in neo4j_ddl():
            self.run(stmt)

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        records, _, _ = self._driver.execute_query(query, params or {}, database_=self._database)
        return [r.data() for r in records]

    def close(self) -> None:
        self._driver.close()
