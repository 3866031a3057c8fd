"""Partition a document into elements with `unstructured`, one explicit partitioner per format."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kgflow.parse.errors import QuarantineError

# format -> (module, function, extra kwargs). PDF uses the "fast" strategy: hi_res needs a hub model.
_PARTITIONERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "pdf": ("unstructured.partition.pdf", "partition_pdf", {"strategy": "fast", "languages": ["eng"]}),
    "docx": ("unstructured.partition.docx", "partition_docx", {}),
    "pptx": ("unstructured.partition.pptx", "partition_pptx", {}),
    "html": ("unstructured.partition.html", "partition_html", {}),
    "md": ("unstructured.partition.md", "partition_md", {}),
    "txt": ("unstructured.partition.text", "partition_text", {}),
    "eml": ("unstructured.partition.email", "partition_email", {}),
}


def partition_file(path: Path, fmt: str) -> list:
    """Return unstructured elements; any parser failure becomes a QuarantineError('corrupt')."""
    module, func, kwargs = _PARTITIONERS[fmt]
    partition = getattr(importlib.import_module(module), func)
    try:
        elements = partition(filename=str(path), **kwargs)
    except QuarantineError:
        raise
    except Exception as e:  # noqa: BLE001 - any parser failure is this document's problem, not the run's
        raise QuarantineError("corrupt", f"{type(e).__name__}: {e}"[:500]) from e
    elements = [el for el in elements if (el.text or "").strip()]
    if not elements:
        raise QuarantineError("empty", "no text could be extracted")
    return elements


def document_title(elements: list, path: Path, fmt: str) -> str:
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
    return path.stem
