"""Per-chunk extraction: entity mentions (normalised) and relations, as plain rows for Spark."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from kgflow.ids import stable_id
from kgflow.nlp.normalize import canonical_key, entity_id, surface_form
from kgflow.nlp.pipeline import kept_labels, load_nlp
from kgflow.nlp.relations import CO_OCCURS, cooccurrence, svo_triples


def _resolve_short_names(spans_by_chunk: list[list]) -> dict[str, str]:
    """Within one document, a lone surname ('Okafor') maps to the full PERSON name ('David Okafor')."""
    full = {}
    for spans in spans_by_chunk:
        for sp in spans:
            if sp.label_ == "PERSON" and len(sp) >= 2:
                full.setdefault(sp[-1].text.casefold(), surface_form(sp.text))
    return full


def is_entity_text(text: str, max_chars: int) -> bool:
    """A bound enforced where entities are produced: no empty, letterless or over-long names (one
    800 KB token is not an entity), so no document can fail the run's validation with them."""
    s = surface_form(text)
    return bool(s) and len(s) <= max_chars and any(c.isalpha() for c in s)


def extract_chunks(rows: Iterable[dict], batch_size: int = 64,
                   max_entity_chars: int = 120) -> Iterator[tuple[str, dict]]:
    """rows: dicts with chunk_id, doc_id, text, in document order. Yields ('mention'|'relation', row)."""
    nlp = load_nlp()
    keep = kept_labels()
    rows = list(rows)
    docs = list(nlp.pipe((r["text"] for r in rows), batch_size=batch_size))
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_doc[r["doc_id"]].append(i)
    for doc_id, idxs in by_doc.items():
        spans_by_chunk = [[e for e in docs[i].ents if e.label_ in keep and is_entity_text(e.text, max_entity_chars)]
                          for i in idxs]
        short = _resolve_short_names(spans_by_chunk)

        def name_of(span, short: dict[str, str] = short) -> str:
            s = surface_form(span.text)
            if span.label_ in ("PERSON", "ORG") and len(span) == 1 and s.casefold() in short:
                return short[s.casefold()]
            return s

        for i, spans in zip(idxs, spans_by_chunk, strict=True):
            chunk_id = rows[i]["chunk_id"]
            counts: Counter[str] = Counter()
            surfaces: dict[str, Counter[str]] = defaultdict(Counter)
            labels: dict[str, str] = {}
            for sp in spans:
                name = name_of(sp)
                key = canonical_key(name)
                counts[key] += 1
                surfaces[key][name] += 1
                labels.setdefault(key, sp.label_)
            # one mention row per (chunk, entity), whatever surface forms the chunk used
            for key, n in counts.items():
                name = surfaces[key].most_common(1)[0][0]
                yield "mention", {"chunk_id": chunk_id, "doc_id": doc_id, "entity_id": entity_id(name),
                                  "name": name, "label": labels[key], "count": n}
            rel_weights: dict[tuple[str, str, str], float] = defaultdict(float)
            for sent in docs[i].sents:
                sent_spans = [sp for sp in spans if sp.start >= sent.start and sp.end <= sent.end]
                if len(sent_spans) < 2:
                    continue
                ids = [entity_id(name_of(sp)) for sp in sent_spans]
                svo = svo_triples(sent, sent_spans)
                svo_pairs = {frozenset((ids[t.src], ids[t.dst])) for t in svo}
                for t in svo:
                    rel_weights[(ids[t.src], ids[t.dst], t.type)] += t.weight
                for t in cooccurrence(sent_spans):
                    a, b = sorted((ids[t.src], ids[t.dst]))
                    if a != b and frozenset((a, b)) not in svo_pairs:
                        rel_weights[(a, b, CO_OCCURS)] += t.weight
            for (src, dst, rtype), w in rel_weights.items():
                if src == dst:
                    continue
                yield "relation", {"rel_id": stable_id("rel", src, dst, rtype, chunk_id), "src": src, "dst": dst,
                                   "type": rtype, "weight": round(w, 4), "evidence_chunk": chunk_id,
                                   "doc_id": doc_id}
