"""Relation extraction with the real spaCy pipeline (en_core_web_sm + EntityRuler)."""

from kgflow.nlp.extract import extract_chunks
from kgflow.nlp.normalize import entity_id


def _extract(*texts: str, doc_id: str = "d1"):
    rows = [{"chunk_id": f"c{i}", "doc_id": doc_id, "text": t} for i, t in enumerate(texts)]
    out = list(extract_chunks(rows))
    return [r for k, r in out if k == "mention"], [r for k, r in out if k == "relation"]


def test_subject_verb_object_becomes_a_typed_relation():
    _, rels = _extract("Maria Lindqvist leads Project Falcon.")
    assert [(r["src"], r["type"], r["dst"]) for r in rels] == [
        (entity_id("Maria Lindqvist"), "lead", entity_id("Project Falcon"))]


def test_prepositional_object_names_the_relation_with_its_preposition():
    _, rels = _extract("Helix Logistics is headquartered in Rotterdam.")
    assert rels[0]["type"] == "headquarter_in"


def test_entities_without_a_verb_link_co_occur_with_a_weight():
    _, rels = _extract("Quantara Bank, Corvane Atlas and Tidewatch were discussed.")
    assert rels and all(r["type"] == "co_occurs" and 0 < r["weight"] <= 1 for r in rels)


def test_domain_patterns_label_products_and_projects():
    mentions, _ = _extract("Project Meridian builds Harbor OS.")
    assert {(m["name"], m["label"]) for m in mentions} == {("Project Meridian", "PROJECT"), ("Harbor OS", "PRODUCT")}


def test_a_lone_surname_resolves_to_the_full_name_in_the_same_document():
    mentions, _ = _extract("David Okafor manages Corvane Atlas.", "Later, Okafor presented the roadmap.")
    assert {m["entity_id"] for m in mentions if m["label"] == "PERSON"} == {entity_id("David Okafor")}


def test_masked_pii_placeholders_are_not_entities():
    mentions, _ = _extract("Questions go to [EMAIL] or [PHONE].")
    assert not any(p in m["name"] for m in mentions for p in ("EMAIL", "PHONE"))


def test_surface_variants_in_one_chunk_make_one_mention_row():
    mentions, _ = _extract("Helix Logistics grew. The Helix Logistics Inc. board met. HELIX LOGISTICS hired.")
    helix = [m for m in mentions if m["entity_id"] == entity_id("Helix Logistics")]
    assert len(helix) == 1 and helix[0]["count"] >= 2


def test_an_acronym_and_its_long_form_are_one_entity():
    mentions, _ = _extract("Acute myeloid leukemia (AML) is a blood cancer.", "Doctors treat AML with chemotherapy.")
    long_form = entity_id("acute myeloid leukemia")
    assert [m["chunk_id"] for m in mentions if m["entity_id"] == long_form] == ["c0", "c1"]
    assert not any(m["entity_id"] == entity_id("AML") for m in mentions)


def test_a_lower_case_word_the_ner_model_calls_a_person_is_a_concept():
    mentions, _ = _extract("Surgery removes the tumor. After surgery, chemotherapy may follow.")
    labels = {m["name"].lower(): m["label"] for m in mentions}
    assert labels.get("surgery") == "CONCEPT" and labels.get("chemotherapy") == "CONCEPT"


def test_noun_phrase_concepts_are_named_by_their_lemmatised_head():
    mentions, _ = _extract("The histological layers of the bile duct wall were examined.")
    assert entity_id("histological layer") in {m["entity_id"] for m in mentions}


def test_coordinated_noun_phrases_become_separate_concepts():
    mentions, _ = _extract("Patients receive chemotherapy and radiation therapy.")
    ids = {m["entity_id"] for m in mentions}
    assert {entity_id("chemotherapy"), entity_id("radiation therapy")} <= ids


def test_a_concept_in_the_clause_does_not_take_the_object_slot_from_a_named_entity():
    _, relations = _extract("Project Falcon uses Corvane Beacon for vessel tracking.")
    pair = {entity_id("Project Falcon"), entity_id("Corvane Beacon")}
    assert any({r["src"], r["dst"]} == pair and r["type"] == "use" for r in relations)
