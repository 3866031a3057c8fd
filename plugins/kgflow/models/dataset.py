"""Training set from the knowledge base: grounded question/answer pairs from typed graph facts.

Each typed (subject-verb-object) fact gives two questions, one answered by its object and one by its
subject. Each question is then asked through retrieval and prompted exactly as the gateway prompts it
(kgflow.llm.prompts.build_prompt, for the configured model kind); the target completion is the answer
entity and the number of the source that evidences it. A refreshed model so learns to answer from
the facts and sources in the form the gateway reads. Text comes from masked chunks; no PII can enter.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, replace

from kgflow.nlp.pii import mask_pii
from kgflow.retrieval.graph_view import GraphView

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
COMPLETION_END = {"base": "\n\n", "chat": "<end_of_turn>\n"}  # what the prompt kind stops at


@dataclass(frozen=True)
class Example:
    question: str
    context: str  # the sentence that evidences the fact
    expected: str  # the entity a correct answer names
    evidence_chunk: str
    split: str  # train | heldout
    prompt: str = ""  # the text the model reads (set by `ground`)
    completion: str = ""  # what it should write


def _evidence_sentence(text: str, a: str, b: str) -> str | None:
    for sent in _SENTENCE.split(text):
        if a.lower() in sent.lower() and b.lower() in sent.lower():
            return sent.strip()
    return None


def _split(subject: str, obj: str, heldout_every: int) -> str:
    h = int(hashlib.sha1(f"{subject}|{obj}".encode()).hexdigest(), 16)
    return "heldout" if h % heldout_every == 0 else "train"


def third_person(verb_phrase: str) -> str:
    """'lead' -> 'leads', 'headquarter in' -> 'headquarters in', 'supply' -> 'supplies'."""
    verb, _, rest = verb_phrase.partition(" ")
    if re.search(r"(s|sh|ch|x|z)$", verb):
        verb += "es"
    elif re.search(r"[^aeiou]y$", verb):
        verb = verb[:-1] + "ies"
    else:
        verb += "s"
    return f"{verb} {rest}".strip()


def questions_for(subject: str, relation: str, obj: str) -> list[tuple[str, str]]:
    """(question, expected entity): one asking for the object, one for the subject."""
    verb = relation.replace("_", " ")
    return [(f"Which entity does {subject} {verb}?", obj), (f"Who or what {third_person(verb)} {obj}?", subject)]


def build_examples(view: GraphView, heldout_every: int = 4) -> list[Example]:
    """Two questions per typed fact with an evidence sentence; a fact's questions share a split."""
    seen: set[str] = set()
    out: list[Example] = []
    for edges in view.adjacency.values():
        for e in edges:
            if e.type == "co_occurs" or e.chunk not in view.chunks:
                continue
            s, o = view.names[e.src], view.names[e.dst]
            sentence = _evidence_sentence(view.chunks[e.chunk].text, s, o)
            if sentence is None:
                continue
            split = _split(s, o, heldout_every)
            for q, expected in questions_for(s, e.type, o):
                if q not in seen:
                    seen.add(q)
                    out.append(Example(q, mask_pii(sentence)[0], expected, e.chunk, split))
    return sorted(out, key=lambda x: (x.split, x.question))


def ground(examples: list[Example], engine, kind: str) -> list[Example]:
    """Prompt each question as the gateway would and set the completion: the entity, then the number of
    the evidence source when retrieval brought it."""
    from kgflow.llm.prompts import build_prompt
    from kgflow.llm.transformers_local import prompt_text

    out = []
    for ex in examples:
        r = engine.retrieve(ex.question)
        ids = [c.chunk.id for c in r.chunks]
        cite = f" [{ids.index(ex.evidence_chunk) + 1}]" if ex.evidence_chunk in ids else ""
        lead = " " if kind == "base" else ""  # a completion continues "Answer:" after a space
        out.append(replace(ex, prompt=prompt_text(build_prompt(ex.question, r, kind)),
                           completion=f"{lead}{ex.expected}{cite}{COMPLETION_END[kind]}"))
    return out


def to_records(examples: list[Example]) -> list[dict]:
    return [asdict(x) for x in examples]
