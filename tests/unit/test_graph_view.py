"""The query-time view of the graph does not depend on the order the store returns rows in
(LadybugDB's order changes from one read to the next): every worker answers alike."""

import random

from kgflow.graph.base import ChunkRow, EdgeRow, EntityRow, MentionRow
from kgflow.retrieval.graph_view import GraphView

ROWS = {
    "entities": [EntityRow("e1", "Acme", aliases=["ACM"]), EntityRow("e2", "acme", aliases=["ACM"]),
                 EntityRow("e3", "Bolt", aliases=[])],
    "related": [EdgeRow("e1", "e3", "use", 1.0, "c2"), EdgeRow("e1", "e3", "co_occurs", 0.5, "c1"),
                EdgeRow("e3", "e2", "co_occurs", 0.5, "c1")],
    "mentions": [MentionRow("c1", "e1", 1), MentionRow("c2", "e1", 2), MentionRow("c1", "e3", 1)],
    "chunks": [ChunkRow(f"c{i}", f"t{i}", i, None, "d", "T", "u", ["*"]) for i in (10, 2, 1)],
}


class ShuffledStore:
    """Stands in for a GraphStore's snapshot read only, returning the same rows in a seeded random order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def snapshot_rows(self, name: str) -> list:
        rows = list(ROWS[name])
        self.rng.shuffle(rows)
        return rows


def _shape(v: GraphView) -> tuple:
    return (dict(v.by_key), {k: list(e) for k, e in v.adjacency.items()},
            {k: list(c) for k, c in v.chunks_of.items()}, list(v.chunks))


def test_the_view_is_the_same_whatever_order_the_store_returns_rows_in():
    views = [_shape(GraphView.load(ShuffledStore(seed))) for seed in range(8)]
    assert all(v == views[0] for v in views)


def test_chunks_are_in_document_reading_order():
    assert list(GraphView.load(ShuffledStore(0)).chunks) == ["c1", "c2", "c10"]
