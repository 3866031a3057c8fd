"""Check a file's bytes before parsing: size, emptiness, content vs. extension, encryption, and the
limits on what the file expands to (zip members, text, HTML nesting, PDF pages, e-mail attachments).

Every check works on bytes already read through the source (never on a path), so a parser never
opens anything by name, and every refusal is a QuarantineError with a reason a user can filter on.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from dataclasses import dataclass, fields
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as email_policy
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from kgflow.config import Settings
from kgflow.parse.errors import QuarantineError

if TYPE_CHECKING:
    from kgflow.parse.base import Parser

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office encryption wraps OOXML in an OLE container
_BINARY_MAGIC = {b"%PDF": "pdf", b"PK\x03\x04": "zip", b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg",
                 b"MZ": "executable", b"GIF8": "gif", OLE_MAGIC[:4]: "ole", b"\x1f\x8b": "gzip",
                 b"\x7fELF": "executable"}
# Longest first: a UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
         "wbr", "basefont", "frame", "keygen"}


# each Limits field mirrors a setting: its default is declared once, in Settings
_SETTING_OF = {"max_bytes": "max_document_bytes", "max_expanded_bytes": "max_expanded_bytes",
               "max_archive_members": "max_archive_members", "max_compression_ratio": "max_compression_ratio",
               "max_chars": "max_document_chars", "max_chunks": "max_chunks_per_document",
               "max_nesting_depth": "max_nesting_depth", "max_attachments": "max_attachments",
               "max_attachment_depth": "max_attachment_depth", "max_pdf_pages": "max_pdf_pages"}


def _default(field: str):
    return Settings.model_fields[_SETTING_OF[field]].default


@dataclass(frozen=True)
class Limits:
    """What one document may expand to: the KGFLOW_* document bounds, by the names the parser uses. Built from
    Settings at the job's entry point."""

    max_bytes: int = _default("max_bytes")
    max_expanded_bytes: int = _default("max_expanded_bytes")
    max_archive_members: int = _default("max_archive_members")
    max_compression_ratio: float = _default("max_compression_ratio")
    max_chars: int = _default("max_chars")
    max_chunks: int = _default("max_chunks")
    max_nesting_depth: int = _default("max_nesting_depth")
    max_attachments: int = _default("max_attachments")
    max_attachment_depth: int = _default("max_attachment_depth")
    max_pdf_pages: int = _default("max_pdf_pages")

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(**{f.name: getattr(s, _SETTING_OF[f.name]) for f in fields(cls)})


@dataclass(frozen=True)
class Sniffed:
    format: str
    text: str | None = None  # decoded text for text formats (BOM and encoding handled here)


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""


def parser_for(name: str) -> Parser | None:
    """The registered parser (kgflow.seams.PARSERS) that reads a file of this name, by its extension."""
    from kgflow.seams import PARSERS

    ext = extension(name)
    return next((p for p in map(PARSERS.resolve, PARSERS.names()) if ext in p.extensions), None) if ext else None


def sniff(data: bytes, name: str, limits: Limits) -> Sniffed:
    """The format of a file's bytes (and its text for text formats), or a QuarantineError: the checks every
    format gets (size, emptiness, content against extension, encoding, the text bound), then its parser's."""
    parser = parser_for(name)
    if parser is None:
        raise QuarantineError("unsupported", f"extension .{extension(name) or '(none)'} is not a supported format")
    if len(data) > limits.max_bytes:
        raise QuarantineError("too_large", f"{len(data)} bytes exceeds the limit of {limits.max_bytes}")
    if not data:
        raise QuarantineError("empty", "file has no bytes")
    ext = extension(name)
    bom = next((enc for b, enc in _BOMS if data.startswith(b)), None)
    detected = "text" if bom else next((k for m, k in _BINARY_MAGIC.items() if data.startswith(m)), "text")
    if parser.magic is not None:
        if detected == "ole" and parser.magic == "zip":
            raise QuarantineError("encrypted", f"password-protected (OLE-wrapped) .{ext}")
        if detected != parser.magic:
            raise QuarantineError("mislabeled", f".{ext} file contains {detected} data")
        parser.check(data, None, limits)
        return Sniffed(parser.format)
    if detected != "text":
        raise QuarantineError("mislabeled", f".{ext} file contains {detected} data")
    text = decode_text(data, bom)
    if "\x00" in text:
        raise QuarantineError("mislabeled", f".{ext} file contains binary data")
    if not text.strip():
        raise QuarantineError("empty", "file has only whitespace")
    if len(text) > limits.max_chars:
        raise QuarantineError("expands_too_large", f"{len(text)} characters of text exceeds the limit of "
                                                   f"{limits.max_chars}")
    parser.check(data, text, limits)
    return Sniffed(parser.format, text)


def decode_text(data: bytes, bom: str | None = None) -> str:
    """UTF-8/16/32 by BOM, else UTF-8, else Windows-1252 (what legacy office text files mostly are)."""
    if bom:
        return data.decode(bom, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class _DepthProbe(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=False)
        self.limit, self.depth, self.deepest = limit, 0, 0

    def handle_starttag(self, tag, attrs):
        if tag not in _VOID:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)
            if self.depth > self.limit:
                raise QuarantineError("too_deep", f"HTML nests deeper than {self.limit} elements")

    def handle_endtag(self, tag):
        if tag not in _VOID:
            self.depth = max(0, self.depth - 1)


def check_html_depth(text: str, limit: int) -> None:
    probe = _DepthProbe(limit)
    probe.feed(text)
    probe.close()


def check_pdf(data: bytes, limits: Limits) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise QuarantineError("encrypted", "PDF is password-protected")
        pages = len(reader.pages)
    except QuarantineError:
        raise
    except (PdfReadError, ValueError, KeyError, OSError, RecursionError) as e:
        raise QuarantineError("corrupt", f"PDF cannot be read: {type(e).__name__}: {e}"[:300]) from e
    if pages == 0:
        raise QuarantineError("empty", "PDF has no pages")
    if pages > limits.max_pdf_pages:
        raise QuarantineError("expands_too_large", f"{pages} pages exceeds the limit of {limits.max_pdf_pages}")


def check_ooxml(data: bytes, part: str, fmt: str, limits: Limits) -> None:
    """Zip bombs: the members' declared sizes bound what python's zipfile will ever inflate (it stops
    at the declared size and fails the CRC), so checking them bounds the parser's memory. `part`: the member
    every package of the format has."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise QuarantineError("corrupt", f".{fmt} is not a readable zip package: {e}") from e
    if len(infos) > limits.max_archive_members:
        raise QuarantineError("expands_too_large", f"{len(infos)} zip members exceeds the limit of "
                                                   f"{limits.max_archive_members}")
    total = sum(i.file_size for i in infos)
    if total > limits.max_expanded_bytes:
        raise QuarantineError("expands_too_large", f"expands to {total} bytes, over the limit of "
                                                   f"{limits.max_expanded_bytes}")
    for i in infos:
        ratio = i.file_size / max(1, i.compress_size)
        if i.file_size > 1024 * 1024 and ratio > limits.max_compression_ratio:
            raise QuarantineError("expands_too_large", f"member {i.filename[:80]!r} inflates {ratio:.0f}x "
                                                       f"(limit {limits.max_compression_ratio:g}x)")
    if part not in {i.filename for i in infos}:
        raise QuarantineError("mislabeled", f".{fmt} package has no {part}")


@dataclass(frozen=True)
class Attachment:
    name: str
    data: bytes


def email_attachments(data: bytes, limits: Limits, depth: int = 0) -> list[Attachment]:
    """Attachments of an e-mail, each to be parsed with every check a file gets. Nested e-mails count
    towards the depth limit; count and decoded size are bounded before anything is parsed."""
    if depth > limits.max_attachment_depth:
        raise QuarantineError("too_deep", f"e-mail attachments nest deeper than {limits.max_attachment_depth}")
    msg: EmailMessage = message_from_bytes(data, policy=email_policy)  # type: ignore[assignment]
    out: list[Attachment] = []
    total = 0
    for part in msg.iter_attachments():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            payload = (inner[0] if isinstance(inner, list) else inner).as_bytes()
            name = part.get_filename() or "attached.eml"
            email_attachments(payload, limits, depth + 1)  # depth check of the nested message
        else:
            payload = part.get_payload(decode=True) or b""
            name = part.get_filename() or "attachment"
        total += len(payload)
        if len(payload) > limits.max_bytes:
            raise QuarantineError("too_large", f"attachment {name[:80]!r} is {len(payload)} bytes, over the "
                                               f"limit of {limits.max_bytes}")
        out.append(Attachment(name, payload))
    if len(out) > limits.max_attachments:
        raise QuarantineError("expands_too_large", f"{len(out)} attachments exceeds the limit of "
                                                   f"{limits.max_attachments}")
    if total > limits.max_expanded_bytes:
        raise QuarantineError("expands_too_large", f"attachments expand to {total} bytes, over the limit of "
                                                   f"{limits.max_expanded_bytes}")
    return out
