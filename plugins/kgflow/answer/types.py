"""What an answer carries besides its text, declared once: the `kgflow` field every route sends (TGI's and
OpenAI's, whole and streamed), the answer measure reads and the OpenAPI schema documents.

Retrieval's own typed results are used as they are where they can go on the wire (`Fact`); what retrieval holds
that a caller must not get (a chunk's text and access list) is narrowed here, once."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from kgflow.retrieval.types import Fact

if TYPE_CHECKING:
    from kgflow.answer.service import Answer
    from kgflow.retrieval.graph_view import ChunkInfo
    from kgflow.retrieval.types import RetrievalResult


class Source(BaseModel):
    """A chunk an answer rests on: which document, and where to open it."""

    chunk_id: str
    doc_id: str
    title: str
    uri: str

    @classmethod
    def of(cls, c: ChunkInfo) -> Source:
        return cls(chunk_id=c.id, doc_id=c.doc_id, title=c.title, uri=c.uri)


class Citation(Source):
    """A numbered source of the context the model saw: `[n]` in the answer's text refers to it."""

    n: int
    score: float
    sources: list[str]  # the retrieval signals that found it (vector, lexical, graph, graph_answer)


class GraphAnswer(BaseModel):
    """The entity a typed path from the question's entities ends at (kgflow.retrieval.graph_answer); a source
    per hop, in path order."""

    entity: str
    path: list[Fact]
    citations: list[Source]


class Grounding(BaseModel):
    """What the grounding check did with the generated text (kgflow.answer.grounding)."""

    action: Literal["kept", "rewritten", "refused"]
    reason: str
    unsupported: list[str]  # names or numbers the generated text stated that no cited source or fact holds


class RetrievalInfo(BaseModel):
    mode: str
    index_version: str
    ms: float


class KgflowExtension(BaseModel):
    citations: list[Citation]
    facts: list[Fact]
    answer: GraphAnswer | None
    grounded: bool  # the answer states only what its evidence holds, and states something (not a refusal)
    grounding: Grounding
    engine: Literal["primary", "fallback"]  # which generation engine answered
    linked_entities: list[str]
    retrieval: RetrievalInfo

    @classmethod
    def of(cls, a: Answer) -> KgflowExtension:
        r: RetrievalResult = a.retrieval
        g, v = r.answer, a.grounding
        return cls(
            citations=[Citation(**Source.of(c.chunk).model_dump(), n=i, score=round(c.score, 5), sources=c.sources)
                       for i, c in enumerate(r.chunks, 1)],
            facts=[dataclasses.replace(f, weight=round(f.weight, 4)) for f in r.facts],
            answer=GraphAnswer(entity=g.entity, path=list(g.path), citations=[Source.of(c) for c in g.evidence])
            if g is not None else None,
            grounded=v.grounded,
            grounding=Grounding(action=v.action, reason=v.reason, unsupported=list(v.unsupported)),
            engine=a.engine, linked_entities=r.linked_entities,
            retrieval=RetrievalInfo(mode=r.mode, index_version=r.version, ms=round(r.timings_ms["total"], 2)))
