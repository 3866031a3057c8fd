"""The knowledge graph behind one interface: Neo4j (production) or LadybugDB (embedded)."""

from kgflow.graph.base import (
    GraphBatch,
    GraphStore,
    GraphTransactionTooLarge,
    open_graph_store,
    promote_graph,
    staged_graph,
)

__all__ = ["GraphBatch", "GraphStore", "GraphTransactionTooLarge", "open_graph_store", "promote_graph", "staged_graph"]
