"""Partition a document's bytes into elements through its format's parser (kgflow.seams.PARSERS), and read the
title and tags a document declares about itself."""

from __future__ import annotations

import io
import re
from typing import Any

from kgflow.parse.errors import QuarantineError
from kgflow.parse.sniff import Sniffed


def preload() -> None:
    """Import every registered parser's library now (a worker does this before it bounds its own memory)."""
    from kgflow.seams import PARSERS

    for name in PARSERS.names():
        PARSERS.resolve(name).preload()


def partition_bytes(data: bytes, sniffed: Sniffed, languages: tuple[str, ...] = ("eng",)) -> list:
    """Return the parser's elements that hold text; any parser failure becomes a QuarantineError('corrupt').

    `languages`: what unstructured records and tunes its English heuristics by; ("auto",) detects."""
    from kgflow.seams import PARSERS

    try:
        elements = PARSERS.resolve(sniffed.format).partition(data, sniffed.text, list(languages))
    except (QuarantineError, MemoryError):
        raise
    except RecursionError as e:
        raise QuarantineError("too_deep", "the document nests too deeply to parse") from e
    except Exception as e:  # noqa: BLE001 - any parser failure is this document's problem, not the run's
        raise QuarantineError("corrupt", f"{type(e).__name__}: {e}"[:500]) from e
    return [el for el in elements if (el.text or "").strip()]


_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
MAX_FRONT_MATTER_CHARS = 64 * 1024
# template tags of static-site and templating engines (Liquid, Jinja, Hugo): markup, never text or entities
TEMPLATE_TAG = re.compile(r"\{\{.{0,2000}?\}\}|\{%.{0,2000}?%\}|\{#.{0,2000}?#\}", re.S)
# metadata titles that name the tool or a template, not the document
_GENERIC_TITLE = re.compile(r"(?i)^(untitled.*|presentation\d*|powerpoint presentation|document\d*|"
                            r"microsoft (word|powerpoint) - .*|slide \d+|title|\W*)$")


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """YAML front matter (a leading '---' block, as Jekyll, Hugo and most Markdown tools write it) -> its
    mapping and the text after it. A block that is not a YAML mapping is left in the text."""
    m = _FRONT_MATTER.match(text)
    if not m or len(m.group(1)) > MAX_FRONT_MATTER_CHARS:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return {}, text
    if not isinstance(meta, dict):
        return {}, text
    return meta, text[m.end():]


def front_matter_fields(meta: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The title and tags a front matter declares (tags: a list or a comma-separated string)."""
    title = meta.get("title")
    title = " ".join(str(title).split()) if isinstance(title, str | int | float) and str(title).strip() else None
    raw = meta.get("tags", meta.get("keywords"))
    if isinstance(raw, str):
        raw = raw.split(",")
    tags = [" ".join(str(t).split())[:100] for t in raw if isinstance(t, str | int | float) and str(t).strip()] \
        if isinstance(raw, list) else []
    return title, list(dict.fromkeys(tags))[:50]


def embedded_title(data: bytes, fmt: str) -> str | None:
    """The title a file's own metadata records (DOCX/PPTX core properties, the PDF document info), unless it
    is empty or a tool's placeholder. Metadata is optional: any failure to read it is no title."""
    title = None
    try:
        if fmt in ("docx", "pptx"):
            import zipfile
            from xml.etree import ElementTree

            with zipfile.ZipFile(io.BytesIO(data)) as z:
                if "docProps/core.xml" in z.namelist() and z.getinfo("docProps/core.xml").file_size < 1 << 20:
                    root = ElementTree.fromstring(z.read("docProps/core.xml"))
                    node = root.find("{http://purl.org/dc/elements/1.1/}title")
                    title = node.text if node is not None else None
        elif fmt == "pdf":
            from pypdf import PdfReader

            info = PdfReader(io.BytesIO(data)).metadata
            title = info.title if info else None
    except Exception:  # noqa: BLE001 - unreadable metadata is no title; the parser judges the file itself
        return None
    title = " ".join(str(title or "").split())
    return title if title and len(title) <= 300 and not _GENERIC_TITLE.match(title) else None


def document_title(elements: list, name: str, fmt: str, declared: str | None = None) -> str:
    """The document's own title: what it declares (front matter, file metadata), the e-mail subject, its
    first heading, a short opening line; the file name only when the document names itself nowhere."""
    if declared:
        return declared
    if fmt == "eml":
        subject = getattr(elements[0].metadata, "subject", None)
        if subject and subject.strip():
            return " ".join(subject.split())
    first = " ".join(elements[0].text.split())
    one_sentence = not re.search(r"[.!?]\s+\S", first)
    if 0 < len(first) < 120 and (not first.endswith(".") or elements[0].category == "Title" and one_sentence):
        # a short opening line without a full stop reads as the title, whatever its category; a heading may
        # end with one ('Washington, D.C.')
        return first
    for el in elements[:20]:
        text = " ".join(el.text.split())
        if el.category == "Title" and 0 < len(text) < 200 and not text.endswith("."):
            return text
    stem = name.rsplit("/", 1)[-1]
    return stem.rsplit(".", 1)[0] if "." in stem else stem
