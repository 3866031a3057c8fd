"""Text Generation Inference (production) through the standard `text-generation` client.

TGI's /generate takes a raw prompt: a base model's completion prompt goes as it is; chat messages are
rendered with the served model's prompt template (DeepSeek-R1 distill style by default).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from kgflow.llm.base import BackendError, BackendUnavailable, Generation, GenParams, LLMBackend, StreamPiece
from kgflow.llm.prompts import Prompt

DEEPSEEK_TEMPLATE = {"system": "{content}\n\n", "user": "<｜User｜>{content}", "assistant": "<｜Assistant｜>{content}",
                     "generation": "<｜Assistant｜>"}


def render(messages: list[dict], template: dict[str, str] = DEEPSEEK_TEMPLATE) -> str:
    return "".join(template[m["role"]].format(content=m["content"]) for m in messages) + template["generation"]


class TgiBackend(LLMBackend):
    name = "tgi"
    engine = "Text Generation Inference"

    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 120.0,
                 template: dict[str, str] = DEEPSEEK_TEMPLATE) -> None:
        from text_generation import AsyncClient

        self.base_url = base_url.rstrip("/")
        self._model = model or "tgi"
        self._template = template
        self._client = AsyncClient(self.base_url, timeout=int(timeout_s))

    def model_id(self) -> str:
        return self._model

    def _text(self, prompt: Prompt) -> str:
        return prompt.text if prompt.kind == "base" else render(list(prompt.messages), self._template)

    @staticmethod
    def _kwargs(prompt: Prompt, params: GenParams) -> dict:
        kw = {"max_new_tokens": params.max_new_tokens, "stop_sequences": params.with_stops(prompt.stop).stop or None}
        for k in ("temperature", "top_p", "top_k", "repetition_penalty", "seed"):
            if getattr(params, k) is not None and not (k == "temperature" and params.temperature == 0):
                kw[k] = getattr(params, k)  # temperature 0 means greedy, which TGI spells as no temperature
        if kw.get("temperature") or kw.get("top_p") or kw.get("top_k"):
            kw["do_sample"] = True
        return kw

    async def generate(self, prompt: Prompt, params: GenParams) -> Generation:
        from text_generation.errors import OverloadedError, ShardNotReadyError, ShardTimeoutError, UnknownError

        try:
            r = await self._client.generate(self._text(prompt), **self._kwargs(prompt, params))
        except (OverloadedError, ShardNotReadyError, ShardTimeoutError) as e:
            raise BackendUnavailable(f"TGI at {self.base_url}: {e}") from e
        except UnknownError as e:
            raise BackendError(f"TGI error: {e}") from e
        except Exception as e:  # aiohttp connection errors surface with many types
            raise BackendUnavailable(f"TGI at {self.base_url} unavailable: {type(e).__name__}: {e}") from e
        d = r.details
        return Generation(r.generated_text, d.generated_tokens if d else 0, str(getattr(d.finish_reason, "value",
                                                                                         d.finish_reason)))

    async def stream(self, prompt: Prompt, params: GenParams) -> AsyncIterator[StreamPiece]:
        try:
            async for ev in self._client.generate_stream(self._text(prompt), **self._kwargs(prompt, params)):
                if ev.token.special:
                    continue
                d = ev.details
                yield StreamPiece(ev.token.text, str(getattr(d.finish_reason, "value", d.finish_reason)) if d else None,
                                  d.generated_tokens if d else None)
        except BackendError:
            raise
        except Exception as e:
            raise BackendUnavailable(f"TGI at {self.base_url} unavailable: {type(e).__name__}: {e}") from e

    async def health(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0) as c:
                return (await c.get(f"{self.base_url}/health")).status_code == 200
        except httpx.HTTPError:
            return False
