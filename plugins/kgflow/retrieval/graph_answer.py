"""The graph's own answer: the entity at the end of a typed path that the question describes.

"Who leads the project that uses Corvane Beacon?" links `Corvane Beacon`; its typed edges whose verb
the question names ("uses" -> use) lead to `Project Falcon`, whose edges the question also names
("leads" -> lead) lead to `Maria Lindqvist`. That end entity, the path and the chunks that evidence
each hop are the structured answer. Deterministic and without a model: it is shown beside the generated
text (and given to the model first among the facts), so a small model cannot lose it.

A hop is taken only along a typed relation whose verb the question uses (co-occurrence says nothing
about *how* two things relate), only where the caller may read the evidence chunk, and never back
into an entity the question itself names.
"""

from __future__ import annotations

from kgflow.retrieval.base import Query
from kgflow.retrieval.graph_view import Edge
from kgflow.retrieval.types import Fact, GraphAnswer

UNTYPED = "co_occurs"


def relation_words(relation: str) -> set[str]:
    """`headquarter_in` -> {"headquarter"}: the verb lemma without its particle."""
    return {w for w in relation.lower().split("_") if len(w) > 2}


def question_lemmas(doc) -> set[str]:
    return {t.lemma_.lower() for t in doc if not t.is_punct} | {t.text.lower() for t in doc if not t.is_punct}


def graph_answer(q: Query, max_hops: int = 2) -> GraphAnswer | None:
    """The best path from a linked entity along relations the question names; None when no hop fits.

    Best = names the most distinct question verbs, then fewer hops, then the stronger edges, then the
    name (a fixed order, so the same question always gets the same answer)."""
    g = q.snapshot.graph
    seeds = q.seeds
    if not seeds:
        return None
    lemmas = question_lemmas(q.doc)
    named = set(seeds)

    def hops_from(entity: str) -> list[tuple[Edge, str, frozenset[str]]]:
        out = []
        for e in g.adjacency.get(entity, ()):
            words = relation_words(e.type) & lemmas
            if e.type == UNTYPED or not words or not g.may_read(e.chunk, q.departments):
                continue
            out.append((e, e.dst if e.src == entity else e.src, frozenset(words)))
        return out

    candidates: list[tuple[tuple, list[Edge], str]] = []

    def walk(entity: str, path: list[Edge], used: frozenset[str], visited: set[str]) -> None:
        for edge, other, words in hops_from(entity):
            if other in visited or other in named or not (words - used):
                continue
            p, u = [*path, edge], used | words
            strength = sum(min(1.0, x.weight) for x in p)
            candidates.append(((-len(u), len(p), -strength, g.names.get(other, other)), p, other))
            if len(p) < max_hops:
                walk(other, p, u, visited | {other})

    for seed in sorted(seeds):
        walk(seed, [], frozenset(), {seed})
    if not candidates:
        return None
    _, path, end = min(candidates, key=lambda c: c[0])
    facts = tuple(Fact(g.names[e.src], e.type, g.names[e.dst], 1.0, e.chunk) for e in path)
    return GraphAnswer(g.names[end], facts, tuple(g.chunks[e.chunk] for e in path))
