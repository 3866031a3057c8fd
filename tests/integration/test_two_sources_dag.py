"""Two sources ingest side by side through the real knowledge_ingest DAG: the landing folder and an S3
bucket (moto's S3 server), read by the Spark executors themselves. Removing a file from one source retires
exactly that document; the other source's documents stay as they were."""

from __future__ import annotations

import json

import pytest

from kgflow.config import get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.graph import cypher, open_graph_store
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag
from tests.s3_server import CREDENTIALS, s3_server

pytestmark = pytest.mark.slow

BUCKET = "contracts"
S3_DOCS = {
    "2026/supplier.md": "# Supplier agreement\n\nHelix Logistics supplies Corvane Systems from Rotterdam.\n",
    "2026/renewal.txt": "The renewal with Orbital Freight was signed by Maria Lindqvist in Lisbon.\n",
}


def _documents() -> list[dict]:
    with open_graph_store(get_settings(), read_only=True) as g:
        return g.run(cypher.DOCUMENTS)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("two-sources")
    mp = pytest.MonkeyPatch()
    with s3_server(BUCKET) as endpoint:
        for k, v in CREDENTIALS.items():
            mp.setenv(k, v)
        import fsspec

        fs = fsspec.filesystem("s3", endpoint_url=endpoint)
        for key, text in S3_DOCS.items():
            fs.pipe(f"{BUCKET}/legal-share/{key}", text.encode())
        sources = [{"name": "landing", "url": str(home / "landing")},
                   {"name": "contracts", "url": f"s3://{BUCKET}/legal-share", "department": "legal",
                    "storage_options": {"endpoint_url": endpoint}}]
        mp.setenv("KGFLOW_HOME", str(home))
        mp.setenv("KGFLOW_SOURCES", json.dumps(sources))
        mp.setenv("KGFLOW_GOLDEN_QUESTIONS", str(home / "no-golden-file.json"))  # deletions on purpose
        generate_corpus(home / "landing", n_docs=6, bad_files=False)
        first = run_ingest_dag("knowledge_ingest")
        before = _documents()
        fs.rm(f"{BUCKET}/legal-share/2026/renewal.txt")
        second = run_ingest_dag("knowledge_ingest")
        after = _documents()
        yield {"first": first, "second": second, "before": before, "after": after}
    mp.undo()


def test_documents_of_both_sources_are_ingested(pair):
    assert str(pair["first"].state) == "success"
    uris = [d["uri"] for d in pair["before"]]
    assert sum(u.startswith("s3://") for u in uris) == len(S3_DOCS)
    assert sum(u.startswith("file://") for u in uris) == 6


def test_an_s3_source_with_a_department_gives_its_documents_that_acl(pair):
    s3_docs = [d for d in pair["before"] if d["uri"].startswith("s3://")]
    assert {(d["department"], tuple(d["acl"])) for d in s3_docs} == {("legal", ("legal",))}


def test_removing_a_file_from_one_source_retires_only_that_document(pair):
    assert str(pair["second"].state) == "success"
    gone = {d["uri"] for d in pair["before"]} - {d["uri"] for d in pair["after"]}
    assert gone == {f"s3://{BUCKET}/legal-share/2026/renewal.txt"}
    assert len(pair["after"]) == len(pair["before"]) - 1


def test_the_second_run_reads_nothing_but_finds_the_deletion(pair):
    from kgflow.ingest.staging import read_json, run_dir

    summary = read_json(run_dir(get_settings().runs_dir, pair["second"].run_id), "discover.json")
    assert (summary["new"], summary["changed"], summary["deleted"]) == (0, 0, 1)
    assert summary["sources"] == ["landing", "contracts"]

