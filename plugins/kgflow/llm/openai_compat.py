"""Any server with the OpenAI-compatible API (llama.cpp's, vLLM, SGLang): /v1/completions for a base
model's completion prompt, /v1/chat/completions for an instruction-tuned model's messages, SSE when
streaming. One implementation; each engine is a subclass that names its differences."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from kgflow.llm.base import (
    BackendError,
    BackendUnavailable,
    Generation,
    GenParams,
    LLMBackend,
    StreamPiece,
    tgi_finish_reason,
)
from kgflow.llm.prompts import Prompt


class OpenAICompatibleBackend(LLMBackend):
    name = "openai"
    engine = "OpenAI-compatible server"
    default_model = "default"
    names_model = True  # send "model" in each request (vLLM routes by it; llama.cpp's server has one model)
    repetition_key: str | None = "repetition_penalty"  # None: the engine takes no repetition penalty
    unsupported: tuple[str, ...] = ()  # sampling fields the engine's request schema refuses: never sent
    health_path = "/v1/models"  # answers 200 once the engine serves

    def __init__(self, base_url: str, model: str | None = None, timeout_s: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._model = model or self.default_model
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(timeout_s, connect=2.0))

    def model_id(self) -> str:
        return self._model

    def _request(self, prompt: Prompt, params: GenParams, stream: bool) -> tuple[str, dict]:
        sampling = params.with_stops(prompt.stop).sampling()
        if params.temperature is None and params.top_p is None and params.top_k is None:
            # no sampling asked for: greedy, as TGI decodes by default (these servers would sample at 0.8-1.0,
            # and a small model then copies a worked example's answer now and then)
            sampling["temperature"] = 0.0
        if "repeat_penalty" in sampling:
            penalty = sampling.pop("repeat_penalty")
            if self.repetition_key:
                sampling[self.repetition_key] = penalty
        for key in self.unsupported:
            sampling.pop(key, None)
        if self.names_model:
            sampling["model"] = self._model
        if prompt.kind == "base":
            return "/v1/completions", {"prompt": prompt.text, "stream": stream, **sampling}
        return "/v1/chat/completions", {"messages": list(prompt.messages), "stream": stream, **sampling}

    @staticmethod
    def _text(choice: dict) -> str:
        """A completion choice carries `text`; a chat one `message` (whole) or `delta` (streamed)."""
        if "text" in choice:
            return choice.get("text") or ""
        return (choice.get("message") or choice.get("delta") or {}).get("content") or ""

    async def generate(self, prompt: Prompt, params: GenParams) -> Generation:
        path, body = self._request(prompt, params, False)
        try:
            r = await self._client.post(path, json=body)
        except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as e:
            raise BackendUnavailable(f"{self.engine} at {self.base_url} unavailable: {type(e).__name__}") from e
        if r.status_code >= 400:
            raise BackendError(f"{self.engine} error {r.status_code}: {r.text[:300]}",
                               503 if r.status_code >= 500 else 502)
        data = r.json()
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        return Generation(self._text(choice), int(usage.get("completion_tokens", 0)),
                          tgi_finish_reason(choice.get("finish_reason")), int(usage.get("prompt_tokens", 0)))

    async def stream(self, prompt: Prompt, params: GenParams) -> AsyncIterator[StreamPiece]:
        n = 0
        path, body = self._request(prompt, params, True)
        try:
            async with self._client.stream("POST", path, json=body) as r:
                if r.status_code >= 400:
                    body = (await r.aread()).decode(errors="replace")
                    raise BackendError(f"{self.engine} error {r.status_code}: {body[:300]}")
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    choice = json.loads(payload)["choices"][0]
                    text = self._text(choice)
                    reason = choice.get("finish_reason")
                    if text:
                        n += 1
                    if text or reason:
                        yield StreamPiece(text, tgi_finish_reason(reason) if reason else None, n if reason else None)
        except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as e:
            raise BackendUnavailable(f"{self.engine} at {self.base_url} unavailable: {type(e).__name__}") from e

    async def health(self) -> bool:
        try:
            r = await self._client.get(self.health_path, timeout=2.0)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
