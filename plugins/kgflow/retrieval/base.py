"""The Retriever protocol: one class per strategy, chosen by config through the registry
(kgflow.retrieval.STRATEGIES). A strategy ranks chunk ids for one query over one published snapshot;
the engine owns everything around it: the snapshot, the question's embedding, access control of the
dense search, the context budget and the typed result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from kgflow.config import Settings
from kgflow.retrieval.types import Fact, Snapshot


@dataclass
class Query:
    text: str
    vector: np.ndarray  # (1, dims), normalised
    departments: frozenset[str] | None
    k: int
    snapshot: Snapshot
    settings: Settings

    @cached_property
    def doc(self):
        """The question parsed by the ingestion pipeline's spaCy (with the glossary), once per query."""
        from kgflow.retrieval.linking import parse_question

        return parse_question(self.text, str(self.settings.glossary_path))

    @cached_property
    def seeds(self) -> dict[str, float]:
        """Linked entities the caller may read about, weighted by confidence x specificity: once per query
        (linking scans every entity key), shared by every strategy and by the facts."""
        from kgflow.retrieval.linking import weighted_seeds

        return weighted_seeds(self.doc, self.snapshot.graph, self.departments, self.settings.linking_max_df)

    @property
    def linked_names(self) -> list[str]:
        return [self.snapshot.graph.names[e] for e in self.seeds]

    def dense(self, n: int) -> list[tuple[str, float]]:
        """Top-n (chunk id, cosine) from the vector index, restricted to what the caller may read."""
        snap = self.snapshot
        key = ("dense", n)
        if key not in self._memo:
            scores, ids = snap.index.search(self.vector, n, allowed=snap.allowed_ids(self.departments),
                                            ef_search=self.settings.hnsw_ef_search, nprobe=self.settings.ivf_nprobe,
                                            refine_factor=self.settings.refine_factor)
            found = ((snap.chunk_of(i), float(s)) for i, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True))
            self._memo[key] = [(c, s) for c, s in found if c is not None]
        return self._memo[key]

    def cosine(self, chunk_ids: list[str]) -> dict[str, float]:
        """Exact cosine of the question with any chunks (for candidates the dense top-n did not hold)."""
        snap = self.snapshot
        rows = snap.graph.chunk_rows
        found = ((c, int(snap.faiss_of_row[rows[c]])) for c in chunk_ids if c in rows)
        known = [(c, i) for c, i in found if i >= 0]
        if not known:
            return {}
        sims = snap.index.reconstruct([i for _, i in known]) @ self.vector[0]
        return {c: float(s) for (c, _), s in zip(known, sims, strict=True)}

    def lexical(self, n: int) -> list[tuple[str, float]]:
        from kgflow.retrieval.lexical import lexical_index

        return lexical_index(self.snapshot).top(self.text, n, self.snapshot.readable_chunks(self.departments))

    _memo: dict = field(default_factory=dict)


@dataclass
class Ranking:
    """A strategy's answer: chunk ids best first with a score and which signals found each."""

    chunks: list[tuple[str, float, tuple[str, ...]]]
    facts: list[Fact] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)


class Retriever(ABC):
    name: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def prepare(self, snap: Snapshot) -> None:  # noqa: B027 - a strategy with nothing to build needs nothing
        """Build what this strategy derives from a version (a walk matrix, a lexical index) into `snap.cache`
        when the version is opened, so the first query after a switch does not wait for it."""

    @abstractmethod
    def rank(self, q: Query) -> Ranking:
        """Chunk ids for the query, best first; every one readable by q.departments."""
