"""Generation backends, chosen by config (`KGFLOW_LLM_BACKEND`) through their registry
(kgflow.seams.LLM_BACKENDS): adding an engine is one module with an LLMBackend subclass and one entry."""

from __future__ import annotations

from kgflow.llm.base import LLMBackend
from kgflow.seams import LLM_BACKENDS


def backend_names() -> list[str]:
    return LLM_BACKENDS.names()


def backend_class(kind: str) -> type[LLMBackend]:
    return LLM_BACKENDS.resolve(kind)


def make_backend(kind: str, url: str, timeout_s: float = 120.0, model: str | None = None) -> LLMBackend:
    return backend_class(kind)(url, model=model, timeout_s=timeout_s)
