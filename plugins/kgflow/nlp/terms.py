"""Word terms of a text: lower-cased alphanumeric tokens, English stop words removed, plurals folded
("tumors" -> "tumor", "therapies" -> "therapy"). One definition for the lexical index and the
answer-recall measure, so both see the same words."""

from __future__ import annotations

import re
from functools import cache

_TOKEN = re.compile(r"[a-z0-9]+")


@cache
def stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def fold(word: str) -> str:
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> list[str]:
    stop = stop_words()
    return [fold(w) for w in _TOKEN.findall(text.lower()) if w not in stop and len(w) > 1]
