"""Versioned FAISS HNSW indexes (real faiss): incremental adds, tombstones, rebuilds, atomic publish."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kgflow.vectors.index_store import VectorIndexStore


def _rows(doc: str, n: int, dept: str = "hr") -> pd.DataFrame:
    return pd.DataFrame({"chunk_id": [f"{doc}-{i}" for i in range(n)], "doc_id": doc, "department": dept,
                         "acl": [[dept]] * n})


def _vecs(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 16)).astype("float32")
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def store(tmp_path):
    return VectorIndexStore(tmp_path / "index")


def test_a_built_version_is_not_current_until_published(store):
    v = store.build("r1", _rows("a", 10), _vecs(10, 1), [], "test")
    assert store.current_version() is None
    store.publish(v)
    assert store.current_version() == v


def test_new_chunks_are_added_incrementally_to_the_current_version(store):
    store.publish(store.build("r1", _rows("a", 50), _vecs(50, 1), [], "test"))
    v2 = store.build("r2", _rows("b", 5), _vecs(5, 2), [], "test")
    idx = store.load(v2)
    assert idx.manifest["mode"] == "incremental" and idx.manifest["count"] == 55


def test_retired_documents_never_come_back_from_search(store):
    vecs = _vecs(50, 1)
    store.publish(store.build("r1", pd.concat([_rows("a", 45), _rows("b", 5)]), vecs, [], "test"))
    idx = store.load(store.build("r2", _rows("c", 0), _vecs(0, 2).reshape(0, 16), ["b"], "test"))
    _, hits = idx.search(vecs[45:], 5)
    returned = set(idx.ids.set_index("faiss_id").loc[hits[hits >= 0].ravel(), "doc_id"])
    assert "b" not in returned and idx.manifest["count"] == 45


def test_too_many_tombstones_trigger_a_rebuild(store):
    store.publish(store.build("r1", pd.concat([_rows("a", 5), _rows("b", 5)]), _vecs(10, 1), [], "test",
                              rebuild_ratio=0.2))
    idx = store.load(store.build("r2", _rows("c", 1), _vecs(1, 3), ["b"], "test", rebuild_ratio=0.2))
    assert idx.manifest["mode"] == "rebuild" and idx.manifest["total"] == 6


def test_search_can_be_restricted_to_allowed_ids(store):
    vecs = _vecs(20, 1)
    store.publish(store.build("r1", pd.concat([_rows("a", 10, "hr"), _rows("b", 10, "legal")]), vecs, [], "t"))
    idx = store.load()
    allowed = idx.ids.loc[idx.ids["department"] == "hr", "faiss_id"].to_numpy()
    _, hits = idx.search(vecs[10:], 5, allowed=allowed)
    assert set(hits[hits >= 0].ravel()) <= set(allowed)


def test_a_retired_chunk_stays_out_even_when_the_caller_may_read_it(store):
    vecs = _vecs(50, 1)
    store.publish(store.build("r1", pd.concat([_rows("a", 45), _rows("b", 5)]), vecs, [], "test"))
    idx = store.load(store.build("r2", _rows("c", 0), _vecs(0, 2).reshape(0, 16), ["b"], "test"))
    everything = idx.ids["faiss_id"].to_numpy()
    _, hits = idx.search(vecs[45:], 5, allowed=everything)
    assert set(idx.ids.set_index("faiss_id").loc[hits[hits >= 0].ravel(), "doc_id"]) == {"a"}


def test_a_caller_who_may_read_nothing_finds_nothing(store):
    vecs = _vecs(10, 1)
    store.publish(store.build("r1", _rows("a", 10), vecs, [], "test"))
    _, hits = store.load().search(vecs[:1], 5, allowed=np.zeros(0, dtype="int64"))
    assert hits.size == 0
