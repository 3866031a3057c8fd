"""Partition a document's bytes into elements with `unstructured`, one explicit partitioner per format.

Partitioners get bytes (`file=`) or decoded text (`text=`), never a path: nothing is reopened by name.
"""

from __future__ import annotations

import importlib
import io
from typing import Any

from kgflow.parse.errors import QuarantineError
from kgflow.parse.sniff import Sniffed

# format -> (module, function, extra kwargs). PDF uses the "fast" strategy: hi_res needs a hub model.
# E-mail attachments are parsed by kgflow itself, each with every check a file gets (parse.document).
_PARTITIONERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pdf": ("unstructured.partition.pdf", "partition_pdf", {"strategy": "fast"}),
    "docx": ("unstructured.partition.docx", "partition_docx", {}),
    "pptx": ("unstructured.partition.pptx", "partition_pptx", {}),
    "html": ("unstructured.partition.html", "partition_html", {}),
    "md": ("unstructured.partition.md", "partition_md", {}),
    "txt": ("unstructured.partition.text", "partition_text", {}),
    "eml": ("unstructured.partition.email", "partition_email", {"process_attachments": False}),
}


def partition_bytes(data: bytes, sniffed: Sniffed, languages: tuple[str, ...] = ("eng",)) -> list:
    """Return unstructured elements; any parser failure becomes a QuarantineError('corrupt').

    `languages`: what unstructured records and tunes its English heuristics by; ("auto",) detects."""
    module, func, kwargs = _PARTITIONERS[sniffed.format]
    partition = getattr(importlib.import_module(module), func)
    source = {"file": io.BytesIO(data)} if sniffed.text is None or sniffed.format == "eml" else {
        "text": sniffed.text}
    try:
        elements = partition(**source, **kwargs, languages=list(languages))
    except (QuarantineError, MemoryError):
        raise
    except RecursionError as e:
        raise QuarantineError("too_deep", "the document nests too deeply to parse") from e
    except Exception as e:  # noqa: BLE001 - any parser failure is this document's problem, not the run's
        raise QuarantineError("corrupt", f"{type(e).__name__}: {e}"[:500]) from e
    return [el for el in elements if (el.text or "").strip()]


def document_title(elements: list, name: str, fmt: str) -> str:
    if fmt == "eml":
        subject = getattr(elements[0].metadata, "subject", None)
        if subject:
            return subject
    first = elements[0].text.strip()
    if len(first) < 120 and not first.endswith("."):
        return first  # a short opening line without a full stop reads as the title, whatever its category
    for el in elements:
        if el.category == "Title" and len(el.text) < 200:
            return el.text.strip()
    stem = name.rsplit("/", 1)[-1]
    return stem.rsplit(".", 1)[0] if "." in stem else stem
