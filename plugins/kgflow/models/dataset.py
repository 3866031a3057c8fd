"""Training set from the knowledge base: grounded question/answer pairs from graph facts and the
chunks that evidence them. Text is the masked chunk text; no PII can enter."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

from kgflow.nlp.pii import mask_pii
from kgflow.retrieval.graph_view import GraphView

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
RELATION_QUESTION = "What is the relation between {subject} and {object}?"  # one per fact


@dataclass(frozen=True)
class Example:
    question: str
    context: str
    answer: str
    expected: str  # the entity a correct answer names
    split: str  # train | heldout

    @property
    def asks_relation(self) -> bool:
        return self.question.startswith(RELATION_QUESTION.split("{", 1)[0])


def _evidence_sentence(text: str, a: str, b: str) -> str | None:
    for sent in _SENTENCE.split(text):
        if a.lower() in sent.lower() and b.lower() in sent.lower():
            return sent.strip()
    return None


def _split(subject: str, obj: str, heldout_every: int) -> str:
    h = int(hashlib.sha1(f"{subject}|{obj}".encode()).hexdigest(), 16)
    return "heldout" if h % heldout_every == 0 else "train"


def build_examples(view: GraphView, heldout_every: int = 4) -> list[Example]:
    """Two questions per typed (subject-verb-object) fact; a fact's questions share a split."""
    seen: set[tuple[str, str]] = set()
    out: list[Example] = []
    for edges in view.adjacency.values():
        for e in edges:
            if e.type == "co_occurs" or e.chunk not in view.chunks:
                continue
            s, o = view.names[e.src], view.names[e.dst]
            sentence = _evidence_sentence(view.chunks[e.chunk].text, s, o)
            if sentence is None:
                continue
            context = mask_pii(sentence)[0]
            verb = e.type.replace("_", " ")
            split = _split(s, o, heldout_every)
            for q, a, expected in ((RELATION_QUESTION.format(subject=s, object=o), context, o),
                                   (f"{s} {verb} which entity?", f"{o}. {context}", o)):
                if (q, a) not in seen:
                    seen.add((q, a))
                    out.append(Example(q, context, mask_pii(a)[0], expected, split))
    return sorted(out, key=lambda x: (x.split, x.question))


def to_records(examples: list[Example]) -> list[dict]:
    return [asdict(x) for x in examples]
