"""The parser seam: one `Parser` per document format, registered by format name in kgflow.seams.PARSERS.

A parser says which file extensions it reads and what its bytes must begin with; it checks the bounds its
format can break (pages, zip members, nesting, attachments) on bytes already read; and it turns the bytes into
`unstructured` elements. What every format gets alike (size, emptiness, encoding, the text bound, quarantining a
parser's failure) stays in kgflow.parse.sniff and kgflow.parse.partition, so a new format is one module with one
`Parser` and one registry entry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgflow.parse.sniff import Attachment, Limits


class Parser(ABC):
    format: str  # the name the registry and the `documents.format` column use
    extensions: tuple[str, ...]  # file extensions it reads, lower case, without the dot
    magic: str | None = None  # the binary kind its bytes begin with (kgflow.parse.sniff's names); None: text
    front_matter: bool = False  # a leading YAML block is metadata (title, tags), not text

    def check(self, data: bytes, text: str | None, limits: Limits) -> None:  # noqa: B027 - most formats need none
        """Raise QuarantineError when the file breaks a bound of its format; `text` is the decoded text of a
        text format, None for a binary one."""

    def attachments(self, data: bytes, limits: Limits, depth: int) -> list[Attachment]:
        """Files inside this one that are parsed as documents of their own (an e-mail's attachments)."""
        return []

    def preload(self) -> None:  # noqa: B027 - a parser with nothing to import has nothing to load
        """Import what `partition` needs now (a worker does this before it bounds its own memory)."""

    @abstractmethod
    def partition(self, data: bytes, text: str | None, languages: list[str]) -> list:
        """The document's `unstructured` elements. Any exception is the document's failure, quarantined by the
        caller with its message."""
