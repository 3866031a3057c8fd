"""Entity linking for questions: the ingestion pipeline's NER and normaliser, then exact, alias and
fuzzy matching against the graph's entity names."""

from __future__ import annotations

from rapidfuzz import fuzz, process

from kgflow.nlp.normalize import canonical_key
from kgflow.nlp.pipeline import load_nlp
from kgflow.retrieval.graph_view import GraphView

FUZZY_CUTOFF = 88


def parse_question(question: str):
    return load_nlp()(question)


def link_entities(doc, view: GraphView, max_ngram: int = 4) -> dict[str, float]:
    """Entity id -> confidence (1.0 exact or alias, fuzzy score / 100 otherwise) for a parsed question."""
    linked: dict[str, float] = {}
    words = [t for t in doc if not t.is_punct]
    # every word n-gram: catches names spaCy's small model misses in a short question
    for n in range(max_ngram, 0, -1):
        for i in range(len(words) - n + 1):
            gram = words[i:i + n]
            if n == 1 and (gram[0].is_stop or len(gram[0].text) < 3):
                continue
            eid = view.by_key.get(canonical_key(" ".join(t.text for t in gram)))
            if eid:
                linked[eid] = 1.0
    keys = list(view.by_key)
    for span in list(doc.ents) + list(doc.noun_chunks):
        key = canonical_key(span.text)
        if not key or key in view.by_key or len(key) < 4 or not keys:
            continue
        hit = process.extractOne(key, keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
        if hit:
            eid = view.by_key[hit[0]]
            linked[eid] = max(linked.get(eid, 0.0), hit[1] / 100.0)
    return linked
