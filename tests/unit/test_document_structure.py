"""Real document structure survives parsing: front matter is metadata, template tags are markup, tables keep
their rows, slides keep their titles, an e-mail's two bodies are read once, and titles come from the document.

Each document is made here with the library a real author's tool would use (python-docx, python-pptx, the
standard e-mail package) and parsed by the same `parse_document` the Spark parse stage calls.
"""

from __future__ import annotations

import io
from email.message import EmailMessage

from kgflow.parse.document import parse_document
from kgflow.parse.partition import split_front_matter
from kgflow.parse.sniff import Limits

BODY = "Travel must be approved by your supervisor before you book anything in Concur."


def _parse(data: bytes, name: str, max_chars: int = 1200):
    return parse_document(data, name, "doc", Limits(), max_chars, 900, 150)


def _text(doc) -> str:
    return "\n".join(c.text for c in doc.chunks)


def test_front_matter_gives_the_title_and_tags_and_is_not_chunk_text():
    md = ("---\ntitle: Travel approvals\ntags: [travel, approvals]\nredirect_from:\n  - /travel/\n---\n\n"
          f"## Before you book\n\n{BODY}\n").encode()
    doc = _parse(md, "guide.md")
    assert doc.title == "Travel approvals" and doc.tags == ["travel", "approvals"]
    assert "redirect_from" not in _text(doc) and "title:" not in _text(doc)
    assert BODY in _text(doc)


def test_a_folded_front_matter_title_is_read_whole():
    md = b"---\ntitle:\n  Play 11 - Promote a healthy culture\nkeywords: supervisor playbook, leadership\n---\nText.\n"
    doc = _parse(md, "play.md")
    assert doc.title == "Play 11 - Promote a healthy culture" and doc.tags == ["supervisor playbook", "leadership"]


def test_a_page_that_is_only_front_matter_is_published_under_its_title():
    doc = _parse(b"---\ntitle: Buddy Handbook\nredirect_to: https://example.org/buddy\n---\n", "buddy.md")
    assert doc.quarantine_reason is None and _text(doc) == "Buddy Handbook"


def test_a_dash_rule_that_is_not_yaml_stays_text():
    meta, body = split_front_matter("---\nnot: [valid\n---\nBody.")
    assert meta == {} and body.startswith("---")


def test_template_tags_are_neither_text_nor_entities():
    md = (b"# Slack\n\nAsk in {% slack_channel \"dc\" %} or see {{ site.baseurl }}/travel for the "
          b"Washington office.\n\n{% include footer.html %}\n")
    text = _text(_parse(md, "slack.md"))
    assert "{%" not in text and "{{" not in text and "slack_channel" not in text and "site.baseurl" not in text
    assert "Washington office" in text


def test_markdown_table_rows_stay_whole_in_one_chunk():
    rows = [f"| Office {i} | Room {100 + i} | Floor {i % 5} |" for i in range(12)]
    md = "# Rooms\n\n| Office | Room | Floor |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    doc = _parse(md.encode(), "rooms.md")
    lines = [line for c in doc.chunks for line in c.text.split("\n")]
    assert "Office 7 | Room 107 | Floor 2" in lines  # a row is one line, its cells in order
    assert sum("Office 7" in c.text for c in doc.chunks) == 1


def test_slides_keep_their_titles_with_their_bodies():
    from pptx import Presentation

    deck = Presentation()
    for title, body in [("Badges", "Pick up your badge at the security desk on the first floor."),
                        ("Printers", "Print with your PIV card at any printer on the fourth floor.")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    buf = io.BytesIO()
    deck.save(buf)
    doc = _parse(buf.getvalue(), "office.pptx", max_chars=80)  # small chunks: each slide on its own
    assert any(c.text.startswith("Printers\n") and "PIV card" in c.text for c in doc.chunks), _text(doc)
    assert not any(c.text.endswith("Printers") for c in doc.chunks)


def test_an_email_with_plain_and_html_bodies_is_read_once():
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "Leave policy update", "hr@agency.example", "all@agency.example"
    msg.set_content(BODY)
    msg.add_alternative(f"<html><body><p>{BODY}</p></body></html>", subtype="html")
    doc = _parse(msg.as_bytes(), "update.eml")
    assert doc.title == "Leave policy update"
    assert _text(doc).count("approved by your supervisor") == 1


def test_a_docx_title_comes_from_its_properties_not_its_file_name():
    from docx import Document

    d = Document()
    d.core_properties.title = "Equipment for new staff"
    d.add_paragraph(BODY)
    buf = io.BytesIO()
    d.save(buf)
    assert _parse(buf.getvalue(), "scan_0042.docx").title == "Equipment for new staff"


def test_a_markdown_title_line_names_the_document():
    assert _parse(f"# Anal cancer\n\n{BODY}\n".encode(), "guide_17.md").title == "Anal cancer"


def test_chunks_carry_the_heading_path_they_start_in():
    md = f"# Travel\n\n{BODY}\n\n## Approvals\n\n{BODY} " * 1 + "\n\n### Local travel\n\n" + "Metro fares. " * 120
    doc = _parse(md.encode(), "travel.md", max_chars=400)
    assert any(c.section == "Travel › Approvals › Local travel" for c in doc.chunks), [c.section for c in doc.chunks]


def test_a_template_tag_broken_across_paragraphs_is_still_markup():
    from docx import Document

    d = Document()
    d.add_paragraph("Review the [org charts]({% page")
    d.add_paragraph("“about-us/org-chart/” %}) and the project roles.")
    buf = io.BytesIO()
    d.save(buf)
    text = _text(_parse(buf.getvalue(), "roles.docx"))
    assert "{%" not in text and "%}" not in text and "org-chart/" not in text and "project roles" in text


def test_a_heading_sentence_later_in_a_pdf_does_not_displace_its_opening_title_line():
    import tempfile
    from pathlib import Path

    from kgflow.corpus.writers import write_pdf

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "memo.pdf"
        write_pdf(path, "Engineering memo 0000: Review", ["Maria Lindqvist leads Project Falcon.", BODY])
        assert _parse(path.read_bytes(), "memo.pdf").title == "Engineering memo 0000: Review"
