"""Backups of the knowledge base and everything serving depends on, and restores that check before they write.

A backup is one archive, `kgflow-backup-<UTC time>.tar.gz`, holding a consistent snapshot:

    graph/        the live embedded graph (LadybugDB), read from the same inode the published version pairs
                  with; for Neo4j, graph/neo4j/<kind>.parquet: a consistent export through Bolt (Community
                  has no online backup, and an offline dump would stop the graph). It is consistent because
                  kgflow writes Neo4j only in publish's one transaction: the export is taken again until
                  CURRENT did not move and its counts are the published kb/ snapshot's
    index/        CURRENT and the published version directory (index, ids, manifest, kb/ snapshot)
    state/        the content-hash manifest of ingested documents
    models/       the model registry and every registered version's artefacts
    audit/        the gateway's audit database, copied with SQLite's online backup API
    MANIFEST.json every other member's sha256 and size, and what the snapshot holds (version, counts)

Beside it, `<archive>.sha256` holds the archive's own hash, so a truncated or altered archive is refused
before a single member is read. The target is a directory or any fsspec URL (s3://bucket/prefix included).
Secrets (home/secrets) are never archived: they come from the environment or Airflow Connections.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec

from kgflow.config import Settings
from kgflow.errors import KgflowError
from kgflow.graph.base import GraphBatch
from kgflow.ids import sha256_stream
from kgflow.vectors.index_store import CURRENT, VectorIndexStore

log = logging.getLogger("kgflow.ops.backup")

PREFIX, SUFFIX = "kgflow-backup-", ".tar.gz"
STAMP = "%Y%m%dT%H%M%SZ"
MANIFEST = "MANIFEST.json"
CHUNK = 1 << 20
NEO4J_EXPORT = "neo4j"


class BackupError(KgflowError):
    """A backup could not be taken or an archive cannot be restored; the message says why and what to do."""
    status, error_type = 500, "backup"


@dataclass(frozen=True)
class Archive:
    name: str
    taken_at: datetime


def archive_name(at: datetime) -> str:
    return f"{PREFIX}{at.strftime(STAMP)}{SUFFIX}"


def parse_archive(name: str) -> Archive | None:
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
        return None
    try:
        return Archive(name, datetime.strptime(name[len(PREFIX):-len(SUFFIX)], STAMP).replace(tzinfo=UTC))
    except ValueError:
        return None


def _sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return sha256_stream(f, CHUNK)


def _published_counts(store: VectorIndexStore, version: str) -> dict:
    from kgflow.retrieval.kb_snapshot import MANIFEST as KB_MANIFEST
    from kgflow.retrieval.kb_snapshot import snapshot_dir

    path = snapshot_dir(store.version_dir(version)) / KB_MANIFEST
    return json.loads(path.read_text())["counts"] if path.exists() else {}


def _export_matches(batch: GraphBatch, published: dict) -> bool:
    """Whether an export is the graph the published version was made from (its kb/ snapshot's counts)."""
    have = batch.counts()
    return all(published.get(kind, have[kind]) == have[kind] for kind in ("chunks", "entities", "mentions"))


def _stage(settings: Settings, into: Path) -> dict:
    """Copy a consistent snapshot of the home into `into`; returns what it holds."""
    from kgflow.graph import open_graph_store
    from kgflow.graph.base import file_backed

    s = settings
    store = VectorIndexStore(s.index_dir)
    handles: list = []
    export: GraphBatch | None = None
    for _ in range(5):  # a publish between reading CURRENT and reading the graph would pair the wrong two
        version = store.current_version()
        if version is None:
            raise BackupError("nothing is published yet: run the knowledge_ingest DAG before backing up")
        if file_backed(s):
            graph_files = sorted(p for p in s.graph_path.parent.glob(s.graph_path.name + "*") if p.is_file())
            handles = [(p, p.open("rb")) for p in graph_files]  # the inode publish's rename replaces, not the name
        else:
            with open_graph_store(s, read_only=True) as g:
                export = g.export()
        if store.current_version() == version and (export is None or
                                                   _export_matches(export, _published_counts(store, version))):
            break
        for _, f in handles:
            f.close()
    else:
        raise BackupError("publishes kept moving CURRENT during the backup: retry after the ingest run")
    (into / "graph").mkdir(parents=True)
    for p, f in handles:
        with f, (into / "graph" / p.name).open("wb") as out:
            shutil.copyfileobj(f, out, CHUNK)
    if export is not None:
        export.write_parquet(into / "graph" / NEO4J_EXPORT)
    (into / "index").mkdir()
    shutil.copytree(store.version_dir(version), into / "index" / version)
    (into / "index" / CURRENT).write_text(version + "\n")
    if s.manifest_path.exists():
        (into / "state").mkdir()
        shutil.copy2(s.manifest_path, into / "state" / s.manifest_path.name)
    if s.models_dir.exists():
        shutil.copytree(s.models_dir, into / "models", ignore=shutil.ignore_patterns("work", "*.tmp"))
    audit = s.home / "audit" / "gateway_audit.db"
    if audit.exists():
        (into / "audit").mkdir()
        src = sqlite3.connect(f"file:{audit}?mode=ro", uri=True)
        dst = sqlite3.connect(str(into / "audit" / audit.name))
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
    manifest = json.loads((store.version_dir(version) / "manifest.json").read_text())
    counts = export.counts() if export is not None else \
        _graph_counts(s, into / "graph" / s.graph_path.name) if handles else None
    return {"index_version": version, "index_vectors": manifest["count"], "graph_backend": s.graph_backend,
            "graph_counts": counts}


def _graph_counts(settings: Settings, graph_file: Path) -> dict:
    """Counts of an embedded graph file, opened read-only: the copy is a graph, not just bytes."""
    from kgflow.graph import open_graph_store

    embedded = settings.model_copy(update={"graph_backend": "embedded"})
    with open_graph_store(embedded, read_only=True, path=graph_file) as g:
        return g.counts()


def _load_export(settings: Settings, home: Path) -> dict | None:
    """Write a restored Neo4j export into the graph `settings` name: an empty Neo4j (never one holding a
    graph: a restore does not merge), or, on the embedded default, the restored home's own graph file."""
    from kgflow.graph import open_graph_store

    folder = home / "graph" / NEO4J_EXPORT
    if not folder.exists():
        return None
    batch = GraphBatch.read_parquet(folder)
    target = settings.model_copy(update={"home": home})
    with open_graph_store(target) as g:
        if any(g.counts().values()):
            raise BackupError(f"the {settings.graph_backend} graph to restore into is not empty: restore into "
                              "an empty database (or a new home on the embedded default)")
        with g.transaction() as tx:
            tx.bulk_write(batch)
        return g.counts()


def _members(root: Path) -> dict[str, dict]:
    return {p.relative_to(root).as_posix(): {"sha256": _sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(root.rglob("*")) if p.is_file()}


def backup(settings: Settings, target: str | None = None, now: Callable[[], datetime] | None = None) -> dict:
    """Take a backup into `target` (default: the configured one), then apply retention there."""
    s = settings
    target = target or s.backup_url
    at = (now or (lambda: datetime.now(UTC)))()
    t0 = time.perf_counter()
    fs, root = fsspec.core.url_to_fs(target)
    fs.makedirs(root, exist_ok=True)
    name = archive_name(at)
    with tempfile.TemporaryDirectory(prefix="kgflow-backup-") as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        holds = _stage(s, stage)
        members = _members(stage)
        (stage / MANIFEST).write_text(json.dumps({"format": 1, "taken_at": at.strftime(STAMP), **holds,
                                                  "members": members}, indent=2))
        local = Path(tmp) / name
        with tarfile.open(local, "w:gz", compresslevel=6) as tar:
            tar.add(stage / MANIFEST, MANIFEST)  # first: a restore reads it before any other member
            for rel in members:
                tar.add(stage / rel, rel)
        digest = _sha256_file(local)
        size = local.stat().st_size
        # the archive first, its hash last: an archive without a hash beside it is an unfinished upload
        fs.put_file(str(local), f"{root}/{name}")
        with fs.open(f"{root}/{name}.sha256", "w") as f:
            f.write(f"{digest}  {name}\n")
    pruned = prune(s, target, now=lambda: at)
    result = {"archive": f"{target.rstrip('/')}/{name}", "bytes": size, "sha256": digest, "files": len(members),
              "seconds": round(time.perf_counter() - t0, 3), "pruned": pruned, **holds}
    log.info("backup %s", result)
    return result


def list_archives(target: str) -> list[Archive]:
    fs, root = fsspec.core.url_to_fs(target)
    if not fs.exists(root):
        return []
    names = [Path(p).name for p in fs.ls(root, detail=False)]
    return sorted((a for n in names if (a := parse_archive(n))), key=lambda a: a.taken_at)


def prune(settings: Settings, target: str | None = None, now: Callable[[], datetime] | None = None,
          retention_days: int | None = None) -> list[str]:
    """Delete exactly the archives taken before now - retention (default 90 days), with their hashes."""
    target = target or settings.backup_url
    days = settings.backup_retention_days if retention_days is None else retention_days
    cutoff = (now or (lambda: datetime.now(UTC)))() - timedelta(days=days)
    fs, root = fsspec.core.url_to_fs(target)
    gone = []
    for a in list_archives(target):
        if a.taken_at < cutoff:
            for path in (f"{root}/{a.name}", f"{root}/{a.name}.sha256"):
                if fs.exists(path):
                    fs.rm(path)
            gone.append(a.name)
    return gone


def latest(target: str) -> str:
    archives = list_archives(target)
    if not archives:
        raise BackupError(f"no backup archive in {target}")
    return f"{target.rstrip('/')}/{archives[-1].name}"


def verify(archive: Path, expected_sha256: str | None) -> dict:
    """Check the archive whole (its hash) and member by member (MANIFEST.json) without writing anything;
    returns the manifest. Raises BackupError naming what is wrong."""
    if expected_sha256 is None:
        raise BackupError(f"{archive.name}.sha256 is missing: the backup did not finish; restore an earlier one")
    if _sha256_file(archive) != expected_sha256:
        raise BackupError(f"{archive.name} does not match its sha256: damaged or truncated; restore an earlier one")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST:
                raise BackupError(f"{archive.name} does not start with {MANIFEST}: not a kgflow backup")
            manifest = json.loads(tar.extractfile(first).read())
            seen = set()
            for m in tar:  # iterating a TarFile starts again at its first member, the manifest
                if m is first:
                    continue
                want = manifest["members"].get(m.name)
                if want is None or not m.isfile():
                    raise BackupError(f"{archive.name} holds {m.name!r}, which its manifest does not list")
                if sha256_stream(tar.extractfile(m), CHUNK) != want["sha256"]:
                    raise BackupError(f"{m.name} in {archive.name} does not match its checksum")
                seen.add(m.name)
    except (tarfile.TarError, EOFError, OSError, json.JSONDecodeError, KeyError) as e:
        raise BackupError(f"{archive.name} cannot be read ({type(e).__name__}: {e}); restore an earlier one") from e
    missing = set(manifest["members"]) - seen
    if missing:
        raise BackupError(f"{archive.name} lacks {len(missing)} member(s), e.g. {sorted(missing)[0]}: partial archive")
    return manifest


def drill(settings: Settings, scratch: Path, question: str | None = None) -> dict:
    """The weekly restore drill: restore the latest archive into a scratch home and compare it with what the
    archive says it holds (graph counts, index vectors) and, when given, answer a question from it."""
    from kgflow.retrieval.engine import RetrievalEngine

    # a Neo4j backup's export is loaded into an embedded graph in the scratch home: the drill proves the
    # archive holds a whole graph without touching the live server
    restored = settings.model_copy(update={"home": scratch, "landing": None, "backup_target": None,
                                           "graph_backend": "embedded"})
    done = restore(latest(settings.backup_url), scratch, restored)
    archived = done["holds"]
    problems = []
    if archived.get("graph_counts") is not None:
        counts = _graph_counts(restored, restored.graph_path)
        if counts != archived["graph_counts"]:
            problems.append(f"graph counts {counts} != archived {archived['graph_counts']}")
    index = VectorIndexStore(restored.index_dir).load()
    if index is None or index.manifest["count"] != archived["index_vectors"]:
        problems.append(f"index vectors {index.manifest['count'] if index else None} != {archived['index_vectors']}")
    answered = None
    if question and not problems:
        answered = len(RetrievalEngine(restored).retrieve(question).chunks)
        if not answered:
            problems.append(f"the restored knowledge base retrieves nothing for {question!r}")
    if problems:
        raise BackupError(f"restore drill of {done['archive']} failed: {'; '.join(problems)}")
    return {**done, "chunks_retrieved": answered}


def _occupied(home: Path) -> list[str]:
    return [n for n in ("graph", "index", "state", "models", "audit")
            if (home / n).exists() and any((home / n).iterdir())]


def restore(archive_url: str, home: Path, settings: Settings | None = None) -> dict:
    """Restore an archive into `home`, which must hold no knowledge base. Every checksum is checked before
    anything is written there. A Neo4j backup's graph is written into the graph `settings` names (an
    empty Neo4j, or the home's embedded graph)."""
    t0 = time.perf_counter()
    busy = _occupied(home)
    if busy:
        raise BackupError(f"{home} already holds {', '.join(busy)}: restore into an empty or a new home")
    fs, path = fsspec.core.url_to_fs(archive_url)
    name = Path(path).name
    with tempfile.TemporaryDirectory(prefix="kgflow-restore-") as tmp:
        local = Path(tmp) / name
        try:
            fs.get_file(path, str(local))
        except FileNotFoundError as e:
            raise BackupError(f"no archive at {archive_url}") from e
        expected = None
        if fs.exists(path + ".sha256"):
            with fs.open(path + ".sha256", "r") as f:
                expected = f.read().split()[0]
        manifest = verify(local, expected)
        home.mkdir(parents=True, exist_ok=True)
        with tarfile.open(local, "r:gz") as tar:
            tar.extractall(home, members=[m for m in tar.getmembers() if m.name != MANIFEST], filter="data")
    graph = _load_export(settings or Settings(home=home), home)
    (home / "restored_from.json").write_text(json.dumps({"archive": archive_url, "taken_at": manifest["taken_at"],
                                                         "index_version": manifest["index_version"]}, indent=2))
    holds = {k: v for k, v in manifest.items() if k not in ("members", "format")}
    return {"home": str(home), "archive": archive_url, "index_version": manifest["index_version"],
            "files": len(manifest["members"]), "graph_loaded": graph, "seconds": round(time.perf_counter() - t0, 3),
            "holds": holds}

