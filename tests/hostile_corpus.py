"""A file share as it really is: links out, odd names, bombs, giant files, mis-filed documents.

`write_hostile(landing, outside)` writes each kind beside the sample corpus and returns, per kind, the
landing-relative path (bytes) and the expected outcome: ("ingested", None), ("quarantined", reason) or
("absent", None) for entries that are never even listed. `outside` is a folder next to the landing zone
holding what an attacker wants: its marker must never reach the graph or the index.
"""

from __future__ import annotations

import codecs
import io
import os
import zipfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

OUTSIDE_MARKER = "root:x:0:0:OUTSIDE-MARKER-7f3a"
GOOD_TEXT = ("Harriet Vance leads the Lantern programme at Corvane Systems in Bergen. "
             "The Lantern programme uses the Beacon toolkit.")


@dataclass(frozen=True)
class Kind:
    rel: bytes
    outcome: str  # ingested | quarantined | absent
    reason: str | None = None


def _w(path: Path | bytes, data: bytes) -> None:
    p = os.fsencode(path)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)


def docx_bytes(text: str, extra: dict[str, bytes] | None = None) -> bytes:
    from docx import Document

    buf = io.BytesIO()
    d = Document()
    d.add_paragraph(text)
    d.save(buf)
    if not extra:
        return buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        for name, data in extra.items():
            dst.writestr(name, data)
    return out.getvalue()


def docx_bomb(inflated_bytes: int) -> bytes:
    """A valid DOCX whose word/document.xml holds one run of `inflated_bytes` letters: ~1/1000 of that on
    disk (a run of one letter deflates ~1000:1), and a parser that trusts it inflates all of it."""
    src = zipfile.ZipFile(io.BytesIO(docx_bytes("BOMB")))
    original = src.read("word/document.xml")
    at = original.index(b"BOMB")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for item in src.infolist():
            if item.filename != "word/document.xml":
                z.writestr(item, src.read(item.filename))
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(original[:at])
            block = b"A" * (1 << 20)
            for _ in range(inflated_bytes >> 20):
                f.write(block)
            f.write(original[at + 4:])
    return buf.getvalue()


def email_bytes(body: str, attachments: list[tuple[str, bytes]] = (), subject: str = "Status") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "ops@corvane.example", "team@corvane.example", subject
    msg.set_content(body)
    for name, data in attachments:
        if name.endswith(".eml"):
            from email import message_from_bytes
            from email.policy import default

            msg.add_attachment(message_from_bytes(data, policy=default), filename=name)
        else:
            msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def write_hostile(landing: Path, outside: Path, secret_file: Path | None = None) -> dict[str, Kind]:
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "passwd").write_text(OUTSIDE_MARKER + "\n")
    (outside / "notes").mkdir(exist_ok=True)
    (outside / "notes" / "leak.txt").write_text(f"{OUTSIDE_MARKER} in a folder reached by a link.\n")
    good = GOOD_TEXT.encode()
    k: dict[str, Kind] = {}

    def add(name: str, rel: bytes, outcome: str, reason: str | None = None, data: bytes | None = None) -> None:
        if data is not None:
            _w(os.path.join(os.fsencode(landing), rel), data)
        k[name] = Kind(rel, outcome, reason)

    def link(name: str, rel: bytes, target: Path | bytes, outcome: str = "quarantined", reason="symlink") -> None:
        p = os.path.join(os.fsencode(landing), rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        os.symlink(os.fsencode(target), p)
        k[name] = Kind(rel, outcome, reason)

    # links: never followed out of the landing zone, inside only when configured
    link("symlink_to_host_file", b"finance/passwd.txt", outside / "passwd")
    link("symlink_without_extension", b"finance/passwd", outside / "passwd")
    if secret_file is not None:
        link("symlink_to_kgflow_secret", b"finance/jwt.txt", secret_file)
    link("symlink_inside_not_followed", b"hr/alias.md", landing / "hr" / "plain.md")
    link("dangling_symlink", b"hr/gone.txt", landing / "hr" / "nothing-here.txt")
    link("directory_symlink_out", b"legal/hostnotes", outside / "notes", outcome="absent", reason=None)
    k["directory_symlink_out"] = Kind(b"legal/hostnotes/leak.txt", "absent")
    add("plain_markdown", b"hr/plain.md", "ingested", data=b"# Plain\n\n" + good)
    # names
    add("name_not_utf8", b"sales/caf\xe9 plan.txt", "ingested", data=good)
    add("name_with_newline", b"sales/two\nlines.txt", "ingested", data=good)
    add("name_with_backslash_and_quotes", b"sales/a\\b \"q\".txt", "ingested", data=good)
    add("name_very_long", b"sales/" + b"n" * 240 + b".txt", "ingested", data=good)
    add("hidden_file", b"sales/.secret-draft.txt", "absent", data=good)
    add("star_folder", b"*/memo.txt", "quarantined", "invalid_department", good)
    add("folder_name_not_a_department", b"Bad Name!/memo.txt", "quarantined", "invalid_department", good)
    add("root_file", b"readme-root.txt", "ingested", data=good)
    # sizes and what files expand to
    add("text_over_char_limit_under_byte_limit", b"engineering/huge.txt", "quarantined", "expands_too_large",
        (b"Line of ordinary words in a very long report. " * 200_000)[: 9 * 1024 * 1024])
    add("single_800kb_token_line", b"engineering/token.txt", "ingested",
        data=good + b"\n" + b"A" * 800_000 + b"\n" + good)
    add("over_byte_limit", b"engineering/toolarge.txt", "quarantined", "too_large", b"x " * (6 * 1024 * 1024))
    add("docx_zip_bomb", b"engineering/bomb.docx", "quarantined", "expands_too_large", docx_bomb(256 << 20))
    add("docx_too_many_members", b"engineering/members.docx", "quarantined", "expands_too_large",
        docx_bytes(GOOD_TEXT, {f"customXml/extra{i}.xml": b"<a/>" for i in range(2100)}))
    add("html_nested_10000", b"engineering/deep.html", "quarantined", "too_deep",
        b"<html><body>" + b"<div>" * 10_000 + b"deep" + b"</div>" * 10_000 + b"</body></html>")
    # e-mail
    add("email_with_bomb_attachment", b"sales/bomb.eml", "quarantined", "expands_too_large",
        email_bytes("See attached.", [("report.docx", docx_bomb(128 << 20))]))
    add("email_with_oversized_attachment", b"sales/bigatt.eml", "quarantined", "too_large",
        email_bytes("See attached.", [("big.txt", b"word " * (2_200_000))]))
    nested = email_bytes("innermost")
    for depth in range(4):
        nested = email_bytes(f"level {depth}", [(f"fwd{depth}.eml", nested)])
    add("email_nested_4_deep", b"sales/nested.eml", "quarantined", "too_deep", nested)
    add("email_with_text_attachment", b"sales/withatt.eml", "ingested",
        data=email_bytes("Minutes attached.", [("minutes.txt", good)]))
    add("email_with_image_attachment", b"sales/withimg.eml", "ingested",
        data=email_bytes(GOOD_TEXT, [("logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)]))
    # encodings and formats
    add("utf16_with_bom", b"legal/utf16.txt", "ingested", data=codecs.BOM_UTF16_LE + GOOD_TEXT.encode("utf-16-le"))
    add("windows_1252_text", b"legal/cp1252.txt", "ingested", data=GOOD_TEXT.encode() + " caf\xe9".encode("cp1252"))
    add("htm_extension", b"legal/page.htm", "ingested", data=f"<html><body><p>{GOOD_TEXT}</p></body></html>".encode())
    add("html_script_only", b"legal/script.html", "quarantined", "empty",
        b"<html><head><script>var a = 1;</script></head><body></body></html>")
    add("gzip_named_txt", b"legal/archive.txt", "quarantined", "mislabeled", b"\x1f\x8b\x08\x00" + b"\0" * 32)
    add("elf_named_md", b"legal/tool.md", "quarantined", "mislabeled", b"\x7fELF" + b"\0" * 64)
    add("whitespace_only", b"legal/blank.txt", "quarantined", "empty", b"  \n\t \n")
    add("duplicate_filed_under_another_department", b"sales/copy-of-plain.md", "ingested",
        data=b"# Plain\n\n" + good)
    fifo = os.path.join(os.fsencode(landing), b"legal/pipe.txt")
    os.mkfifo(fifo)
    k["fifo"] = Kind(b"legal/pipe.txt", "quarantined", "unsupported")
    return k
