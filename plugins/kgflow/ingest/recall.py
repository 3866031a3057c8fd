"""How much of a corpus's ground truth the built graph holds (entities, relations, labels)."""

from __future__ import annotations

from kgflow.graph import GraphStore
from kgflow.nlp.normalize import canonical_key


def graph_recall(store: GraphStore, truth: dict) -> dict:
    entities = store.entities()
    by_key = {canonical_key(e.name): e for e in entities}
    for e in entities:
        for alias in e.aliases or []:
            by_key.setdefault(canonical_key(alias), e)
    expected = truth["entities"]
    found = [e for e in expected if canonical_key(e["name"]) in by_key]
    labels_ok = [e for e in found if by_key[canonical_key(e["name"])].label == e["label"]]
    edges = store.related_edges()
    pairs = {frozenset((canonical_key(r.src), canonical_key(r.dst))) for r in edges}
    typed = {(canonical_key(r.src), r.type, canonical_key(r.dst)) for r in edges}
    facts = truth["facts"]
    rel_found = [f for f in facts if frozenset((canonical_key(f["subject"]), canonical_key(f["object"]))) in pairs]
    typed_found = [f for f in facts
                   if (canonical_key(f["subject"]), f["relation"], canonical_key(f["object"])) in typed]
    return {
        "entity_recall": len(found) / max(1, len(expected)),
        "entity_label_accuracy": len(labels_ok) / max(1, len(found)),
        "relation_recall": len(rel_found) / max(1, len(facts)),
        "typed_relation_recall": len(typed_found) / max(1, len(facts)),
        "missing_entities": [e["name"] for e in expected if e not in found],
        "missing_relations": [f["sentence"] for f in facts if f not in rel_found],
        "graph_entities": len(entities),
    }
