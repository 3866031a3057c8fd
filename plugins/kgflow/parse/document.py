"""Turn one landing-zone file's bytes into a parsed document: sniff -> partition -> chunk -> mask PII."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgflow.chunking.chunker import MAX_TOKEN_CHARS, Chunk, chunk_elements
from kgflow.nlp.pii import mask_pii
from kgflow.parse.errors import QuarantineError
from kgflow.parse.partition import document_title, partition_bytes
from kgflow.parse.sniff import SUPPORTED, Limits, email_attachments, extension, sniff

LONG_TOKEN = re.compile(rf"\S{{{MAX_TOKEN_CHARS},}}")
LONG_TOKEN_MARK = "[…]"


@dataclass
class ParsedDocument:
    doc_id: str
    title: str = ""
    format: str = ""
    n_elements: int = 0
    chunks: list[Chunk] = field(default_factory=list)
    quarantine_reason: str | None = None
    quarantine_detail: str | None = None
    pii_masked: dict[str, int] = field(default_factory=dict)


def parse_document(data: bytes, name: str, doc_id: str, limits: Limits, max_chars: int, new_after: int,
                   overlap: int, languages: tuple[str, ...] = ("eng",)) -> ParsedDocument:
    """Never raises for a bad document: the result carries the quarantine reason instead.

    `name` is the document's path below its source (for the extension and a fallback title only);
    `languages` as settings.document_languages.
    """
    try:
        fmt, elements = _elements(data, name, limits, 0, languages)
        for el in elements:  # an 800 KB "word" is not text: it would become hundreds of identical chunks
            el.text = LONG_TOKEN.sub(LONG_TOKEN_MARK, el.text)
        total = sum(len(el.text) for el in elements)
        if total > limits.max_chars:
            raise QuarantineError("expands_too_large", f"{total} characters of text exceeds the limit of "
                                                       f"{limits.max_chars}")
        if total // max(1, new_after) > limits.max_chunks:
            raise QuarantineError("expands_too_large", f"{total} characters make more than {limits.max_chunks} "
                                                       "chunks")
        title, _ = mask_pii(document_title(elements, name, fmt))
        masked: dict[str, int] = {}

        def clean(text: str) -> str:
            text, counts = mask_pii(text)
            for k, v in counts.items():
                masked[k] = masked.get(k, 0) + v
            return text

        chunks = chunk_elements(elements, doc_id, max_chars, new_after, overlap, clean)
        if len(chunks) > limits.max_chunks:
            raise QuarantineError("expands_too_large", f"{len(chunks)} chunks exceeds the limit of {limits.max_chunks}")
        if not chunks:
            raise QuarantineError("empty", "no text could be extracted")
        return ParsedDocument(doc_id, title[:500], fmt, len(elements), chunks, pii_masked=masked)
    except QuarantineError as q:
        return ParsedDocument(doc_id, quarantine_reason=q.reason, quarantine_detail=q.detail)
    except RecursionError:
        return ParsedDocument(doc_id, quarantine_reason="too_deep", quarantine_detail="nests too deeply to parse")
    except MemoryError:
        return ParsedDocument(doc_id, quarantine_reason="expands_too_large",
                              quarantine_detail="parsing ran out of memory")


def _elements(data: bytes, name: str, limits: Limits, depth: int, languages: tuple[str, ...]) -> tuple[str, list]:
    sniffed = sniff(data, name, limits)
    elements = partition_bytes(data, sniffed, languages)
    if sniffed.format == "eml":
        for att in email_attachments(data, limits, depth):
            if extension(att.name) not in SUPPORTED:
                continue  # images, calendars, signatures: not documents, and never parsed
            try:
                _, inner = _elements(att.data, att.name, limits, depth + 1, languages)
            except QuarantineError as q:
                raise QuarantineError(q.reason, f"attachment {att.name[:80]!r}: {q.detail}") from q
            elements += inner
    if not elements:
        raise QuarantineError("empty", "no text could be extracted")
    return sniffed.format, elements
