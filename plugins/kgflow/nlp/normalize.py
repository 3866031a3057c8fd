"""Entity normalisation: one canonical key per real-world name across documents."""

from __future__ import annotations

import re
import unicodedata

from kgflow.ids import stable_id

_TITLES = re.compile(r"^(?:mr|mrs|ms|dr|prof|sir|madam)\.?\s+", re.I)
_SUFFIX = re.compile(r"[\s,]+(?:inc|ltd|llc|plc|gmbh|ag|as|asa|corp|co|sa|bv)\.?$", re.I)
_POSSESSIVE = re.compile(r"(?:'s|’s|')$")
_LEADING_THE = re.compile(r"^the\s+", re.I)


def surface_form(text: str) -> str:
    """Clean a mention for display: whitespace folded, possessive, leading 'the' and titles dropped."""
    s = unicodedata.normalize("NFKC", text)
    s = re.sub(r"\s+", " ", s).strip(" \t\n.,;:!?\"'()[]")
    s = _POSSESSIVE.sub("", s)
    s = _LEADING_THE.sub("", s)
    s = _TITLES.sub("", s)
    return s.strip()


def canonical_key(text: str) -> str:
    """Case- and suffix-insensitive key: 'Helix Logistics Inc.' and "helix logistics's" agree."""
    s = _SUFFIX.sub("", surface_form(text))
    return s.casefold()


def entity_id(text: str) -> str:
    return stable_id("ent", canonical_key(text))
