"""One grounded answer: retrieve -> prompt for the model kind -> generate -> mask PII.

The evaluation behind the refresh gate and the answer bench calls this, with the backend under test
(a served model over HTTP, or an in-process candidate), so what is measured is what the gateway sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from kgflow.llm.base import Generation, GenParams, LLMBackend
from kgflow.llm.prompts import ModelKind, build_prompt
from kgflow.nlp.pii import mask_pii
from kgflow.retrieval.types import RetrievalResult


@dataclass
class Answered:
    text: str
    retrieval: RetrievalResult
    generation: Generation


async def answer(question: str, engine, backend: LLMBackend, kind: ModelKind, params: GenParams,
                 departments: frozenset[str] | None = None) -> Answered:
    r = engine.retrieve(question, departments)
    gen = await backend.generate(build_prompt(question, r, kind), params)
    return Answered(mask_pii(gen.text)[0], r, gen)
