"""Personalized PageRank over the entity-chunk graph, in the way HippoRAG 2 ranks passages.

Nodes are entities (named entities and concepts) and chunks; edges are MENTIONS (entity-chunk),
RELATED (entity-entity) and NEXT (consecutive chunks of a document). The walk restarts at the
question's linked entities (weighted by link confidence x specificity) and at the dense search's top
chunks (weighted by cosine similarity), so the graph re-ranks and extends the dense hits instead of
replacing them. Chunks the caller may not read absorb nothing: their mass is dropped at each step.

Computed locally, by forward push (Andersen, Chung and Lang 2006): a node holding more residual mass than
`ppr_epsilon` x its weighted degree keeps 1 - damping of it and passes the rest to its neighbours, round
after round, pushing every such node of a round at once on the sparse matrix. A question costs what the
walk touches near its seeds, not the size of the graph (power iteration multiplied the whole matrix 15
times per question: 14 ms at 100k chunks, ~10x that at 1M); a hub's threshold grows with its degree, so
the walk rarely fans out through one. Every node's score is within epsilon x its degree of the exact PPR.

The adjacency is the version's: the base part is written once into kb/base at publish and mapped by
every worker (shared page cache); an increment's delta (its rows' edges, minus the base edges it retired)
is a small matrix each worker adds when it opens the version. Nothing is rebuilt whole per version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from kgflow.fsutil import load_mapped
from kgflow.retrieval.base import Query, Ranking, Retriever
from kgflow.retrieval.types import Fact, Snapshot

WALK_FILES = ("walk_data", "walk_indices", "walk_indptr")


def _csr(a: np.ndarray, b: np.ndarray, w: np.ndarray, n: int) -> sparse.csr_matrix:
    """The symmetric matrix with weight w on (a, b) and (b, a), duplicates summed."""
    m = sparse.csr_matrix((np.concatenate([w, w]).astype("float32"), (np.concatenate([a, b]), np.concatenate([b, a]))),
                          shape=(n, n))
    m.sum_duplicates()
    return m


def _next_pairs(docs: np.ndarray) -> np.ndarray:
    """Rows i (relative) whose next row is the same document's next chunk."""
    return np.flatnonzero(docs[1:] == docs[:-1]) if len(docs) > 1 else np.zeros(0, "int64")


def base_adjacency(g, weights: tuple[float, float, float]) -> sparse.csr_matrix:
    """The base snapshot's part of the walk (base entity rows, then base chunk rows): what kb/base holds."""
    mention_w, relation_w, next_w = weights
    nb = g.base_rows
    n_e, n_c = nb["entities"], nb["chunks"]
    a = g.arrays
    m_e, m_c = np.asarray(a["m_entity"], "int64"), np.asarray(a["m_chunk"], "int64") + n_e
    rel = g.tables["related"].slice(0, nb["related"])
    src, dst = rel.column("src").to_numpy().astype("int64"), rel.column("dst").to_numpy().astype("int64")
    rw = relation_w * np.minimum(1.0, rel.column("weight").to_numpy().astype("float64"))
    nxt = _next_pairs(g.doc_codes()[:n_c]) + n_e
    return _csr(np.concatenate([m_e, src, nxt]), np.concatenate([m_c, dst, nxt + 1]),
                np.concatenate([np.full(len(m_e), mention_w), rw, np.full(len(nxt), next_w)]), n_e + n_c)


def save_walk(folder: Path, g, weights: tuple[float, float, float]) -> None:
    m = base_adjacency(g, weights)
    for name, arr in zip(WALK_FILES, (m.data, m.indices, m.indptr), strict=True):
        np.save(folder / f"{name}.npy", arr)
    (folder / "walk.json").write_text(json.dumps({"weights": list(weights)}))


def _load_walk(folder: Path, weights: tuple[float, float, float]) -> sparse.csr_matrix | None:
    """The mapped base adjacency, when it was written with these edge weights."""
    try:
        if tuple(json.loads((folder / "walk.json").read_text())["weights"]) != weights:
            return None
        data, indices, indptr = (load_mapped(folder / f"{n}.npy") for n in WALK_FILES)
    except (OSError, ValueError):
        return None
    n = len(indptr) - 1
    return sparse.csr_matrix((data, indices, indptr), shape=(n, n), copy=False)


@dataclass
class WalkGraph:
    """The walk over one version: node numbers are base entities, base chunks, then a delta's entities and
    chunks; `parts` are the base adjacency and the delta's (whose negative entries retire base edges)."""

    entity_node: np.ndarray  # per entity row
    chunk_node: np.ndarray  # per chunk row
    node_chunk: np.ndarray  # per node: its chunk row, -1 for an entity
    node_entity: np.ndarray  # per node: its entity row, -1 for a chunk
    parts: list[sparse.csr_matrix]
    deg: np.ndarray  # weighted degree over live neighbours
    live: np.ndarray | None  # per node (None: every node)

    @property
    def n(self) -> int:
        return len(self.node_chunk)

    def spread(self, nodes: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where `mass` at `nodes` goes in one step, and how much: (target nodes, amounts), summed per target."""
        per = mass / self.deg[nodes]
        targets, amounts = [], []
        for m in self.parts:
            inside = nodes < m.shape[0]
            if not inside.any():
                continue
            rows = m[nodes[inside]]
            targets.append(rows.indices)
            amounts.append(rows.data * np.repeat(per[inside], np.diff(rows.indptr)))
        if not targets:
            return np.zeros(0, "int64"), np.zeros(0)
        to, inv = np.unique(np.concatenate(targets), return_inverse=True)
        amount = np.bincount(inv, np.concatenate(amounts))
        return to, amount if self.live is None else amount * self.live[to]  # retired rows take nothing


def walk_graph(snap: Snapshot, mention_w: float, relation_w: float, next_w: float) -> WalkGraph:
    """The version's walk, cached with it: the base adjacency mapped from kb/base (or built, for a view
    without files or other weights), and the delta's built here from its own rows."""
    key = ("ppr-graph", mention_w, relation_w, next_w)
    if key in snap.cache:
        return snap.cache[key]
    g = snap.graph
    weights = (mention_w, relation_w, next_w)
    kb = getattr(snap, "kb_dir", None)
    base = (_load_walk(kb / "base", weights) if kb is not None else None)
    if base is None:
        base = base_adjacency(g, weights)
    nb = g.base_rows
    nb_e, nb_c = nb["entities"], nb["chunks"]
    n_e, n_c = len(g.entity_ids), len(g.chunk_ids)
    nb_n = nb_e + nb_c
    e_rows, c_rows = np.arange(n_e), np.arange(n_c)
    entity_node = np.where(e_rows < nb_e, e_rows, nb_n + e_rows - nb_e)
    chunk_node = np.where(c_rows < nb_c, nb_e + c_rows, nb_n + (n_e - nb_e) + c_rows - nb_c)
    n = n_e + n_c
    node_chunk = np.full(n, -1, "int64")
    node_chunk[chunk_node] = c_rows
    node_entity = np.full(n, -1, "int64")
    node_entity[entity_node] = e_rows
    parts, live = [base], None
    if g.delta is not None:
        d, rel = g.delta.arrays, g.tables["related"]
        m_e, m_c = entity_node[np.asarray(d["m_entity"], "int64")], chunk_node[np.asarray(d["m_chunk"], "int64")]
        src = entity_node[rel.column("src").to_numpy().astype("int64")]
        dst = entity_node[rel.column("dst").to_numpy().astype("int64")]
        rw = relation_w * np.minimum(1.0, rel.column("weight").to_numpy().astype("float64"))
        new = np.arange(nb["related"], rel.num_rows)
        retired = np.flatnonzero(np.asarray(g.delta.dead["related"]))
        pairs = nb_c + _next_pairs(g.doc_codes()[nb_c:])
        nxt, nxt_to = chunk_node[pairs], chunk_node[pairs + 1]
        parts.append(_csr(np.concatenate([m_e, src[new], src[retired], nxt]),
                          np.concatenate([m_c, dst[new], dst[retired], nxt_to]),
                          np.concatenate([np.full(len(m_e), mention_w), rw[new], -rw[retired],
                                          np.full(len(nxt), next_w)]), n))
        live = np.zeros(n, "float32")
        live[entity_node] = g.live_entities
        live[chunk_node] = g.live_chunks
    on = live if live is not None else np.ones(n, "float32")
    deg = np.zeros(n)
    deg[:nb_n] = base @ on[:nb_n]
    for m in parts[1:]:
        deg += m @ on
    deg = np.maximum(deg, 0.0)
    walk = WalkGraph(entity_node, chunk_node, node_chunk, node_entity, parts, np.where(deg > 1e-9, deg, np.inf), live)
    snap.cache[key] = walk
    return walk


def walk_for(snap: Snapshot, settings) -> WalkGraph:
    return walk_graph(snap, 1.0, settings.ppr_relation_weight, settings.ppr_next_weight)


def node_mask(snap: Snapshot, walk: WalkGraph, departments: frozenset[str] | None) -> np.ndarray | None:
    """1 for every entity node and every chunk node the caller may read; None: every node."""
    chunks = snap.readable_chunks(departments)
    if chunks is None:
        return None
    key = ("ppr-mask", departments)
    if key not in snap.cache:
        mask = np.ones(walk.n, "float32")
        mask[walk.chunk_node] = chunks.astype("float32")
        snap.cache[key] = mask
    return snap.cache[key]


def personalized_pagerank(walk: WalkGraph, reset: dict[int, float], damping: float, epsilon: float,
                          mask: np.ndarray | None = None, max_rounds: int = 200) -> dict[int, float]:
    """PPR by forward push from `reset` (node -> restart mass): node -> score for every node the walk pushed
    (the others hold less than epsilon x their degree)."""
    residual: dict[int, float] = {}
    for node, m in reset.items():
        if mask is None or mask[node] > 0:
            residual[node] = residual.get(node, 0.0) + m
    score: dict[int, float] = {}
    nodes = np.fromiter(residual, "int64", len(residual))
    mass = np.fromiter(residual.values(), "float64", len(residual))
    r = {}  # residual of nodes that received mass but stayed under their threshold
    for _ in range(max_rounds):
        push = mass > epsilon * np.where(np.isfinite(walk.deg[nodes]), walk.deg[nodes], 0.0)
        for node, m in zip(nodes[~push].tolist(), mass[~push].tolist(), strict=True):
            r[node] = m
        nodes, mass = nodes[push], mass[push]
        if not len(nodes):
            break
        for node, m in zip(nodes.tolist(), ((1.0 - damping) * mass).tolist(), strict=True):
            score[node] = score.get(node, 0.0) + m
        to, amount = walk.spread(nodes, damping * mass)
        if mask is not None:
            amount = amount * mask[to]
        keep = amount > 0
        to, amount = to[keep], amount[keep]
        if len(r):  # what a node already held counts toward its next push
            amount = amount + np.fromiter((r.pop(t, 0.0) for t in to.tolist()), "float64", len(to))
        nodes, mass = to, amount
    return score


class PPRRetriever(Retriever):
    name = "ppr"

    def prepare(self, snap: Snapshot) -> None:
        walk_for(snap, self.settings)

    def scores(self, q: Query) -> tuple[dict[str, float], dict[str, float]]:
        """(chunk id -> PPR score for readable chunks, entity id -> weight: the linked seeds and the
        entities the walk reached most, for the facts shown with the answer)."""
        s = self.settings
        snap = q.snapshot
        walk = walk_for(snap, s)
        g = snap.graph
        seeds = q.seeds
        reset: dict[int, float] = {}
        total = sum(seeds.values())
        for eid, w in seeds.items():
            node = int(walk.entity_node[g.entity_rows[eid]])
            reset[node] = reset.get(node, 0.0) + w / total
        dense = [(c, max(0.0, sc)) for c, sc in q.dense(s.ppr_dense_seeds)]
        dense_total = sum(sc for _, sc in dense) or 1.0
        weight = s.ppr_passage_weight if seeds else 1.0
        for cid, sc in dense:
            node = int(walk.chunk_node[g.chunk_rows[cid]])
            reset[node] = reset.get(node, 0.0) + weight * sc / dense_total
        p = personalized_pagerank(walk, reset, s.ppr_damping, s.ppr_epsilon, node_mask(snap, walk, q.departments))
        nodes = np.fromiter(p, "int64", len(p))
        values = np.fromiter(p.values(), "float64", len(p))
        chunk_rows, entity_rows = walk.node_chunk[nodes], walk.node_entity[nodes]
        is_chunk = chunk_rows >= 0
        top = np.argsort(-values[is_chunk], kind="stable")[: 4 * q.k]
        chunks = {g.chunk_ids[r]: float(v) for r, v in zip(chunk_rows[is_chunk][top].tolist(),
                                                           values[is_chunk][top].tolist(), strict=True) if v > 0}
        best = np.argsort(-values[~is_chunk], kind="stable")[: 2 * q.k]
        reached = {g.entity_ids[r]: float(v) for r, v in zip(entity_rows[~is_chunk][best].tolist(),
                                                            values[~is_chunk][best].tolist(), strict=True) if v > 0}
        if not seeds:
            reached = {}  # without a linked entity the walk only echoes the dense hits: no facts to show
        return chunks, {**reached, **seeds}

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
