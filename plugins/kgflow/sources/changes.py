"""Discovery: walk the landing zone, hash content, diff against the manifest of what was ingested."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kgflow.ids import sha256_file, stable_id
from kgflow.schemas import arrow_schema, empty_frame

PUBLIC = "public"
PENDING = ("new", "changed")


def document_id(rel_path: str) -> str:
    """Identity of a document is its place in the landing zone; its content is its sha256."""
    return stable_id("doc", rel_path)


def department_of(rel: Path) -> str:
    return rel.parts[0].lower() if len(rel.parts) > 1 else PUBLIC


def acl_for(department: str) -> list[str]:
    return ["*"] if department == PUBLIC else [department]


def scan(landing: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        rel = path.relative_to(landing)
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and editors' temp files are not documents
        dept = department_of(rel)
        rows.append({"doc_id": document_id(rel.as_posix()), "uri": path.resolve().as_uri(), "path": str(path),
                     "rel_path": rel.as_posix(), "ext": path.suffix.lower().lstrip("."), "department": dept,
                     "acl": acl_for(dept), "sha256": sha256_file(path), "size_bytes": path.stat().st_size})
    return pd.DataFrame(rows, columns=list(arrow_schema("changes").names)) if rows else empty_frame("changes")


def load_manifest(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else empty_frame("manifest")


def change_set(landing: Path, manifest: pd.DataFrame, full_rebuild: bool = False,
               max_documents: int | None = None) -> pd.DataFrame:
    """One row per document with change = new | changed | unchanged | deleted.

    A full rebuild treats every known document as changed (retired, then re-ingested). With
    max_documents, pending work beyond the cap is left for the next run (the manifest won't have it).
    """
    found = scan(landing)
    known = manifest.set_index("doc_id")["sha256"].to_dict()
    found["change"] = [
        "new" if d not in known else "changed" if (full_rebuild or known[d] != s) else "unchanged"
        for d, s in zip(found["doc_id"], found["sha256"], strict=True)
    ]
    present = set(found["doc_id"])
    if max_documents is not None and max_documents >= 0:
        pending = found.index[found["change"].isin(PENDING)]
        found = found.drop(pending[max_documents:])
    gone = manifest[~manifest["doc_id"].isin(present)]
    deleted = pd.DataFrame({"doc_id": gone["doc_id"], "uri": gone["uri"], "sha256": gone["sha256"],
                            "change": "deleted"})
    out = pd.concat([found, deleted], ignore_index=True) if len(deleted) else found
    return out.reindex(columns=arrow_schema("changes").names)


def updated_manifest(manifest: pd.DataFrame, changes: pd.DataFrame, quarantined: set[str], run_id: str) -> pd.DataFrame:
    processed = changes[changes["change"].isin(PENDING)]
    deleted = set(changes.loc[changes["change"] == "deleted", "doc_id"])
    keep = manifest[~manifest["doc_id"].isin(set(processed["doc_id"]) | deleted)]
    fresh = pd.DataFrame({
        "doc_id": processed["doc_id"], "uri": processed["uri"], "sha256": processed["sha256"],
        "status": ["quarantined" if d in quarantined else "ingested" for d in processed["doc_id"]],
        "run_id": run_id,
    })
    return pd.concat([keep, fresh], ignore_index=True)[list(arrow_schema("manifest").names)]
