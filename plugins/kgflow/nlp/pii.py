"""PII masking with regex rules from schemas/pii_rules.json, checksum-validated where a rule says so."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from kgflow.schemas import load_json


def luhn_ok(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    if len(digits) < 13:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def spelled_email_ok(text: str) -> bool:
    """'john dot smith at corvane dot example': an 'at' followed by a 'dot' (plain prose rarely has both)."""
    words = re.split(r"[\s\[\]()]+", text.lower())
    return "at" in words and "dot" in words[words.index("at"):]


VALIDATORS: dict[str, Callable[[str], bool]] = {"luhn": luhn_ok, "iban": iban_ok, "spelled_email": spelled_email_ok}


@dataclass(frozen=True)
class PiiRule:
    name: str
    regex: re.Pattern[str]
    replacement: str
    validator: Callable[[str], bool] | None


@cache
def rules() -> tuple[PiiRule, ...]:
    return tuple(
        PiiRule(r["name"], re.compile(r["pattern"]), r["replacement"], VALIDATORS.get(r.get("validator", "")))
        for r in load_json("pii_rules.json")["rules"]
    )


def rule_pattern(name: str) -> str:
    """A rule's regex as written in schemas/pii_rules.json (the validation suite checks with the same one)."""
    return next(r.regex.pattern for r in rules() if r.name == name)


_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


@cache
def _phone() -> tuple[tuple[str, ...], str]:
    spec = load_json("pii_rules.json")["phone"]
    return tuple(spec["regions"]), spec["replacement"]


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Spans of phone numbers: valid in a configured region, or possible and written like a phone number."""
    import phonenumbers as pn

    regions, _ = _phone()
    spans: set[tuple[int, int]] = set()
    for region in regions:
        for m in pn.PhoneNumberMatcher(text, region, leniency=pn.Leniency.VALID):
            if not _DATE.fullmatch(m.raw_string):  # 2024-03-15 is a valid number somewhere, but a date
                spans.add((m.start, m.end))
        for m in pn.PhoneNumberMatcher(text, region, leniency=pn.Leniency.POSSIBLE):
            if m.raw_string.startswith(("+", "(")):
                spans.add((m.start, m.end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask_pii(text: str) -> tuple[str, dict[str, int]]:
    """Return the text with every PII hit replaced by its placeholder, and hit counts per rule."""
    counts: dict[str, int] = {}
    for rule in rules():
        def sub(m: re.Match[str], rule: PiiRule = rule) -> str:
            if rule.validator and not rule.validator(m.group(0)):
                return m.group(0)
            counts[rule.name] = counts.get(rule.name, 0) + 1
            if "pii" in rule.regex.groupindex:  # keep the keyword that anchored the match
                whole, start, end = m.group(0), m.start("pii") - m.start(), m.end("pii") - m.start()
                return whole[:start] + rule.replacement + whole[end:]
            return rule.replacement

        text = rule.regex.sub(sub, text)
    if any(c.isdigit() for c in text):
        spans = _phone_spans(text)
        if spans:
            replacement = _phone()[1]
            counts["phone"] = len(spans)
            for start, end in reversed(spans):
                text = text[:start] + replacement + text[end:]
    return text, counts
