from kgflow.nlp.normalize import canonical_key, entity_id, surface_form


def test_possessive_and_leading_article_are_dropped():
    assert surface_form("the Helix Logistics's") == "Helix Logistics"


def test_corporate_suffix_and_case_do_not_split_an_entity():
    assert entity_id("Helix Logistics Inc.") == entity_id("helix logistics")


def test_titles_are_not_part_of_a_name():
    assert canonical_key("Dr. Sarah Chen") == canonical_key("Sarah Chen")


def test_different_names_get_different_ids():
    assert entity_id("Sarah Chen") != entity_id("Sarah Cheng")
