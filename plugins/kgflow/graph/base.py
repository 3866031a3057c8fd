"""GraphStore: the one interface every graph backend implements; GraphBatch: what is written."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import pandas as pd

from kgflow.config import Settings
from kgflow.errors import KgflowError
from kgflow.graph import cypher

# Write order: nodes before the relationships that reference them.
NODE_LABELS = ("Document", "Chunk", "Entity")
REL_TYPES = ("HAS_CHUNK", "NEXT", "MENTIONS", "RELATED")


@dataclass
class GraphBatch:
    """Rows per node label / relationship type, in the graph's own column names (id, src, dst, ...)."""

    frames: dict[str, pd.DataFrame]

    @classmethod
    def from_staged(cls, documents: pd.DataFrame, chunks: pd.DataFrame, mentions: pd.DataFrame,
                    entities: pd.DataFrame, relations: pd.DataFrame, ingested_at: str) -> GraphBatch:
        docs = documents.rename(columns={"doc_id": "id"})[["id", "uri", "title", "sha256", "department", "acl"]]
        tags = documents["tags"] if "tags" in documents else pd.Series([[]] * len(documents), index=documents.index)
        # columns in the order schemas/graph.json declares them (COPY maps by position)
        docs = docs.assign(ingested_at=ingested_at, acl=docs["acl"].map(list),
                           tags=tags.map(lambda t: list(t) if t is not None else []))
        ch = chunks.rename(columns={"chunk_id": "id"})[["id", "doc_id", "text", "ord", "page"]]
        section = chunks["section"].fillna("") if "section" in chunks else ""
        ch = ch.astype({"ord": "int64", "page": "int64"}).assign(section=section)
        ents = entities.rename(columns={"entity_id": "id"})[["id", "name", "label", "aliases"]]
        ents = ents.assign(aliases=ents["aliases"].map(list))
        has = ch.rename(columns={"doc_id": "src", "id": "dst"})[["src", "dst"]]
        ordered = ch.sort_values(["doc_id", "ord"])
        nxt = pd.DataFrame({"src": ordered["id"].values, "dst": ordered["id"].shift(-1).values,
                            "same": (ordered["doc_id"] == ordered["doc_id"].shift(-1)).values})
        nxt = nxt[nxt["same"]][["src", "dst"]]
        men = (mentions.groupby(["chunk_id", "entity_id"], as_index=False)["count"].sum()
               .rename(columns={"chunk_id": "src", "entity_id": "dst"}).astype({"count": "int64"}))
        rel = relations.rename(columns={"rel_id": "id"})[["src", "dst", "id", "type", "weight", "evidence_chunk"]]
        frames = {"Document": docs, "Chunk": ch, "Entity": ents, "HAS_CHUNK": has, "NEXT": nxt,
                  "MENTIONS": men, "RELATED": rel}
        return cls({k: v.reset_index(drop=True) for k, v in frames.items()})

    def rows(self) -> int:
        return sum(len(f) for f in self.frames.values())

    def in_write_order(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(kind, rows) for every kind that has rows: nodes before the relationships that reference them."""
        for kind in NODE_LABELS + REL_TYPES:
            frame = self.frames.get(kind)
            if frame is not None and not frame.empty:
                yield kind, frame

    def counts(self) -> dict[str, int]:
        """The batch's rows under the names GraphStore.counts uses."""
        n = {k: len(f) for k, f in self.frames.items()}
        return {"documents": n.get("Document", 0), "chunks": n.get("Chunk", 0), "entities": n.get("Entity", 0),
                "mentions": n.get("MENTIONS", 0), "relations": n.get("RELATED", 0), "next": n.get("NEXT", 0)}

    def write_parquet(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for kind, frame in self.frames.items():
            frame.to_parquet(folder / f"{kind}.parquet", index=False)

    @classmethod
    def read_parquet(cls, folder: Path) -> GraphBatch:
        frames = {}
        for kind in NODE_LABELS + REL_TYPES:
            frame = pd.read_parquet(folder / f"{kind}.parquet")
            for col in frame.columns:  # parquet gives list columns back as arrays; drivers take lists
                if frame[col].dtype == object and len(frame) and hasattr(frame[col].iloc[0], "tolist"):
                    frame[col] = frame[col].map(lambda v: v.tolist() if v is not None else [])
            frames[kind] = frame
        return cls(frames)


def key_of(kind: str, frame: pd.DataFrame) -> pd.Series:
    """The identity of a row as cypher.EXISTING returns it."""
    if kind in NODE_LABELS or kind == "RELATED":
        return frame["id"]
    if kind == "MENTIONS":
        return frame["src"] + "|" + frame["dst"]
    return frame["dst"] if kind == "HAS_CHUNK" else frame["src"]


def lookup_ids(kind: str, frame: pd.DataFrame) -> list[str]:
    return (frame["src"] if kind in ("MENTIONS", "NEXT") else
            frame["dst"] if kind == "HAS_CHUNK" else frame["id"]).drop_duplicates().tolist()


def batches(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start:start + size]


class GraphTransactionTooLarge(KgflowError):
    """A load meant to commit at once outgrew what the graph server allows one transaction; nothing changed."""
    status, error_type = 413, "too_large"


class EntityRow(NamedTuple):
    id: str
    name: str
    label: str | None = None
    aliases: list[str] | None = None


class EdgeRow(NamedTuple):
    """A RELATED edge: its ends are entity ids in a snapshot, entity names in `related_edges`."""

    src: str
    dst: str
    type: str
    weight: float
    chunk: str | None  # the evidence chunk


class MentionRow(NamedTuple):
    chunk: str
    entity: str
    count: int | None


class ChunkRow(NamedTuple):
    """A chunk with its document's title, address and access list (what a citation and the ACL need)."""

    id: str
    text: str
    ord: int | None
    section: str | None
    doc_id: str
    title: str
    uri: str
    acl: list[str] | None


SnapshotTable = Literal["entities", "related", "mentions", "chunks"]
SnapshotRow = EntityRow | EdgeRow | MentionRow | ChunkRow
# the row type of each snapshot table; the Cypher returns exactly these columns (kgflow.graph.cypher.SNAPSHOT)
SNAPSHOT_ROWS: dict[str, type[NamedTuple]] = {"entities": EntityRow, "related": EdgeRow, "mentions": MentionRow,
                                               "chunks": ChunkRow}


class GraphStore(ABC):
    """Idempotent writes keyed by stable ids; retire by document; Cypher reads for retrieval."""

    batch_size: int = 5000
    # the graph is one file set at KGFLOW_GRAPH_PATH: a run loads a copy that publish promotes by a rename, and
    # a backup copies the files; a server's graph (False) is loaded in place inside one transaction and backed
    # up by its export
    file_backed: ClassVar[bool] = False

    @classmethod
    def open(cls, settings: Settings, read_only: bool = False, path: Path | None = None) -> GraphStore:
        """The store the settings configure (`path`: a staged copy, for a store that has one). Every store
        registered in kgflow.seams has one; a store's own helpers (a transaction's view) need none."""
        raise NotImplementedError(f"{cls.__name__} is not opened from settings")

    @abstractmethod
    def ensure_schema(self) -> None: ...

    @abstractmethod
    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def transaction(self) -> AbstractContextManager[GraphStore]:
        """A context whose store commits every write made through it together when the block ends, and
        none of them when it raises: what publish loads a version through."""

    def write(self, batch: GraphBatch) -> dict[str, int]:
        """MERGE every row in batches (UNWIND); safe to repeat. Returns rows written per kind."""
        written = {}
        for kind, frame in batch.in_write_order():
            for part in batches(frame, self.batch_size):
                self.run(cypher.MERGE[kind], {"rows": part.to_dict("records")})
            written[kind] = len(frame)
        return written

    def bulk_write(self, batch: GraphBatch) -> dict[str, int]:
        """The store's fastest idempotent load; batched UNWIND/MERGE unless a backend has better."""
        return self.write(batch)

    def missing(self, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of `frame` whose key is not in the graph yet."""
        existing: set[str] = set()
        for part in batches(pd.DataFrame({"k": lookup_ids(kind, frame)}), self.batch_size):
            existing.update(r["k"] for r in self.run(cypher.EXISTING[kind], {"ids": part["k"].tolist()}))
        return frame[~key_of(kind, frame).isin(existing)]

    def retire_documents(self, doc_ids: list[str]) -> None:
        if not doc_ids:
            return
        for q in cypher.RETIRE:
            self.run(q, {"ids": list(doc_ids)})

    def counts(self) -> dict[str, int]:
        return {k: int(self.run(q)[0]["n"]) for k, q in cypher.COUNTS.items()}

    def export(self) -> GraphBatch:
        """Every node and relationship, in the frames bulk_write takes: a backup, which a restore writes back."""
        return GraphBatch({kind: pd.DataFrame(self.run(query), columns=cols)
                           for kind, (query, cols) in cypher.export_queries().items()})

    # Typed reads: callers name what they want; the Cypher stays in kgflow.graph.cypher

    def snapshot_rows(self, table: SnapshotTable) -> list[SnapshotRow]:
        """One table of the query-time snapshot (entities, related, mentions, chunks), in no fixed order."""
        row = SNAPSHOT_ROWS[table]
        return [row(**r) for r in self.run(cypher.SNAPSHOT[table])]

    def snapshot_rows_for(self, table: SnapshotTable, ids: list[str]) -> list[SnapshotRow]:
        """The rows of one snapshot table for the given keys: chunks by document, mentions by chunk, related
        edges by evidence chunk, entities by id (a snapshot delta reads only what a run changed)."""
        row, out = SNAPSHOT_ROWS[table], []
        for lo in range(0, len(ids), self.batch_size):
            out += [row(**r) for r in self.run(cypher.SNAPSHOT_FOR[table], {"ids": list(ids[lo:lo + self.batch_size])})]
        return out

    def entities(self) -> list[EntityRow]:
        """Every entity: id, name, label, aliases."""
        return [EntityRow(**r) for r in self.run(cypher.ALL_ENTITIES)]

    def related_edges(self) -> list[EdgeRow]:
        """Every RELATED edge by entity name."""
        return [EdgeRow(**r) for r in self.run(cypher.RELATED_EDGES)]

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_graph_store(settings: Settings, read_only: bool = False, path: Path | None = None) -> GraphStore:
    """The configured store (KGFLOW_GRAPH_BACKEND, kgflow.seams.GRAPH_STORES); `path` opens a staged copy of
    the embedded graph instead of the live one."""
    from kgflow.seams import GRAPH_STORES

    return GRAPH_STORES.resolve(settings.graph_backend).open(settings, read_only=read_only, path=path)


def file_backed(settings: Settings) -> bool:
    """Whether the configured store keeps its graph in files at settings.graph_path (GraphStore.file_backed)."""
    from kgflow.seams import GRAPH_STORES

    return GRAPH_STORES.resolve(settings.graph_backend).file_backed


def staged_graph(settings: Settings, run_name: str, fresh: bool = False) -> Path | None:
    """The file-backed graph a run writes to: a copy of the live one, promoted at publish (None for a server,
    which is loaded in place). `fresh` starts the copy again from the live graph (a rerun after a crash)."""
    if not file_backed(settings):
        return None
    staged = settings.graph_path.parent / "staging" / f"{run_name}.lbug"
    if fresh or not staged.exists():
        import shutil

        staged.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for p in staged.parent.iterdir():  # one ingest at a time: older copies are failed runs' leftovers
            p.unlink()
        if settings.graph_path.exists():
            tmp = staged.with_name(staged.name + ".copy")
            shutil.copyfile(settings.graph_path, tmp)
            tmp.replace(staged)
    return staged


def promote_graph(settings: Settings, run_name: str) -> None:
    """Make a run's staged graph the live one (one atomic rename); no-op for a server's graph."""
    staged = staged_graph(settings, run_name)
    if staged is None:
        return
    settings.graph_path.parent.mkdir(parents=True, exist_ok=True)
    settings.graph_path.with_name(settings.graph_path.name + ".wal").unlink(missing_ok=True)
    staged.replace(settings.graph_path)
