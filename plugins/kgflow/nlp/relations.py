"""Relation extraction: dependency subject-verb-object triples and weighted same-sentence co-occurrence."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

CO_OCCURS = "co_occurs"
SVO_WEIGHT = 1.0
_SUBJ = {"nsubj", "nsubjpass"}
_OBJ = {"dobj", "attr", "obj", "dative", "oprd"}
_FINITE = {"VBZ", "VBD", "VBP"}


@dataclass(frozen=True)
class Triple:
    src: int  # index into the sentence's entity list
    dst: int
    type: str
    weight: float


def _entity_of(token, spans) -> int | None:
    for i, span in enumerate(spans):
        if span.start <= token.i < span.end:
            return i
    return None


def _head_entity(token, spans) -> int | None:
    """Entity a token belongs to, also via compound/appos/conj chains (e.g. 'the contract with X')."""
    i = _entity_of(token, spans)
    if i is not None:
        return i
    for child in token.subtree:
        i = _entity_of(child, spans)
        if i is not None:
            return i
    return None


def svo_triples(sent, spans) -> list[Triple]:
    """For each verb: an entity subject, and an entity object (direct or via one preposition)."""
    out: list[Triple] = []
    for verb in sent:
        if verb.pos_ not in ("VERB", "AUX"):
            continue
        subjects = [c for c in verb.children if c.dep_ in _SUBJ]
        if subjects:
            s = _entity_of(subjects[0], spans)
        elif verb.tag_ in _FINITE and verb.i > sent.start:
            # the small parser sometimes misreads "Project Meridian builds Harbor OS" (Meridian as a modifier
            # of "builds", no subject): an entity that ends right before a finite verb is its subject
            s = _entity_of(verb.doc[verb.i - 1], spans)
        else:
            continue
        if s is None:
            continue
        candidates: list[tuple[str, object]] = []
        for c in verb.children:
            if c.dep_ in _OBJ:
                candidates.append((verb.lemma_.lower(), c))
                # "negotiated the contract with X": object's preposition carries the entity
                for p in c.children:
                    if p.dep_ == "prep":
                        candidates += [(verb.lemma_.lower(), o) for o in p.children if o.dep_ == "pobj"]
            elif c.dep_ in ("prep", "agent"):
                candidates += [(f"{verb.lemma_.lower()}_{c.lemma_.lower()}", o)
                               for o in c.children if o.dep_ == "pobj"]
        for rel_type, obj in candidates:
            o = _head_entity(obj, spans)
            if o is not None and o != s:
                out.append(Triple(s, o, rel_type, SVO_WEIGHT))
                break
    return out


MAX_GAP = 20  # tokens: concepts make long sentences dense with mentions; far-apart pairs say little


def cooccurrence(spans) -> list[Triple]:
    """Pairs in one sentence at most MAX_GAP tokens apart; closer pairs weigh more (1 / (1 + gap / 10))."""
    out = []
    for (i, a), (j, b) in combinations(enumerate(spans), 2):
        gap = max(0, b.start - a.end) if a.start <= b.start else max(0, a.start - b.end)
        if gap > MAX_GAP:
            continue
        out.append(Triple(i, j, CO_OCCURS, round(1.0 / (1.0 + gap / 10.0), 4)))
    return out
