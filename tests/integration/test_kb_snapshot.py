"""The knowledge-base snapshot a published version carries: written at publish from the graph store,
memory-mapped by every worker, the same view the store gives, and never opened half written."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from kgflow.graph import open_graph_store
from kgflow.retrieval.engine import RetrievalEngine
from kgflow.retrieval.graph_view import GraphView
from kgflow.retrieval.kb_snapshot import MANIFEST, is_complete, open_snapshot, snapshot_dir
from kgflow.vectors.index_store import VectorIndexStore
from tests.integration.gateway_harness import settings_for

pytestmark = pytest.mark.slow


def _published_dir(knowledge_base):
    store = VectorIndexStore(settings_for(knowledge_base, "http://unused").index_dir)
    return store.version_dir(store.current_version())


def _shape(v: GraphView) -> tuple:
    return (v.chunk_ids, [v.chunks[c] for c in v.chunk_ids], dict(v.names), v.by_key,
            {e: v.adjacency[e] for e in v.entity_ids}, {e: v.chunks_of[e] for e in v.entity_ids})


def test_publish_writes_a_complete_snapshot_into_the_published_version(knowledge_base):
    assert is_complete(_published_dir(knowledge_base))


def test_the_snapshot_holds_the_same_view_as_the_graph_store(knowledge_base):
    with open_graph_store(settings_for(knowledge_base, "http://unused"), read_only=True) as g:
        from_store = GraphView.load(g)
    assert _shape(open_snapshot(_published_dir(knowledge_base))) == _shape(from_store)


def test_opening_a_snapshot_reads_no_chunk_text(knowledge_base):
    before = pa.total_allocated_bytes()
    view = open_snapshot(_published_dir(knowledge_base))
    opened = pa.total_allocated_bytes() - before
    texts = sum(len(t.encode()) for t in view.texts())
    assert texts > 10_000
    assert opened < texts / 2  # a copying read allocates at least every text


def test_a_snapshot_without_its_manifest_is_rewritten_before_a_worker_opens_it(knowledge_base, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(knowledge_base, home, symlinks=True)
    s = settings_for(home, "http://unused")
    store = VectorIndexStore(s.index_dir)
    kb = snapshot_dir(store.version_dir(store.current_version()))
    (kb / MANIFEST).unlink()
    (kb / "chunks.arrow").write_bytes(b"half a file")
    r = RetrievalEngine(s).retrieve("Who leads Project Falcon?")
    assert r.chunks and is_complete(kb.parent)
