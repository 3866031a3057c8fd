"""Discovery: list every source, diff against the manifest of what was ingested, hash what may have changed."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from kgflow.parse.sniff import extension
from kgflow.schemas import arrow_schema, empty_frame
from kgflow.sources.base import DocumentSource, document_id

PENDING = ("new", "changed")
DEFAULT_SOURCE = "landing"  # manifests written before sources had names hold only the landing folder's


def scan(source: DocumentSource, known: pd.DataFrame | None = None, full_rebuild: bool = False) -> pd.DataFrame:
    """One row per entry of `source`, with its change against `known` (its manifest rows, by doc_id).

    An entry whose version matches the manifest is unchanged without being read; any other is hashed
    (a folder's version already is the hash), and one whose content turns out the same stays unchanged.
    """
    known = known if known is not None else empty_frame("manifest").set_index("doc_id")
    rows = []
    for e in source.list():
        doc_id = document_id(source.name, e.rel)
        reason, detail, sha = e.reason, e.detail, None
        prior = known.loc[doc_id] if doc_id in known.index else None
        if reason is not None:
            sha = e.version
        elif prior is not None and not full_rebuild and prior["version"] == e.version:
            sha = prior["sha256"]
        elif source.version_is_sha256:
            sha = e.version
        else:
            try:
                sha = source.sha256(e.rel)
            except OSError as err:
                reason, detail = "unreadable", f"cannot be read: {os.strerror(err.errno or 0) or err}"
                sha = e.version
        change = ("new" if prior is None else "changed" if full_rebuild or prior["sha256"] != sha else "unchanged")
        rows.append({"doc_id": doc_id, "source": source.name, "uri": e.uri, "rel_path": e.rel,
                     "ext": extension(e.name), "department": e.department, "acl": list(e.acl), "version": e.version,
                     "sha256": sha, "size_bytes": e.size, "reason": reason, "detail": detail, "change": change})
    return pd.DataFrame(rows, columns=list(arrow_schema("changes").names)) if rows else empty_frame("changes")


def load_manifest(path: Path) -> pd.DataFrame:
    if not path.exists():
        return empty_frame("manifest")
    manifest = pd.read_parquet(path).reindex(columns=arrow_schema("manifest").names)  # older: new columns
    manifest["source"] = manifest["source"].fillna(DEFAULT_SOURCE)
    manifest["version"] = manifest["version"].fillna(manifest["sha256"])
    return manifest


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


def change_set(sources: list[DocumentSource], manifest: pd.DataFrame, full_rebuild: bool = False,
               max_documents: int | None = None) -> pd.DataFrame:
    """One row per document of the scanned sources: change = new | changed | unchanged | deleted.

    Only documents of a scanned source can be deleted: a source left out of a run (or another source)
    keeps its documents. A full rebuild treats every known document as changed (retired, then
    re-ingested). With max_documents, pending work beyond the cap is left for the next run.
    """
    frames, gone = [], []
    for source in sources:
        known = manifest[manifest["source"] == source.name].set_index("doc_id")
        found = scan(source, known, full_rebuild)
        frames.append(found)
        lost = known[~known.index.isin(set(found["doc_id"]))].reset_index()
        gone.append(pd.DataFrame({"doc_id": lost["doc_id"], "source": source.name, "uri": lost["uri"],
                                  "version": lost["version"], "sha256": lost["sha256"], "change": "deleted"}))
    found = pd.concat(frames, ignore_index=True) if frames else empty_frame("changes")
    found["duplicate_of"] = duplicates_of(found, manifest)
    if max_documents is not None and max_documents >= 0:
        pending = found.index[found["change"].isin(PENDING)]
        found = found.drop(pending[max_documents:])
    deleted = pd.concat(gone, ignore_index=True) if gone else pd.DataFrame()
    out = pd.concat([found, deleted], ignore_index=True) if len(deleted) else found
    return out.reindex(columns=arrow_schema("changes").names)


def updated_manifest(manifest: pd.DataFrame, changes: pd.DataFrame, quarantined: set[str], run_id: str) -> pd.DataFrame:
    processed = changes[changes["change"].isin(PENDING)]
    deleted = set(changes.loc[changes["change"] == "deleted", "doc_id"])
    keep = manifest[~manifest["doc_id"].isin(set(processed["doc_id"]) | deleted)].copy()
    # an unchanged document whose version moved (touched, re-uploaded) is not hashed again next run
    seen = changes[changes["change"] == "unchanged"].set_index("doc_id")["version"]
    keep["version"] = keep["doc_id"].map(seen).fillna(keep["version"])
    fresh = pd.DataFrame({
        "doc_id": processed["doc_id"], "source": processed["source"], "uri": processed["uri"],
        "version": processed["version"], "sha256": processed["sha256"],
        "status": ["quarantined" if d in quarantined else "ingested" for d in processed["doc_id"]],
        "run_id": run_id, "duplicate_of": processed["duplicate_of"],
    })
    return pd.concat([keep, fresh], ignore_index=True)[list(arrow_schema("manifest").names)]
