"""Neo4j 5 through the official driver, which the Neo4j provider's `Neo4jHook` builds from the Airflow
Connection (`neo4j_default`): the same Connection means the same server, scheme and TLS to kgflow and to
the provider's own operators (extras `neo4j_scheme`, `encrypted`, `certs_trusted_ca`, `certs_self_signed`).

Writes are batched `UNWIND $rows ... MERGE` statements against uniqueness constraints (the constraint's
index makes each MERGE an index seek). `transaction()` runs a whole load as one explicit transaction:
publish uses it so the graph readers see moves from the old version to the new in one commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from kgflow.config import Settings
from kgflow.graph import cypher
from kgflow.graph.base import GraphBatch, GraphStore, GraphTransactionTooLarge, batches
from kgflow.schemas import load_json

# The driver logs every INFORMATION notification (an index that exists already, ...) at INFO: keep warnings.
_NOTIFICATIONS = "WARNING"


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


def _created(summary: Any) -> int:
    return summary.counters.nodes_created + summary.counters.relationships_created


class _Neo4jWrites(GraphStore):
    """What a driver session and an explicit transaction share: batched MERGEs that count what they made."""

    def _execute(self, query: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
        raise NotImplementedError

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._execute(query, params or {})[0]

    def bulk_write(self, batch: GraphBatch) -> dict[str, int]:
        """MERGE every row in batches; returns the nodes and relationships created per kind (0 on a rerun)."""
        return {kind: sum(_created(self._execute(cypher.MERGE[kind], {"rows": part.to_dict("records")})[1])
                          for part in batches(frame, self.batch_size))
                for kind, frame in batch.in_write_order()}


class _InTransaction(_Neo4jWrites):
    """The store seen from inside one explicit transaction (schema changes cannot join one: Neo4j refuses
    DDL in a transaction that writes data, so the outer store made the schema already)."""

    def __init__(self, tx: Any, batch_size: int) -> None:
        self._tx = tx
        self.batch_size = batch_size

    def ensure_schema(self) -> None:
        pass

    @contextmanager
    def transaction(self) -> Iterator[GraphStore]:
        yield self  # already inside one: Neo4j has no nested transactions

    def _execute(self, query: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
        result = self._tx.run(query, params)
        rows = result.data()
        return rows, result.consume()

    def close(self) -> None:
        pass


class Neo4jGraphStore(_Neo4jWrites):
    def __init__(self, driver: Any, database: str | None = None, batch_size: int = 5000) -> None:
        self._driver = driver
        self._database = database
        self.batch_size = batch_size
        self.ensure_schema()

    @classmethod
    def open(cls, settings: Settings, read_only: bool = False, path: Path | None = None) -> Neo4jGraphStore:
        """The server of the `neo4j_default` Connection (one database: no staged copy, `path` is unused)."""
        return cls.from_connection(settings.neo4j_conn_id, batch_size=settings.graph_batch_size)

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

    def _session(self) -> Any:
        return self._driver.session(database=self._database, notifications_min_severity=_NOTIFICATIONS)

    def _execute(self, query: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
        with self._session() as session:
            result = session.run(query, params)
            rows = result.data()
            return rows, result.consume()

    @contextmanager
    def transaction(self) -> Iterator[GraphStore]:
        """One explicit transaction for the block: committed when it ends, rolled back when it raises (or
        when the process dies, which closes the connection). A transaction larger than the server lets one
        grow raises GraphTransactionTooLarge, having changed nothing."""
        with self._session() as session:
            tx = session.begin_transaction()
            try:
                try:
                    yield _InTransaction(tx, self.batch_size)
                except BaseException:
                    with suppress(Exception):  # a failed transaction may refuse the rollback: the server ends it
                        tx.rollback()
                    raise
                tx.commit()
            except Exception as e:
                if "MemoryPoolOutOfMemoryError" in (getattr(e, "code", None) or ""):
                    raise GraphTransactionTooLarge(
                        f"the load needs more transaction memory than the Neo4j server allows ({e.message}); "
                        "nothing was changed. Raise the server's heap or dbms.memory.transaction.total.max, "
                        "or ingest in smaller runs (the DAG's max_documents)") from e
                raise

    def close(self) -> None:
        self._driver.close()
