"""Entity linking for questions: the ingestion pipeline's spaCy (with the glossary) and normaliser, then
exact, alias, lemma and fuzzy matching against the graph's entity and concept names, weighted by how
specific each entity is in this corpus (a word most chunks mention is no seed)."""

from __future__ import annotations

import math

from rapidfuzz import fuzz, process

from kgflow.nlp.concepts import concept_name
from kgflow.nlp.normalize import canonical_key
from kgflow.nlp.pipeline import load_nlp
from kgflow.retrieval.graph_view import GraphView

FUZZY_CUTOFF = 88


def parse_question(question: str, glossary_dir: str | None = None):
    return load_nlp(glossary_dir)(question)


def link_entities(doc, view: GraphView, max_ngram: int = 4) -> dict[str, float]:
    """Entity id -> confidence (1.0 exact, alias or lemma; fuzzy score / 100 otherwise)."""
    linked: dict[str, float] = {}
    words = [t for t in doc if not t.is_punct]
    # every word n-gram: catches names spaCy's small model misses in a short question
    for n in range(max_ngram, 0, -1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if n == 1 and (gram[0].is_stop or len(gram[0].text) < 3):
                continue
            if gram[0].is_stop or gram[-1].is_stop:
                continue
            for key in {canonical_key(" ".join(t.text for t in gram)), canonical_key(concept_name(gram))}:
                eid = view.by_key.get(key)
                if eid:
                    linked[eid] = 1.0
    for span in list(doc.ents) + list(doc.noun_chunks):
        key = canonical_key(span.text)
        if not key or key in view.by_key or len(key) < 6:
            continue
        if any(t.is_upper and len(t) > 1 for t in span):
            continue  # acronyms differ by one letter (BCC, BCG): a near miss is another thing entirely
        hit = process.extractOne(key, view.near_keys(key), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if hit:
            eid = view.by_key[hit[0]]
            linked[eid] = max(linked.get(eid, 0.0), hit[1] / 100.0)
    return linked


def specificity(view: GraphView, entity_id: str) -> float:
    """IDF of the entity over chunks, scaled to [0, 1]: 1 for a one-chunk entity, 0 for one in every chunk."""
    n = max(2, len(view.chunks))
    df = max(1, view.df(entity_id))
    return max(0.0, math.log(n / df) / math.log(n))


GENERIC_MIN_CHUNKS = 10  # in a small corpus a few mentions are a large share: not yet a generic word


def weighted_seeds(doc, view: GraphView, departments: frozenset[str] | None, max_df: float) -> dict[str, float]:
    """Linked entities the caller may read about, each weighted by link confidence x specificity;
    entities mentioned in more than `max_df` of all chunks (and in more than GENERIC_MIN_CHUNKS) are
    dropped: they would pull in everything."""
    limit = max(max_df * len(view.chunks), GENERIC_MIN_CHUNKS)
    out = {}
    for eid, conf in link_entities(doc, view).items():
        if view.df(eid) > limit or not view.readable(eid, departments):
            continue
        out[eid] = conf * specificity(view, eid)
    return out
