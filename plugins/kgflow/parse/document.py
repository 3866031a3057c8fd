"""Turn one landing-zone file into a parsed document: sniff -> partition -> chunk -> mask PII."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kgflow.chunking.chunker import Chunk, chunk_elements
from kgflow.nlp.pii import mask_pii
from kgflow.parse.errors import QuarantineError
from kgflow.parse.partition import document_title, partition_file
from kgflow.parse.sniff import sniff


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


def parse_document(
    path: Path, doc_id: str, max_bytes: int, max_chars: int, new_after: int, overlap: int
) -> ParsedDocument:
    """Never raises for a bad document: the result carries the quarantine reason instead."""
    try:
        fmt = sniff(path, max_bytes)
        elements = partition_file(path, fmt)
        title, _ = mask_pii(document_title(elements, path, fmt))
        masked: dict[str, int] = {}

        def clean(text: str) -> str:
            text, counts = mask_pii(text)
            for k, v in counts.items():
                masked[k] = masked.get(k, 0) + v
            return text

        chunks = chunk_elements(elements, doc_id, max_chars, new_after, overlap, clean)
        return ParsedDocument(doc_id, title, fmt, len(elements), chunks, pii_masked=masked)
    except QuarantineError as q:
        return ParsedDocument(doc_id, quarantine_reason=q.reason, quarantine_detail=q.detail)
    except OSError as e:
        return ParsedDocument(doc_id, quarantine_reason="corrupt", quarantine_detail=f"unreadable: {e}")
