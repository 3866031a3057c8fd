"""Discovery: walk the landing zone safely, hash content, diff against the manifest of what was ingested."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from kgflow.ids import stable_id
from kgflow.parse.sniff import extension
from kgflow.schemas import arrow_schema, empty_frame
from kgflow.sources.landing import Entry, display_name, sha256_under, walk
from kgflow.sources.policy import DepartmentPolicy, InvalidDepartment

PENDING = ("new", "changed")


def document_id(rel_path: str) -> str:
    """Identity of a document is its place in the landing zone; its content is its sha256."""
    return stable_id("doc", rel_path)


def _marker(kind: str, entry: Entry) -> str:
    """A version for an entry that is never read (a link, an unreadable file): its kind and size, so it
    is quarantined once and not again until it changes, without touching what it points to."""
    return hashlib.sha256(f"{kind}:{entry.size}".encode()).hexdigest()


def scan(landing: Path, policy: DepartmentPolicy | None = None, follow_symlinks: bool = False,
         forbidden: list[Path] | None = None) -> pd.DataFrame:
    """One row per landing-zone entry. Entries that must not be read carry a quarantine reason already."""
    policy = policy or DepartmentPolicy()
    root = Path(os.path.realpath(landing))
    rows = []
    for entry in walk(root, follow_symlinks, forbidden):
        name = os.fsdecode(entry.rel)
        reason, detail = entry.reason, entry.detail
        try:
            dept, acl = policy.assign(entry.parts)
        except InvalidDepartment as e:
            dept, acl = "", []
            reason, detail = reason or "invalid_department", detail or str(e)
        sha = None
        if reason is None:
            try:
                sha = sha256_under(root, entry.rel, follow_symlinks)
            except OSError as e:  # vanished, permission denied, turned into a link since the walk
                reason, detail = "unreadable", f"cannot be read: {os.strerror(e.errno or 0)}"
        rows.append({"doc_id": document_id(name), "uri": root.as_uri() + "/" + entry.rel_quoted,
                     "root": str(root), "rel_path": entry.rel_quoted,
                     "ext": extension(display_name(entry.rel)), "department": dept,
                     "acl": acl, "sha256": sha or _marker(reason, entry), "size_bytes": entry.size,
                     "reason": reason, "detail": detail})
    return pd.DataFrame(rows, columns=list(arrow_schema("changes").names)) if rows else empty_frame("changes")


def load_manifest(path: Path) -> pd.DataFrame:
    if not path.exists():
        return empty_frame("manifest")
    return pd.read_parquet(path).reindex(columns=arrow_schema("manifest").names)  # older manifests: new columns


def duplicates_of(found: pd.DataFrame, manifest: pd.DataFrame) -> list[str | None]:
    """For each document, the first other document with the same content: an ingested one, else the
    first in path order. A duplicate is still ingested under its own path and ACL (a copy in another
    department's folder is readable there); the link is recorded so nobody mistakes it for new content."""
    first: dict[str, str] = {}
    for doc_id, sha, status in zip(manifest["doc_id"], manifest["sha256"], manifest["status"], strict=True):
        if status == "ingested":
            first.setdefault(sha, doc_id)
    for doc_id, sha, reason in zip(found["doc_id"], found["sha256"], found["reason"], strict=True):
        if not isinstance(reason, str):
            first.setdefault(sha, doc_id)
    return [first.get(sha) if first.get(sha) not in (None, doc_id) and not isinstance(reason, str) else None
            for doc_id, sha, reason in zip(found["doc_id"], found["sha256"], found["reason"], strict=True)]


def change_set(landing: Path, manifest: pd.DataFrame, full_rebuild: bool = False,
               max_documents: int | None = None, **scan_options) -> pd.DataFrame:
    """One row per document with change = new | changed | unchanged | deleted.

    A full rebuild treats every known document as changed (retired, then re-ingested). With
    max_documents, pending work beyond the cap is left for the next run (the manifest won't have it).
    """
    found = scan(landing, **scan_options)
    known = manifest.set_index("doc_id")["sha256"].to_dict()
    found["change"] = [
        "new" if d not in known else "changed" if (full_rebuild or known[d] != s) else "unchanged"
        for d, s in zip(found["doc_id"], found["sha256"], strict=True)
    ]
    found["duplicate_of"] = duplicates_of(found, manifest)
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
        "run_id": run_id, "duplicate_of": processed["duplicate_of"],
    })
    return pd.concat([keep, fresh], ignore_index=True)[list(arrow_schema("manifest").names)]
