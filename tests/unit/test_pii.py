import pytest

from kgflow.nlp.pii import iban_ok, luhn_ok, mask_pii


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("write to jane.doe@corvane.example today", "[EMAIL]"),
        ("call +47 912 34 567 now", "[PHONE]"),
        ("pay NO93 8601 1117 947 please", "[IBAN]"),
        ("card 4111 1111 1111 1111 blocked", "[CARD]"),
        ("ssn 078-05-1120 on file", "[NATIONAL_ID]"),
        ("call (555) 123-4567 today", "[PHONE]"),
        ("ring 91234567 now", "[PHONE]"),
        ("London office 020 7946 0958", "[PHONE]"),
        ("SSN 078051120 on file", "[NATIONAL_ID]"),
        ("mail john dot smith at corvane dot example please", "[EMAIL]"),
        ("mail john.smith [at] corvane [dot] example please", "[EMAIL]"),
        ("passport P1234567 expires", "[PASSPORT]"),
    ],
)
def test_each_kind_of_pii_is_replaced_by_its_placeholder(text, placeholder):
    masked, counts = mask_pii(text)
    assert placeholder in masked
    assert sum(counts.values()) == 1


def test_card_numbers_failing_luhn_are_left_alone():
    assert not luhn_ok("4111 1111 1111 1112")
    masked, _ = mask_pii("order 4111 1111 1111 1112 shipped")
    assert "[CARD]" not in masked


def test_iban_checksum_is_verified():
    assert iban_ok("NO93 8601 1117 947")
    assert not iban_ok("NO94 8601 1117 947")


@pytest.mark.parametrize("text", [
    "In 2026 the team shipped 3 releases and met on 12 May.",
    "The review is dated 2024-03-15 and covers 1,234,567 records.",
    "Look at the chart and note the dot at the top.",
    "Project 4471 costs 120000 kroner.",
])
def test_plain_business_text_is_unchanged(text):
    assert mask_pii(text)[0] == text
