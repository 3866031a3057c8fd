"""Section self-retrieval: does a query made of a section's heading find a chunk of that section's document?

A measure of chunking and retrieval on a real share whose documents declare their headings (a manifest):
every heading of `min_words` words or more is asked as it is, through the engine's default strategy with
the caller allowed everything, and counts as a hit when one of the top `k` chunks is from its own document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    uri: str  # the document's URI as ingested
    heading: str
    group: str  # what the rate is reported by (the file's format, say)


def self_retrieval(engine, sections: Iterable[Section], k: int = 3, min_words: int = 3) -> dict[str, dict]:
    """{group: {"headings", "hits", "rate", "misses": [(uri, heading), ...]}} plus an "all" group."""
    out: dict[str, dict] = {}
    for sec in sections:
        if len(sec.heading.split()) < min_words:
            continue
        result = engine.retrieve(sec.heading, departments=None, top_k=k)
        hit = any(c.chunk.uri == sec.uri for c in result.chunks[:k])
        for group in (sec.group, "all"):
            g = out.setdefault(group, {"headings": 0, "hits": 0, "misses": []})
            g["headings"] += 1
            g["hits"] += hit
            if not hit:
                g["misses"].append((sec.uri, sec.heading))
    for g in out.values():
        g["rate"] = round(g["hits"] / g["headings"], 3) if g["headings"] else 0.0
    return out
