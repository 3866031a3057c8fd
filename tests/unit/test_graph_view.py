"""The query-time view of the graph does not depend on the order the store returns rows in
(LadybugDB's order changes from one read to the next): every worker answers alike."""

import random

from kgflow.retrieval.graph_view import GraphView

ROWS = {
    "entities": [{"id": "e1", "name": "Acme", "aliases": ["ACM"]}, {"id": "e2", "name": "acme", "aliases": ["ACM"]},
                 {"id": "e3", "name": "Bolt", "aliases": []}],
    "related": [{"src": "e1", "dst": "e3", "type": "use", "weight": 1.0, "chunk": "c2"},
                {"src": "e1", "dst": "e3", "type": "co_occurs", "weight": 0.5, "chunk": "c1"},
                {"src": "e3", "dst": "e2", "type": "co_occurs", "weight": 0.5, "chunk": "c1"}],
    "mentions": [{"chunk": "c1", "entity": "e1", "count": 1}, {"chunk": "c2", "entity": "e1", "count": 2},
                 {"chunk": "c1", "entity": "e3", "count": 1}],
    "chunks": [{"id": f"c{i}", "text": f"t{i}", "ord": i, "doc_id": "d", "title": "T", "uri": "u", "acl": ["*"]}
               for i in (10, 2, 1)],
}


class ShuffledStore:
    """Stands in for a GraphStore's snapshot read only, returning the same rows in a seeded random order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def snapshot_rows(self, name: str) -> list[dict]:
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
