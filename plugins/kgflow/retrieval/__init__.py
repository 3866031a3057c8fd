"""Retrieval strategies behind one protocol (kgflow.retrieval.base.Retriever), chosen by config
(KGFLOW_RETRIEVAL_MODE). Adding a strategy is one module and one entry here."""

from __future__ import annotations

from kgflow.registry import resolve

STRATEGIES: dict[str, str] = {
    "vector": "kgflow.retrieval.vector:VectorRetriever",
    "graph": "kgflow.retrieval.graph_expansion:GraphExpansionRetriever",
    "ppr": "kgflow.retrieval.ppr:PPRRetriever",
    "hybrid": "kgflow.retrieval.hybrid:HybridRetriever",
}


def strategy_names() -> list[str]:
    return list(STRATEGIES)


def make_retriever(name: str, settings):
    return resolve(STRATEGIES, name, "retrieval strategy")(settings)
