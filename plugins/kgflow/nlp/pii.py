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


VALIDATORS: dict[str, Callable[[str], bool]] = {"luhn": luhn_ok, "iban": iban_ok}


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


def mask_pii(text: str) -> tuple[str, dict[str, int]]:
    """Return the text with every PII hit replaced by its placeholder, and hit counts per rule."""
    counts: dict[str, int] = {}
    for rule in rules():
        def sub(m: re.Match[str], rule: PiiRule = rule) -> str:
            if rule.validator and not rule.validator(m.group(0)):
                return m.group(0)
            counts[rule.name] = counts.get(rule.name, 0) + 1
            return rule.replacement

        text = rule.regex.sub(sub, text)
    return text, counts
