"""Generation backends, chosen by config (`KGFLOW_LLM_BACKEND`) through one registry: adding an engine
is one module with an LLMBackend subclass and one entry here."""

from __future__ import annotations

from kgflow.llm.base import LLMBackend
from kgflow.registry import resolve

BACKENDS: dict[str, str] = {
    "llamacpp": "kgflow.llm.llamacpp:LlamaCppBackend",
    "tgi": "kgflow.llm.tgi:TgiBackend",
    "vllm": "kgflow.llm.vllm:VllmBackend",
    "triton": "kgflow.llm.triton:TritonBackend",
}


def backend_names() -> list[str]:
    return list(BACKENDS)


def backend_class(kind: str) -> type[LLMBackend]:
    return resolve(BACKENDS, kind, "generation backend")


def make_backend(kind: str, url: str, timeout_s: float = 120.0, model: str | None = None) -> LLMBackend:
    return backend_class(kind)(url, model=model, timeout_s=timeout_s)
