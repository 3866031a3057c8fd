"""Check a file before parsing: size, emptiness, content vs. extension, encryption."""

from __future__ import annotations

import zipfile
from email import message_from_bytes
from email.policy import default as email_policy
from pathlib import Path

from kgflow.parse.errors import QuarantineError

SUPPORTED = {"pdf", "docx", "pptx", "html", "htm", "md", "txt", "eml"}
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office encryption wraps OOXML in an OLE container
_BINARY_MAGIC = {b"%PDF": "pdf", b"PK\x03\x04": "zip", b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg",
                 b"MZ": "executable", b"GIF8": "gif", OLE_MAGIC[:4]: "ole"}


def sniff(path: Path, max_bytes: int) -> str:
    """Return the normalised format of a file, or raise QuarantineError with the reason."""
    ext = path.suffix.lower().lstrip(".")
    if ext not in SUPPORTED:
        raise QuarantineError("unsupported", f"extension .{ext or '(none)'} is not a supported format")
    size = path.stat().st_size
    if size > max_bytes:
        raise QuarantineError("too_large", f"{size} bytes exceeds the limit of {max_bytes}")
    if size == 0:
        raise QuarantineError("empty", "file has no bytes")
    with path.open("rb") as f:
        head = f.read(8)
    detected = next((kind for magic, kind in _BINARY_MAGIC.items() if head.startswith(magic)), "text")
    fmt = "html" if ext == "htm" else ext
    if fmt == "pdf":
        if detected != "pdf":
            raise QuarantineError("mislabeled", f".pdf file contains {detected} data")
        _check_pdf(path)
    elif fmt in ("docx", "pptx"):
        if detected == "ole":
            raise QuarantineError("encrypted", f"password-protected (OLE-wrapped) .{fmt}")
        if detected != "zip":
            raise QuarantineError("mislabeled", f".{fmt} file contains {detected} data")
        _check_ooxml(path, fmt)
    else:
        if detected != "text":
            raise QuarantineError("mislabeled", f".{fmt} file contains {detected} data")
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        if "\x00" in text:
            raise QuarantineError("mislabeled", f".{fmt} file contains binary data")
        if not text.strip():
            raise QuarantineError("empty", "file has only whitespace")
        if fmt == "eml":
            msg = message_from_bytes(raw, policy=email_policy)
            if not (msg.get("From") or msg.get("Subject")):
                raise QuarantineError("mislabeled", ".eml file has no e-mail headers")
    return fmt


def _check_pdf(path: Path) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise QuarantineError("encrypted", "PDF is password-protected")
        if len(reader.pages) == 0:
            raise QuarantineError("empty", "PDF has no pages")
    except QuarantineError:
        raise
    except (PdfReadError, ValueError, KeyError, OSError) as e:
        raise QuarantineError("corrupt", f"PDF cannot be read: {e}") from e


def _check_ooxml(path: Path, fmt: str) -> None:
    part = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml"}[fmt]
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError) as e:
        raise QuarantineError("corrupt", f".{fmt} is not a readable zip package: {e}") from e
    if part not in names:
        raise QuarantineError("mislabeled", f".{fmt} package has no {part}")
