"""Retrieval strategies behind one protocol (kgflow.retrieval.base.Retriever), chosen by config
(KGFLOW_RETRIEVAL_MODE) through their registry (kgflow.seams.RETRIEVERS). Adding a strategy is one module and
one entry."""

from __future__ import annotations

from kgflow.seams import RETRIEVERS


def strategy_names() -> list[str]:
    return RETRIEVERS.names()


def make_retriever(name: str, settings):
    return RETRIEVERS.resolve(name)(settings)
