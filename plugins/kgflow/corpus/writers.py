"""One writer per document format. Each takes a title and paragraphs and writes a real file."""

from __future__ import annotations

import html
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path


def write_txt(path: Path, title: str, paragraphs: list[str]) -> None:
    path.write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")


def write_md(path: Path, title: str, paragraphs: list[str]) -> None:
    body = "\n\n".join(paragraphs)
    path.write_text(f"# {title}\n\n## Summary\n\n{body}\n", encoding="utf-8")


def write_html(path: Path, title: str, paragraphs: list[str]) -> None:
    ps = "\n".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    path.write_text(
        f"<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>\n{ps}\n</body></html>\n",
        encoding="utf-8",
    )


def write_pdf(path: Path, title: str, paragraphs: list[str]) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for p in paragraphs:
        pdf.multi_cell(0, 6, _latin1(p), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.output(str(path))


def write_docx(path: Path, title: str, paragraphs: list[str]) -> None:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    d.save(str(path))


def write_pptx(path: Path, title: str, paragraphs: list[str]) -> None:
    from pptx import Presentation

    prs = Presentation()
    layout = prs.slide_layouts[1]  # title and content
    for i in range(0, len(paragraphs), 2):
        slide = prs.slides.add_slide(layout)
        slide.shapes.title.text = title if i == 0 else f"{title} (cont.)"
        body = slide.placeholders[1].text_frame
        body.text = paragraphs[i]
        for p in paragraphs[i + 1 : i + 2]:
            body.add_paragraph().text = p
    prs.save(str(path))


def write_eml(path: Path, title: str, paragraphs: list[str]) -> None:
    msg = EmailMessage()
    msg["Subject"] = title
    msg["From"] = "noreply@corvane.example"
    msg["To"] = "all-staff@corvane.example"
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
    msg.set_content("\n\n".join(paragraphs))
    path.write_bytes(bytes(msg))


def _latin1(text: str) -> str:
    # fpdf's core fonts are Latin-1 only.
    return text.encode("latin-1", "replace").decode("latin-1")


WRITERS: dict[str, Callable[[Path, str, list[str]], None]] = {
    "pdf": write_pdf,
    "docx": write_docx,
    "pptx": write_pptx,
    "html": write_html,
    "md": write_md,
    "txt": write_txt,
    "eml": write_eml,
}
