"""Graph-augmented retrieval: vector top-k + entity linking + k-hop expansion over RELATED edges +
chunks mentioning the entities, fused by reciprocal rank, access-controlled, within a token budget.

The published index version and a graph snapshot are swapped in together when `CURRENT` moves.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from kgflow.config import Settings, get_settings
from kgflow.graph import open_graph_store
from kgflow.retrieval.fusion import reciprocal_rank_fusion, within_budget
from kgflow.retrieval.graph_view import ChunkInfo, GraphView
from kgflow.retrieval.linking import link_entities, parse_question
from kgflow.sources.policy import ALL, may_read
from kgflow.vectors.index_store import VectorIndex, VectorIndexStore

log = logging.getLogger("kgflow.retrieval")
HOP_DECAY = 0.5
VERB_BOOST = 2.0  # an edge whose verb the question uses ("acquired" -> acquire) counts double


class NoKnowledgeBase(Exception):
    """Nothing has been published yet."""


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    object: str
    weight: float
    evidence_chunk: str


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


@dataclass
class Snapshot:
    version: str
    index: VectorIndex
    graph: GraphView
    _acl_cache: dict = field(default_factory=dict)
    chunk_of: dict[int, str] = field(init=False)

    def __post_init__(self) -> None:
        # faiss id -> chunk id once per version, not a pandas re-index on every query
        self.chunk_of = dict(zip(self.index.ids["faiss_id"].tolist(), self.index.ids["chunk_id"].tolist(),
                                 strict=True))

    def allowed_ids(self, departments: frozenset[str] | None) -> np.ndarray | None:
        """Faiss ids the caller may see; None = everything (no department restriction)."""
        if departments is None or ALL in departments:
            return None
        if departments not in self._acl_cache:
            ids = self.index.ids
            ok = ids["acl"].map(lambda acl: may_read(acl, departments))
            self._acl_cache[departments] = ids.loc[ok, "faiss_id"].to_numpy(dtype="int64")
        return self._acl_cache[departments]


def chunk_allowed(chunk: ChunkInfo, departments: frozenset[str] | None) -> bool:
    return may_read(chunk.acl, departments)


class RetrievalEngine:
    def __init__(self, settings: Settings | None = None, embedder=None) -> None:
        self.settings = settings or get_settings()
        self._store = VectorIndexStore(self.settings.index_dir)
        self._embedder = embedder
        self._snap: Snapshot | None = None
        self._lock = threading.Lock()
        self._checked = 0.0

    @property
    def embedder(self):
        if self._embedder is None:
            from kgflow.vectors.embedder import Embedder

            self._embedder = Embedder()
        return self._embedder

    def snapshot(self) -> Snapshot:
        """The current version; reloads (index + graph together) when `CURRENT` has moved."""
        now = time.monotonic()
        if self._snap is not None and now - self._checked < 1.0:
            return self._snap
        self._checked = now
        version = self._store.current_version()
        if version is None:
            raise NoKnowledgeBase("no index has been published yet: run the knowledge_ingest DAG")
        if self._snap is None or self._snap.version != version:
            with self._lock:
                if self._snap is None or self._snap.version != version:
                    self._snap = self._load(version)
        return self._snap

    def _load(self, version: str) -> Snapshot:
        start = time.perf_counter()
        index = self._store.load(version)
        with open_graph_store(self.settings, read_only=True) as g:
            view = GraphView.load(g)
        log.info("loaded knowledge base %s (%d vectors, %d entities) in %.2fs", version, index.manifest["count"],
                 len(view.names), time.perf_counter() - start)
        return Snapshot(version, index, view)

    def retrieve(self, question: str, departments: frozenset[str] | None = None, mode: str | None = None,
                 top_k: int | None = None, token_budget: int | None = None) -> RetrievalResult:
        s = self.settings
        mode = mode or s.retrieval_mode
        k = top_k or s.retrieval_top_k
        snap = self.snapshot()
        t0 = time.perf_counter()
        qv = self.embedder.embed([question])
        t1 = time.perf_counter()
        scores, ids = snap.index.search(qv, k, allowed=snap.allowed_ids(departments), ef_search=s.hnsw_ef_search)
        vector_rank = [snap.chunk_of[i] for i in ids[0].tolist() if i >= 0]
        vector_rank = [c for c in vector_rank if c in snap.graph.chunks]
        t2 = time.perf_counter()
        rankings, graph_rank, facts, linked = [vector_rank], [], [], []
        if mode == "graph":
            graph_rank, facts, linked = self._graph_path(question, snap.graph, departments, k)
            rankings.append(graph_rank)
        t3 = time.perf_counter()
        fused = reciprocal_rank_fusion(rankings)
        chosen = within_budget([(cid, snap.graph.chunks[cid].text) for cid, _ in fused],
                               token_budget or s.context_token_budget)
        score = dict(fused)
        chunks = [RetrievedChunk(snap.graph.chunks[c], score[c],
                                 [n for n, r in (("vector", vector_rank), ("graph", graph_rank)) if c in r])
                  for c in chosen]
        kept = {c.chunk.id for c in chunks}
        facts = [f for f in facts if f.evidence_chunk in kept or len(kept) == 0][:12]
        return RetrievalResult(mode, snap.version, chunks, facts, linked, {
            "embed": (t1 - t0) * 1e3, "vector": (t2 - t1) * 1e3, "graph": (t3 - t2) * 1e3,
            "total": (time.perf_counter() - t0) * 1e3})

    def _graph_path(self, question: str, g: GraphView, departments: frozenset[str] | None,
                    k: int) -> tuple[list[str], list[Fact], list[str]]:
        doc = parse_question(question)
        verbs = {t.lemma_.lower() for t in doc if not t.is_stop or t.pos_ == "VERB"}
        # an entity the caller cannot read about is neither a seed nor shown: its name would leak
        seeds = {e: c for e, c in link_entities(doc, g).items() if g.readable(e, departments)}
        score = dict(seeds)
        frontier = dict(seeds)
        used: dict[tuple, Fact] = {}
        for _ in range(self.settings.retrieval_hops):
            nxt: dict[str, float] = {}
            for eid, s in frontier.items():
                for e in g.adjacency.get(eid, ()):
                    if e.chunk not in g.chunks or not chunk_allowed(g.chunks[e.chunk], departments):
                        continue  # evidence the caller may not see is no path for them
                    other = e.dst if e.src == eid else e.src
                    boost = VERB_BOOST if e.type.split("_")[0] in verbs else 1.0
                    gain = s * HOP_DECAY * min(1.0, e.weight) * boost
                    key = (e.src, e.dst, e.type)
                    if key not in used or used[key].weight < gain:
                        used[key] = Fact(g.names[e.src], e.type, g.names[e.dst], gain, e.chunk)
                    if gain > score.get(other, 0.0):
                        score[other] = nxt[other] = gain
            frontier = nxt
        # a chunk that evidences a traversed edge carries the path; mentions alone count half
        chunk_score: dict[str, float] = {}
        for f in used.values():
            chunk_score[f.evidence_chunk] = chunk_score.get(f.evidence_chunk, 0.0) + f.weight
        for eid, s in score.items():
            for cid in g.chunks_of.get(eid, {}):
                if cid in g.chunks and chunk_allowed(g.chunks[cid], departments):
                    chunk_score[cid] = chunk_score.get(cid, 0.0) + 0.5 * s
        ranked = [c for c, _ in sorted(chunk_score.items(), key=lambda kv: -kv[1])[: 2 * k]]
        facts = sorted(used.values(), key=lambda f: -f.weight)
        return ranked, facts, [g.names[e] for e in seeds]
