"""An in-memory view of the graph for query time: entities, weighted RELATED adjacency, mentions, chunks.

Loaded through the GraphStore interface (Neo4j or embedded) when a new version is published, so
queries never hold a lock on the embedded store while the nightly load writes to it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from kgflow.graph import GraphStore, cypher
from kgflow.nlp.normalize import canonical_key
from kgflow.sources.policy import may_read


@dataclass(frozen=True)
class ChunkInfo:
    id: str
    text: str
    doc_id: str
    title: str
    uri: str
    acl: tuple[str, ...]
    ord: int = 0


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    type: str
    weight: float
    chunk: str


@dataclass
class GraphView:
    names: dict[str, str] = field(default_factory=dict)  # entity id -> name
    by_key: dict[str, str] = field(default_factory=dict)  # canonical name or alias -> entity id
    adjacency: dict[str, list[Edge]] = field(default_factory=lambda: defaultdict(list))
    chunks_of: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))  # entity -> chunk -> n
    chunks: dict[str, ChunkInfo] = field(default_factory=dict)
    _keys: list[str] | None = None
    _by_position: dict[tuple[str, int], ChunkInfo] | None = None

    def previous(self, chunk_id: str) -> ChunkInfo | None:
        """The chunk before this one in its document, if any."""
        if self._by_position is None:
            self._by_position = {(c.doc_id, c.ord): c for c in self.chunks.values()}
        c = self.chunks.get(chunk_id)
        return self._by_position.get((c.doc_id, c.ord - 1)) if c else None

    def keys(self) -> list[str]:
        """Every linkable key, as a list built once (fuzzy matching scans it on every question)."""
        if self._keys is None:
            self._keys = list(self.by_key)
        return self._keys

    def readable(self, entity_id: str, departments: frozenset[str] | None) -> bool:
        """Whether the caller may read at least one chunk that mentions the entity."""
        return any(c in self.chunks and may_read(self.chunks[c].acl, departments)
                   for c in self.chunks_of.get(entity_id, ()))

    @classmethod
    def load(cls, store: GraphStore) -> GraphView:
        v = cls()
        def rows(name: str, *keys: str) -> list[dict]:
            # Sorted here, not by the store: which entity an alias names, the walk matrix's node order and
            # every tie depend on row order, and LadybugDB returns it differently from one read to the next
            # (even under ORDER BY, as unmerged sorted runs). Answers must not differ across workers.
            return sorted(store.run(cypher.SNAPSHOT[name]), key=lambda r: tuple(r[k] for k in keys))

        for e in rows("entities", "id"):
            v.names[e["id"]] = e["name"]
            for alias in [e["name"], *(e["aliases"] or [])]:
                v.by_key.setdefault(canonical_key(alias), e["id"])
        for r in rows("related", "src", "dst", "type", "chunk"):
            edge = Edge(r["src"], r["dst"], r["type"], float(r["weight"]), r["chunk"])
            v.adjacency[r["src"]].append(edge)
            v.adjacency[r["dst"]].append(edge)
        for m in rows("mentions", "chunk", "entity"):
            v.chunks_of[m["entity"]][m["chunk"]] = int(m["count"])
        for c in rows("chunks", "doc_id", "ord", "id"):
            v.chunks[c["id"]] = ChunkInfo(c["id"], c["text"], c["doc_id"], c["title"], c["uri"], tuple(c["acl"] or ()),
                                          int(c["ord"] or 0))
        return v
