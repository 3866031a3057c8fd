"""The one answer pipeline: retrieve -> prompt for the model kind -> generate -> mask PII -> ground.

Every gateway route (TGI's generate and stream, OpenAI's chat, streamed or not), the refresh gate, the deploy
smoke test (through the gateway) and the answer bench go through `AnswerService`. The engine is asked for the
whole answer (its own token counts come with it, so no second engine call is needed for usage), which is then
checked against its evidence (kgflow.answer.grounding) before a byte of it leaves: a streamed answer is the
checked answer sent in pieces, so streamed and whole answers are the same text.

Failover: an engine that is down, times out or fails with a server error is retried on the fallback engine
(`KGFLOW_LLM_FALLBACK_URL`) for the same request, so its caller sees no failure; the primary is skipped for
`FAILOVER_RETRY_S` after it failed, then asked again, so it takes over again as soon as it is back.
What the gateway measures and audits hangs on an `AnswerObserver`, called at the same points for every route.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from kgflow.answer.grounding import Verdict, ground, unsupported_claims
from kgflow.answer.types import KgflowExtension
from kgflow.llm.base import BackendError, BackendUnavailable, Generation, GenParams, LLMBackend, StreamPiece
from kgflow.llm.prompts import ModelKind, build_prompt
from kgflow.nlp.pii import mask_pii
from kgflow.retrieval.types import RetrievalResult

FAILOVER_RETRY_S = 5.0
_PIECE = re.compile(r"\s*\S+|\s+$")  # a streamed answer goes out word by word


@dataclass
class Answer:
    text: str  # PII masked and grounded: what the caller receives
    retrieval: RetrievalResult
    grounding: Verdict
    finish_reason: str = "eos_token"  # TGI's names
    generated_tokens: int = 0
    prompt_tokens: int | None = None  # the engine's count, when it gives one
    engine: str = "primary"  # which engine answered: primary | fallback
    generated_text: str = ""  # the model's own text (PII masked), before grounding
    # where the time went, ms: retrieval (waited for, thread pool included), generation (prompt sent to answer
    # back) and grounding; the gateway reports them as Server-Timing
    timings_ms: dict[str, float] = field(default_factory=dict)

    def extension(self) -> KgflowExtension:
        """The `kgflow` field every route sends: citations, facts, the graph's answer, grounding, the engine."""
        return KgflowExtension.of(self)


class AnswerObserver(Protocol):
    """Hooks for metrics and audit; every method is called for every route."""

    def retrieved(self, r: RetrievalResult) -> None: ...

    def backend_state(self, engine: str, up: bool) -> None: ...

    def finished(self, answer: Answer, seconds: float) -> None: ...


class _Silent:
    def retrieved(self, r: RetrievalResult) -> None:
        pass

    def backend_state(self, engine: str, up: bool) -> None:
        pass

    def finished(self, answer: Answer, seconds: float) -> None:
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
    """A started answer: its retrieval, the text deltas (the last one carries the finish), and the Answer."""

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
        self._primary_down: tuple[int, float] | None = None  # (id of the primary that failed, retry after)

    async def answer(self, question: str, params: GenParams, departments: frozenset[str] | None = None,
                     history: list[dict] | None = None, observer: AnswerObserver | None = None) -> Answer:
        """The whole, grounded answer. Raises BackendUnavailable when neither engine can answer."""
        obs = observer or self.observer
        start = time.perf_counter()
        r = await asyncio.to_thread(self.engine.retrieve, question, departments)
        retrieved = time.perf_counter()
        obs.retrieved(r)
        engine, gen = await self._generate(build_prompt(question, r, self.kind, history), params, obs)
        generated = time.perf_counter()
        generated_text = mask_pii(gen.text)[0]
        g = await asyncio.to_thread(self._ground, question, generated_text, r)
        answer = Answer(g.text, r, g.verdict, gen.finish_reason, gen.generated_tokens, gen.prompt_tokens or None,
                        engine, generated_text, {"retrieval": (retrieved - start) * 1e3,
                                                 "generation": (generated - retrieved) * 1e3,
                                                 "grounding": (time.perf_counter() - generated) * 1e3})
        obs.finished(answer, time.perf_counter() - start)
        return answer

    async def stream(self, question: str, params: GenParams, departments: frozenset[str] | None = None,
                     history: list[dict] | None = None, observer: AnswerObserver | None = None) -> AnswerStream:
        """The same answer, sent word by word once it is grounded; errors raise before any byte is sent."""
        a = await self.answer(question, params, departments, history, observer)

        async def events() -> AsyncIterator[StreamPiece]:
            pieces = _PIECE.findall(a.text) or [""]
            for p in pieces[:-1]:
                yield StreamPiece(p)
            yield StreamPiece(pieces[-1], a.finish_reason, a.generated_tokens)

        return AnswerStream(a.retrieval, events(), a)

    def _nlp(self, text: str):
        from kgflow.retrieval.linking import parse_question

        return parse_question(text, str(self.engine.settings.glossary_path))

    def _ground(self, question: str, text: str, r: RetrievalResult):
        return ground(r.question_doc or self._nlp(question), text, r, self._nlp)

    def unsupported(self, text: str, r: RetrievalResult, question: str = "") -> tuple[str, ...]:
        """The names and numbers in `text` that r's evidence lacks (the measure re-checks delivered answers)."""
        return unsupported_claims(text, r, self._nlp, question)

    def _engines(self) -> list[tuple[str, LLMBackend]]:
        primary = self.backends.current
        out = [("primary", primary)]
        down = self._primary_down
        if down is not None and down[0] == id(primary) and time.monotonic() < down[1] and self.backends.fallback:
            out = []  # failed a moment ago: straight to the fallback until it is time to ask it again
        if self.backends.fallback is not None:
            out.append(("fallback", self.backends.fallback))
        return out

    async def _generate(self, prompt, params: GenParams, obs: AnswerObserver) -> tuple[str, Generation]:
        last: Exception | None = None
        for label, backend in self._engines():
            try:
                gen = await backend.generate(prompt, params)
            except (BackendUnavailable, BackendError) as e:
                if isinstance(e, BackendError) and e.status < 503:
                    raise  # the engine refused this request: another engine would refuse it too
                obs.backend_state(label, False)
                if label == "primary":
                    self._primary_down = (id(backend), time.monotonic() + FAILOVER_RETRY_S)
                last = e
                continue
            obs.backend_state(label, True)
            if label == "primary":
                self._primary_down = None
            return label, gen
        raise BackendUnavailable(str(last))
