"""Chunkers, chosen by KGFLOW_CHUNKER: a registered name, or "module:function" for one of your own.

A chunker has the signature of `kgflow.chunking.chunker.chunk_elements` and must keep its cap: a chunk over
KGFLOW_CHUNK_MAX_CHARS fails the run as kgflow's internal error, never as the document's quarantine.
"""

from __future__ import annotations

from collections.abc import Callable

from kgflow.seams import CHUNKERS


def chunker_for(name: str) -> Callable:
    return CHUNKERS.resolve(name)
