"""Personalized PageRank over the entity-chunk graph, in the way HippoRAG 2 ranks passages.

Nodes are entities (named entities and concepts) and chunks; edges are MENTIONS (entity-chunk),
RELATED (entity-entity) and NEXT (consecutive chunks of a document). The walk restarts at the
question's linked entities (weighted by link confidence x specificity) and at the dense search's top
chunks (weighted by cosine similarity), so the graph re-ranks and extends the dense hits instead of
replacing them. Chunks the caller may not read absorb nothing: their mass is dropped at each step.

The matrix is built once per published version (scipy.sparse, cached on the snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from kgflow.retrieval.base import Query, Ranking, Retriever
from kgflow.retrieval.types import Fact, Snapshot


@dataclass
class WalkGraph:
    entities: list[str]
    chunks: list[str]
    index: dict[str, int]
    transition_t: sparse.csr_matrix  # (A D^-1): column-stochastic, so p <- (1-d) r + d * T @ p

    @property
    def n_entities(self) -> int:
        return len(self.entities)


def walk_graph(snap: Snapshot, mention_w: float, relation_w: float, next_w: float) -> WalkGraph:
    """The walk's matrix, built from the snapshot's mention and edge arrays (vectorised: a version switch
    at 100k chunks costs a fraction of a second) and cached with the version."""
    key = ("ppr-graph", mention_w, relation_w, next_w)
    if key in snap.cache:
        return snap.cache[key]
    g = snap.graph
    entities, chunks = g.entity_ids, g.chunk_ids
    n_e = len(entities)
    # nodes: every entity row, then every chunk row; rows a delta retired stay as isolated nodes
    index = dict(g.entity_rows) | {c: n_e + r for c, r in g.chunk_rows.items()}
    m_e, m_c = g.mention_pairs()
    m_c = m_c + n_e
    rel = g.tables["related"]
    src, dst = rel.column("src").to_numpy().astype("int64"), rel.column("dst").to_numpy().astype("int64")
    weight = relation_w * np.minimum(1.0, rel.column("weight").to_numpy().astype("float64"))
    if g.live_edges is not None:
        src, dst, weight = src[g.live_edges], dst[g.live_edges], weight[g.live_edges]
    docs = g.doc_codes()
    same = docs[1:] == docs[:-1] if len(docs) > 1 else np.zeros(0, bool)
    if g.live_chunks is not None and len(same):
        same &= g.live_chunks[1:] & g.live_chunks[:-1]
    same_doc = np.flatnonzero(same)
    a_end = np.concatenate([m_e, src, same_doc + n_e])
    b_end = np.concatenate([m_c, dst, same_doc + 1 + n_e])
    w = np.concatenate([np.full(len(m_e), mention_w), weight, np.full(len(same_doc), next_w)])
    n = n_e + len(chunks)
    adj = sparse.csr_matrix((np.concatenate([w, w]), (np.concatenate([a_end, b_end]), np.concatenate([b_end, a_end]))),
                            shape=(n, n))
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    walk = WalkGraph(entities, chunks, index, (adj @ sparse.diags(inv)).tocsr().astype("float32"))
    snap.cache[key] = walk
    return walk


def walk_for(snap: Snapshot, settings) -> WalkGraph:
    return walk_graph(snap, 1.0, settings.ppr_relation_weight, settings.ppr_next_weight)


def readable_mask(snap: Snapshot, walk: WalkGraph, departments: frozenset[str] | None) -> np.ndarray | None:
    """1 for every entity node and every readable chunk node; None when the caller may read everything."""
    chunks = snap.readable_chunks(departments)
    if chunks is None:
        return None
    key = ("ppr-mask", departments)
    if key not in snap.cache:
        snap.cache[key] = np.concatenate([np.ones(walk.n_entities, "float32"), chunks.astype("float32")])
    return snap.cache[key]


def personalized_pagerank(t: sparse.csr_matrix, reset: np.ndarray, damping: float, iterations: int,
                          mask: np.ndarray | None = None) -> np.ndarray:
    p = reset.copy()
    for _ in range(iterations):
        p = (1.0 - damping) * reset + damping * (t @ p)
        if mask is not None:
            p *= mask
    return p


class PPRRetriever(Retriever):
    name = "ppr"

    def prepare(self, snap: Snapshot) -> None:
        walk_for(snap, self.settings)

    def scores(self, q: Query) -> tuple[dict[str, float], dict[str, float]]:
        """(chunk id -> PPR score for readable chunks, entity id -> weight: the linked seeds and the
        entities the walk reached most, for the facts shown with the answer)."""
        s = self.settings
        walk = walk_for(q.snapshot, s)
        seeds = q.seeds
        reset = np.zeros(walk.transition_t.shape[0], "float32")
        total = sum(seeds.values())
        for eid, w in seeds.items():
            reset[walk.index[eid]] += w / total
        dense = [(c, max(0.0, sc)) for c, sc in q.dense(s.ppr_dense_seeds)]
        dense_total = sum(sc for _, sc in dense) or 1.0
        weight = s.ppr_passage_weight if seeds else 1.0
        for cid, sc in dense:
            reset[walk.index[cid]] += weight * sc / dense_total
        mask = readable_mask(q.snapshot, walk, q.departments)
        p = personalized_pagerank(walk.transition_t, reset, s.ppr_damping, s.ppr_iterations, mask)
        chunk_p = p[walk.n_entities:]
        top = np.argsort(-chunk_p)[: 4 * q.k]
        entity_p = p[: walk.n_entities]
        reached = {walk.entities[i]: float(entity_p[i]) for i in np.argsort(-entity_p)[: 2 * q.k] if entity_p[i] > 0}
        if not seeds:
            reached = {}  # without a linked entity the walk only echoes the dense hits: no facts to show
        return {walk.chunks[i]: float(chunk_p[i]) for i in top if chunk_p[i] > 0}, {**reached, **seeds}

    def rank(self, q: Query) -> Ranking:
        scores, seeds = self.scores(q)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])[: 2 * q.k]
        dense_ids = {c for c, _ in q.dense(2 * q.k)}
        return Ranking([(c, sc, ("vector", "graph") if c in dense_ids else ("graph",)) for c, sc in ranked],
                       facts_for(q, seeds, {c for c, _ in ranked}), q.linked_names)


def facts_for(q: Query, entities: dict[str, float], chunks: set[str], hops: int = 2) -> list[Fact]:
    """RELATED edges on paths of up to `hops` edges from the linked seeds (the entities whose weight came
    from linking) whose evidence is among the ranked chunks, weighted by the walk's mass at both ends and
    typed relations over co-occurrence: the path the answer rests on, hop by hop."""
    g = q.snapshot.graph
    seeds = q.seeds
    out: dict[tuple, Fact] = {}
    frontier = set(seeds)
    for _ in range(hops):
        nxt = set()
        for eid, e in g.edges_with_evidence(sorted(frontier), chunks):  # edges evidenced by a ranked chunk
            other = e.dst if e.src == eid else e.src
            weight = ((entities.get(e.src, 0.0) + entities.get(e.dst, 0.0)) * min(1.0, e.weight)
                      * (1.0 if e.type == "co_occurs" else 4.0))
            key = (e.src, e.dst, e.type)
            if key not in out or out[key].weight < weight:
                out[key] = Fact(g.names[e.src], e.type, g.names[e.dst], weight, e.chunk)
            nxt.add(other)
        frontier = nxt - set(seeds)
    return sorted(out.values(), key=lambda f: -f.weight)[:12]
