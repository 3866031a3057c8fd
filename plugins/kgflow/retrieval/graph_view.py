"""The query-time view of the graph, as columns: entities, chunks, mentions and RELATED edges.

Built once per published version from the graph store (Neo4j or embedded, through the same SNAPSHOT
queries) and written into the version's directory as Arrow IPC files and numpy CSR arrays
(kgflow.retrieval.kb_snapshot). Every gateway worker memory-maps those files, so N workers share one
copy in the page cache, loading a version is opening files, and no query ever holds a lock on the store.

Only what must be a hash table lives in each worker's own memory: id -> row for chunks and entities,
and the linking keys. Texts, ACLs, mentions and edges stay in the shared columns and are materialised
per access, for the few rows a query touches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from kgflow.nlp.normalize import canonical_key
from kgflow.sources.policy import ALL, may_read

if TYPE_CHECKING:
    from kgflow.graph.base import ChunkRow, EdgeRow, EntityRow


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
    chunk: str  # "" when the evidence chunk is not in the view


CHUNK_SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string()), ("doc_id", pa.string()),
                          ("title", pa.string()), ("uri", pa.string()), ("acl", pa.list_(pa.string())),
                          ("ord", pa.int32()), ("section", pa.string())])
ENTITY_SCHEMA = pa.schema([("id", pa.string()), ("name", pa.string())])
KEY_SCHEMA = pa.schema([("key", pa.string()), ("entity", pa.int32())])
RELATED_SCHEMA = pa.schema([("src", pa.int32()), ("dst", pa.int32()), ("type", pa.string()),
                            ("weight", pa.float32()), ("chunk", pa.int32())])
TABLES = {"chunks": CHUNK_SCHEMA, "entities": ENTITY_SCHEMA, "keys": KEY_SCHEMA, "related": RELATED_SCHEMA}
# CSR arrays: mentions sorted by (entity, chunk) with a row pointer per entity, the same mentions in
# chunk order (a permutation and a pointer per chunk), and each entity's edges (both ends) in row order
ARRAYS = ("m_entity", "m_chunk", "m_count", "m_entity_ptr", "m_by_chunk", "m_chunk_ptr", "adj_ptr", "adj_edge")


def _csr_pointer(sorted_keys: np.ndarray, n: int) -> np.ndarray:
    return np.searchsorted(sorted_keys, np.arange(n + 1)).astype("int64")


def build_columns(rows: Callable[[str], list]) -> tuple[dict[str, pa.Table], dict[str, np.ndarray]]:
    """The view's tables and arrays from the store's SNAPSHOT rows. Rows are sorted here, not by the store:
    which entity an alias names, node order and every tie depend on row order, and LadybugDB returns it
    differently from one read to the next (even under ORDER BY). Answers must not differ across workers."""
    entities: list[EntityRow] = sorted(rows("entities"), key=lambda r: r.id)
    chunks: list[ChunkRow] = sorted(rows("chunks"), key=lambda r: (r.doc_id, int(r.ord or 0), r.id))
    e_row = {e.id: i for i, e in enumerate(entities)}
    c_row = {c.id: i for i, c in enumerate(chunks)}
    keys: dict[str, int] = {}
    for i, e in enumerate(entities):
        for alias in [e.name, *(e.aliases or [])]:
            keys.setdefault(canonical_key(alias), i)
    edges: list[EdgeRow] = rows("related")
    related = sorted({(r.src, r.dst, r.type, r.chunk or ""): r for r in edges
                      if r.src in e_row and r.dst in e_row}.items())
    related = [r for _, r in related]  # one edge per (src, dst, type, evidence), in that order
    mentions = sorted((e_row[m.entity], c_row[m.chunk], int(m.count or 1)) for m in rows("mentions")
                      if m.entity in e_row and m.chunk in c_row)
    tables = {
        "chunks": pa.Table.from_pylist([{"id": c.id, "text": c.text, "doc_id": c.doc_id, "title": c.title,
                                         "uri": c.uri, "acl": list(c.acl or []), "ord": int(c.ord or 0),
                                         "section": c.section or ""} for c in chunks], schema=CHUNK_SCHEMA),
        "entities": pa.Table.from_pylist([{"id": e.id, "name": e.name} for e in entities], schema=ENTITY_SCHEMA),
        "keys": pa.Table.from_pydict({"key": list(keys), "entity": list(keys.values())}, schema=KEY_SCHEMA),
        "related": pa.Table.from_pylist([{"src": e_row[r.src], "dst": e_row[r.dst], "type": r.type,
                                          "weight": float(r.weight), "chunk": c_row.get(r.chunk, -1)}
                                         for r in related], schema=RELATED_SCHEMA),
    }
    n_e, n_c = len(entities), len(chunks)
    m = np.asarray(mentions, "int64").reshape(-1, 3)
    by_chunk = np.lexsort((m[:, 0], m[:, 1])).astype("int64")
    src = np.asarray([e_row[r.src] for r in related], "int64")
    dst = np.asarray([e_row[r.dst] for r in related], "int64")
    ends = np.concatenate([src, dst])
    edge = np.concatenate([np.arange(len(src)), np.arange(len(dst))])
    order = np.lexsort((edge, ends))
    arrays = {"m_entity": m[:, 0].astype("int32"), "m_chunk": m[:, 1].astype("int32"),
              "m_count": m[:, 2].astype("int32"), "m_entity_ptr": _csr_pointer(m[:, 0], n_e),
              "m_by_chunk": by_chunk, "m_chunk_ptr": _csr_pointer(m[by_chunk, 1], n_c),
              "adj_ptr": _csr_pointer(ends[order], n_e), "adj_edge": edge[order].astype("int32")}
    return tables, arrays


class _Rows(Mapping):
    """id -> value over a column-backed view: a Mapping, so callers read it like the dict it replaces."""

    def __init__(self, row_of: dict[str, int], ids: list[str], value: Callable[[int], object]) -> None:
        self._row_of, self._ids, self._value = row_of, ids, value

    def __getitem__(self, key: str):
        return self._value(self._row_of[key])

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class GraphView:
    def __init__(self, tables: dict[str, pa.Table], arrays: dict[str, np.ndarray]) -> None:
        self.tables, self.arrays = tables, arrays
        self.chunk_ids: list[str] = tables["chunks"].column("id").to_pylist()
        self.entity_ids: list[str] = tables["entities"].column("id").to_pylist()
        self._chunk_row = {c: i for i, c in enumerate(self.chunk_ids)}
        self._entity_row = {e: i for i, e in enumerate(self.entity_ids)}
        ch, rel = tables["chunks"], tables["related"]
        self._text, self._doc, self._title = ch.column("text"), ch.column("doc_id"), ch.column("title")
        self._uri, self._acl, self._ord = ch.column("uri"), ch.column("acl"), ch.column("ord").to_numpy()
        self._name = tables["entities"].column("name")
        self._r_src, self._r_dst = rel.column("src").to_numpy(), rel.column("dst").to_numpy()
        self._r_weight, self._r_chunk = rel.column("weight").to_numpy(), rel.column("chunk").to_numpy()
        types = rel.column("type").combine_chunks().dictionary_encode()
        self._r_type, self._type_names = types.indices.to_numpy(), types.dictionary.to_pylist()
        # rows a query touches are materialised once and kept, up to a bound: a worker's own memory stays a
        # small working set however large the version is
        self._chunk = lru_cache(maxsize=8192)(self._chunk_at)
        self._edges = lru_cache(maxsize=4096)(self._edges_at)
        self.chunks: Mapping[str, ChunkInfo] = _Rows(self._chunk_row, self.chunk_ids, self._chunk)
        self.names: Mapping[str, str] = _Rows(self._entity_row, self.entity_ids, lambda i: self._name[i].as_py())
        self.adjacency: Mapping[str, list[Edge]] = _Rows(self._entity_row, self.entity_ids, self._edges)
        self.chunks_of: Mapping[str, dict[str, int]] = _Rows(self._entity_row, self.entity_ids, self._mentioned)
        self._masks: dict[frozenset[str], np.ndarray] = {}

    @classmethod
    def from_rows(cls, rows: Callable[[str], list]) -> GraphView:
        """A view held in memory (tests, one-off readers); workers open the published snapshot instead."""
        return cls(*build_columns(rows))

    @classmethod
    def load(cls, store) -> GraphView:
        """Read a GraphStore's snapshot tables."""
        return cls.from_rows(store.snapshot_rows)

    @cached_property
    def by_key(self) -> dict[str, str]:
        """Canonical name or alias -> entity id."""
        keys = self.tables["keys"]
        return {k: self.entity_ids[e] for k, e in zip(keys.column("key").to_pylist(),
                                                       keys.column("entity").to_pylist(), strict=True)}

    def keys(self) -> list[str]:
        """Every linkable key, as a list built once (fuzzy matching scans it on every question)."""
        return self._key_list

    @cached_property
    def _key_list(self) -> list[str]:
        return list(self.by_key)

    def section(self, chunk_id: str) -> str:
        """The heading path a chunk starts in ("" in a snapshot written before chunks carried one)."""
        ch = self.tables["chunks"]
        return ch.column("section")[self._chunk_row[chunk_id]].as_py() or "" if "section" in ch.schema.names else ""

    def _chunk_at(self, i: int) -> ChunkInfo:
        return ChunkInfo(self.chunk_ids[i], self._text[i].as_py(), self._doc[i].as_py(), self._title[i].as_py(),
                         self._uri[i].as_py(), tuple(self._acl[i].as_py() or ()), int(self._ord[i]))

    def _edges_at(self, row: int) -> list[Edge]:
        ptr = self.arrays["adj_ptr"]
        return self._materialise(np.asarray(self.arrays["adj_edge"][ptr[row]:ptr[row + 1]]))

    def edges_with_evidence(self, entity_ids: Iterable[str], evidence: Iterable[str]) -> list[tuple[str, Edge]]:
        """(entity, edge) for the RELATED edges at the given entities whose evidence chunk is one of
        `evidence`: selected on the arrays, so a hub entity's thousands of other edges are never built."""
        rows = [self._entity_row[e] for e in entity_ids if e in self._entity_row]
        wanted = np.asarray([self._chunk_row[c] for c in evidence if c in self._chunk_row], dtype="int64")
        if not rows or not len(wanted):
            return []
        ptr, adj = self.arrays["adj_ptr"], self.arrays["adj_edge"]
        starts, ends = ptr[rows], ptr[np.asarray(rows) + 1]
        ix = np.concatenate([np.asarray(adj[a:b]) for a, b in zip(starts, ends, strict=True)])
        owner = np.repeat(np.asarray(rows), ends - starts)
        keep = np.isin(self._r_chunk[ix], wanted)
        return [(self.entity_ids[o], e) for o, e in zip(owner[keep].tolist(), self._materialise(ix[keep]),
                                                         strict=True)]

    def _materialise(self, ix: np.ndarray) -> list[Edge]:
        ids, chunk_ids = self.entity_ids, self.chunk_ids
        return [Edge(ids[s], ids[d], self._type_names[t], float(w), chunk_ids[c] if c >= 0 else "")
                for s, d, t, w, c in zip(self._r_src[ix].tolist(), self._r_dst[ix].tolist(),
                                         self._r_type[ix].tolist(), self._r_weight[ix].tolist(),
                                         self._r_chunk[ix].tolist(), strict=True)]

    def _mentioned(self, row: int) -> dict[str, int]:
        a, ptr = self.arrays, self.arrays["m_entity_ptr"]
        lo, hi = ptr[row], ptr[row + 1]
        return {self.chunk_ids[c]: n for c, n in zip(a["m_chunk"][lo:hi].tolist(), a["m_count"][lo:hi].tolist(),
                                                     strict=True)}

    def df(self, entity_id: str) -> int:
        """How many chunks mention the entity (0 for an unknown one)."""
        row = self._entity_row.get(entity_id)
        ptr = self.arrays["m_entity_ptr"]
        return 0 if row is None else int(ptr[row + 1] - ptr[row])

    def entities_in(self, chunk_id: str) -> frozenset[str]:
        """The entities (named entities and concepts) a chunk mentions."""
        row = self._chunk_row.get(chunk_id)
        if row is None:
            return frozenset()
        a, ptr = self.arrays, self.arrays["m_chunk_ptr"]
        mentions = a["m_by_chunk"][ptr[row]:ptr[row + 1]]
        return frozenset(self.entity_ids[e] for e in a["m_entity"][mentions].tolist())

    def previous(self, chunk_id: str) -> ChunkInfo | None:
        """The chunk before this one in its document, if any (chunks are stored in reading order)."""
        row = self._chunk_row.get(chunk_id)
        if not row or self._doc[row - 1].as_py() != self._doc[row].as_py():
            return None
        return self._chunk(row - 1) if self._ord[row - 1] == self._ord[row] - 1 else None

    def readable_mask(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Whether the caller may read each chunk, in chunk_ids order (None: everything); once per caller's
        departments and version, so access checks on a query's hot path are an array lookup."""
        if departments is None or ALL in departments:
            return None
        if departments not in self._masks:
            self._masks[departments] = np.array([may_read(acl, departments) for acl in self.acls()], dtype=bool)
        return self._masks[departments]

    def may_read(self, chunk_id: str, departments: frozenset[str] | None) -> bool:
        """Whether the chunk exists and the caller may read it."""
        row = self._chunk_row.get(chunk_id)
        if row is None:
            return False
        mask = self.readable_mask(departments)
        return True if mask is None else bool(mask[row])

    def readable(self, entity_id: str, departments: frozenset[str] | None) -> bool:
        """Whether the caller may read at least one chunk that mentions the entity."""
        row = self._entity_row.get(entity_id)
        if row is None:
            return False
        ptr = self.arrays["m_entity_ptr"]
        if ptr[row] == ptr[row + 1]:
            return False
        mask = self.readable_mask(departments)
        return True if mask is None else bool(mask[self.arrays["m_chunk"][ptr[row]:ptr[row + 1]]].any())

    def texts(self) -> list[str]:
        """Every chunk's text in chunk_ids order."""
        return self._text.to_pylist()

    def findable_texts(self) -> list[str]:
        """What each chunk is found by (title and section path before its text), in chunk_ids order."""
        from kgflow.chunking.chunker import findable_text

        ch = self.tables["chunks"]
        sections = ch.column("section").to_pylist() if "section" in ch.schema.names else [""] * ch.num_rows
        return [findable_text(t or "", s or "", x) for t, s, x in zip(self._title.to_pylist(), sections,
                                                                       self.texts(), strict=True)]

    def acls(self) -> list[tuple[str, ...]]:
        """Every chunk's ACL in chunk_ids order (for per-department masks, computed once per version)."""
        return [tuple(a or ()) for a in self._acl.to_pylist()]

    def doc_codes(self) -> np.ndarray:
        """An integer per chunk naming its document, in chunk_ids order."""
        return self._doc.combine_chunks().dictionary_encode().indices.to_numpy()
