"""Each kind of bad file is recognised before parsing, with the reason a user can act on."""

import codecs
import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from kgflow.corpus.generator import generate_corpus
from kgflow.parse.errors import QuarantineError
from kgflow.parse.sniff import Limits, email_attachments, sniff

LIMIT = 200_000
LIMITS = Limits(max_bytes=LIMIT)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("c") / "landing"
    return root, generate_corpus(root, n_docs=7, max_document_bytes=LIMIT)


def _reason(data: bytes, name: str, limits: Limits = LIMITS) -> str:
    with pytest.raises(QuarantineError) as e:
        sniff(data, name, limits)
    return e.value.reason


def test_every_bad_file_gets_its_expected_reason(corpus):
    root, truth = corpus
    for bad in truth["bad_files"]:
        assert _reason((root / bad["path"]).read_bytes(), bad["path"]) == bad["reason"], bad["path"]


def test_every_good_file_passes_with_its_format(corpus):
    root, truth = corpus
    for doc in truth["documents"]:
        assert sniff((root / doc["path"]).read_bytes(), doc["path"], LIMITS).format == doc["format"]


def test_utf16_text_with_a_bom_is_decoded_not_called_binary():
    data = codecs.BOM_UTF16_LE + "Quarterly plan for Tidewatch.".encode("utf-16-le")
    assert sniff(data, "plan.txt", LIMITS).text == "Quarterly plan for Tidewatch."


def test_deeply_nested_html_is_too_deep_not_empty():
    assert _reason(("<div>" * 10_000 + "text" + "</div>" * 10_000).encode(), "deep.html") == "too_deep"


def _docx_bomb(inflated: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", b"<w:document/>")
        z.writestr("word/media/filler.xml", b"\0" * inflated)
    return buf.getvalue()


def test_zip_bomb_is_refused_by_what_it_expands_to():
    assert _reason(_docx_bomb(8 * 1024 * 1024), "bomb.docx", Limits(max_expanded_bytes=4 * 1024 * 1024)) \
        == "expands_too_large"


def test_text_over_the_character_limit_is_refused():
    assert _reason(b"word " * 1000, "long.txt", Limits(max_chars=2000)) == "expands_too_large"


def _email(attachments: list[tuple[str, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.com", "memo"
    msg.set_content("See attached.")
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def test_email_attachment_over_the_size_limit_is_refused():
    with pytest.raises(QuarantineError) as e:
        email_attachments(_email([("big.txt", b"x" * 5000)]), Limits(max_bytes=4000))
    assert e.value.reason == "too_large"


def test_email_with_too_many_attachments_is_refused():
    with pytest.raises(QuarantineError) as e:
        email_attachments(_email([(f"a{i}.txt", b"x") for i in range(5)]), Limits(max_attachments=3))
    assert e.value.reason == "expands_too_large"
