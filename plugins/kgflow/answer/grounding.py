"""Grounding: the generated answer checked against the evidence kgflow already holds, with no extra model call.

Evidence in, verdict out. The evidence is what the answer was built from: the cited sources (every retrieved
chunk, numbered as the citations are) and the facts, and the graph's own answer when it has one. The method:

1. **Claims.** The names and numbers the answer states: spaCy's entities, runs of proper nouns and numbers
   (the ingestion pipeline's spaCy, with the glossary). A claim is *supported* when its words stand together
   in one source, fact or the question itself, or every one of them does (a title or a word order the answer
   changed).
2. **Agreement with the graph.** When the question asks for an entity (who, which, what, where) and the graph
   holds a complete answer (a typed path whose every hop is cited, each readable by the caller: the graph
   answer is only ever built from those; and whose entities and relations account for what the question says,
   `path_answers`), the answer must name that entity. If it does not, or it also names
   something unsupported, it is replaced by the graph's answer with the citation of the source that holds it.
3. **Refusal.** An answer with an unsupported claim and no graph answer to fall back on, or one that states
   nothing (the model's own "I do not know", a masked value alone), becomes the plain refusal
   "The sources do not say." with the closest citations. It is never a confident wrong name.
4. **Markers.** Each `[n]` must name a source that holds the claims of the words before it. One that does
   not is moved to the first source that does, or dropped; an answer with claims and no marker gets one.

Nothing here knows a corpus or a question: the same steps run on any evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from kgflow.retrieval.types import RetrievalResult

REFUSAL = "The sources do not say."
CLOSEST = 2  # citations a refusal names
Action = Literal["kept", "rewritten", "refused"]

_MARKER = re.compile(r"\s*\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_MASK = re.compile(r"\[[A-Z_]{2,}\]")  # PII placeholders ([EMAIL], [PHONE]): never an answer by themselves
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"(?<=\d)[,.](?=\d{3}\b)")  # 1,200 and 1.200 read as 1200
# the refusals the prompts teach ("I do not know") and the ones small models say instead
_DONT_KNOW = re.compile(r"\b(i (do not|don't|cannot|can't) (know|say|tell|answer)|unknown|not (stated|mentioned|"
                        r"given|specified)|no information|the sources do not say)\b", re.I)
_ENTITY_QUESTION = frozenset({"who", "whom", "whose", "which", "what", "where"})
_WH_TAGS = ("WP", "WDT", "WP$", "WRB")


@dataclass(frozen=True)
class Verdict:
    """What the check decided, for the `kgflow` extension, the metrics and the answer measure."""

    grounded: bool  # the delivered text states only what its evidence holds, and states something
    action: Action
    reason: str
    unsupported: tuple[str, ...] = ()  # the generated answer's claims no source or fact holds


@dataclass(frozen=True)
class Grounded:
    text: str
    verdict: Verdict


def words(text: str) -> list[str]:
    return _WORD.findall(_DIGITS.sub("", text.casefold()))


def _padded(text: str) -> str:
    return f" {' '.join(words(text))} "


@dataclass(frozen=True)
class Claim:
    text: str
    words: tuple[str, ...]

    def held_by(self, unit: str) -> bool:
        """`unit` padded (see _padded). The words together, or each of them when the answer reordered them."""
        return f" {' '.join(self.words)} " in unit or all(f" {w} " in unit for w in self.words)


@dataclass
class Evidence:
    """The answer's evidence, each unit normalised once: the sources by citation number, then the facts."""

    sources: dict[int, str]
    facts: list[str]
    titles: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, r: RetrievalResult, question: str = "") -> Evidence:
        """`question`: the caller's own words count as support (an answer restating the question's "BCC" did
        not invent it), though never as a source a marker may name."""
        sources = {i: _padded(f"{c.chunk.title}\n{c.chunk.text}") for i, c in enumerate(r.chunks, 1)}
        facts = [_padded(f"{f.subject} {f.relation.replace('_', ' ')} {f.object}") for f in r.facts]
        if question:
            facts.append(_padded(question))
        if r.answer is not None:
            facts += [_padded(f"{f.subject} {f.relation.replace('_', ' ')} {f.object}") for f in r.answer.path]
        return cls(sources, facts, {i: c.chunk.title for i, c in enumerate(r.chunks, 1)})

    def supports(self, claim: Claim) -> bool:
        return any(claim.held_by(u) for u in (*self.sources.values(), *self.facts))

    def first_source_holding(self, claims: list[Claim]) -> int | None:
        return next((n for n, u in self.sources.items() if all(c.held_by(u) for c in claims)), None)


def claims(doc) -> list[Claim]:
    """Names and numbers the text states: entities and proper-noun runs holding a proper noun, a capitalised
    word inside a sentence or a digit; leading articles and trailing possessives are not part of a name."""
    spans = list(doc.ents)
    covered = {t.i for e in spans for t in e}
    run: list = []
    for t in [*doc, None]:
        if t is not None and t.i not in covered and (t.pos_ == "PROPN" or t.like_num):
            run.append(t)
            continue
        if run:
            spans.append(doc[run[0].i:run[-1].i + 1])
            run = []
    out, seen = [], set()
    for span in spans:
        toks = [t for t in span if not t.is_punct and t.text.lower() not in ("'s", "’s")]
        while toks and toks[0].is_stop:
            toks = toks[1:]
        named = any(t.pos_ == "PROPN" or any(ch.isdigit() for ch in t.text)
                    or (t.text[:1].isupper() and not t.is_sent_start) for t in toks)
        # a lone letter is an enumeration ("B. Pap smears") or an initial, not a name of its own
        w = tuple(x for t in toks for x in words(t.text) if len(x) > 1 or x.isdigit())
        if named and w and w not in seen:
            seen.add(w)
            out.append(Claim(" ".join(t.text for t in toks), w))
    return out


def asks_for_entity(question_doc) -> bool:
    """A wh-question whose answer is a thing or a person (not how, why, when or yes/no)."""
    return any(t.tag_ in _WH_TAGS and t.lower_ in _ENTITY_QUESTION for t in question_doc)


def path_answers(question_doc, answer) -> bool:
    """Whether the graph's path says everything the question asks: each proper noun, verb, adjective and
    number of the question is a word of an entity or a relation on the path. Allowed uncovered: the noun a
    wh-word asks for ("which *company*": the answer's kind), dates and times (the graph does not hold them),
    and one other common noun (a hop's kind: "the *company* acquired by ..."). A path that leaves more of the
    question unexplained found an edge, not the answer."""
    on_path = set()
    for f in answer.path:
        for text in (f.subject, f.object, f.relation.replace("_", " ")):
            on_path |= set(words(text))
    asked_kind: set[int] = set()  # "which city", "what blood tests": the nouns right after the wh-word
    for t in question_doc:
        if t.tag_ in ("WDT", "WP$"):
            i = t.i + 1
            while i < len(question_doc) and question_doc[i].pos_ in ("NOUN", "ADJ", "PROPN"):
                asked_kind.add(i)
                i += 1
    timed = {t.i for e in question_doc.ents if e.label_ in ("DATE", "TIME") for t in e}
    loose_nouns = 0
    for t in question_doc:
        if t.is_stop or t.is_punct or t.pos_ in ("AUX", "DET", "ADP", "PRON", "PART", "CCONJ", "SCONJ") \
                or t.i in asked_kind or t.i in timed or t.tag_ in _WH_TAGS:
            continue
        forms = set(words(t.text)) | set(words(t.lemma_))
        if forms & on_path or not forms:
            continue
        if t.pos_ == "NOUN" and loose_nouns == 0:
            loose_nouns = 1
            continue
        return False
    return True


def _names(text: str, entity: str) -> bool:
    return f" {' '.join(words(entity))} " in _padded(text)


def refusal(ev: Evidence) -> str:
    closest = "; ".join(f"[{n}] {ev.titles[n]}" for n in list(ev.titles)[:CLOSEST])
    return f"{REFUSAL} The closest sources: {closest}." if closest else REFUSAL


def is_refusal(text: str) -> bool:
    return text.startswith(REFUSAL)


def _segments(text: str) -> list[tuple[str, list[int]]]:
    """The text cut after each run of markers: (words before it, the marker numbers); the tail has none."""
    out, pos = [], 0
    for m in _MARKER.finditer(text):
        out.append((text[pos:m.start()], [int(x) for x in m.group(1).split(",")]))
        pos = m.end()
    out.append((text[pos:], []))
    return out


def repoint_markers(text: str, ev: Evidence, nlp) -> str:
    """Each marker names a source holding the claims before it (since the previous marker), or is dropped;
    a cited answer's claims without any marker get the first source that holds them all."""
    parts, any_marker = [], False
    for words_before, numbers in _segments(text):
        cl = claims(nlp(words_before)) if words_before.strip() else []
        kept: list[int] = []
        for n in numbers:
            if n in ev.sources and all(c.held_by(ev.sources[n]) for c in cl):
                kept.append(n)
            else:
                better = ev.first_source_holding(cl) if cl else None
                if better is not None:
                    kept.append(better)
        kept = list(dict.fromkeys(kept))
        any_marker |= bool(kept)
        parts.append(words_before.rstrip() + "".join(f" [{n}]" for n in kept) if kept else words_before)
    out = "".join(parts).strip()
    if not any_marker:
        cl = claims(nlp(out))
        n = ev.first_source_holding(cl) if cl else None
        if n is not None:
            out = f"{out.rstrip(' .')} [{n}]"
    return out


def _stated(text: str, nlp) -> tuple[str, bool, list[Claim]]:
    """The text without markers and masks, whether it says anything, and its claims."""
    bare = _MASK.sub(" ", _MARKER.sub(" ", text)).strip()
    said = bool(words(bare)) and not _DONT_KNOW.search(bare)
    return bare, said, claims(nlp(bare)) if said else []


def unsupported_claims(text: str, r: RetrievalResult, nlp, question: str = "") -> tuple[str, ...]:
    ev = Evidence.of(r, question)
    return tuple(c.text for c in _stated(text, nlp)[2] if not ev.supports(c))


def ground(question_doc, text: str, r: RetrievalResult, nlp) -> Grounded:
    """The delivered answer for the generated `text` (PII already masked) and its verdict."""
    ev = Evidence.of(r, question_doc.text)
    bare, said, stated = _stated(text, nlp)
    unsupported = tuple(c.text for c in stated if not ev.supports(c))
    graph = r.answer if r.answer is not None and asks_for_entity(question_doc) \
        and path_answers(question_doc, r.answer) else None
    cited = {c.chunk.id for c in r.chunks}
    if graph is not None and not all(c.id in cited for c in graph.evidence):
        graph = None  # a hop whose source is not among the citations: the graph answer is not complete

    if graph is not None:
        if said and not unsupported and _names(bare, graph.entity):
            return Grounded(repoint_markers(text, ev, nlp), Verdict(True, "kept", "agrees with the graph's answer "
                                                                    f"{graph.entity!r}"))
        holder = ev.first_source_holding([Claim(graph.entity, tuple(words(graph.entity)))])
        n = holder or next(i for i, c in enumerate(r.chunks, 1) if c.chunk.id == graph.evidence[-1].id)
        why = (f"named {', '.join(map(repr, unsupported))}, which no cited source or fact holds" if unsupported
               else "did not answer" if not said else f"did not name {graph.entity!r}")
        return Grounded(f"{graph.entity} [{n}]", Verdict(True, "rewritten", f"the generated answer {why}; the "
                                                         "graph's answer, every hop cited, replaces it",
                                                         unsupported))
    if not said:
        return Grounded(refusal(ev), Verdict(False, "refused", "the generated answer stated nothing the sources "
                                             "answer the question with"))
    if unsupported:
        return Grounded(refusal(ev), Verdict(False, "refused", f"the generated answer named "
                                             f"{', '.join(map(repr, unsupported))}, which no cited source or "
                                             "fact holds", unsupported))
    return Grounded(repoint_markers(text, ev, nlp), Verdict(True, "kept", "every name and number it states is "
                                                            "in its cited sources or facts"))
