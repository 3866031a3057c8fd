"""Per-chunk extraction: entity and concept mentions (normalised) and relations, as plain rows for Spark.

Entities come from spaCy's NER (plus the EntityRuler's patterns and the user's glossary); concepts from
its parse (kgflow.nlp.concepts). Both become graph entities; relations come from the dependency parse
(subject-verb-object) and from same-sentence co-occurrence.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from kgflow.ids import stable_id
from kgflow.nlp.concepts import (
    CONCEPT,
    acronym_definitions,
    concept_name,
    concept_spans,
    is_honest_entity,
    is_lowercase_span,
)
from kgflow.nlp.normalize import entity_id, surface_form
from kgflow.nlp.pipeline import kept_labels, load_nlp
from kgflow.nlp.relations import CO_OCCURS, cooccurrence, svo_triples


@dataclass(frozen=True)
class Mention:
    span: object  # spaCy Span: start/end for relations
    entity: str  # the name the entity id derives from (an acronym's long form)
    surface: str  # how this chunk wrote it (an alias of the entity)
    label: str

    @property
    def start(self) -> int:
        return self.span.start

    @property
    def end(self) -> int:
        return self.span.end


def is_entity_text(text: str, max_chars: int) -> bool:
    """A bound enforced where entities are produced: no empty, letterless or over-long names (one
    800 KB token is not an entity), so no document can fail the run's validation with them."""
    s = surface_form(text)
    return bool(s) and len(s) <= max_chars and any(c.isalpha() for c in s)


def _resolve_short_names(docs: list) -> dict[str, str]:
    """Within one document, a lone surname ('Okafor') maps to the full PERSON name ('David Okafor')."""
    full = {}
    for doc in docs:
        for sp in doc.ents:
            if sp.label_ == "PERSON" and len(sp) >= 2:
                full.setdefault(sp[-1].text.casefold(), surface_form(sp.text))
    return full


def _acronyms(docs: list) -> dict[str, str]:
    """ACR -> long-form concept name, from every 'long form (ACR)' in the document."""
    out: dict[str, str] = {}
    for doc in docs:
        for acr, (start, end) in acronym_definitions(doc).items():
            tokens = list(doc[start:end])
            if tokens:
                out.setdefault(acr, concept_name(tokens))
    return out


def _glossary_name(span) -> str | None:
    """A glossary synonym's canonical term (EntityRuler pattern id), if the span came from one."""
    return span.ent_id_ or None


def _mentions(doc, keep: frozenset[str], max_chars: int, short: dict[str, str], acronyms: dict[str, str]) -> list:
    out: list[Mention] = []
    taken: set[int] = set()
    for sp in doc.ents:
        if sp.label_ not in keep and not _glossary_name(sp) or not is_entity_text(sp.text, max_chars):
            continue
        surface = surface_form(sp.text)
        if sp.text in acronyms:
            m = Mention(sp, acronyms[sp.text], sp.text, CONCEPT)
        elif _glossary_name(sp):
            m = Mention(sp, _glossary_name(sp), surface, sp.label_)
        elif not is_honest_entity(sp):
            continue
        elif is_lowercase_span(sp):
            m = Mention(sp, concept_name(list(sp)), surface, CONCEPT)
        else:
            name = short.get(surface.casefold(), surface) if sp.label_ in ("PERSON", "ORG") and len(sp) == 1 \
                else surface
            m = Mention(sp, name, surface, sp.label_)
        out.append(m)
        taken.update(range(sp.start, sp.end))
    for sp in concept_spans(doc, taken):
        if not is_entity_text(sp.text, max_chars):
            continue
        name = acronyms.get(sp.text) or concept_name(list(sp))
        out.append(Mention(sp, name, surface_form(sp.text), CONCEPT))
    # the bound the entities suite checks is kept here, where names are made: every surface a mention row can
    # carry (and so every entity name and alias) is 1..max_chars characters with a letter in it
    return sorted((m for m in out if len(m.surface) <= max_chars and is_entity_text(m.surface, max_chars)),
                  key=lambda m: m.start)


def extract_chunks(rows: Iterable[dict], batch_size: int = 64, max_entity_chars: int = 120,
                   glossary_dir: str | None = None) -> Iterator[tuple[str, dict]]:
    """rows: dicts with chunk_id, doc_id, text, in document order. Yields ('mention'|'relation', row)."""
    nlp = load_nlp(glossary_dir)
    keep = kept_labels()
    rows = list(rows)
    docs = list(nlp.pipe((r["text"] for r in rows), batch_size=batch_size))
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_doc[r["doc_id"]].append(i)
    for doc_id, idxs in by_doc.items():
        doc_docs = [docs[i] for i in idxs]
        short, acronyms = _resolve_short_names(doc_docs), _acronyms(doc_docs)
        for i in idxs:
            chunk_id = rows[i]["chunk_id"]
            mentions = _mentions(docs[i], keep, max_entity_chars, short, acronyms)
            # one mention row per (chunk, entity), whatever surface forms the chunk used
            counts: Counter[str] = Counter()
            surfaces: dict[str, Counter[str]] = defaultdict(Counter)
            labels: dict[str, str] = {}
            for m in mentions:
                eid = entity_id(m.entity)
                counts[eid] += 1
                surfaces[eid][m.surface] += 1
                labels.setdefault(eid, m.label)
            for eid, n in counts.items():
                yield "mention", {"chunk_id": chunk_id, "doc_id": doc_id, "entity_id": eid,
                                  "name": surfaces[eid].most_common(1)[0][0], "label": labels[eid], "count": n}
            yield from _relations(docs[i], mentions, chunk_id, doc_id)


def _relations(doc, mentions: list[Mention], chunk_id: str, doc_id: str) -> Iterator[tuple[str, dict]]:
    rel_weights: dict[tuple[str, str, str], float] = defaultdict(float)
    for sent in doc.sents:
        in_sent = [m for m in mentions if m.start >= sent.start and m.end <= sent.end]
        if len(in_sent) < 2:
            continue
        ids = [entity_id(m.entity) for m in in_sent]
        # named entities get their subject-verb-object triples first: a concept in the same clause
        # ("... for vessel tracking") must not take the object slot from the organisation or product
        named = [i for i, m in enumerate(in_sent) if m.label != CONCEPT]
        svo = [t.__class__(named[t.src], named[t.dst], t.type, t.weight)
               for t in svo_triples(sent, [in_sent[i] for i in named])]
        svo_pairs = {frozenset((ids[t.src], ids[t.dst])) for t in svo}
        svo_subjects = {(t.src, t.type) for t in svo}
        svo += [t for t in svo_triples(sent, in_sent)
                if frozenset((ids[t.src], ids[t.dst])) not in svo_pairs and (t.src, t.type) not in svo_subjects]
        svo_pairs = {frozenset((ids[t.src], ids[t.dst])) for t in svo}
        for t in svo:
            rel_weights[(ids[t.src], ids[t.dst], t.type)] += t.weight
        for t in cooccurrence(in_sent):
            a, b = sorted((ids[t.src], ids[t.dst]))
            if a != b and frozenset((a, b)) not in svo_pairs:
                rel_weights[(a, b, CO_OCCURS)] += t.weight
    for (src, dst, rtype), w in rel_weights.items():
        if src == dst:
            continue
        yield "relation", {"rel_id": stable_id("rel", src, dst, rtype, chunk_id), "src": src, "dst": dst,
                           "type": rtype, "weight": round(w, 4), "evidence_chunk": chunk_id, "doc_id": doc_id}
