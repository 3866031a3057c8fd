"""Grounded prompts, one builder for every route, the training set and the model gate.

The model kind (config `llm_model_kind`, recorded in the registry) decides the form:
- `chat`: an instruction-tuned model gets chat messages (its server applies the template); retrieved
  text is quoted data inside <document> tags, never instructions.
- `base`: a pre-trained model continues text; told what to do it rambles. It gets a completion prompt:
  worked examples, then the facts, numbered sources and `Question: ... Answer:`, cut by stop sequences
  at the next block. The examples are invented and domain-free: they teach the form, not the content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from kgflow.llm.instructions import INSTRUCTIONS
from kgflow.retrieval.types import Fact, RetrievalResult

ModelKind = Literal["base", "chat"]
MODEL_KINDS: tuple[str, ...] = ("base", "chat")

# A base model keeps writing new blocks; stop where the next one would start (4 at most: TGI's limit).
BASE_STOP = ("\n\n", "\nQuestion:", "\n[", "\nFacts:")
CHAT_STOP = ("\nQuestion:", "<end_of_turn>")
_TAG = re.compile(r"</?\s*document[^>]*>", re.I)
_MARKER = re.compile(r"\b(Question|Answer|Facts|Sources)\s*:", re.I)
_SPACE = re.compile(r"\s+")
# A small base model loses the thread in long text: the best sources, each cut short. The packaged 270M
# model answered 18 of 26 sample questions with 3 sources of 400 characters vs 17 with 6 of 600
# (bench/answer_bench.py); the citations still list every retrieved chunk, numbered the same way.
BASE_SOURCES = 3
SOURCE_CHARS = 400

BASE_HEADER = ("Each answer is the shortest phrase from the facts and sources that answers the question, "
               "then the number of the source it comes from. When they do not answer it, the answer is "
               "\"I do not know\".")
# Invented names and a generic setting: the examples show a direct answer and a two-step chain through
# the facts. A third one that refused made the packaged 270M model refuse 11 of 26 sample questions
# (bench/answer_bench.py); without it, it refuses none.
BASE_EXAMPLES = """Facts:
- Ilse Varga manage Lumen Works.
- Lumen Works base in Tarvo.
Sources:
[1] Ilse Varga manages Lumen Works. The workshop opens at nine.
[2] Lumen Works is based in Tarvo.
Question: Who manages Lumen Works?
Answer: Ilse Varga [1]

Facts:
- Orrin Labs make Quill Reader.
- Dana Holt found Orrin Labs.
Sources:
[1] Quill Reader is made by Orrin Labs, a small hardware firm.
[2] Dana Holt founded Orrin Labs and still runs it.
Question: Who founded the company that makes Quill Reader?
Answer: Dana Holt [2]"""


@dataclass(frozen=True)
class Prompt:
    """What a backend is sent: one completion text (base) or chat messages (chat), with its stops."""

    kind: ModelKind
    text: str = ""
    messages: tuple[dict, ...] = ()
    stop: tuple[str, ...] = field(default_factory=tuple)


def quote(text: str) -> str:
    """Neutralise our own delimiters inside document text so it cannot close its quote."""
    return _TAG.sub("[tag removed]", text)


def fact_line(f: Fact) -> str:
    return f"- {f.subject} {f.relation.replace('_', ' ')} {f.object}."


def context_block(r: RetrievalResult) -> str:
    lines = []
    if r.facts:
        lines.append("Facts from the knowledge graph:")
        lines += [fact_line(f) for f in r.facts]
    for i, c in enumerate(r.chunks, 1):
        lines.append(f'<document n="{i}" title="{quote(c.chunk.title)}">\n{quote(c.chunk.text)}\n</document>')
    return "\n".join(lines)


def _flat(text: str, limit: int | None = None) -> str:
    """One line, without block markers: a source cannot start a block of its own in a completion prompt."""
    text = _MARKER.sub(lambda m: m.group(1), _SPACE.sub(" ", text)).strip()
    return text if limit is None or len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def shown_sources(r: RetrievalResult, n: int) -> list[tuple[int, str]]:
    """The n sources a short prompt shows, by citation number: the graph answer's hops first (the model
    should read what the path rests on), then the best ranked; each keeps its number in the citations."""
    on_path = {c.id for c in r.answer.evidence} if r.answer else set()
    first = sorted(enumerate(r.chunks, 1), key=lambda x: x[1].chunk.id not in on_path)[:n]  # stable sort
    return sorted((i, c.chunk.text) for i, c in first)


def completion_text(question: str, r: RetrievalResult, history: list[dict] | None = None) -> str:
    lines = [BASE_HEADER, "", BASE_EXAMPLES, "", "Facts:"]
    lines += [fact_line(f) for f in r.facts]
    lines.append("Sources:")
    lines += [f"[{i}] {_flat(text, SOURCE_CHARS)}" for i, text in shown_sources(r, BASE_SOURCES)]
    for m in history or []:  # earlier turns of a chat, as earlier questions and answers
        lines.append(f"{'Question' if m['role'] == 'user' else 'Answer'}: {_flat(m['content'])}")
    lines += [f"Question: {_flat(question)}", "Answer:"]
    return "\n".join(lines)


def grounded_messages(question: str, r: RetrievalResult, history: list[dict] | None = None) -> list[dict]:
    """Chat messages. Gemma has no system role, so context and instructions lead the user turn; the
    question comes last, right before the answer."""
    prompt = f"{context_block(r)}\n\n{INSTRUCTIONS}\n\nQuestion: {question}\nAnswer:"
    return [*(history or []), {"role": "user", "content": prompt}]


def build_prompt(question: str, r: RetrievalResult, kind: ModelKind, history: list[dict] | None = None) -> Prompt:
    if kind == "base":
        return Prompt("base", text=completion_text(question, r, history), stop=BASE_STOP)
    if kind == "chat":
        return Prompt("chat", messages=tuple(grounded_messages(question, r, history)), stop=CHAT_STOP)
    raise ValueError(f"unknown model kind {kind!r}: one of {', '.join(MODEL_KINDS)}")
