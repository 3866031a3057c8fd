"""Domain-agnostic concepts from spaCy's parse, no LLM: noun phrases, acronyms joined to their long
forms, and honest labels for what the small NER model gets wrong on non-news text.

- A concept is a noun phrase (spaCy's noun_chunks) trimmed of determiners, pronouns, numbers and
  vague modifiers ("other", "many", "best"), at most four words, named by its lemmatised head
  ("histological layers" -> "histological layer"). Its label is CONCEPT.
- "acute myeloid leukemia (AML)" defines AML within the document: every later "AML" is a mention of
  the long form, and the long form's entity carries the acronym as an alias.
- An NER span written in lower case ("surgery" as PERSON, "lymphoma" as GPE) is a concept, and a
  lone adjective ("Ovarian" as NORP) is no entity at all.

Which concepts matter is decided later, over the whole corpus (specificity at query time), not here.
"""

from __future__ import annotations

import re

CONCEPT = "CONCEPT"
MAX_WORDS = 4
# Vague English modifiers: they make "other treatments" a different phrase from "treatments".
_VAGUE = frozenset("""other another many much more most some any such certain several various new old best
better good great main major minor different same own common usual specific possible particular
following further additional overall whole entire general certain typical real key important""".split())
_ACRONYM = re.compile(r"^[A-Z][A-Za-z0-9-]{1,9}$")


def _trim(tokens: list) -> list:
    tokens = list(tokens)
    while tokens and (tokens[0].pos_ in ("DET", "PRON", "NUM", "PUNCT", "CCONJ", "PART", "ADP")
                      or tokens[0].is_stop or tokens[0].lower_ in _VAGUE or not tokens[0].is_alpha):
        tokens.pop(0)
    while tokens and (tokens[-1].pos_ == "PUNCT" or not tokens[-1].is_alpha):
        tokens.pop()
    if len(tokens) > MAX_WORDS:
        tokens = tokens[-MAX_WORDS:]
    return tokens


def concept_name(tokens) -> str:
    """Lower-cased words with the head lemmatised; proper nouns keep their case."""
    words = [t.text if t.pos_ == "PROPN" else t.lower_ for t in tokens[:-1]]
    head = tokens[-1]
    words.append(head.text if head.pos_ == "PROPN" else (head.lemma_ or head.text).lower())
    return " ".join(words)


def concept_spans(doc, taken: set[int]) -> list:
    """Noun-phrase concept spans (spaCy Spans labelled CONCEPT) not overlapping token indices `taken`."""
    from spacy.tokens import Span

    out = []
    for nc in doc.noun_chunks:
        for part in _parts(nc, taken):
            tokens = _trim(part)
            if not tokens or tokens[-1].pos_ not in ("NOUN", "PROPN"):
                continue
            if all(t.is_stop for t in tokens):
                continue
            if len(tokens) == 1 and len(tokens[0].text) < 3:
                continue
            out.append(Span(doc, tokens[0].i, tokens[-1].i + 1, label=CONCEPT))
    return out


def _parts(span, taken: set[int]) -> list[list]:
    """'chemotherapy and radiation therapy' -> two phrases; a phrase also ends at brackets and at tokens
    another entity already claimed ('acute myeloid leukemia (AML)' keeps 'acute myeloid leukemia')."""
    parts, cur = [], []
    for t in span:
        if t.pos_ == "CCONJ" or t.text in (",", ";", "/", "(", ")", "[", "]") or t.i in taken:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return [p for p in parts if p]


def acronym_definitions(doc) -> dict[str, tuple[int, int]]:
    """'long form (ACR)' -> {ACR: (start, end) of the long form}: the acronym's letters must be the
    initials of the words before the parenthesis, in order (Schwartz & Hearst's rule, simplified)."""
    out: dict[str, tuple[int, int]] = {}
    for t in doc:
        if t.text != "(" or t.i + 2 >= len(doc) or doc[t.i + 2].text != ")":
            continue
        acr = doc[t.i + 1].text
        if not _ACRONYM.match(acr) or sum(c.isupper() for c in acr) < 2:
            continue
        letters = [c.lower() for c in acr if c.isalpha()]
        start = _long_form_start(doc, t.i, letters)
        if start is not None:
            out.setdefault(acr, (start, t.i))
    return out


def _long_form_start(doc, paren: int, letters: list[str]) -> int | None:
    """Walk back from the parenthesis matching initials from the acronym's last letter; stop words
    ("of", "the") may sit between. None unless every letter is matched."""
    need = list(letters)
    i = paren - 1
    limit = max(0, paren - len(letters) - 3)
    while i >= limit and need:
        tok = doc[i]
        if not tok.is_alpha:
            return None
        if tok.lower_[0] == need[-1]:
            need.pop()
        elif not tok.is_stop:
            return None
        i -= 1
    return None if need else i + 1


def is_honest_entity(span) -> bool:
    """False for a lone adjective the NER model took for a nationality or group ('Ovarian' as NORP)."""
    return not (len(span) == 1 and span[0].pos_ == "ADJ")


def is_lowercase_span(span) -> bool:
    """'surgery' labelled PERSON: a name is capitalised; a span in lower case is a concept."""
    return all(t.is_lower or not t.is_alpha for t in span)
