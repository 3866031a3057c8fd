"""The chunker keeps its own bounds by construction, whatever the elements hold.

Hypothesis generates element sequences as unstructured gives them (titles, paragraphs, list items, tables with
their HTML, page breaks): long and short elements, headings anywhere, words longer than a chunk, and text that
cleaning lengthens (as PII masking does). Every generated document must come out with every chunk within the
cap, its text covered in order with nothing lost or repeated beyond the overlap, headings kept with their
sections, and table rows kept whole.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unstructured.documents.elements import ElementMetadata, ListItem, NarrativeText, PageBreak, Table, Title

from kgflow.chunking import chunker_for
from kgflow.chunking.chunker import Block, chunk_elements, is_heading, pack, to_blocks
from kgflow.seams import CHUNKERS
from tests.contract import implementations

WORDS = st.sampled_from(["plan", "budget", "Maria", "Falcon", "leads", "the", "a", "of", "review", "2024", "x",
                         "project.", "team;", "done!", "why?", "mail", "SECRET", "word" * 40, "y" * 1500])
TEXT = st.lists(WORDS, min_size=1, max_size=400).map(" ".join)
HEADING = WORDS.filter(lambda w: len(w) <= 5 and w.isalpha()).map(lambda w: f"§ {w}")
SHORT = st.lists(WORDS.filter(lambda w: len(w) < 20 and w[-1].isalpha()), min_size=1, max_size=8).map(" ".join)


def _lengthen(text: str) -> str:
    """Cleaning that makes text longer, as masking does ('SECRET' -> a longer placeholder)."""
    return text.replace("SECRET", "[NATIONAL_ID_NUMBER]").strip()


@st.composite
def elements(draw) -> list:
    page = 1
    out = []
    for kind in draw(st.lists(st.sampled_from(["title", "text", "list", "table", "break"]), min_size=0,
                              max_size=40)):
        meta = ElementMetadata(page_number=page)
        if kind == "title":
            # a title that reads as a heading is marked "§", so a test can tell a heading line from body text
            # (at most 7 characters: a heading even in a 16-character chunk, whose headings may take half);
            # an unmarked title is one the chunker keeps as text (a title too long to be a heading)
            out.append(Title(draw(HEADING | TEXT.filter(lambda t: not is_heading(t))), metadata=meta))
        elif kind == "text":
            out.append(NarrativeText(draw(TEXT), metadata=meta))
        elif kind == "list":
            out.append(ListItem(draw(SHORT | TEXT), metadata=meta))
        elif kind == "table":
            rows = draw(st.lists(st.lists(SHORT | TEXT, min_size=1, max_size=4), min_size=1, max_size=30))
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            meta.text_as_html = f"<table>{body}</table>"
            out.append(Table(" ".join(c for r in rows for c in r), metadata=meta))
        else:
            out.append(PageBreak(""))
            page += 1
    return out


CAPS = st.sampled_from([(1200, 900, 150), (300, 200, 60), (60, 40, 10), (16, 16, 0), (2000, 1500, 400)])
PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _letters(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("name", implementations(CHUNKERS))  # the chunker contract, for every registered one
@PROPERTY
@given(els=elements(), cap=CAPS)
def test_no_chunk_is_longer_than_the_cap_after_cleaning(name, els, cap):
    max_chars, new_after, overlap = cap
    chunks = chunker_for(name)(els, "doc", max_chars, new_after, overlap, _lengthen)
    assert all(len(c.text) <= max_chars for c in chunks), max(len(c.text) for c in chunks)


@pytest.mark.parametrize("name", implementations(CHUNKERS))
@PROPERTY
@given(els=elements(), cap=CAPS)
def test_a_chunk_holds_only_the_document_s_own_words(name, els, cap):
    max_chars, new_after, overlap = cap
    chunks = chunker_for(name)(els, "doc", max_chars, new_after, overlap, _lengthen)
    text = " ".join(_lengthen(el.text) for el in els)
    assert all(c.doc_id == "doc" for c in chunks)
    assert all(w in text for c in chunks for w in re.findall(r"\w+", c.text))  # a table's '|' is layout


@PROPERTY
@given(elements(), CAPS)
def test_every_character_is_chunked_once_in_order_apart_from_the_overlap(els, cap):
    max_chars, new_after, overlap = cap
    blocks = to_blocks(els, _lengthen)
    pieces = pack(blocks, max_chars, new_after, overlap)
    assert _letters("".join(p.text[p.overlap:] for p in pieces)) == _letters("".join(b.text for b in blocks))


@PROPERTY
@given(elements(), CAPS)
def test_an_overlap_repeats_only_the_end_of_the_chunk_before(els, cap):
    max_chars, new_after, overlap = cap
    pieces = pack(to_blocks(els, _lengthen), max_chars, new_after, overlap)
    for before, p in zip(pieces, pieces[1:], strict=False):
        if p.overlap:
            assert p.overlap - 1 <= overlap
            assert before.text.endswith(p.text[:p.overlap - 1])


@PROPERTY
@given(elements(), CAPS)
def test_a_heading_never_ends_a_chunk_whose_section_continues_in_the_next(els, cap):
    max_chars, new_after, overlap = cap
    pieces = pack(to_blocks(els, _lengthen), max_chars, new_after, overlap)
    unit = max_chars - min(overlap, max_chars // 4) - 1
    for p, nxt in zip(pieces, pieces[1:], strict=False):
        last = p.text.rsplit("\n", 1)[-1]
        if last.startswith("§") and len(last) <= unit // 2:  # ends with a heading: its section has not begun
            assert nxt.text.startswith("§"), (p.text[-80:], nxt.text[:80])


@PROPERTY
@given(elements(), CAPS)
def test_table_rows_are_never_cut_when_a_row_fits_a_chunk(els, cap):
    max_chars, new_after, overlap = cap
    blocks = to_blocks(els, _lengthen)
    unit = max_chars - min(overlap, max_chars // 4) - 1
    rows = {r for b in blocks if b.kind == "table" for r in b.rows if len(r) < unit // 2 - 1}
    lines = {line for p in pack(blocks, max_chars, new_after, overlap) for line in p.text.split("\n")}
    for row in rows:
        assert any(row in line for line in lines), row


def test_a_table_that_fits_one_chunk_is_never_split():
    rows = tuple(f"row {i} | cell {i} | value {i}" for i in range(20))
    blocks = [Block("text", "Intro " * 100), Block("table", "\n".join(rows), 1, rows)]
    pieces = pack(blocks, 1200, 900, 150)
    assert any(all(r in p.text for r in rows) for p in pieces)


def test_a_heading_that_does_not_fit_starts_the_next_chunk_with_its_section():
    body = "Full sentence of the earlier section. " * 31  # ~1,180 characters: no room left for a heading
    blocks = [Block("heading", "Earlier"), Block("text", body.strip()), Block("heading", "Travel approvals"),
              Block("text", "Approvals go to the supervisor first.")]
    pieces = pack(blocks, 1200, 1200, 150, combine_under=2000)
    assert all(len(p.text) <= 1200 for p in pieces)
    assert pieces[-1].text == "Travel approvals\nApprovals go to the supervisor first."


def test_a_document_that_is_only_a_title_is_one_chunk():
    chunks = chunk_elements([Title("Buddy Handbook")], "doc", 1200, 900, 150)
    assert [c.text for c in chunks] == ["Buddy Handbook"]


def test_a_long_title_is_body_text_not_a_heading():
    assert not is_heading("The approvals. Then travel")
    assert to_blocks([Title("word " * 40)])[0].kind == "text"
