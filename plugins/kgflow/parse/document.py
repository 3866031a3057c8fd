"""Turn one landing-zone file's bytes into a parsed document: sniff -> partition -> chunk -> mask PII."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgflow.chunking import chunker_for
from kgflow.chunking.chunker import MAX_TOKEN_CHARS, Chunk
from kgflow.nlp.pii import mask_pii
from kgflow.parse.errors import QuarantineError
from kgflow.parse.partition import (
    TEMPLATE_TAG,
    document_title,
    embedded_title,
    front_matter_fields,
    partition_bytes,
    split_front_matter,
)
from kgflow.parse.sniff import Limits, Sniffed, parser_for, sniff

LONG_TOKEN = re.compile(rf"\S{{{MAX_TOKEN_CHARS},}}")
LONG_TOKEN_MARK = "[…]"


@dataclass
class ParsedDocument:
    doc_id: str
    title: str = ""
    tags: list[str] = field(default_factory=list)
    format: str = ""
    n_elements: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    quarantine_reason: str | None = None
    quarantine_detail: str | None = None
    pii_masked: dict[str, int] = field(default_factory=dict)


def parse_document(data: bytes, name: str, doc_id: str, limits: Limits, max_chars: int, new_after: int,
                   overlap: int, languages: tuple[str, ...] = ("eng",), chunker: str = "by_title") -> ParsedDocument:
    """Never raises for a bad document: the result carries the quarantine reason instead.

    `name` is the document's path below its source (for the extension and a last-resort title only);
    `languages` as settings.document_languages; `chunker` a name in kgflow.chunking's registry.
    """
    try:
        fmt, elements, meta = _elements(data, name, limits, 0, languages)
        for el in elements:  # an 800 KB "word" is not text: it would become hundreds of identical chunks
            el.text = LONG_TOKEN.sub(LONG_TOKEN_MARK, el.text)
        total = sum(len(el.text) for el in elements)
        if total > limits.max_chars:
            raise QuarantineError("expands_too_large", f"{total} characters of text exceeds the limit of "
                                                       f"{limits.max_chars}")
        if total // max(1, new_after) > limits.max_chunks:
            raise QuarantineError("expands_too_large", f"{total} characters make more than {limits.max_chunks} "
                                                       "chunks")
        declared, tags = front_matter_fields(meta)
        declared = declared or embedded_title(data, fmt)
        masked: dict[str, int] = {}

        def clean(text: str) -> str:
            text, counts = mask_pii(TEMPLATE_TAG.sub(" ", text))
            for k, v in counts.items():
                masked[k] = masked.get(k, 0) + v
            return text.strip()

        strip_template_tags(elements)
        elements = [el for el in elements if el.text.strip()]  # a line of markup only
        if not elements:
            if not declared:
                raise QuarantineError("empty", "no text could be extracted")
            from unstructured.documents.elements import Title

            elements = [Title(declared)]  # a page that is only its title (a redirect, a stub) is still a page
        title = mask_pii(TEMPLATE_TAG.sub(" ", document_title(elements, name, fmt, declared)))[0].strip()
        chunks = chunker_for(chunker)(elements, doc_id, max_chars, new_after, overlap, clean)
        if len(chunks) > limits.max_chunks:
            raise QuarantineError("expands_too_large", f"{len(chunks)} chunks exceeds the limit of {limits.max_chunks}")
        if not chunks:
            raise QuarantineError("empty", "no text could be extracted")
        return ParsedDocument(doc_id, title[:500] or name, [mask_pii(t)[0] for t in tags], fmt, len(elements), chunks,
                              pii_masked=masked)
    except QuarantineError as q:
        return ParsedDocument(doc_id, quarantine_reason=q.reason, quarantine_detail=q.detail)
    except RecursionError:
        return ParsedDocument(doc_id, quarantine_reason="too_deep", quarantine_detail="nests too deeply to parse")
    except MemoryError:
        return ParsedDocument(doc_id, quarantine_reason="expands_too_large",
                              quarantine_detail="parsing ran out of memory")


_SEP = "\x00"


def strip_template_tags(elements: list) -> None:
    """Remove template tags from the elements' text in place, across element boundaries: a converter breaks
    `{% page\n"travel/" %}` into two paragraphs as readily as it keeps it in one."""
    joined = _SEP.join(el.text.replace(_SEP, " ") for el in elements)
    if "{" not in joined:
        return
    stripped = TEMPLATE_TAG.sub(lambda m: " " + _SEP * m.group(0).count(_SEP), joined)
    for el, text in zip(elements, stripped.split(_SEP), strict=True):
        el.text = text


def _elements(data: bytes, name: str, limits: Limits, depth: int,
              languages: tuple[str, ...]) -> tuple[str, list, dict]:
    """The document's format, its elements (attachments' after the body) and its front matter."""
    sniffed = sniff(data, name, limits)
    parser = parser_for(name)
    meta: dict = {}
    if parser.front_matter and sniffed.text is not None:
        meta, body = split_front_matter(sniffed.text)
        sniffed = Sniffed(sniffed.format, body)
    elements = partition_bytes(data, sniffed, languages) if (sniffed.text is None or sniffed.text.strip()) else []
    for att in parser.attachments(data, limits, depth):
        if parser_for(att.name) is None:
            continue  # images, calendars, signatures: not documents, and never parsed
        try:
            _, inner, _ = _elements(att.data, att.name, limits, depth + 1, languages)
        except QuarantineError as q:
            raise QuarantineError(q.reason, f"attachment {att.name[:80]!r}: {q.detail}") from q
        elements += inner
    if not elements and not meta.get("title"):
        raise QuarantineError("empty", "no text could be extracted")
    return sniffed.format, elements, meta
