"""Grounded prompts. Retrieved text is quoted data inside <document> tags, never instructions."""

from __future__ import annotations

import re

from kgflow.llm.instructions import INSTRUCTIONS
from kgflow.retrieval.engine import RetrievalResult

# A base model keeps writing new "Question:" turns; stop there.
STOP = ["\nQuestion:", "<end_of_turn>"]
_TAG = re.compile(r"</?\s*document[^>]*>", re.I)


def quote(text: str) -> str:
    """Neutralise our own delimiters inside document text so it cannot close its quote."""
    return _TAG.sub("[tag removed]", text)


def context_block(r: RetrievalResult) -> str:
    lines = []
    if r.facts:
        lines.append("Facts from the knowledge graph:")
        lines += [f"- {f.subject} {f.relation.replace('_', ' ')} {f.object}." for f in r.facts]
    for i, c in enumerate(r.chunks, 1):
        lines.append(f'<document n="{i}" title="{quote(c.chunk.title)}">\n{quote(c.chunk.text)}\n</document>')
    return "\n".join(lines)


def grounded_messages(question: str, r: RetrievalResult, history: list[dict] | None = None) -> list[dict]:
    """Chat messages for the backend. Gemma has no system role, so context and instructions lead the
    user turn; the question comes last, right before the answer."""
    prompt = f"{context_block(r)}\n\n{INSTRUCTIONS}\n\nQuestion: {question}\nAnswer:"
    return [*(history or []), {"role": "user", "content": prompt}]


def citations(r: RetrievalResult) -> list[dict]:
    return [{"n": i, "chunk_id": c.chunk.id, "doc_id": c.chunk.doc_id, "title": c.chunk.title, "uri": c.chunk.uri,
             "score": round(c.score, 5), "sources": c.sources} for i, c in enumerate(r.chunks, 1)]


def facts(r: RetrievalResult) -> list[dict]:
    return [{"subject": f.subject, "relation": f.relation, "object": f.object, "weight": round(f.weight, 4),
             "evidence_chunk": f.evidence_chunk} for f in r.facts]
