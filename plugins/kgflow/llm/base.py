"""The LLM backend interface: a prompt (completion text or chat messages, kgflow.llm.prompts.Prompt) in,
text (whole or streamed) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kgflow.errors import KgflowError

if TYPE_CHECKING:
    from kgflow.llm.prompts import Prompt


class BackendUnavailable(KgflowError):
    """The model server is down, unreachable or timed out: the gateway answers 503."""
    status, error_type = 503, "overloaded"


class BackendError(KgflowError):
    """The model server answered with an error for this request."""
    error_type = "generation"

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message, status=status)


MAX_STOP_SEQUENCES = 4  # TGI's limit, which kgflow keeps for every engine: a caller's and the prompt's together


@dataclass
class GenParams:
    max_new_tokens: int = 128
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)

    def with_stops(self, stops: tuple[str, ...]) -> GenParams:
        """The caller's stop sequences first, then the prompt's; MAX_STOP_SEQUENCES at most."""
        merged = list(dict.fromkeys([*self.stop, *stops]))[:MAX_STOP_SEQUENCES]
        return GenParams(self.max_new_tokens, self.temperature, self.top_p, self.top_k, self.repetition_penalty,
                         self.seed, merged)

    def sampling(self) -> dict:
        """Only the parameters that were set: llama.cpp rejects explicit nulls."""
        out = {"max_tokens": self.max_new_tokens}
        for k in ("temperature", "top_p", "top_k", "seed"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.repetition_penalty is not None:
            out["repeat_penalty"] = self.repetition_penalty
        if self.stop:
            out["stop"] = self.stop
        return out


@dataclass
class Generation:
    text: str
    generated_tokens: int
    finish_reason: str  # TGI's names: length | eos_token | stop_sequence
    prompt_tokens: int = 0


@dataclass
class StreamPiece:
    text: str
    finish_reason: str | None = None
    generated_tokens: int | None = None


def tgi_finish_reason(openai_reason: str | None) -> str:
    return {"length": "length", "stop": "eos_token"}.get(openai_reason or "", "eos_token")


class LLMBackend(ABC):
    name: str = "backend"
    engine: str = "generation engine"  # what /info names as the engine behind the gateway
    device_type: str = "cuda"  # what /info reports, as TGI does
    dtype: str | None = None

    @abstractmethod
    async def generate(self, prompt: Prompt, params: GenParams) -> Generation: ...

    @abstractmethod
    def stream(self, prompt: Prompt, params: GenParams) -> AsyncIterator[StreamPiece]: ...

    @abstractmethod
    async def health(self) -> bool: ...

    @abstractmethod
    def model_id(self) -> str: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass
