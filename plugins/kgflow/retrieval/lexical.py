"""Lexical evidence: BM25 (the bm25s library) over the chunk texts of one published version.

Built at publish into the version's knowledge-base snapshot and memory-mapped by every worker
(kgflow.retrieval.kb_snapshot). It catches what a small embedding model blurs: the exact rare word of a
question ("symptoms" of one disease, a drug's name, a code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgflow.nlp.terms import terms


class LexicalIndex:
    def __init__(self, bm25, chunk_ids: list[str]) -> None:
        """`bm25` scores the chunks in `chunk_ids` order (None when there are no chunks)."""
        self._bm25, self.chunk_ids = bm25, chunk_ids

    @staticmethod
    def build(texts: list[str]):
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index([terms(t) or ["_"] for t in texts] or [["_"]], show_progress=False)
        return bm25

    @classmethod
    def open(cls, path: Path, chunk_ids: list[str]) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(path), mmap=True, show_progress=False), chunk_ids)

    def top(self, question: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Best n (chunk id, BM25 score) with a positive score; `allowed`: a boolean mask over chunks."""
        words = [w for w in terms(question) if w in self._bm25.vocab_dict] if self.chunk_ids else []
        if not words:
            return []
        scores = np.asarray(self._bm25.get_scores(words))[: len(self.chunk_ids)]
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        top = np.argpartition(-scores, min(n, len(scores) - 1))[:n]
        return sorted(((self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0), key=lambda kv: -kv[1])


def lexical_index(snap) -> LexicalIndex:
    """The snapshot's lexical index: opened from the version's kb/ once per version, or built in memory for
    a view that has no files behind it."""
    if "lexical" not in snap.cache:
        g = snap.graph
        if snap.kb_dir is not None:
            snap.cache["lexical"] = LexicalIndex.open(snap.kb_dir / "bm25", g.chunk_ids)
        else:
            snap.cache["lexical"] = LexicalIndex(LexicalIndex.build(g.findable_texts()), g.chunk_ids)
    return snap.cache["lexical"]
