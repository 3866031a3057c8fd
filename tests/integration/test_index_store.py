"""Versioned FAISS indexes (real faiss), every kind through the same specification: incremental adds,
tombstones, rebuilds, atomic publish, access restriction; and what each version records of its kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgflow.vectors.index_store import IndexMismatch, IndexSpec, VectorIndexStore


def _rows(doc: str, n: int, dept: str = "hr") -> pd.DataFrame:
    return pd.DataFrame({"chunk_id": [f"{doc}-{i}" for i in range(n)], "doc_id": doc, "department": dept,
                         "acl": [[dept]] * n})


def _vecs(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 16)).astype("float32")
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=["hnsw_flat", "ivf_pq"])
def spec(request) -> IndexSpec:
    return IndexSpec(request.param)


@pytest.fixture()
def store(tmp_path):
    return VectorIndexStore(tmp_path / "index")


def test_a_built_version_is_not_current_until_published(store, spec):
    v = store.build("r1", _rows("a", 10), _vecs(10, 1), [], "test", spec)
    assert store.current_version() is None
    store.publish(v)
    assert store.current_version() == v


def test_new_chunks_are_added_incrementally_to_the_current_version(store, spec):
    store.publish(store.build("r1", _rows("a", 50), _vecs(50, 1), [], "test", spec))
    v2 = store.build("r2", _rows("b", 5), _vecs(5, 2), [], "test", spec)
    idx = store.load(v2)
    assert idx.manifest["mode"] == "incremental" and idx.manifest["count"] == 55


def test_retired_documents_never_come_back_from_search(store, spec):
    vecs = _vecs(50, 1)
    store.publish(store.build("r1", pd.concat([_rows("a", 45), _rows("b", 5)]), vecs, [], "test", spec))
    idx = store.load(store.build("r2", _rows("c", 0), _vecs(0, 2).reshape(0, 16), ["b"], "test", spec))
    _, hits = idx.search(vecs[45:], 5)
    returned = set(idx.ids.set_index("faiss_id").loc[hits[hits >= 0].ravel(), "doc_id"])
    assert "b" not in returned and idx.manifest["count"] == 45


def test_too_many_tombstones_trigger_a_rebuild(store, spec):
    store.publish(store.build("r1", pd.concat([_rows("a", 5), _rows("b", 5)]), _vecs(10, 1), [], "test", spec,
                              rebuild_ratio=0.2))
    idx = store.load(store.build("r2", _rows("c", 1), _vecs(1, 3), ["b"], "test", spec, rebuild_ratio=0.2))
    assert idx.manifest["mode"] == "rebuild" and idx.manifest["total"] == 6


def test_search_can_be_restricted_to_allowed_ids(store, spec):
    vecs = _vecs(20, 1)
    store.publish(store.build("r1", pd.concat([_rows("a", 10, "hr"), _rows("b", 10, "legal")]), vecs, [], "t", spec))
    idx = store.load()
    allowed = idx.ids.loc[idx.ids["department"] == "hr", "faiss_id"].to_numpy()
    _, hits = idx.search(vecs[10:], 5, allowed=allowed)
    assert set(hits[hits >= 0].ravel()) <= set(allowed)


def test_a_retired_chunk_stays_out_even_when_the_caller_may_read_it(store, spec):
    vecs = _vecs(50, 1)
    store.publish(store.build("r1", pd.concat([_rows("a", 45), _rows("b", 5)]), vecs, [], "test", spec))
    idx = store.load(store.build("r2", _rows("c", 0), _vecs(0, 2).reshape(0, 16), ["b"], "test", spec))
    everything = idx.ids["faiss_id"].to_numpy()
    _, hits = idx.search(vecs[45:], 5, allowed=everything)
    assert set(idx.ids.set_index("faiss_id").loc[hits[hits >= 0].ravel(), "doc_id"]) == {"a"}


def test_a_caller_who_may_read_nothing_finds_nothing(store, spec):
    vecs = _vecs(10, 1)
    store.publish(store.build("r1", _rows("a", 10), vecs, [], "test", spec))
    _, hits = store.load().search(vecs[:1], 5, allowed=np.zeros(0, dtype="int64"))
    assert hits.size == 0


def test_a_version_records_the_index_kind_it_was_built_as(store, spec):
    idx = store.load(store.build("r1", _rows("a", 300), _vecs(300, 1), [], "test", spec))
    assert idx.manifest["index"]["kind"] == spec.kind
    if spec.kind == "ivf_pq":  # the factory it was trained to, and the size it was trained on
        assert idx.manifest["factory"] == "IVF7,PQ16x8" and idx.manifest["trained_on"] == 300


@pytest.mark.parametrize(("built", "asked"), [("hnsw_flat", "ivf_pq"), ("ivf_pq", "hnsw_flat")])
def test_extending_a_version_of_another_index_kind_is_refused_saying_how_to_rebuild(store, built, asked):
    store.publish(store.build("r1", _rows("a", 300), _vecs(300, 1), [], "test", IndexSpec(built)))
    with pytest.raises(IndexMismatch, match=f"is {built} .* ask for {asked} .* full_rebuild"):
        store.build("r2", _rows("b", 5), _vecs(5, 2), [], "test", IndexSpec(asked))


def test_a_full_rebuild_may_change_the_index_kind(store):
    store.publish(store.build("r1", _rows("a", 300), _vecs(300, 1), [], "test", IndexSpec("hnsw_flat")))
    idx = store.load(store.build("r2", _rows("b", 5), _vecs(5, 2), [], "test", IndexSpec("ivf_pq"),
                                 full_rebuild=True))
    assert idx.manifest["index"]["kind"] == "ivf_pq" and idx.manifest["count"] == 5


def test_compressed_search_finds_what_exact_search_finds(store):
    """Clustered vectors, as embeddings are: codes find the candidates, exact inner products rank them."""
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(40, 16))
    vecs = (centers[rng.integers(0, 40, 4000)] + 0.4 * rng.normal(size=(4000, 16))).astype("float32")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.publish(store.build("r1", _rows("a", 4000), vecs, [], "test", IndexSpec("ivf_pq")))
    idx, queries = store.load(), vecs[:100] + 0.05 * rng.normal(size=(100, 16)).astype("float32")
    scores, found = idx.search(queries, 10)
    truth = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95, recall
    assert np.allclose(scores[:, 0], (queries * vecs[found[:, 0]]).sum(axis=1), atol=1e-5)  # exact scores


def test_an_increment_links_its_parent_s_vectors_instead_of_copying_them(store):
    store.publish(store.build("r1", _rows("a", 300), _vecs(300, 1), [], "test", IndexSpec("ivf_pq")))
    parent = store.load()
    child = store.load(store.build("r2", _rows("b", 5), _vecs(5, 2), [], "test", IndexSpec("ivf_pq")))
    first = parent.manifest["vector_segments"][0]
    assert child.manifest["vector_segments"] == [first, "vectors-000000000300.npy"]
    same = (store.version_dir(parent.manifest["version"]) / first).stat().st_ino
    assert (store.version_dir(child.manifest["version"]) / first).stat().st_ino == same
    assert np.array_equal(child.reconstruct([0, 300]), np.vstack([_vecs(300, 1)[0], _vecs(5, 2)[0]]))


def test_a_compressed_index_is_retrained_once_it_holds_four_times_what_it_was_trained_on(store):
    store.publish(store.build("r1", _rows("a", 100), _vecs(100, 1), [], "test", IndexSpec("ivf_pq")))
    idx = store.load(store.build("r2", _rows("b", 301), _vecs(301, 2), [], "test", IndexSpec("ivf_pq")))
    assert idx.manifest["mode"] == "rebuild" and idx.manifest["trained_on"] == 401
