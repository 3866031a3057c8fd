"""The Parser contract, for every parser in kgflow.seams.PARSERS (kgflow's own and any installed plug-in's): a
document written in its format parses into chunks that hold its text under its own title, every extension it
claims reaches it, and a file whose bytes are not its format is quarantined as mislabeled, not parsed."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgflow.corpus.writers import WRITERS, write_txt
from kgflow.parse.document import parse_document
from kgflow.parse.sniff import Limits, parser_for
from kgflow.seams import PARSERS
from tests.contract import implementations

TITLE = "Falcon Programme Review"
PARAGRAPHS = ["Maria Lindqvist leads Project Falcon.", "Project Falcon uses Corvane Beacon for vessel tracking."]


def _written(name: str, tmp_path: Path) -> tuple[bytes, str]:
    """A real file of the parser's format (a plug-in's text format gets a plain text file) and its name."""
    parser = PARSERS.resolve(name)
    writer = WRITERS.get(name) or (write_txt if parser.magic is None else None)
    if writer is None:
        pytest.fail(f"no sample writer for the binary format {name!r}: add one to kgflow.corpus.writers")
    path = tmp_path / f"review.{parser.extensions[0]}"
    writer(path, TITLE, PARAGRAPHS)
    return path.read_bytes(), path.name


def _parse(data: bytes, file_name: str):
    return parse_document(data, f"ops/{file_name}", "doc-1", Limits(), max_chars=1200, new_after=900, overlap=0)


@pytest.mark.parametrize("name", implementations(PARSERS))
def test_a_document_in_the_format_parses_into_chunks_holding_its_text(name, tmp_path):
    doc = _parse(*_written(name, tmp_path))
    assert doc.quarantine_reason is None, doc.quarantine_detail
    text = " ".join(" ".join(c.text.split()) for c in doc.chunks)
    assert all(p in text for p in PARAGRAPHS)


@pytest.mark.parametrize("name", implementations(PARSERS))
def test_the_document_keeps_its_own_title_and_its_format_name(name, tmp_path):
    doc = _parse(*_written(name, tmp_path))
    assert (doc.title, doc.format) == (TITLE, name)


@pytest.mark.parametrize("name", implementations(PARSERS))
def test_every_extension_the_parser_claims_reaches_it(name):
    parser = PARSERS.resolve(name)
    assert parser.extensions and all(parser_for(f"dir/file.{ext}") is parser for ext in parser.extensions)


@pytest.mark.parametrize("name", implementations(PARSERS))
def test_a_file_whose_bytes_are_another_format_is_quarantined_as_mislabeled(name):
    parser = PARSERS.resolve(name)
    other = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" if parser.magic != "pdf" else b"plain words, not a PDF"
    doc = _parse(other, f"review.{parser.extensions[0]}")
    assert (doc.quarantine_reason, doc.chunks) == ("mislabeled", [])
