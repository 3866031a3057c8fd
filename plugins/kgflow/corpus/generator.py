"""Write the sample corpus: N documents in every supported format, bad files, and ground truth."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

from kgflow.corpus.facts import DEPARTMENTS, ENTITIES, FACTS, FILLER, MULTI_HOP
from kgflow.corpus.writers import WRITERS, write_pdf

FORMATS = list(WRITERS)

# PII planted in documents; none of it may reach the graph or the index.
PII_LINES = [
    ("email", "helpdesk.{i}@corvane.example", "Questions go to {v}."),
    ("phone", "+47 912 34 {i:03d}", "The on-call phone is {v}."),
    ("iban", "NO93 8601 1117 947", "Payments go to account {v}."),
    ("credit_card", "4111 1111 1111 1111", "The corporate card {v} is blocked."),
    ("ssn", "078-05-1120", "The contractor's social security number is {v}."),
]

GROUND_TRUTH = "ground_truth.json"


def generate_corpus(
    out: Path,
    truth_path: Path | None = None,
    n_docs: int = 50,
    seed: int = 7,
    wiki_passages: Path | None = None,
    bad_files: bool = True,
    max_document_bytes: int = 10 * 1024 * 1024,
) -> dict:
    """Write n_docs documents under out/<department>/ and the ground truth beside `out` (not inside:
    the landing zone holds documents only); return the truth."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    wiki = _load_wiki(wiki_passages) if wiki_passages else []
    truth: dict = {"documents": [], "facts": [], "pii": [], "bad_files": [], "multi_hop": MULTI_HOP}
    fact_doc: dict[str, str] = {}
    for i in range(n_docs):
        fmt = FORMATS[i % len(FORMATS)]
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        kind_of_memo = rng.choice(["Quarterly update", "Status report", "Planning notes", "Review"])
        title = f"{dept.capitalize()} memo {i:04d}: {kind_of_memo}"
        paras = rng.sample(FILLER, 3)
        if wiki:
            paras += [wiki[(i * 3 + k) % len(wiki)] for k in range(3)]
        facts = []
        if i < len(FACTS):
            facts = [FACTS[i]]
            paras.insert(1, FACTS[i].sentence)
        kind, template, line = PII_LINES[i % len(PII_LINES)]
        value = template.format(i=i)
        paras.append(line.format(v=value))
        rel = Path(dept) / f"doc_{i:04d}.{fmt}"
        (out / dept).mkdir(exist_ok=True)
        WRITERS[fmt](out / rel, title, paras)
        truth["documents"].append(
            {"path": str(rel), "format": fmt, "department": dept, "title": title,
             "facts": [f.sentence for f in facts]}
        )
        truth["pii"].append({"kind": kind, "value": value, "path": str(rel)})
        for f in facts:
            fact_doc[f.sentence] = str(rel)
    truth["facts"] = [
        {"subject": f.subject, "relation": f.relation, "object": f.object, "sentence": f.sentence,
         "path": fact_doc.get(f.sentence)}
        for f in FACTS if f.sentence in fact_doc
    ]
    present = {x for f in truth["facts"] for x in (f["subject"], f["object"])}
    truth["entities"] = [{"name": n, "label": lab} for n, lab in ENTITIES.items() if n in present]
    for hop in MULTI_HOP:
        hop["paths"] = [next((f["path"] for f in truth["facts"] if f["sentence"].startswith(h)), None)
                        for h in hop["hops"]]
    if bad_files:
        truth["bad_files"] = _write_bad_files(out / "engineering", max_document_bytes)
    truth_path = truth_path or default_truth_path(out)
    truth_path.write_text(json.dumps(truth, indent=2), encoding="utf-8")
    asked = {f.sentence: f for f in FACTS}
    golden = [{"question": asked[f["sentence"]].question, "answer": asked[f["sentence"]].answer, "kind": "single_hop"}
              for f in truth["facts"]] + [{"question": h["question"], "answer": h["answer"], "kind": "multi_hop"}
                                          for h in MULTI_HOP]
    (truth_path.parent / GOLDEN).write_text(json.dumps(golden, indent=2), encoding="utf-8")
    return truth


GOLDEN = "golden_questions.json"  # the quality gate's default file (kgflow.quality.gate)


def default_truth_path(landing: Path) -> Path:
    return landing.parent / GROUND_TRUTH


def load_truth(landing: Path) -> dict:
    return json.loads(default_truth_path(landing).read_text(encoding="utf-8"))


def _write_bad_files(folder: Path, max_bytes: int) -> list[dict]:
    """Files that must be quarantined with their reason; the run goes on."""
    folder.mkdir(parents=True, exist_ok=True)
    bad: list[dict] = []

    def add(name: str, data: bytes, reason: str) -> None:
        (folder / name).write_bytes(data)
        bad.append({"path": str(Path(folder.name) / name), "reason": reason})

    add("broken_report.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8, "corrupt")
    add("damaged_minutes.docx", b"PK\x03\x04" + b"\x00garbage" * 64, "corrupt")
    add("broken_deck.pptx", b"PK\x03\x04" + b"\xffnot a zip" * 64, "corrupt")
    add("salaries_encrypted.pdf", _encrypted_pdf(folder), "encrypted")
    add("protected_plan.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024, "encrypted")
    add("empty_note.txt", b"", "empty")
    add("blank_page.md", b"   \n\n  \n", "empty")
    add("huge_export.txt", b"x" * (max_bytes + 1), "too_large")
    add("chart.docx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 512, "mislabeled")
    add("notes.pdf", b"These are plain text notes, not a PDF at all.\n", "mislabeled")
    add("tool.exe", b"MZ\x90\x00" + b"\x00" * 256, "unsupported")
    return bad


def _encrypted_pdf(tmp_dir: Path) -> bytes:
    from pypdf import PdfReader, PdfWriter

    plain = tmp_dir / ".plain.tmp.pdf"
    write_pdf(plain, "Salaries 2026", ["Confidential salary bands for all staff."])
    writer = PdfWriter()
    for page in PdfReader(str(plain)).pages:
        writer.add_page(page)
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    plain.unlink()
    return buf.getvalue()


def _load_wiki(path: Path) -> list[str]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [d["text"] for d in data if d.get("text")]
