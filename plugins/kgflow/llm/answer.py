"""The one answer pipeline: retrieve -> prompt for the model kind -> generate (streamed) -> mask PII.

Every gateway route (TGI's generate and stream, OpenAI's chat, streamed or not), the refresh gate and the
answer bench go through `AnswerService`. Generation is always a stream; a whole answer is the collected
stream. What the gateway measures and audits hangs on an `AnswerObserver`, called at the same points for
every route, so the routes cannot drift apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from starlette.concurrency import run_in_threadpool

from kgflow.gateway.stream_mask import StreamMasker
from kgflow.llm.base import BackendUnavailable, GenParams, LLMBackend, StreamPiece
from kgflow.llm.prompts import ModelKind, build_prompt
from kgflow.retrieval.types import RetrievalResult


@dataclass
class Answer:
    text: str  # PII masked
    retrieval: RetrievalResult
    finish_reason: str = "eos_token"  # TGI's names
    generated_tokens: int = 0
    prompt_tokens: int | None = None  # the engine's count, when it gives one
    # where the time went, ms: retrieval (waited for, thread pool included) and generation (prompt sent to last
    # piece); the gateway reports them as Server-Timing
    timings_ms: dict[str, float] = field(default_factory=dict)


class AnswerObserver(Protocol):
    """Hooks for metrics and audit; every method is called for every route."""

    def retrieved(self, r: RetrievalResult) -> None: ...

    def backend_state(self, up: bool) -> None: ...

    def finished(self, answer: Answer, failed: bool, seconds: float) -> None: ...


class _Silent:
    def retrieved(self, r: RetrievalResult) -> None:
        pass

    def backend_state(self, up: bool) -> None:
        pass

    def finished(self, answer: Answer, failed: bool, seconds: float) -> None:
        pass


class Backends(Protocol):
    """What serves generation: the gateway's router (live upstream, switchable) or a fixed pair."""

    current: LLMBackend
    fallback: LLMBackend | None


@dataclass
class FixedBackends:
    current: LLMBackend
    fallback: LLMBackend | None = None


@dataclass
class AnswerStream:
    """A started answer: its retrieval, the masked text deltas (the last one carries the finish), and the
    Answer they fill in as they are consumed."""

    retrieval: RetrievalResult
    events: AsyncIterator[StreamPiece]
    answer: Answer


class AnswerService:
    def __init__(self, engine, backends: Backends | LLMBackend, kind: ModelKind,
                 observer: AnswerObserver | None = None) -> None:
        self.engine = engine
        self.backends = backends if hasattr(backends, "fallback") else FixedBackends(backends)
        self.kind = kind
        self.observer = observer or _Silent()

    async def stream(self, question: str, params: GenParams, departments: frozenset[str] | None = None,
                     history: list[dict] | None = None, observer: AnswerObserver | None = None,
                     count_prompt: bool = False) -> AnswerStream:
        """Retrieve, prompt and start generating. The first piece is awaited here, so a dead backend (and
        fallback) raises BackendUnavailable before any byte of a response is sent. `count_prompt`: ask the
        engine for the prompt's token count beside the generation (OpenAI's usage; an extra engine call)."""
        obs = observer or self.observer
        start = time.perf_counter()
        r = await run_in_threadpool(self.engine.retrieve, question, departments)
        retrieved = time.perf_counter()
        obs.retrieved(r)
        prompt = build_prompt(question, r, self.kind, history)
        backend, first, rest = await self._open(prompt, params, obs)
        counting = asyncio.ensure_future(backend.count_tokens(prompt)) if count_prompt else None
        answer = Answer("", r, timings_ms={"retrieval": (retrieved - start) * 1e3})
        return AnswerStream(r, self._masked(first, rest, answer, obs, start, counting), answer)

    async def answer(self, question: str, params: GenParams, departments: frozenset[str] | None = None,
                     history: list[dict] | None = None, observer: AnswerObserver | None = None,
                     count_prompt: bool = False) -> Answer:
        """The whole answer: the collected stream."""
        s = await self.stream(question, params, departments, history, observer, count_prompt)
        async for _ in s.events:
            pass
        return s.answer

    async def _open(self, prompt, params: GenParams, obs: AnswerObserver):
        last: Exception | None = None
        for backend in (self.backends.current, self.backends.fallback):
            if backend is None:
                continue
            agen = backend.stream(prompt, params).__aiter__()
            try:
                first = await agen.__anext__()
            except StopAsyncIteration:
                first = StreamPiece("", "eos_token", 0)
            except BackendUnavailable as e:
                obs.backend_state(False)
                last = e
                continue
            obs.backend_state(True)
            return backend, first, agen
        raise BackendUnavailable(str(last))

    async def _masked(self, first: StreamPiece, rest, answer: Answer, obs: AnswerObserver,
                      start: float, counting: asyncio.Future | None) -> AsyncIterator[StreamPiece]:
        masker, n, finish, failed = StreamMasker(), 0, "eos_token", True

        async def pieces():
            yield first
            async for piece in rest:
                yield piece

        try:
            async for piece in pieces():
                if piece.text:
                    n += 1
                if piece.finish_reason:
                    finish = piece.finish_reason
                if piece.generated_tokens is not None:
                    n = piece.generated_tokens  # the engine's own count, when it gives one
                out = masker.feed(piece.text)
                if out:
                    yield StreamPiece(out)
            tail = masker.finish()
            answer.text, answer.finish_reason, answer.generated_tokens = masker.text, finish, n
            answer.prompt_tokens = await counting if counting else None
            answer.timings_ms["generation"] = (time.perf_counter() - start) * 1e3 - answer.timings_ms["retrieval"]
            failed = False
            yield StreamPiece(tail, finish, n)
        except BackendUnavailable:
            obs.backend_state(False)
            raise
        finally:
            if failed:
                answer.text = masker.text
                if counting:
                    counting.cancel()
            obs.finished(answer, failed, time.perf_counter() - start)
