"""The default: dense hits re-ranked and extended by lexical and graph evidence, then chosen for coverage.

Candidates are the dense top chunks, the lexical (BM25) top chunks and the Personalized PageRank top
chunks. Each candidate's score blends its exact cosine with the question, its BM25 score and its PPR
mass, each divided by the best candidate's:

    score = cosine' + lexical_weight * bm25' + graph_weight * ppr' + phrase_weight * [holds the question]

The last term is the navigational signal bag-of-words scoring lacks: a question of three words or more that
a candidate holds verbatim (its title, its section path or its text; case and spacing aside) names that
passage, as a section heading or a quoted line does. A question in prose is almost never held verbatim, so
the term leaves it alone.

A chunk another signal adds must out-score a dense hit to displace it, so the extra evidence re-ranks
and extends the vector hits instead of crowding them out.

The context is then chosen greedily from the best candidates by concept coverage (maximal marginal
relevance over the graph's mentions): each next chunk is the one with the best

    score - coverage_weight * max Jaccard(its entities, a chosen chunk's entities)

so a passage that repeats the concepts already in the context (the same paragraph in a sibling guide,
the next chunk saying the same thing) gives way to one that brings new ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kgflow.retrieval.base import Query, Ranking, Retriever
from kgflow.retrieval.lexical import lexical_index
from kgflow.retrieval.ppr import PPRRetriever, facts_for
from kgflow.retrieval.types import Snapshot


def _scaled(values: dict[str, float]) -> dict[str, float]:
    """Divide by the best candidate's score (stretching cosines to the candidates' own min-max range
    made small cosine differences outweigh lexical evidence: measured 0.2 points worse)."""
    top = max(values.values(), default=0.0) or 1.0
    return {k: v / top for k, v in values.items()}


_NOT_WORD = re.compile(r"[\W_]+")


def phrase_of(text: str) -> str:
    """Text as a phrase to look for: lower case, words joined by single spaces, punctuation dropped."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def holds_phrase(g, chunk_id: str, padded: str, probe: str) -> bool:
    """Whether the chunk's title, section path or text holds `padded` (" a phrase "); `probe`, the phrase's
    longest word, rules most candidates out with one substring search before any text is normalised."""
    c = g.chunks[chunk_id]
    return any(probe in t.lower() and padded in f" {phrase_of(t)} " for t in (c.title, g.section(chunk_id), c.text))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def choose_for_coverage(ranked: list[tuple[str, float]], concepts: Callable[[str], frozenset[str]],
                        weight: float, n: int) -> list[tuple[str, float]]:
    """Greedy maximal marginal relevance: n of the ranked (id, score) pairs, each the best by its score
    less `weight` times its largest concept overlap with those chosen before it. Ties keep rank order."""
    left = [(c, sc, concepts(c)) for c, sc in ranked]
    chosen: list[tuple[str, float, frozenset[str]]] = []
    overlap = [0.0] * len(left)
    while left and len(chosen) < n:
        best = max(range(len(left)), key=lambda i: (left[i][1] - weight * overlap[i], -i))
        pick = left.pop(best)
        overlap.pop(best)
        chosen.append(pick)
        overlap = [max(o, _jaccard(pick[2], c[2])) for o, c in zip(overlap, left, strict=True)]
    return [(c, sc) for c, sc, _ in chosen]


class HybridRetriever(Retriever):
    name = "hybrid"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self._ppr = PPRRetriever(settings)

    def prepare(self, snap: Snapshot) -> None:
        if self.settings.hybrid_lexical_weight > 0:
            lexical_index(snap)
        if self.settings.hybrid_graph_weight > 0:
            self._ppr.prepare(snap)

    def rank(self, q: Query) -> Ranking:
        s = self.settings
        n = max(2 * q.k, s.hybrid_candidates)
        dense = dict(q.dense(n))
        lexical = dict(q.lexical(n)) if s.hybrid_lexical_weight > 0 else {}
        ppr, entities = self._ppr.scores(q) if s.hybrid_graph_weight > 0 else ({}, {})
        candidates = set(dense) | set(lexical) | set(list(ppr)[:n])
        cosine = {**q.cosine([c for c in candidates if c not in dense]), **dense}
        d, b, p = _scaled(cosine), _scaled(lexical), _scaled(ppr)
        blended = {c: d.get(c, 0.0) + s.hybrid_lexical_weight * b.get(c, 0.0) + s.hybrid_graph_weight * p.get(c, 0.0)
                   for c in candidates}
        phrase = phrase_of(q.text)
        if s.hybrid_phrase_weight > 0 and len(phrase.split()) >= 3:
            g, padded, probe = q.snapshot.graph, f" {phrase} ", max(phrase.split(), key=len)
            for c in candidates:
                if holds_phrase(g, c, padded, probe):
                    blended[c] += s.hybrid_phrase_weight
        # ties (a duplicate document scores exactly like its original) go to the smaller id, not set order
        ranked = sorted(blended.items(), key=lambda kv: (-kv[1], kv[0]))
        ranked = choose_for_coverage(ranked[: max(2 * q.k, s.hybrid_coverage_pool)], q.snapshot.graph.entities_in,
                                     s.hybrid_coverage_weight, 2 * q.k)
        chunks = [(c, sc, tuple(name for name, hit in (("vector", c in dense), ("lexical", c in lexical),
                                                        ("graph", c in ppr)) if hit)) for c, sc in ranked]
        return Ranking(chunks, facts_for(q, entities, {c for c, _ in ranked}), q.linked_names)
