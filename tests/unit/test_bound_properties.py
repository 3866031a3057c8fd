"""Every bound the validation suites check on data kgflow derives is kept where that data is made.

The suites mark these expectations `kept_by` (schemas/expectations/); a failure there is kgflow's internal
error. Hypothesis generates hostile text for each producer: masking must leave no e-mail address by the very
regex the chunks suite checks, and extraction must emit names within the entity bound, positive counts and
weights, and relations between entities it emitted.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgflow.nlp.pii import mask_pii, rule_pattern
from kgflow.schemas import load_json

PIECES = st.sampled_from([
    "jane.doe@corvane.example", "a@b.cc", "x@y.zz@w.vv", "@", ".", " at ", " dot ", "mail", "Maria Lindqvist",
    "Corvane Systems", "Project Falcon", "leads", "uses", "in Oslo", "4111 1111 1111 1111", "+47 912 34 567",
    "NO93 8601 1117 947", "078-05-1120", "The", "the", "(ACR)", "Adrenal cortical carcinoma (ACC)", "ACC", "'s",
    "Dr.", "—", "\n", "  ", "x" * 130, "Bartholomew-Featherstonehaugh " * 6, "é", "😀", "[EMAIL]", ",", ";",
])
TEXT = st.lists(PIECES, min_size=1, max_size=60).map(" ".join)


def _suite_regex(table: str, column: str) -> str:
    for exp in load_json(f"expectations/{table}.json")["expectations"]:
        if exp["type"] == "expect_column_values_to_not_match_regex" and exp["kwargs"]["column"] == column:
            regex = exp["kwargs"]["regex"]
            return rule_pattern(regex["$pii"]) if isinstance(regex, dict) else regex
    raise AssertionError(f"{table}.{column} has no regex expectation")


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_masked_text_never_holds_what_the_chunks_suite_calls_an_email(text):
    masked, _ = mask_pii(text)
    assert not re.search(_suite_regex("chunks", "text"), masked), masked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=4))
def test_extraction_emits_only_rows_within_the_entity_and_relation_bounds(texts):
    from kgflow.nlp.extract import extract_chunks

    max_chars = 40
    rows = [{"chunk_id": f"c{i}", "doc_id": "d", "text": t} for i, t in enumerate(texts)]
    out = list(extract_chunks(rows, max_entity_chars=max_chars))
    mentions = [r for kind, r in out if kind == "mention"]
    relations = [r for kind, r in out if kind == "relation"]
    for m in mentions:
        assert 1 <= len(m["name"]) <= max_chars and any(c.isalpha() for c in m["name"]), m["name"]
        assert m["count"] >= 1
    emitted = {m["entity_id"] for m in mentions}
    for r in relations:
        assert r["weight"] > 0
        assert r["src"] in emitted and r["dst"] in emitted and r["src"] != r["dst"]
        assert r["evidence_chunk"] in {row["chunk_id"] for row in rows}
