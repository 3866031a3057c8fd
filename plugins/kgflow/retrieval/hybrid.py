"""The default: dense hits re-ranked and extended by graph evidence.

Every candidate (the dense top chunks and the PPR top chunks) gets a score that blends its cosine
similarity with its Personalized PageRank mass (each scaled to [0, 1] over the candidates); a chunk
the graph adds must out-score a dense hit to displace it, so the graph helps rather than crowds out.
"""

from __future__ import annotations

from kgflow.retrieval.base import Query, Ranking, Retriever
from kgflow.retrieval.ppr import PPRRetriever, facts_for


class HybridRetriever(Retriever):
    name = "hybrid"

    def rank(self, q: Query) -> Ranking:
        beta = self.settings.hybrid_graph_weight
        ppr, seeds = PPRRetriever(self.settings).scores(q)
        dense = dict(q.dense(max(2 * q.k, self.settings.ppr_dense_seeds)))
        top_ppr = max(ppr.values(), default=0.0) or 1.0
        lo = min(dense.values(), default=0.0)
        span = (max(dense.values(), default=1.0) - lo) or 1.0
        blended = {}
        for cid in set(dense) | set(ppr):
            d = (dense[cid] - lo) / span if cid in dense else 0.0
            blended[cid] = (1 - beta) * d + beta * ppr.get(cid, 0.0) / top_ppr
        ranked = sorted(blended.items(), key=lambda kv: -kv[1])[: 2 * q.k]
        chunks = [(c, s, tuple(n for n, hit in (("vector", c in dense), ("graph", c in ppr)) if hit))
                  for c, s in ranked]
        return Ranking(chunks, facts_for(q, seeds, {c for c, _ in ranked}),
                       [q.snapshot.graph.names[e] for e in seeds])
