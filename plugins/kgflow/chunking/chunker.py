"""Chunk elements by title with a size cap and overlap; ids are derived from document and content."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kgflow.ids import stable_id

MAX_TOKEN_CHARS = 200  # longer runs without a space are not words (base64, minified code, one huge token)
_WORD = re.compile(r"[^\W\d_]{2,}")


HEADING_MAX_CHARS = 120  # a piece this short with no sentence in it is a heading, not content


def is_heading(text: str) -> bool:
    return len(text) <= HEADING_MAX_CHARS and not re.search(r"[.!?:;]\s|[.!?]$", text)


def merge_headings(pieces: list[tuple[str, int]], max_chars: int) -> list[tuple[str, int]]:
    """A heading-only piece goes in front of the piece that follows it (a heading is retrieved with
    its section, never alone); a trailing one joins the piece before it."""
    out: list[tuple[str, int]] = []
    carry = ""
    for text, page in pieces:
        if not text:
            continue
        if carry:
            text = f"{carry}\n{text}"
            carry = ""
        if is_heading(text):
            carry = text
            continue
        out.append((text, page))
    if carry:
        if out:
            out[-1] = (f"{out[-1][0]}\n{carry}", out[-1][1])
        else:
            out.append((carry, 1))
    return out


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    ord: int
    text: str
    page: int


def chunk_elements(
    elements: list,
    doc_id: str,
    max_chars: int,
    new_after: int,
    overlap: int,
    clean: Callable[[str], str] = str.strip,
) -> list[Chunk]:
    """`clean` runs before the id is derived (PII masking), so raw text never reaches a chunk.
    Chunks without a word, and repeats of a text already chunked in this document, are dropped."""
    from unstructured.chunking.title import chunk_by_title

    pieces = chunk_by_title(
        elements,
        max_characters=max_chars,
        new_after_n_chars=min(new_after, max_chars),
        overlap=overlap,
        combine_text_under_n_chars=min(200, new_after),
    )
    out: list[Chunk] = []
    seen: set[str] = set()
    texts = merge_headings([(clean(el.text).strip(), getattr(el.metadata, "page_number", None) or 1)
                            for el in pieces], max_chars)
    for text, page in texts:
        if not _WORD.search(text) or text in seen:
            continue  # no word to embed, or the same text again in this document (boilerplate, repeats)
        seen.add(text)
        ordinal = len(out)
        out.append(Chunk(stable_id("chk", doc_id, ordinal, text), doc_id, ordinal, text, int(page)))
    return out
