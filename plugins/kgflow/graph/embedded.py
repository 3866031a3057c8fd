"""LadybugDB (embedded Cypher, the maintained Kùzu fork): node/rel tables from schemas/graph.json,
bulk loading with COPY for new rows, MERGE only through the shared statements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from kgflow.config import Settings
from kgflow.graph.base import NODE_LABELS, GraphBatch, GraphStore
from kgflow.schemas import load_json

QUERY_TIMEOUT_MS = 120_000  # unbounded path queries can run for minutes: always cap them


def ladybug_ddl() -> list[str]:
    schema = load_json("graph.json")
    stmts = []
    for label, spec in schema["nodes"].items():
        cols = ", ".join(f"{p} {t}" + (" PRIMARY KEY" if p == spec["key"] else "") for p, t in spec["props"].items())
        stmts.append(f"CREATE NODE TABLE IF NOT EXISTS {label}({cols})")
        # a graph made before a property was added to the schema gains it (a no-op once it is there)
        stmts += [f"ALTER TABLE {label} ADD IF NOT EXISTS {p} {t}" for p, t in spec["props"].items()
                  if p != spec["key"]]
    for rel, spec in schema["relationships"].items():
        props = "".join(f", {p} {t}" for p, t in spec["props"].items())
        stmts.append(f"CREATE REL TABLE IF NOT EXISTS {rel}(FROM {spec['from']} TO {spec['to']}{props})")
    return stmts


class EmbeddedGraphStore(GraphStore):
    file_backed = True

    @classmethod
    def open(cls, settings: Settings, read_only: bool = False, path: Path | None = None) -> EmbeddedGraphStore:
        return cls(path or settings.graph_path, read_only=read_only, batch_size=settings.graph_batch_size)

    def __init__(self, path: Path, read_only: bool = False, batch_size: int = 5000) -> None:
        import ladybug

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.batch_size = batch_size
        self._db = ladybug.Database(str(path), read_only=read_only)
        self._conn = ladybug.Connection(self._db)
        self._conn.set_query_timeout(QUERY_TIMEOUT_MS)
        if not read_only:
            self.ensure_schema()

    def ensure_schema(self) -> None:
        for stmt in ladybug_ddl():
            self._conn.execute(stmt)

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._conn.execute(query, params or {})
        cols = result.get_column_names()
        rows = []
        while result.has_next():
            rows.append(dict(zip(cols, result.get_next(), strict=True)))
        return rows

    @contextmanager
    def transaction(self) -> Iterator[GraphStore]:
        """LadybugDB's manual transaction (COPY included): one commit, or a rollback when the block raises."""
        self._conn.execute("BEGIN TRANSACTION")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def bulk_write(self, batch: GraphBatch) -> dict[str, int]:
        """Insert only rows not yet present, with COPY (~100x faster than MERGE here); idempotent.

        A relationship of a chunk this call inserts is new without asking: asking costs a scan of the whole
        relationship table per batch of keys (LadybugDB has no index on them), which made a first load
        quadratic (300k chunks: over 7 minutes). Only rows of chunks already present are looked up."""
        written: dict[str, int] = {}
        new_chunks: set[str] = set()
        for kind, frame in batch.in_write_order():
            if kind in NODE_LABELS:
                new = self.missing(kind, frame).drop_duplicates("id")
                if kind == "Chunk":
                    new_chunks = set(new["id"])
            else:
                fresh = _chunk_of(kind, frame).isin(new_chunks)
                new = pd.concat([frame[fresh], self.missing(kind, frame[~fresh])]) if (~fresh).any() else frame
            if not new.empty:
                self._copy(kind, new)
            written[kind] = len(new)
        return written

    def _copy(self, table: str, frame: pd.DataFrame) -> None:
        df = frame.reset_index(drop=True)  # noqa: F841 - COPY reads the DataFrame by this variable name
        self._conn.execute(f"COPY {table} FROM df")

    def close(self) -> None:
        self._conn.close()
        self._db.close()


def _chunk_of(kind: str, frame: pd.DataFrame) -> pd.Series:
    """The chunk each relationship row belongs to (a chunk's relationships are written with it)."""
    return frame["dst"] if kind == "HAS_CHUNK" else frame["evidence_chunk"] if kind == "RELATED" else frame["src"]
