"""The retrieval engine: the published snapshot (index + graph, swapped together when `CURRENT`
moves), the question's embedding, the strategy chosen by config, the context budget, typed results.
Strategies live in their own modules (kgflow.retrieval.STRATEGIES)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

from kgflow.config import Settings
from kgflow.graph import open_graph_store
from kgflow.retrieval import make_retriever
from kgflow.retrieval.base import Query
from kgflow.retrieval.fusion import within_budget
from kgflow.retrieval.graph_answer import graph_answer
from kgflow.retrieval.graph_view import ChunkInfo, GraphView
from kgflow.retrieval.kb_snapshot import is_complete, open_snapshot, snapshot_dir, write_snapshot
from kgflow.retrieval.types import (  # noqa: F401 - re-exported for callers
    GRAPH_ANSWER_SOURCE,
    Fact,
    GraphAnswer,
    NoKnowledgeBase,
    RetrievalResult,
    RetrievedChunk,
    Snapshot,
)
from kgflow.vectors.embedder import check_variant, space
from kgflow.vectors.index_store import VectorIndexStore

log = logging.getLogger("kgflow.retrieval")


MIN_OVERLAP = 20  # characters: a shorter shared edge is a coincidence, not the chunker's overlap


def without_overlap(chunk: ChunkInfo, g: GraphView, chosen: set[str]) -> ChunkInfo:
    """The chunk without the text it repeats from its predecessor when that one is in the context too
    (chunks overlap so each reads on its own; together the overlap would be spent twice)."""
    prev = g.previous(chunk.id)
    if prev is None or prev.id not in chosen:
        return chunk
    text, head = chunk.text, chunk.text[:MIN_OVERLAP]
    start = prev.text.find(head) if len(head) == MIN_OVERLAP else -1
    while start >= 0:  # the earliest place the predecessor's tail starts this chunk: the longest overlap
        tail = prev.text[start:]
        if text.startswith(tail) and len(tail) < len(text):
            return replace(chunk, text=text[len(tail):].lstrip())
        start = prev.text.find(head, start + 1)
    return chunk


def _return_freed_memory() -> None:
    """Give the C allocator's freed pages back to the system (glibc keeps them in its arenas, one per thread
    that allocated: a worker's RSS kept the old version's tables after a switch)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing to trim
            pass


class RetrievalEngine:
    def __init__(self, settings: Settings, embedder=None, version: str | None = None,
                 graph_path: Path | None = None) -> None:
        """`version` and `graph_path` pin a candidate (the quality gate) instead of following CURRENT."""
        self.settings = settings
        self._pinned, self._graph_path = version, graph_path
        self._store = VectorIndexStore(self.settings.index_dir)
        self._embedder = embedder
        self._snap: Snapshot | None = None
        self._lock = threading.Lock()
        self._checked = 0.0
        self._retrievers = {}
        self.retriever(settings.retrieval_mode)  # an unknown mode fails at start, not per query

    @property
    def embedder(self):
        """The question embedder for the current version: the fastest single-call variant of the space its
        index was embedded in (or the configured one; one of another space is refused at query time)."""
        return self._embedder_for(self.snapshot().index.manifest.get("embedder"))

    def _embedder_for(self, variant: str | None):
        current = self._embedder
        follows = self.settings.query_embedder_backend == "auto"
        if current is None or (follows and space(current.variant) != space(variant)):
            from kgflow.vectors.embedder import Embedder

            # the first requests of a worker arrive together on the thread pool; Embedder loads under a lock
            self._embedder = Embedder.from_settings(self.settings, purpose="query", index_variant=variant)
        return self._embedder

    def retriever(self, mode: str):
        if mode not in self._retrievers:
            self._retrievers[mode] = make_retriever(mode, self.settings)
        return self._retrievers[mode]

    def refresh(self) -> None:
        """Look at `CURRENT` on the next query instead of within a second."""
        self._checked = 0.0

    def snapshot(self) -> Snapshot:
        """The current version; reloads (index + graph together) when `CURRENT` has moved."""
        now = time.monotonic()
        if self._snap is not None and now - self._checked < 1.0:
            return self._snap
        self._checked = now
        version = self._pinned or self._store.current_version()
        if version is None:
            raise NoKnowledgeBase("no index has been published yet: run the knowledge_ingest DAG")
        if self._snap is None or self._snap.version != version:
            with self._lock:
                if self._snap is None or self._snap.version != version:
                    switching = self._snap is not None
                    self._snap = self._load(version)
                    if switching:  # the old version's tables sit in reference cycles (its row caches): free
                        gc.collect()  # them now, not at some later collection (1M chunks: ~700 MB of a worker)
                        _return_freed_memory()
        return self._snap

    def _load(self, version: str) -> Snapshot:
        start = time.perf_counter()
        version_dir = self._store.version_dir(version)
        if not is_complete(version_dir):  # published before versions carried one: written once, then shared
            with open_graph_store(self.settings, read_only=True, path=self._graph_path) as g:
                write_snapshot(g, version_dir, self.settings)
        index = self._store.load(version, mmap=True)
        snap = Snapshot(version, index, open_snapshot(version_dir), snapshot_dir(version_dir))
        self.retriever(self.settings.retrieval_mode).prepare(snap)  # the first query after a switch does not wait
        log.info("opened knowledge base %s (%d vectors, %d entities) in %.2fs", version, index.manifest["count"],
                 len(snap.graph.entity_ids), time.perf_counter() - start)
        return snap

    def retrieve(self, question: str, departments: frozenset[str] | None = None, mode: str | None = None,
                 top_k: int | None = None, token_budget: int | None = None) -> RetrievalResult:
        s = self.settings
        mode = mode or s.retrieval_mode
        snap = self.snapshot()
        variant = snap.index.manifest.get("embedder")
        embedder = self._embedder_for(variant)
        check_variant(variant, embedder.variant)
        t0 = time.perf_counter()
        qv = embedder.embed([question])
        t1 = time.perf_counter()
        q = Query(question, qv, departments, top_k or s.retrieval_top_k, snap, s)
        ranking = self.retriever(mode).rank(q)
        t2 = time.perf_counter()
        g = snap.graph
        ranked, seen = [], set()
        for cid, sc, src in ranking.chunks:
            if not g.may_read(cid, departments):  # belt and braces
                continue
            info = g.chunks[cid]
            if info.text in seen:
                continue  # the same text from a duplicate document would only spend the budget twice
            seen.add(info.text)
            ranked.append((info, sc, src))
        chosen = set(within_budget([(c.id, c.text) for c, _, _ in ranked], token_budget or s.context_token_budget))
        chunks = [RetrievedChunk(without_overlap(c, g, chosen), sc, list(src)) for c, sc, src in ranked
                  if c.id in chosen]
        answer = graph_answer(q) if s.graph_answer else None
        if answer is not None:  # every hop of the graph's answer is cited, within the budget or not
            have = {c.chunk.id for c in chunks}
            chunks += [RetrievedChunk(without_overlap(c, g, chosen), 0.0, [GRAPH_ANSWER_SOURCE])
                       for c in dict.fromkeys(answer.evidence) if c.id not in have]
        # the answer's path leads the facts, hop by hop: the model reads the chain before anything else
        path = list(answer.path) if answer else []
        on_path = {(f.subject, f.relation, f.object) for f in path}
        facts = path + [f for f in ranking.facts if f.evidence_chunk in chosen
                        and (f.subject, f.relation, f.object) not in on_path][: 12 - len(path)]
        return RetrievalResult(mode, snap.version, chunks, facts, ranking.linked, {
            "embed": (t1 - t0) * 1e3, "rank": (t2 - t1) * 1e3, "total": (time.perf_counter() - t0) * 1e3}, answer,
            q.__dict__.get("doc"))  # Query.doc is a cached_property: there only if a step parsed the question
