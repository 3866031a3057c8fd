"""Chunk a document's elements by section, with bounds kept by construction.

Every chunk is at most `max_chars` characters, whatever the elements hold: text is cleaned (template tags,
PII masking) *before* it is cut, a heading is placed only together with the start of its section (a heading
that does not fit starts the next chunk), and the only text two chunks share is the configured overlap.
`pack` is the pure core; `chunk_elements` turns unstructured's elements into blocks and drops chunks that
hold no word or repeat one already made.

Invariants (tests/unit/test_chunker_properties.py proves them over generated element sequences):
- len(chunk.text) <= max_chars;
- the chunks' new text (after their overlap) is the blocks' text, in order, nothing lost or repeated;
- a heading is never the last line of a chunk while its section's body is in the next one;
- a table's rows are never cut (unless one row alone is longer than a chunk) and a table that fits a chunk is
  never split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal

from kgflow.ids import stable_id

MAX_TOKEN_CHARS = 200  # longer runs without a space are not words (base64, minified code, one huge token)
HEADING_MAX_CHARS = 120  # a piece this short with no sentence in it is a heading, not content
_WORD = re.compile(r"[^\W\d_]{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
_SPACE = re.compile(r"\s+")


def is_heading(text: str) -> bool:
    return len(text) <= HEADING_MAX_CHARS and not re.search(r"[.!?:;]\s|[.!?]$", text)


@dataclass(frozen=True)
class Block:
    """One element's cleaned text: a heading (starts a section), body text, or a table (rows kept whole)."""

    kind: Literal["heading", "text", "table"]
    text: str  # for a table: its rows joined by newlines
    page: int = 1
    rows: tuple[str, ...] = ()
    level: int = 0  # a heading's depth (0 = top): a deeper one nests in the section path, a shallower one ends it


@dataclass(frozen=True)
class Piece:
    """A packed chunk's text; its first `overlap` characters repeat the end of the chunk before it."""

    text: str
    page: int
    overlap: int = 0
    section: str = ""  # the heading path where the chunk starts ("Travel › Approvals"), for finding it


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    ord: int
    text: str
    page: int
    section: str = ""


@dataclass(frozen=True)
class _Atom:
    text: str
    page: int
    new_block: bool  # first atom of its block: joined by a newline, and a place a soft break may go
    section: bool  # starts with a heading: a new section begins here
    table: int = -1  # the table's index among the blocks, or -1
    table_chars: int = 0  # on a table's first atom: the whole table's length
    path: str = ""  # the heading path in effect at this atom


def _split(text: str, budget: int, first_budget: int | None = None) -> list[str]:
    """Cut text into pieces of at most `budget` characters (the first at most `first_budget`): at sentence
    ends where a sentence fits, else between words, else inside a word. Joining the pieces with spaces gives
    the text back (up to whitespace)."""
    out: list[str] = []
    limit = budget if first_budget is None else first_budget
    for sentence in _SENTENCE_END.split(text):
        rest = sentence.strip()
        while rest:
            if len(rest) <= limit:
                out.append(rest)
                rest = ""
            else:
                cut = rest.rfind(" ", 0, limit + 1)
                cut = cut if cut > 0 else limit
                out.append(rest[:cut].rstrip())
                rest = rest[cut:].lstrip()
            limit = budget
    return [p for p in out if p]


def _atoms(blocks: list[Block], unit: int) -> list[_Atom]:
    """Blocks as atoms of at most `unit` characters; a heading run is fused with the first piece of the body
    that follows it, so packing can never leave a heading at the end of a chunk without its section."""
    atoms: list[_Atom] = []
    headings: list[Block] = []
    stack: list[tuple[int, str]] = []  # (level, heading) from the top section down to the current one

    def path() -> str:
        return " › ".join(t for _, t in stack)

    def flush_headings() -> None:
        # headings with no body after them (or more headings than fit): a section of their own
        if headings:
            atoms.append(_Atom("\n".join(h.text for h in headings), headings[0].page, True, True, path=path()))
            headings.clear()

    for i, b in enumerate(blocks):
        if b.kind == "heading" and len(b.text) > unit // 2:
            b = Block("text", b.text, b.page)  # too long to stand in front of its section: body text
        if b.kind == "heading":
            if headings and len("\n".join(h.text for h in headings)) + 1 + len(b.text) > unit // 2:
                flush_headings()  # keep room in the fused atom for the body's first piece
            headings.append(b)
            while stack and stack[-1][0] >= b.level:
                stack.pop()
            stack.append((b.level, b.text))
            continue
        lead = "\n".join(h.text for h in headings)
        lead_page = headings[0].page if headings else b.page
        parts = list(b.rows) if b.kind == "table" and b.rows else [b.text]
        pieces: list[str] = []
        for j, part in enumerate(parts):
            room = unit - len(lead) - 1 if lead and not pieces and j == 0 else None
            pieces += _split(part, unit, room) if b.kind != "table" else (
                [part] if len(part) <= (room or unit) else _split(part, unit, room))
        if not pieces:
            continue
        table = i if b.kind == "table" else -1
        total = len("\n".join(pieces)) + (len(lead) + 1 if lead else 0)
        for j, p in enumerate(pieces):
            text = f"{lead}\n{p}" if j == 0 and lead else p
            first = j == 0
            atoms.append(_Atom(text, lead_page if first else b.page, first or table >= 0, first and bool(lead),
                               table, total if first and table >= 0 else 0, path()))
        headings.clear()
    flush_headings()
    return atoms


def _tail(text: str, n: int) -> str:
    """The last at most n characters of text, starting at a word."""
    if n <= 0 or not text:
        return ""
    if len(text) <= n:
        return ""  # the whole previous chunk again is a repeat, not an overlap
    tail = text[-n:]
    space = tail.find(" ")
    return tail[space + 1:].strip() if space >= 0 else ""


def pack(blocks: list[Block], max_chars: int, new_after: int, overlap: int, combine_under: int = 200) -> list[Piece]:
    """Greedy packing of blocks into chunks of at most `max_chars`.

    A section (heading) starts a new chunk unless the chunk so far is shorter than `combine_under`; a chunk
    longer than `new_after` ends at the next block; a chunk cut inside a block of text starts with the last
    `overlap` characters of the one before (at a word), so each reads on its own."""
    if max_chars < 16:
        raise ValueError(f"chunk_max_chars={max_chars}: a chunk must hold at least 16 characters")
    overlap = max(0, min(overlap, max_chars // 4))
    unit = max_chars - overlap - 1  # an atom always fits a fresh chunk together with its overlap
    new_after = min(new_after, max_chars)
    out: list[Piece] = []
    cur: list[str] = []
    cur_len = lap = 0
    page, section = 1, ""

    for a in _atoms(blocks, unit):
        fresh = not cur
        if cur:
            sep = "\n" if a.new_block else " "
            starts_table = a.table_chars > 0
            within_table = a.table >= 0 and not starts_table
            table_moves = starts_table and a.table_chars <= unit and cur_len + 1 + a.table_chars > max_chars
            soft = a.new_block and cur_len >= new_after and not within_table
            if (a.section and cur_len >= combine_under) or soft or table_moves:
                out.append(Piece("".join(cur), page, lap, section))
                cur, cur_len, lap, fresh = [], 0, 0, True
            elif cur_len + len(sep) + len(a.text) > max_chars:
                prev = "".join(cur)
                out.append(Piece(prev, page, lap, section))
                cur, cur_len, lap, fresh = [], 0, 0, True
                tail = _tail(prev, overlap) if not a.new_block else ""  # only a cut inside a text repeats
                if tail:
                    cur, cur_len, lap = [tail], len(tail), len(tail) + 1
        if fresh:
            page, section = a.page, a.path
        if cur:
            cur.append("\n" if a.new_block else " ")
            cur_len += 1
        cur.append(a.text)
        cur_len += len(a.text)
    if cur:
        out.append(Piece("".join(cur), page, lap, section))
    return out


class _TableRows(HTMLParser):
    """A table's rows from unstructured's text_as_html: cells joined by ' | '."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[str]:
    parser = _TableRows()
    parser.feed(html)
    parser.close()
    return [" | ".join(c for c in row if c) for row in parser.rows if any(row)]


def to_blocks(elements: Iterable, clean: Callable[[str], str] = str.strip) -> list[Block]:
    """unstructured elements -> blocks, each piece of text cleaned (`clean` may lengthen it: packing comes
    after). Page breaks and elements left empty by cleaning are dropped."""
    blocks: list[Block] = []
    for el in elements:
        category = getattr(el, "category", "")
        if category == "PageBreak":
            continue
        page = int(getattr(el.metadata, "page_number", None) or 1)
        html = getattr(el.metadata, "text_as_html", None) if category == "Table" else None
        if html:
            rows = tuple(r for r in (_SPACE.sub(" ", clean(r)).strip() for r in table_rows(html)) if r)
            if rows:
                blocks.append(Block("table", "\n".join(rows), page, rows))
                continue
        text = clean(el.text or "").strip()
        if not text:
            continue
        kind = "heading" if category == "Title" and is_heading(text) else "text"
        depth = getattr(el.metadata, "category_depth", None)
        blocks.append(Block(kind, text, page, level=int(depth) if isinstance(depth, int) else 0))
    return blocks


def chunk_elements(
    elements: list,
    doc_id: str,
    max_chars: int,
    new_after: int,
    overlap: int,
    clean: Callable[[str], str] = str.strip,
) -> list[Chunk]:
    """`clean` runs before packing and before the id is derived (PII masking), so raw text never reaches a
    chunk and no cleaning can push a chunk over `max_chars`. Chunks without a word, and repeats of a text
    already chunked in this document, are dropped."""
    out: list[Chunk] = []
    seen: set[str] = set()
    for piece in pack(to_blocks(elements, clean), max_chars, new_after, overlap):
        text = piece.text
        if not _WORD.search(text) or text in seen:
            continue  # no word to embed, or the same text again in this document (boilerplate, repeats)
        seen.add(text)
        ordinal = len(out)
        out.append(Chunk(stable_id("chk", doc_id, ordinal, text), doc_id, ordinal, text, piece.page, piece.section))
    return out


def findable_text(title: str, section: str, text: str) -> str:
    """What a chunk is found by (embedded, and indexed for BM25): its document's title and section path in
    front of its text. Generic section headings ('Who we are') and pronoun-only passages carry no topic of
    their own; the document and section they sit in do. The chunk's text itself stays as it is."""
    head = " › ".join(p for p in (title, section) if p and p != text.split("\n", 1)[0])
    return f"{head}\n{text}" if head else text
