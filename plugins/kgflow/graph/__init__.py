"""The knowledge graph behind one interface: Neo4j (production) or LadybugDB (embedded)."""

from kgflow.graph.base import GraphBatch, GraphStore, open_graph_store, promote_graph, staged_graph

__all__ = ["GraphBatch", "GraphStore", "open_graph_store", "promote_graph", "staged_graph"]
