"""Typed results shared by every retrieval strategy, the engine, prompts and the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgflow.errors import KgflowError
from kgflow.retrieval.graph_view import ChunkInfo, GraphView
from kgflow.sources.policy import ALL
from kgflow.vectors.index_store import VectorIndex

GRAPH_ANSWER_SOURCE = "graph_answer"  # `sources` of a chunk cited only because the graph's answer rests on it


class NoKnowledgeBase(KgflowError):
    """Nothing has been published yet."""
    status, error_type = 503, "not_ready"


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    object: str
    weight: float
    evidence_chunk: str


@dataclass(frozen=True)
class GraphAnswer:
    """The entity a typed path from the question's entities ends at (kgflow.retrieval.graph_answer)."""

    entity: str
    path: tuple[Fact, ...]  # hop by hop, starting at an entity the question names
    evidence: tuple[ChunkInfo, ...]  # the chunk behind each hop, in path order (cited)


@dataclass
class RetrievedChunk:
    chunk: ChunkInfo
    score: float
    sources: list[str]


@dataclass
class RetrievalResult:
    mode: str
    version: str
    chunks: list[RetrievedChunk]
    facts: list[Fact]
    linked_entities: list[str]
    timings_ms: dict[str, float] = field(default_factory=dict)
    answer: GraphAnswer | None = None
    question_doc: object | None = None  # the question's spaCy parse, when retrieval made one (grounding reuses it)


@dataclass
class Snapshot:
    """One published version: the index and the graph, swapped in together. Strategies may cache
    derived structures (a sparse matrix, specificity) in `cache`, which lives as long as the version."""

    version: str
    index: VectorIndex
    graph: GraphView
    kb_dir: Path | None = None  # the version's memory-mapped kb/ (kgflow.retrieval.kb_snapshot)
    _acl_cache: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)
    row_of_faiss: np.ndarray = field(init=False)  # the graph's chunk row per faiss id (-1: none, or retired)
    faiss_of_row: np.ndarray = field(init=False)  # the active faiss id per graph chunk row (-1: none)
    chunk_ids: list[str] = field(init=False)  # the graph's chunks in one fixed order, for array-based signals

    def __post_init__(self) -> None:
        # faiss id <-> graph row as two integer arrays, joined once per version in Arrow: a dict of a million
        # ids (and its inverse) was ~200 MB of every worker's own memory at 1M chunks
        g, ids = self.graph, self.index.ids
        fid = ids["faiss_id"].to_numpy(dtype="int64")
        active = ids["active"].to_numpy(dtype=bool)
        live = np.flatnonzero(g.live_chunks) if g.live_chunks is not None else None
        graph_ids = g.tables["chunks"].column("id")
        if live is not None:
            graph_ids = graph_ids.take(pa.array(live))
        at = pc.index_in(pa.array(ids["chunk_id"]), value_set=graph_ids.combine_chunks()).fill_null(-1)
        at = at.to_numpy(zero_copy_only=False).astype("int64")
        rows = np.where(at >= 0, live[np.maximum(at, 0)] if live is not None else at, -1)
        rows[~active] = -1
        self.row_of_faiss = np.full(int(fid.max()) + 1 if len(fid) else 0, -1, "int64")
        self.row_of_faiss[fid] = rows
        self.faiss_of_row = np.full(len(g.chunk_ids), -1, "int64")
        self.faiss_of_row[rows[rows >= 0]] = fid[rows >= 0]
        self.chunk_ids = g.chunk_ids

    def allowed_ids(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Faiss ids the caller may see (the graph's ACL of their chunk); None = everything."""
        if departments is None or ALL in departments:
            return None
        if departments not in self._acl_cache:
            readable = self.graph.readable_mask(departments)
            rows = self.row_of_faiss
            self._acl_cache[departments] = np.flatnonzero((rows >= 0) & readable[np.maximum(rows, 0)])
        return self._acl_cache[departments]

    def chunk_of(self, faiss_id: int) -> str | None:
        """The graph chunk a faiss id stands for (None: none, or retired)."""
        row = int(self.row_of_faiss[faiss_id]) if 0 <= faiss_id < len(self.row_of_faiss) else -1
        return self.chunk_ids[row] if row >= 0 else None

    def readable_chunks(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Whether the caller may read each chunk of `chunk_ids`; None = everything."""
        return self.graph.readable_mask(departments)
