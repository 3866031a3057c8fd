"""A real file share through the real knowledge_ingest DAG (Spark, spaCy, GX, LadybugDB, FAISS).

One batch holds the sample corpus's good documents beside every hostile kind of tests/hostile_corpus.py.
The run must succeed, publish every good document, quarantine each bad one with its reason, and never
read, stage or serve anything from outside the landing zone.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from kgflow.config import get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.graph import cypher, open_graph_store
from kgflow.ingest.staging import read_table, run_dir
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag
from kgflow.vectors.index_store import VectorIndexStore
from tests.hostile_corpus import OUTSIDE_MARKER, write_hostile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("share")
    home = base / "home"
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(home))
    mp.setenv("KGFLOW_MAX_QUARANTINE_SHARE", "1.0")  # a batch that is hostile on purpose: most files are bad
    landing = home / "landing"
    truth = generate_corpus(landing, n_docs=12)
    secret = home / "secrets" / "jwt_secret"
    secret.parent.mkdir(parents=True, mode=0o700)
    secret.write_text("SECRET-SIGNING-KEY-DO-NOT-LEAK")
    secret.chmod(0o600)
    kinds = write_hostile(landing, base / "outside", secret)
    dr = run_ingest_dag("knowledge_ingest")
    s = get_settings()
    run = run_dir(s.runs_dir, dr.run_id)
    with open_graph_store(s, read_only=True) as g:
        docs = g.run(cypher.DOCUMENTS)
        texts = [r["text"] for r in g.run(cypher.CHUNK_TEXTS)]
        entities = [r["name"] for r in g.run("MATCH (e:Entity) RETURN e.name AS name")]
    yield {"home": home, "landing": landing, "truth": truth, "kinds": kinds, "run": dr, "run_dir": run,
           "states": {ti.task_id: str(ti.state) for ti in dr.get_task_instances()},
           "docs": docs, "texts": texts, "entities": entities,
           "quarantine": read_table(run, "quarantine"), "changes": pd.read_parquet(run / "changes.parquet"),
           "index": VectorIndexStore(s.index_dir).load()}
    mp.undo()


def _uri(share: dict, rel: bytes) -> str:
    from urllib.parse import quote_from_bytes

    return Path(os.path.realpath(share["landing"])).as_uri() + "/" + quote_from_bytes(rel, safe="/")


def test_run_with_every_hostile_kind_succeeds_through_publish(share):
    assert str(share["run"].state) == "success", share["states"]
    assert share["states"]["publish"] == "success"


def test_hostile_batch_has_at_least_thirty_kinds(share):
    assert len(share["kinds"]) >= 30


def test_every_good_sample_document_is_published_beside_the_hostile_ones(share):
    published = {d["uri"] for d in share["docs"]}
    good = {(share["landing"] / d["path"]).resolve().as_uri() for d in share["truth"]["documents"]}
    assert good <= published


@pytest.mark.parametrize("kind", [
    "symlink_to_host_file", "symlink_without_extension", "symlink_to_kgflow_secret", "symlink_inside_not_followed",
    "dangling_symlink", "directory_symlink_out", "plain_markdown", "name_not_utf8", "name_with_newline",
    "name_with_backslash_and_quotes", "name_very_long", "hidden_file", "star_folder",
    "folder_name_not_a_department", "root_file", "text_over_char_limit_under_byte_limit", "single_800kb_token_line",
    "over_byte_limit", "docx_zip_bomb", "docx_too_many_members", "html_nested_10000", "email_with_bomb_attachment",
    "email_with_oversized_attachment", "email_nested_4_deep", "email_with_text_attachment",
    "email_with_image_attachment", "utf16_with_bom", "windows_1252_text", "htm_extension", "html_script_only",
    "gzip_named_txt", "elf_named_md", "whitespace_only", "duplicate_filed_under_another_department", "fifo",
])
def test_each_hostile_kind_has_its_expected_outcome(share, kind):
    k = share["kinds"][kind]
    uri = _uri(share, k.rel)
    published = {d["uri"] for d in share["docs"]}
    q = share["quarantine"].set_index("uri")
    if k.outcome == "ingested":
        assert uri in published and uri not in q.index
    elif k.outcome == "quarantined":
        assert uri not in published
        assert uri in q.index, f"{kind} has no quarantine record"
        assert q.loc[uri, "reason"] == k.reason, q.loc[uri, "detail"]
    else:
        assert uri not in published and uri not in q.index
        assert uri not in set(share["changes"]["uri"])


def test_a_symlink_to_a_host_file_publishes_nothing_from_it(share):
    assert not any(OUTSIDE_MARKER in t for t in share["texts"])
    assert not any(OUTSIDE_MARKER in (d["title"] or "") for d in share["docs"])


def test_a_symlink_to_the_gateway_secret_is_never_read_or_staged(share):
    for path in share["run_dir"].rglob("*.parquet"):
        assert b"SECRET-SIGNING-KEY" not in path.read_bytes(), path
        assert OUTSIDE_MARKER.encode() not in path.read_bytes(), path


def test_quarantine_details_never_show_a_link_target(share):
    details = " ".join(share["quarantine"]["detail"].fillna(""))
    for target in (share["home"].parent / "outside", share["home"] / "secrets", share["landing"] / "hr"):
        assert str(target) not in details


def test_no_published_document_lies_outside_the_landing_zone(share):
    root = Path(os.path.realpath(share["landing"])).as_uri() + "/"
    assert all(d["uri"].startswith(root) for d in share["docs"])


def test_staged_files_are_readable_by_the_pipeline_user_only(share):
    assert stat.S_IMODE(share["run_dir"].stat().st_mode) == 0o700
    for path in share["run_dir"].rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_root_files_are_private_to_admins(share):
    uri = _uri(share, share["kinds"]["root_file"].rel)
    doc = next(d for d in share["docs"] if d["uri"] == uri)
    assert list(doc["acl"] or []) == []


def test_a_copy_filed_under_another_department_takes_that_folders_acl(share):
    uri = _uri(share, share["kinds"]["duplicate_filed_under_another_department"].rel)
    assert next(d for d in share["docs"] if d["uri"] == uri)["acl"] == ["sales"]


def test_entities_stay_within_their_length_bound(share):
    limit = get_settings().max_entity_chars
    assert share["entities"] and max(len(n) for n in share["entities"]) <= limit


def test_text_of_an_email_attachment_is_ingested(share):
    assert sum("Harriet Vance" in t for t in share["texts"]) >= 2


def test_index_has_one_vector_per_graph_chunk(share):
    assert share["index"].manifest["count"] == len(share["texts"])


def test_validation_report_names_no_run_level_failure(share):
    report = json.loads((share["run_dir"] / "validation.json").read_text())
    assert report["success"]


def test_identical_documents_are_published_and_recorded_as_duplicates(share):
    summary = json.loads((share["run_dir"] / "publish.json").read_text())
    copy = _uri(share, share["kinds"]["duplicate_filed_under_another_department"].rel)
    original = _uri(share, share["kinds"]["plain_markdown"].rel)
    ids = {d["uri"]: d["id"] for d in share["docs"]}
    assert summary["duplicates"].get(ids[copy]) == ids[original]
