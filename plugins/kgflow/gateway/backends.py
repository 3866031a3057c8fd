"""Which backend serves generation, switchable at run time (blue/green) without dropping requests:
a request keeps the backend object it started with; a switch only affects later requests."""

from __future__ import annotations

import asyncio

from kgflow.config import Settings
from kgflow.llm.base import LLMBackend


def make_backend(kind: str, url: str, settings: Settings, model: str | None = None) -> LLMBackend:
    if kind not in ("tgi", "llamacpp"):
        raise ValueError(f"unknown generation backend {kind!r}")
    if kind == "tgi":
        from kgflow.llm.tgi import TgiBackend

        return TgiBackend(url, model=model or "tgi", timeout_s=settings.llm_timeout_s)
    from kgflow.llm.llamacpp import LlamaCppBackend

    return LlamaCppBackend(url, model=model or "gemma3-270m-q4_k_m", timeout_s=settings.llm_timeout_s)


class BackendRouter:
    def __init__(self, primary: LLMBackend, fallback: LLMBackend | None = None, label: str = "primary") -> None:
        self.current = primary
        self.fallback = fallback
        self.label = label
        self._retired: list[LLMBackend] = []

    async def switch(self, backend: LLMBackend, label: str, drain_s: float = 30.0) -> None:
        old, self.current, self.label = self.current, backend, label
        # in-flight requests still hold `old`; close it once they have had time to finish
        asyncio.get_running_loop().call_later(drain_s, lambda: asyncio.ensure_future(old.aclose()))

    async def aclose(self) -> None:
        for b in (self.current, self.fallback):
            if b is not None:
                await b.aclose()
