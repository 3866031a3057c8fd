"""Lexical evidence: BM25 (the bm25s library) over the chunk texts of one published version.

Built when a version is loaded and kept with its snapshot. It catches what a small embedding model
blurs: the exact rare word of a question ("symptoms" of one disease, a drug's name, a code).
"""

from __future__ import annotations

import numpy as np

from kgflow.nlp.terms import terms


class LexicalIndex:
    def __init__(self, chunk_ids: list[str], texts: list[str]) -> None:
        import bm25s

        self.chunk_ids = chunk_ids
        self._bm25 = bm25s.BM25()
        if chunk_ids:
            self._bm25.index([terms(t) or ["_"] for t in texts], show_progress=False)

    def top(self, question: str, n: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Best n (chunk id, BM25 score) with a positive score; `allowed`: a boolean mask over chunks."""
        words = [w for w in terms(question) if w in self._bm25.vocab_dict] if self.chunk_ids else []
        if not words:
            return []
        scores = self._bm25.get_scores(words)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        top = np.argpartition(-scores, min(n, len(scores) - 1))[:n]
        return sorted(((self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0), key=lambda kv: -kv[1])


def lexical_index(snap) -> LexicalIndex:
    """The snapshot's lexical index, built once per version."""
    if "lexical" not in snap.cache:
        ids = snap.chunk_ids
        snap.cache["lexical"] = LexicalIndex(ids, [snap.graph.chunks[c].text for c in ids])
    return snap.cache["lexical"]
