"""kgflow's own parsers: `unstructured`'s partitioner for each format, given bytes (`file=`) or decoded text
(`text=`), never a path, so nothing is reopened by name."""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from typing import Any

from kgflow.parse.base import Parser
from kgflow.parse.errors import QuarantineError
from kgflow.parse.sniff import Attachment, Limits, check_html_depth, check_ooxml, check_pdf, email_attachments


class UnstructuredParser(Parser):
    def __init__(self, format: str, extensions: tuple[str, ...], function: str, magic: str | None = None,
                 check: Callable[[bytes, str | None, Limits], None] | None = None, from_bytes: bool = False,
                 front_matter: bool = False, **kwargs: Any) -> None:
        self.format, self.extensions, self.magic, self.front_matter = format, extensions, magic, front_matter
        self._module, self._function = function.rsplit(".", 1)
        self._check, self._from_bytes, self._kwargs = check, from_bytes or magic is not None, kwargs

    def check(self, data: bytes, text: str | None, limits: Limits) -> None:
        if self._check:
            self._check(data, text, limits)

    def preload(self) -> None:
        importlib.import_module(self._module)

    def partition(self, data: bytes, text: str | None, languages: list[str]) -> list:
        partition = getattr(importlib.import_module(self._module), self._function)
        source = {"file": io.BytesIO(data)} if self._from_bytes or text is None else {"text": text}
        return partition(**source, **self._kwargs, languages=languages)


class EmailParser(UnstructuredParser):
    """An e-mail's body; its attachments are parsed by kgflow as files of their own, each with every check."""

    def attachments(self, data: bytes, limits: Limits, depth: int) -> list[Attachment]:
        return email_attachments(data, limits, depth)


def _email_headers(data: bytes, text: str | None, limits: Limits) -> None:
    from email import message_from_bytes
    from email.policy import default

    msg = message_from_bytes(data, policy=default)
    if not (msg.get("From") or msg.get("Subject")):
        raise QuarantineError("mislabeled", ".eml file has no e-mail headers")


# PDF uses the "fast" strategy: hi_res needs a model from the hub
PDF = UnstructuredParser("pdf", ("pdf",), "unstructured.partition.pdf.partition_pdf", magic="pdf",
                         check=lambda data, _, limits: check_pdf(data, limits), strategy="fast")
DOCX = UnstructuredParser("docx", ("docx",), "unstructured.partition.docx.partition_docx", magic="zip",
                          check=lambda data, _, limits: check_ooxml(data, "word/document.xml", "docx", limits))
PPTX = UnstructuredParser("pptx", ("pptx",), "unstructured.partition.pptx.partition_pptx", magic="zip",
                          check=lambda data, _, limits: check_ooxml(data, "ppt/presentation.xml", "pptx", limits))
HTML = UnstructuredParser("html", ("html", "htm"), "unstructured.partition.html.partition_html",
                          check=lambda _, text, limits: check_html_depth(text or "", limits.max_nesting_depth))
MARKDOWN = UnstructuredParser("md", ("md",), "unstructured.partition.md.partition_md", front_matter=True)
TEXT = UnstructuredParser("txt", ("txt",), "unstructured.partition.text.partition_text")
EMAIL = EmailParser("eml", ("eml",), "unstructured.partition.email.partition_email", check=_email_headers,
                    from_bytes=True, process_attachments=False)
