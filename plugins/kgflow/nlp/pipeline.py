"""The spaCy pipeline shared by ingestion and query-time entity linking: en_core_web_sm + EntityRuler."""

from __future__ import annotations

from functools import cache

from kgflow.config import SCHEMAS_DIR
from kgflow.schemas import load_json


@cache
def load_nlp():
    """Load once per process (Spark workers included). Domain patterns override the statistical NER."""
    import spacy

    nlp = spacy.load("en_core_web_sm")
    ruler = nlp.add_pipe("entity_ruler", before="ner", config={"overwrite_ents": True})
    ruler.from_disk(str(SCHEMAS_DIR / "entity_patterns.jsonl"))
    return nlp


@cache
def kept_labels() -> frozenset[str]:
    return frozenset(load_json("entity_labels.json")["keep"])
