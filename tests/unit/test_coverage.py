from kgflow.retrieval.hybrid import choose_for_coverage

CONCEPTS = {
    "leave-policy": frozenset({"parental leave", "policy", "weeks"}),
    "leave-policy-copy": frozenset({"parental leave", "policy", "weeks"}),
    "payroll": frozenset({"payroll", "policy"}),
}


def test_a_chunk_repeating_the_concepts_already_chosen_gives_way_to_one_that_brings_new_ones():
    ranked = [("leave-policy", 1.0), ("leave-policy-copy", 0.95), ("payroll", 0.7)]
    chosen = choose_for_coverage(ranked, CONCEPTS.__getitem__, weight=1.0, n=2)
    assert [c for c, _ in chosen] == ["leave-policy", "payroll"]


def test_without_a_coverage_weight_the_ranking_is_kept():
    ranked = [("leave-policy", 1.0), ("leave-policy-copy", 0.95), ("payroll", 0.7)]
    assert choose_for_coverage(ranked, CONCEPTS.__getitem__, weight=0.0, n=3) == ranked


def test_chunks_that_mention_no_entity_are_never_penalised():
    ranked = [("a", 1.0), ("b", 0.9)]
    assert choose_for_coverage(ranked, lambda c: frozenset(), weight=5.0, n=2) == ranked
