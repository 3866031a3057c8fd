"""Dense retrieval only: the baseline every graph strategy is measured against."""

from __future__ import annotations

from kgflow.retrieval.base import Query, Ranking, Retriever


class VectorRetriever(Retriever):
    name = "vector"

    def rank(self, q: Query) -> Ranking:
        return Ranking([(cid, score, ("vector",)) for cid, score in q.dense(2 * q.k)])
