"""A nightly increment writes only what changed beside its parent's snapshot, and workers see exactly what a
whole rewrite from the same graph store gives: the same chunks, entities, linking keys, edges, mentions and
BM25 scores. The store is a real LadybugDB graph written and retired the way the DAG's load does."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kgflow.config import Settings
from kgflow.graph import GraphBatch
from kgflow.graph.embedded import EmbeddedGraphStore
from kgflow.retrieval.graph_view import GraphView
from kgflow.retrieval.kb_snapshot import open_lexical, open_snapshot, snapshot_dir, write_snapshot

QUESTIONS = ["Who repairs the falcon engine?", "Where is the harbour office?", "cobalt supply contract",
             "What does the orbit team build?", "Nothing here matches"]


def _doc(doc_id: str, texts: list[str], entities: dict[str, list[str]], dept: str = "eng") -> dict:
    """One document's staged rows: chunk i mentions the entities named in entities[text index]."""
    return {"doc_id": doc_id, "texts": texts, "entities": entities, "dept": dept}


def _batch(docs: list[dict], aliases: dict[str, tuple[str, list[str]]]) -> GraphBatch:
    d_rows, c_rows, m_rows, r_rows, ents = [], [], [], [], {}
    for d in docs:
        d_rows.append({"doc_id": d["doc_id"], "uri": f"share://{d['doc_id']}.md", "title": d["doc_id"].upper(),
                       "sha256": "-", "department": d["dept"], "acl": [d["dept"]]})
        for i, text in enumerate(d["texts"]):
            cid = f"{d['doc_id']}-{i}-{abs(hash(text)) % 10_000}"
            c_rows.append({"chunk_id": cid, "doc_id": d["doc_id"], "text": text, "ord": i, "page": 1,
                           "section": "Intro" if i == 0 else ""})
            named = d["entities"].get(i, [])
            for e in named:
                m_rows.append({"chunk_id": cid, "entity_id": e, "count": 1})
                ents[e] = aliases[e]
            for a, b in zip(named, named[1:], strict=False):
                r_rows.append({"src": a, "dst": b, "rel_id": f"{a}-{b}-{cid}", "type": "co_occurs",
                               "weight": 0.5, "evidence_chunk": cid})
    entities = pd.DataFrame([{"entity_id": e, "name": n, "label": "ORG", "aliases": al}
                             for e, (n, al) in sorted(ents.items())],
                            columns=["entity_id", "name", "label", "aliases"])
    return GraphBatch.from_staged(pd.DataFrame(d_rows), pd.DataFrame(c_rows),
                                  pd.DataFrame(m_rows, columns=["chunk_id", "entity_id", "count"]), entities,
                                  pd.DataFrame(r_rows, columns=["src", "dst", "rel_id", "type", "weight",
                                                                "evidence_chunk"]), "2026-12-06T00:00:00Z")


ALIASES = {"e_falcon": ("Falcon", ["FLC"]), "e_harbour": ("Harbour Office", []), "e_cobalt": ("Cobalt", []),
           "e_orbit": ("Orbit Team", ["OT"]), "e_zeta": ("Zeta", ["FLC"]), "e_acme": ("Acme", ["Cobalt"]),
           "e_alpha": ("Alpha", ["Harbour Office"])}

BASE = [
    _doc("d1", ["The falcon engine is repaired by the harbour office.", "The harbour office opens at nine."],
         {0: ["e_falcon", "e_harbour"], 1: ["e_harbour"]}),
    _doc("d2", ["Zeta makes parts for the falcon engine.", "Zeta ships cobalt."], {0: ["e_zeta", "e_falcon"],
                                                                                  1: ["e_zeta", "e_cobalt"]}),
    _doc("d3", ["The orbit team builds satellites.", "The orbit team meets weekly."], {0: ["e_orbit"],
                                                                                     1: ["e_orbit"]}, "ops"),
    _doc("d4", ["Cobalt supply contract signed with the harbour office."], {0: ["e_cobalt", "e_harbour"]}),
]


def _apply(store: EmbeddedGraphStore, retire: list[str], docs: list[dict]) -> list[str]:
    """What the DAG's load does: retire changed and deleted documents, then write the run's rows."""
    store.retire_documents(retire)
    if docs:
        store.write(_batch(docs, ALIASES))
    return sorted(set(retire) | {d["doc_id"] for d in docs})


def _rows(view: GraphView) -> dict:
    """Everything a worker reads, by id (row numbers differ between a delta and a rewrite; rows must not)."""
    return {
        "chunks": {c: view.chunks[c] for c in view.chunks},
        "names": dict(view.names),
        "keys": dict(view.by_key),
        "edges": {e: sorted(map(repr, view.adjacency[e])) for e in view.names},
        "mentions": {e: view.chunks_of[e] for e in view.names},
        "entities_in": {c: view.entities_in(c) for c in view.chunks},
        "df": {e: view.df(e) for e in view.names},
        "previous": {c: getattr(view.previous(c), "id", None) for c in view.chunks},
        "readable": {e: view.readable(e, frozenset({"ops"})) for e in view.names},
    }


def _walk(version) -> dict:
    """Personalized PageRank from every entity in turn, on the version's mapped walk: chunk id -> score."""
    from kgflow.retrieval.ppr import personalized_pagerank, walk_graph

    view = open_snapshot(version)
    walk = walk_graph(SimpleNamespace(graph=view, cache={}, kb_dir=snapshot_dir(version)), 1.0, 0.5, 0.5)
    out = {}
    for e in sorted(view.names):
        p = personalized_pagerank(walk, {int(walk.entity_node[view.entity_rows[e]]): 1.0}, 0.5, 1e-7)
        out[e] = {c: round(p.get(int(walk.chunk_node[view.chunk_rows[c]]), 0.0), 5) for c in view.chunks}
    return out


def _bm25(kb, view: GraphView) -> list[dict]:
    index = open_lexical(kb, view)
    return [{c: round(s, 4) for c, s in index.top(q, 50)} for q in QUESTIONS]


def _settings(tmp_path, ratio: float = 10.0) -> Settings:
    return Settings(home=tmp_path / "home", rebuild_tombstone_ratio=ratio)


@pytest.fixture
def store(tmp_path):
    with EmbeddedGraphStore(tmp_path / "graph") as g:
        g.ensure_schema()
        g.write(_batch(BASE, ALIASES))
        yield g


def _increment(store, tmp_path, parent, name, retire, docs):
    changed = _apply(store, retire, docs)
    info = write_snapshot(store, tmp_path / name, _settings(tmp_path), parent, changed)
    whole = write_snapshot(store, tmp_path / f"{name}-whole", _settings(tmp_path))
    return info, whole


CHANGES = [  # a changed document whose entity is retired and re-created with another alias, a deleted one,
    # a new one whose entity's alias collides with an older key, a new entity with a smaller id than a key holder
    (["d2", "d3"], [_doc("d2", ["Zeta makes parts for the falcon engine only.", "New text about acme cobalt."],
                         {0: ["e_zeta", "e_falcon"], 1: ["e_acme"]})]),
    ([], [_doc("d5", ["Alpha runs the harbour office now.", "Alpha also audits the orbit team."],
               {0: ["e_alpha", "e_harbour"], 1: ["e_alpha", "e_orbit"]}, "ops")]),
    (["d1", "d5"], [_doc("d1", ["The falcon engine is repaired in the east dock."], {0: ["e_falcon"]})]),
]


def test_an_increment_writes_a_delta_beside_its_parents_base(store, tmp_path):
    write_snapshot(store, tmp_path / "v1", _settings(tmp_path))
    info, _ = _increment(store, tmp_path, tmp_path / "v1", "v2", *CHANGES[0])
    assert info["written"] == "delta"
    base = snapshot_dir(tmp_path / "v1") / "base" / "chunks.arrow"
    assert (snapshot_dir(tmp_path / "v2") / "base" / "chunks.arrow").stat().st_ino == base.stat().st_ino
    assert info["delta"]["chunks"] == 2 and info["delta"]["retired_chunks"] == 4


@pytest.mark.parametrize("steps", [1, 2, 3])
def test_an_increments_snapshot_has_the_same_rows_as_a_whole_rewrite(store, tmp_path, steps):
    write_snapshot(store, tmp_path / "v1", _settings(tmp_path))
    parent = tmp_path / "v1"
    for i, (retire, docs) in enumerate(CHANGES[:steps]):
        info, _ = _increment(store, tmp_path, parent, f"v{i + 2}", retire, docs)
        assert info["written"] == "delta"
        parent = tmp_path / f"v{i + 2}"
    delta, whole = open_snapshot(parent), open_snapshot(tmp_path / f"{parent.name}-whole")
    assert _rows(delta) == _rows(whole)
    assert _walk(parent) == _walk(tmp_path / f"{parent.name}-whole")
    assert _bm25(snapshot_dir(parent), delta) == _bm25(snapshot_dir(tmp_path / f"{parent.name}-whole"), whole)


def test_a_retired_entitys_key_passes_to_the_next_holder(store, tmp_path):
    write_snapshot(store, tmp_path / "v1", _settings(tmp_path))
    assert open_snapshot(tmp_path / "v1").by_key["flc"] == "e_falcon"
    _increment(store, tmp_path, tmp_path / "v1", "v2", ["d1", "d2"], [])
    view = open_snapshot(tmp_path / "v2")
    assert "e_falcon" not in view.names and "e_zeta" not in view.names
    assert "flc" not in view.by_key and view.by_key["cobalt"] == "e_cobalt"


def test_a_delta_past_the_ratio_is_written_whole(store, tmp_path):
    write_snapshot(store, tmp_path / "v1", _settings(tmp_path))
    changed = _apply(store, *CHANGES[0])
    assert write_snapshot(store, tmp_path / "v2", _settings(tmp_path, 0.2), tmp_path / "v1",
                          changed)["written"] == "whole"


def test_bm25_scores_match_bm25s_on_a_whole_snapshot(store, tmp_path):
    import bm25s

    from kgflow.nlp.terms import terms

    write_snapshot(store, tmp_path / "v1", _settings(tmp_path))
    view = open_snapshot(tmp_path / "v1")
    reference = bm25s.BM25()
    reference.index([terms(t) or ["_"] for t in view.findable_texts()], show_progress=False)
    ours = open_lexical(snapshot_dir(tmp_path / "v1"), view)
    for q in QUESTIONS:
        words = [w for w in terms(q) if w in reference.vocab_dict]
        expected = np.asarray(reference.get_scores(words)) if words else np.zeros(len(view.chunk_ids))
        assert np.allclose(ours.scores(terms(q)), expected, atol=1e-5)


def test_the_pushed_walk_is_within_epsilon_of_the_exact_pagerank(store, tmp_path):
    from kgflow.retrieval.ppr import personalized_pagerank, walk_graph

    write_snapshot(store, tmp_path / "v1", _settings(tmp_path))
    view = open_snapshot(tmp_path / "v1")
    walk = walk_graph(SimpleNamespace(graph=view, cache={}, kb_dir=snapshot_dir(tmp_path / "v1")), 1.0, 0.5, 0.5)
    a = walk.parts[0].toarray().astype("float64")
    deg = a.sum(axis=1)
    t = a.T / np.where(deg > 0, deg, 1.0)  # column-stochastic: where each node's mass goes
    seed = int(walk.entity_node[view.entity_rows["e_harbour"]])
    reset = np.zeros(len(a))
    reset[seed] = 1.0
    exact = 0.5 * np.linalg.solve(np.eye(len(a)) - 0.5 * t, reset)
    for eps in (1e-2, 1e-4):
        pushed = personalized_pagerank(walk, {seed: 1.0}, 0.5, eps)
        got = np.array([pushed.get(i, 0.0) for i in range(len(a))])
        assert np.all(np.abs(got - exact) <= eps * deg + 1e-9)
