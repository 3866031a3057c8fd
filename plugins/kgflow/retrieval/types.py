"""Typed results shared by every retrieval strategy, the engine, prompts and the gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kgflow.errors import KgflowError
from kgflow.retrieval.graph_view import ChunkInfo, GraphView
from kgflow.sources.policy import ALL, may_read
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
    chunk_of: dict[int, str] = field(init=False)
    chunk_ids: list[str] = field(init=False)  # the graph's chunks in one fixed order, for array-based signals

    def __post_init__(self) -> None:
        # faiss id -> chunk id once per version, not a pandas re-index on every query
        self.chunk_of = dict(zip(self.index.ids["faiss_id"].tolist(), self.index.ids["chunk_id"].tolist(),
                                 strict=True))
        self.chunk_ids = self.graph.chunk_ids

    def allowed_ids(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Faiss ids the caller may see; None = everything (no department restriction)."""
        if departments is None or ALL in departments:
            return None
        if departments not in self._acl_cache:
            ids = self.index.ids
            ok = ids["acl"].map(lambda acl: may_read(acl, departments))
            self._acl_cache[departments] = ids.loc[ok, "faiss_id"].to_numpy(dtype="int64")
        return self._acl_cache[departments]

    def readable_chunks(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Whether the caller may read each chunk of `chunk_ids`; None = everything."""
        return self.graph.readable_mask(departments)
