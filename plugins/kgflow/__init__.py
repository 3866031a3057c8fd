"""kgflow: documents -> knowledge graph + vector index -> graph-augmented generation."""

__version__ = "0.1.0"
