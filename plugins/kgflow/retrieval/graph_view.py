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

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from kgflow.fsutil import load_mapped
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


def csr_arrays(m: np.ndarray, src: np.ndarray, dst: np.ndarray, edge_ids: np.ndarray, n_e: int,
               n_c: int) -> dict[str, np.ndarray]:
    """The CSR arrays over (entity row, chunk row, count) mentions sorted by entity then chunk, and RELATED
    edges `edge_ids` with ends `src`/`dst`: rows are the view's, so a delta's arrays point into the whole view."""
    by_chunk = np.lexsort((m[:, 0], m[:, 1])).astype("int64")
    ends = np.concatenate([src, dst])
    edge = np.concatenate([edge_ids, edge_ids])
    order = np.lexsort((edge, ends))
    return {"m_entity": m[:, 0].astype("int32"), "m_chunk": m[:, 1].astype("int32"),
            "m_count": m[:, 2].astype("int32"), "m_entity_ptr": _csr_pointer(m[:, 0], n_e),
            "m_by_chunk": by_chunk, "m_chunk_ptr": _csr_pointer(m[by_chunk, 1], n_c),
            "adj_ptr": _csr_pointer(ends[order], n_e), "adj_edge": edge[order].astype("int32")}


def alias_keys(e: EntityRow) -> list[str]:
    """The linking keys an entity answers to: its name and aliases, canonical, once each."""
    return list(dict.fromkeys(canonical_key(a) for a in [e.name, *(e.aliases or [])]))


def chunk_table(chunks: list[ChunkRow]) -> pa.Table:
    return pa.Table.from_pylist([{"id": c.id, "text": c.text, "doc_id": c.doc_id, "title": c.title, "uri": c.uri,
                                  "acl": list(c.acl or []), "ord": int(c.ord or 0), "section": c.section or ""}
                                 for c in chunks], schema=CHUNK_SCHEMA)


def entity_table(entities: list[EntityRow]) -> pa.Table:
    return pa.Table.from_pylist([{"id": e.id, "name": e.name} for e in entities], schema=ENTITY_SCHEMA)


def sort_chunks(chunks: list[ChunkRow]) -> list[ChunkRow]:
    """Reading order: by document, then position (previous() and the walk's NEXT edges rely on it)."""
    return sorted(chunks, key=lambda r: (r.doc_id, int(r.ord or 0), r.id))


def unique_edges(edges: list[EdgeRow], known: Callable[[str], bool]) -> list[EdgeRow]:
    """One edge per (src, dst, type, evidence) between known entities, in that order."""
    return [r for _, r in sorted({(r.src, r.dst, r.type, r.chunk or ""): r for r in edges
                                  if known(r.src) and known(r.dst)}.items())]


def build_columns(rows: Callable[[str], list]) -> tuple[dict[str, pa.Table], dict[str, np.ndarray]]:
    """The view's tables and arrays from the store's SNAPSHOT rows. Rows are sorted here, not by the store:
    which entity an alias names, node order and every tie depend on row order, and LadybugDB returns it
    differently from one read to the next (even under ORDER BY). Answers must not differ across workers."""
    entities: list[EntityRow] = sorted(rows("entities"), key=lambda r: r.id)
    chunks = sort_chunks(rows("chunks"))
    e_row = {e.id: i for i, e in enumerate(entities)}
    c_row = {c.id: i for i, c in enumerate(chunks)}
    # every (key, entity) pair in entity order: the first pair of a key names its entity; the others let an
    # increment find the next holder when that entity is retired (kgflow.retrieval.kb_snapshot)
    pairs = [(k, i) for i, e in enumerate(entities) for k in alias_keys(e)]
    pairs.sort()
    related = unique_edges(rows("related"), e_row.__contains__)
    mentions = sorted((e_row[m.entity], c_row[m.chunk], int(m.count or 1)) for m in rows("mentions")
                      if m.entity in e_row and m.chunk in c_row)
    tables = {
        "chunks": chunk_table(chunks),
        "entities": entity_table(entities),
        "keys": pa.Table.from_pydict({"key": [k for k, _ in pairs], "entity": [i for _, i in pairs]},
                                     schema=KEY_SCHEMA),
        "related": pa.Table.from_pylist([{"src": e_row[r.src], "dst": e_row[r.dst], "type": r.type,
                                          "weight": float(r.weight), "chunk": c_row.get(r.chunk, -1)}
                                         for r in related], schema=RELATED_SCHEMA),
    }
    m = np.asarray(mentions, "int64").reshape(-1, 3)
    src = np.asarray([e_row[r.src] for r in related], "int64")
    dst = np.asarray([e_row[r.dst] for r in related], "int64")
    return tables, csr_arrays(m, src, dst, np.arange(len(src)), len(entities), len(chunks))


class Texts:
    """Chunk texts by row. In memory: an Arrow column. A published snapshot keeps them in one file of UTF-8
    texts with an offset per row, read with pread: mapped, each random read also mapped its neighbours (the
    kernel's fault-around), so a worker's RSS held most of the 343 MB of texts of 1M chunks after a few
    hundred questions."""

    def __init__(self, column: pa.ChunkedArray | pa.Array | None = None, folder: Path | None = None) -> None:
        self._column, self._fd, self._offsets = column, None, None
        if folder is not None:
            self._fd = os.open(folder / TEXTS, os.O_RDONLY)
            self._offsets = load_mapped(folder / TEXT_OFFSETS)

    def __len__(self) -> int:
        return len(self._column) if self._column is not None else len(self._offsets) - 1

    def get(self, row: int) -> str:
        if self._column is not None:
            return self._column[row].as_py()
        lo, hi = int(self._offsets[row]), int(self._offsets[row + 1])
        return os.pread(self._fd, hi - lo, lo).decode("utf-8") if hi > lo else ""

    def take(self, rows) -> list[str]:
        if self._column is not None:
            return self._column.take(pa.array(rows, pa.int64())).to_pylist()
        return [self.get(int(r)) for r in rows]

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)

    @staticmethod
    def write(folder: Path, column: pa.ChunkedArray) -> None:
        """The texts file and its offsets (what `Texts(folder=...)` reads)."""
        data = [t.encode("utf-8") for t in column.to_pylist()]
        offsets = np.zeros(len(data) + 1, "int64")
        np.cumsum([len(b) for b in data], out=offsets[1:])
        (folder / TEXTS).write_bytes(b"".join(data))
        np.save(folder / TEXT_OFFSETS, offsets)


class _Joined:
    """Base texts, then a delta's."""

    def __init__(self, base, delta) -> None:
        self._base, self._delta, self._n = base, delta, len(base)

    def __len__(self) -> int:
        return self._n + len(self._delta)

    def get(self, row: int) -> str:
        return self._base.get(row) if row < self._n else self._delta.get(row - self._n)

    def take(self, rows) -> list[str]:
        return [self.get(int(r)) for r in rows]


TEXTS, TEXT_OFFSETS = "texts.bin", "text_offsets.npy"


@dataclass
class Delta:
    """What a version changed since its base snapshot (kgflow.retrieval.kb_snapshot): rows after the base's
    (same schemas), CSR arrays over the whole view's rows, the base rows it retired, and the linking keys
    whose entity changed (-1: the key names no entity any more)."""

    tables: dict[str, pa.Table]  # chunks, entities, related (appended rows); keys (overrides)
    arrays: dict[str, np.ndarray]
    dead: dict[str, np.ndarray]  # bool per base row: chunks, entities, related
    texts: Texts | None = None  # the appended chunks' texts (None: the chunks table's text column)


class _Rows(Mapping):
    """id -> value over a column-backed view: a Mapping, so callers read it like the dict it replaces."""

    def __init__(self, row_of: dict[str, int], value: Callable[[int], object]) -> None:
        self._row_of, self._value = row_of, value

    def __getitem__(self, key: str):
        return self._value(self._row_of[key])

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._row_of)

    def __len__(self) -> int:
        return len(self._row_of)


def _without_text(table: pa.Table) -> pa.Table:
    return table.drop_columns(["text"]) if "text" in table.schema.names else table


def _live_rows(ids: list[str], live: np.ndarray | None) -> dict[str, int]:
    if live is None:
        return {c: i for i, c in enumerate(ids)}
    return {ids[i]: i for i in np.flatnonzero(live).tolist()}  # a delta's row overrides its retired base row


class GraphView:
    """Rows are numbered over the base snapshot then the delta's appended rows; `chunk_ids` and `entity_ids`
    are in row order and include the rows a delta retired, which `live_chunks` marks (None: all live). Every
    lookup by id, mask and walk sees live rows only."""

    def __init__(self, tables: dict[str, pa.Table], arrays: dict[str, np.ndarray], delta: Delta | None = None,
                 texts: Texts | None = None) -> None:
        """`texts`: the base rows' texts when the chunks table holds none (a published snapshot's file)."""
        self.base_rows = {name: tables[name].num_rows for name in ("chunks", "entities", "related")}
        base_texts = texts if texts is not None else Texts(tables["chunks"].column("text"))
        tables = {**tables, "chunks": _without_text(tables["chunks"])}
        self._texts = base_texts
        if delta is not None:
            d_chunks = delta.tables["chunks"]
            d_texts = delta.texts if delta.texts is not None else Texts(d_chunks.column("text"))
            self._texts = _Joined(base_texts, d_texts)
            tables = {**tables, **{name: pa.concat_tables([tables[name], delta.tables[name]])
                                   for name in ("entities", "related")},
                      "chunks": pa.concat_tables([tables["chunks"], _without_text(d_chunks)])}
        self.tables, self.arrays, self.delta = tables, arrays, delta
        self._parts = [arrays] if delta is None else [arrays, delta.arrays]
        self.live_chunks = self._live("chunks")
        self.live_entities = self._live("entities")
        self.live_edges = self._live("related")
        self.chunk_ids: list[str] = tables["chunks"].column("id").to_pylist()
        self.entity_ids: list[str] = tables["entities"].column("id").to_pylist()
        self._chunk_row = _live_rows(self.chunk_ids, self.live_chunks)
        self._entity_row = _live_rows(self.entity_ids, self.live_entities)
        ch, rel = tables["chunks"], tables["related"]
        self._doc, self._title = ch.column("doc_id"), ch.column("title")
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
        self.chunks: Mapping[str, ChunkInfo] = _Rows(self._chunk_row, self._chunk)
        self.names: Mapping[str, str] = _Rows(self._entity_row, lambda i: self._name[i].as_py())
        self.adjacency: Mapping[str, list[Edge]] = _Rows(self._entity_row, self._edges)
        self.chunks_of: Mapping[str, dict[str, int]] = _Rows(self._entity_row, self._mentioned)
        self._masks: dict[frozenset[str] | None, np.ndarray | None] = {}

    @property
    def chunk_rows(self) -> Mapping[str, int]:
        """Live chunk id -> row."""
        return self._chunk_row

    @property
    def entity_rows(self) -> Mapping[str, int]:
        """Live entity id -> row."""
        return self._entity_row

    def _live(self, table: str) -> np.ndarray | None:
        if self.delta is None:
            return None
        dead = np.asarray(self.delta.dead[table], bool)
        return np.concatenate([~dead, np.ones(self.tables[table].num_rows - len(dead), bool)])

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
        """Canonical name or alias -> entity id: the first entity in id order that has it."""
        keys = self.tables["keys"]
        rows: dict[str, int] = {}
        for k, e in zip(keys.column("key").to_pylist(), keys.column("entity").to_pylist(), strict=True):
            rows.setdefault(k, e)
        if self.delta is not None:
            over = self.delta.tables["keys"]
            rows.update(zip(over.column("key").to_pylist(), over.column("entity").to_pylist(), strict=True))
        return {k: self.entity_ids[e] for k, e in rows.items() if e >= 0}

    def near_keys(self, key: str) -> list[str]:
        """The keys that share the first or the last three characters with `key`: where a fuzzy match of a
        name of six characters or more (ratio >= 88: at most one or two edits) is looked for, instead of
        every key (scanning 350k keys cost ~20 ms per question at 1M chunks, and grows with the corpus)."""
        heads, tails = self._key_blocks
        return list(dict.fromkeys(heads.get(key[:3], []) + tails.get(key[-3:], [])))

    @cached_property
    def _key_blocks(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        heads: dict[str, list[str]] = {}
        tails: dict[str, list[str]] = {}
        for k in self.by_key:
            heads.setdefault(k[:3], []).append(k)
            tails.setdefault(k[-3:], []).append(k)
        return heads, tails

    def section(self, chunk_id: str) -> str:
        """The heading path a chunk starts in ("" in a snapshot written before chunks carried one)."""
        ch = self.tables["chunks"]
        return ch.column("section")[self._chunk_row[chunk_id]].as_py() or "" if "section" in ch.schema.names else ""

    def _chunk_at(self, i: int) -> ChunkInfo:
        return ChunkInfo(self.chunk_ids[i], self._texts.get(i), self._doc[i].as_py(), self._title[i].as_py(),
                         self._uri[i].as_py(), tuple(self._acl[i].as_py() or ()), int(self._ord[i]))

    def _slices(self, ptr_name: str, val_name: str, rows: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(owner row, value) for every CSR entry of `rows` in every part (base, then delta)."""
        owners, values = [], []
        for a in self._parts:
            ptr, val = a[ptr_name], a[val_name]
            for r in rows:
                if r + 1 < len(ptr) and ptr[r] < ptr[r + 1]:
                    owners.append(np.full(int(ptr[r + 1] - ptr[r]), r, "int64"))
                    values.append(np.asarray(val[ptr[r]:ptr[r + 1]], "int64"))
        if not values:
            return np.zeros(0, "int64"), np.zeros(0, "int64")
        return np.concatenate(owners), np.concatenate(values)

    def _live_edges_of(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        owner, ix = self._slices("adj_ptr", "adj_edge", rows)
        if self.live_edges is not None:
            keep = self.live_edges[ix]
            owner, ix = owner[keep], ix[keep]
        return owner, ix

    def _edges_at(self, row: int) -> list[Edge]:
        return self._materialise(self._live_edges_of([row])[1])

    def strongest_edges(self, entity_id: str, n: int) -> list[Edge]:
        """The entity's n heaviest RELATED edges (ties: in row order), chosen on the arrays: a hub's thousands
        of others are never built."""
        row = self._entity_row.get(entity_id)
        if row is None:
            return []
        ix = self._live_edges_of([row])[1]
        if len(ix) > n:
            order = np.argsort(-self._r_weight[ix], kind="stable")[:n]
            ix = ix[np.sort(order)]
        return self._materialise(ix)

    def edges_with_evidence(self, entity_ids: Iterable[str], evidence: Iterable[str]) -> list[tuple[str, Edge]]:
        """(entity, edge) for the RELATED edges at the given entities whose evidence chunk is one of
        `evidence`: selected on the arrays, so a hub entity's thousands of other edges are never built."""
        rows = [self._entity_row[e] for e in entity_ids if e in self._entity_row]
        wanted = np.asarray([self._chunk_row[c] for c in evidence if c in self._chunk_row], dtype="int64")
        if not rows or not len(wanted):
            return []
        owner, ix = self._live_edges_of(rows)
        keep = np.isin(self._r_chunk[ix], wanted)
        return [(self.entity_ids[o], e) for o, e in zip(owner[keep].tolist(), self._materialise(ix[keep]),
                                                         strict=True)]

    def _materialise(self, ix: np.ndarray) -> list[Edge]:
        ids, chunk_ids = self.entity_ids, self.chunk_ids
        return [Edge(ids[s], ids[d], self._type_names[t], float(w), chunk_ids[c] if c >= 0 else "")
                for s, d, t, w, c in zip(self._r_src[ix].tolist(), self._r_dst[ix].tolist(),
                                         self._r_type[ix].tolist(), self._r_weight[ix].tolist(),
                                         self._r_chunk[ix].tolist(), strict=True)]

    def _mentions(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk rows, counts) of the live chunks that mention the entity at `row`."""
        chunks, counts = [], []
        for a in self._parts:
            ptr = a["m_entity_ptr"]
            if row + 1 < len(ptr):
                chunks.append(np.asarray(a["m_chunk"][ptr[row]:ptr[row + 1]], "int64"))
                counts.append(np.asarray(a["m_count"][ptr[row]:ptr[row + 1]], "int64"))
        c, n = np.concatenate(chunks), np.concatenate(counts)
        if self.live_chunks is not None:
            keep = self.live_chunks[c]
            c, n = c[keep], n[keep]
        return c, n

    def _mentioned(self, row: int) -> dict[str, int]:
        c, n = self._mentions(row)
        return {self.chunk_ids[i]: k for i, k in zip(c.tolist(), n.tolist(), strict=True)}

    def df(self, entity_id: str) -> int:
        """How many chunks mention the entity (0 for an unknown one)."""
        row = self._entity_row.get(entity_id)
        return 0 if row is None else len(self._mentions(row)[0])

    def entities_in(self, chunk_id: str) -> frozenset[str]:
        """The entities (named entities and concepts) a chunk mentions."""
        row = self._chunk_row.get(chunk_id)
        if row is None:
            return frozenset()
        for a in self._parts:  # a chunk's mentions are all in the part that holds the chunk
            ptr = a["m_chunk_ptr"]
            if row + 1 < len(ptr) and ptr[row] < ptr[row + 1]:
                mentions = a["m_by_chunk"][ptr[row]:ptr[row + 1]]
                return frozenset(self.entity_ids[e] for e in a["m_entity"][mentions].tolist())
        return frozenset()

    def previous(self, chunk_id: str) -> ChunkInfo | None:
        """The chunk before this one in its document, if any (chunks are stored in reading order)."""
        row = self._chunk_row.get(chunk_id)
        if not row or self._doc[row - 1].as_py() != self._doc[row].as_py():
            return None
        if self.live_chunks is not None and not self.live_chunks[row - 1]:
            return None
        return self._chunk(row - 1) if self._ord[row - 1] == self._ord[row] - 1 else None

    def readable_mask(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Whether the caller may read each chunk row (retired rows: never); None: every row. Once per
        caller's departments and version, so access checks on a query's hot path are an array lookup."""
        key = None if departments is None or ALL in departments else departments
        if key not in self._masks:
            mask = None if key is None else np.array([may_read(acl, key) for acl in self.acls()], dtype=bool)
            if self.live_chunks is not None:
                mask = self.live_chunks if mask is None else mask & self.live_chunks
            self._masks[key] = mask
        return self._masks[key]

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
        chunks = self._mentions(row)[0]
        if not len(chunks):
            return False
        mask = self.readable_mask(departments)
        return True if mask is None else bool(mask[chunks].any())

    def texts(self) -> list[str]:
        """Every chunk row's text, in row order."""
        return self._texts.take(range(len(self._texts)))

    def findable_texts(self, rows: np.ndarray | None = None) -> list[str]:
        """What each chunk is found by (title and section path before its text), in row order (or `rows`')."""
        from kgflow.chunking.chunker import findable_text

        ch = self.tables["chunks"]
        rows = np.arange(ch.num_rows) if rows is None else np.asarray(rows, "int64")
        ch = ch.take(pa.array(rows, pa.int64()))
        sections = ch.column("section").to_pylist() if "section" in ch.schema.names else [""] * ch.num_rows
        return [findable_text(t or "", s or "", x) for t, s, x in zip(ch.column("title").to_pylist(), sections,
                                                                       self._texts.take(rows), strict=True)]

    def acls(self) -> list[tuple[str, ...]]:
        """Every chunk row's ACL in row order (for per-department masks, computed once per version)."""
        return [tuple(a or ()) for a in self._acl.to_pylist()]

    def doc_codes(self) -> np.ndarray:
        """An integer per chunk row naming its document, in row order."""
        return self._doc.combine_chunks().dictionary_encode().indices.to_numpy()
