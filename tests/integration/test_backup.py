"""Backups and restores of a real knowledge base (built by the real DAG): what comes back is what was
there, a damaged archive is refused before anything is written, retention deletes exactly the old ones,
and an S3 target (moto's S3 server) works like a directory."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kgflow.graph import open_graph_store
from kgflow.ops.backup import MANIFEST, BackupError, archive_name, backup, drill, list_archives, prune, restore
from kgflow.retrieval.engine import RetrievalEngine
from kgflow.vectors.index_store import VectorIndexStore
from tests.integration.gateway_harness import settings_for
from tests.s3_server import CREDENTIALS, s3_server

pytestmark = pytest.mark.slow

QUESTIONS = ["Who leads Project Falcon?", "Where is Helix Logistics headquartered?",
             "Who leads the project that uses Corvane Beacon?"]


@pytest.fixture(scope="module")
def live(knowledge_base, tmp_path_factory):
    """A home of its own (a copy of the session's knowledge base) with a gateway audit log in it."""
    home = tmp_path_factory.mktemp("live") / "home"
    shutil.copytree(knowledge_base, home, symlinks=True, ignore=shutil.ignore_patterns("airflow", "landing", "runs"))
    from kgflow.gateway.audit import AuditLog, AuditRow

    log = AuditLog(home / "audit" / "gateway_audit.db", b"test-key")  # the gateway's own audit log
    log.record(AuditRow("backup-test", "tester", "admin", "127.0.0.1", "/generate", "a question", 10, 1.0, 200))
    log.close()
    return settings_for(home, "http://unused")


@pytest.fixture(scope="module")
def archive(live, tmp_path_factory) -> str:
    return backup(live, str(tmp_path_factory.mktemp("backups")))["archive"]


def _state(s) -> tuple:
    with open_graph_store(s, read_only=True) as g:
        counts = g.counts()
    engine = RetrievalEngine(s)
    return (counts, VectorIndexStore(s.index_dir).load().manifest["count"],
            [[c.chunk.id for c in engine.retrieve(q).chunks] for q in QUESTIONS])


def test_restore_into_a_fresh_home_gives_the_same_graph_index_and_retrieval(live, archive, tmp_path):
    restore(archive, tmp_path / "fresh")
    assert _state(settings_for(tmp_path / "fresh", "http://unused")) == _state(live)


def test_the_audit_log_comes_back_with_its_rows(archive, tmp_path):
    import sqlite3

    restore(archive, tmp_path / "fresh")
    rows = sqlite3.connect(tmp_path / "fresh" / "audit" / "gateway_audit.db").execute(
        "SELECT user FROM audit WHERE request_id = 'backup-test'").fetchall()
    assert rows == [("tester",)]


def _copy(archive: str, tmp_path: Path) -> Path:
    dest = tmp_path / "damaged"
    dest.mkdir()
    shutil.copy(archive, dest)
    shutil.copy(archive + ".sha256", dest)
    return dest / Path(archive).name


def test_a_truncated_archive_is_refused_before_anything_is_written(archive, tmp_path):
    bad = _copy(archive, tmp_path)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(BackupError, match="damaged or truncated"):
        restore(str(bad), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_a_flipped_byte_is_refused_before_anything_is_written(archive, tmp_path):
    bad = _copy(archive, tmp_path)
    data = bytearray(bad.read_bytes())
    data[len(data) // 3] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.raises(BackupError, match="does not match its sha256"):
        restore(str(bad), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_a_member_that_differs_from_the_manifest_is_refused_even_with_a_rewritten_archive_hash(archive, tmp_path):
    bad = _copy(archive, tmp_path)
    out = io.BytesIO()
    with tarfile.open(bad, "r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for m in src:
            data = src.extractfile(m).read()
            if m.name.endswith("manifest.json") and m.name.startswith("index/"):
                data = data.replace(b'"count"', b'"COUNT"')
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    bad.write_bytes(out.getvalue())
    Path(f"{bad}.sha256").write_text(f"{hashlib.sha256(out.getvalue()).hexdigest()}  {bad.name}\n")
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore(str(bad), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


def test_an_archive_without_its_hash_is_an_unfinished_backup_and_is_refused(archive, tmp_path):
    bad = _copy(archive, tmp_path)
    Path(f"{bad}.sha256").unlink()
    with pytest.raises(BackupError, match="did not finish"):
        restore(str(bad), tmp_path / "fresh")


def test_restore_refuses_a_home_that_already_holds_a_knowledge_base(live, archive):
    with pytest.raises(BackupError, match="already holds"):
        restore(archive, live.home)


def test_the_archive_lists_every_member_with_its_checksum_first(archive):
    with tarfile.open(archive, "r:gz") as tar:
        first = tar.next()
        manifest = json.loads(tar.extractfile(first).read())
        names = {m.name for m in tar}
    assert first.name == MANIFEST and names - {MANIFEST} == set(manifest["members"])
    assert not any(n.startswith("secrets/") for n in names)


def test_retention_deletes_exactly_the_archives_older_than_the_window(live, tmp_path):
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    ages = [0, 30, 89, 90.5, 91, 400]
    for days in ages:
        name = archive_name(now - timedelta(days=days))
        (tmp_path / name).write_bytes(gzip.compress(b""))
        (tmp_path / f"{name}.sha256").write_text("x\n")
    (tmp_path / "notes.txt").write_text("not an archive")
    gone = prune(live, str(tmp_path), now=lambda: now, retention_days=90)
    assert sorted(gone) == sorted(archive_name(now - timedelta(days=d)) for d in (90.5, 91, 400))
    assert [a.name for a in list_archives(str(tmp_path))] == [archive_name(now - timedelta(days=d))
                                                             for d in (89, 30, 0)]
    assert (tmp_path / "notes.txt").exists() and len(list(tmp_path.glob("*.sha256"))) == 3


def test_the_restore_drill_restores_the_latest_backup_and_finds_it_whole(live, tmp_path):
    s = live.model_copy(update={"backup_target": str(tmp_path / "target")})
    backup(s)
    r = drill(s, tmp_path / "scratch", question=QUESTIONS[0])
    assert r["chunks_retrieved"] > 0 and r["index_version"] == VectorIndexStore(s.index_dir).current_version()


@pytest.fixture()
def s3(monkeypatch):
    """moto's S3 server and fsspec pointed at it through its env config."""
    import fsspec

    with s3_server("kgflow-backups") as url:
        for k, v in {**CREDENTIALS, "FSSPEC_S3_ENDPOINT_URL": url}.items():
            monkeypatch.setenv(k, v)
        saved = dict(fsspec.config.conf)
        fsspec.config.set_conf_env(fsspec.config.conf)  # FSSPEC_S3_ENDPOINT_URL, read now that it is set
        yield "s3://kgflow-backups/nightly"
        fsspec.config.conf.clear()
        fsspec.config.conf.update(saved)


def test_an_s3_target_backs_up_and_restores_like_a_directory(live, s3, tmp_path):
    r = backup(live, s3)
    assert r["archive"].startswith("s3://kgflow-backups/nightly/")
    restore(r["archive"], tmp_path / "fresh")
    assert _state(settings_for(tmp_path / "fresh", "http://unused"))[:2] == _state(live)[:2]
