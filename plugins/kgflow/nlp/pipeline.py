"""The spaCy pipeline shared by ingestion and query-time entity linking: en_core_web_sm + EntityRuler,
plus a company's own glossary when one is configured.

Glossary: every `*.jsonl` file in the glossary folder (KGFLOW_GLOSSARY_DIR), one term per line:
    {"term": "Harbor OS", "label": "PRODUCT", "synonyms": ["HarborOS", "HOS"]}
Terms and synonyms match case-insensitively; every synonym is a mention of the term's one entity.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from kgflow.config import SCHEMAS_DIR
from kgflow.schemas import load_json

DERIVED_LABELS = frozenset({"CONCEPT"})  # labels kgflow assigns itself (kgflow.nlp.concepts)


def glossary_patterns(folder: Path | None) -> list[dict]:
    """EntityRuler patterns from the glossary files; each synonym carries its term as the pattern id."""
    if folder is None or not Path(folder).is_dir():
        return []
    patterns = []
    for path in sorted(Path(folder).glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                term, label = str(item["term"]).strip(), str(item["label"]).strip().upper()
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path}:{n}: a glossary line needs 'term' and 'label' ({e})") from e
            for text in [term, *item.get("synonyms", [])]:
                if str(text).strip():
                    patterns.append({"label": label, "pattern": str(text).strip(), "id": term})
    return patterns


@cache
def load_nlp(glossary_dir: str | None = None):
    """Load once per process (Spark workers included). Domain patterns override the statistical NER."""
    import spacy

    nlp = spacy.load("en_core_web_sm")
    ruler = nlp.add_pipe("entity_ruler", before="ner", config={"overwrite_ents": True})
    ruler.from_disk(str(SCHEMAS_DIR / "entity_patterns.jsonl"))
    patterns = glossary_patterns(Path(glossary_dir) if glossary_dir else None)
    if patterns:
        glossary = nlp.add_pipe("entity_ruler", name="glossary", after="entity_ruler",
                                config={"overwrite_ents": True, "phrase_matcher_attr": "LOWER"})
        glossary.add_patterns(patterns)
    return nlp


@cache
def kept_labels() -> frozenset[str]:
    return frozenset(load_json("entity_labels.json")["keep"])


def allowed_labels(glossary_dir: Path | None = None) -> frozenset[str]:
    """Every label a graph entity may carry: kept NER labels, kgflow's own, the glossary's."""
    return kept_labels() | DERIVED_LABELS | {p["label"] for p in glossary_patterns(glossary_dir)}
