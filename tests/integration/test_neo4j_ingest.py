"""knowledge_ingest on a real Neo4j 5.26 server (KGFLOW_GRAPH_BACKEND=neo4j), beside the embedded default on
the same sample corpus (the session's `knowledge_base`, on LadybugDB).

The module runs the real DAG four times on one Neo4j home: a first ingest; a run the quality gate blocks
after its load (the documents holding the golden answers deleted); a run that changes one document and
deletes another, its gate turned off; and a no-change rerun. Each test checks one behaviour of one run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kgflow.config import Settings, get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.corpus.writers import write_md
from kgflow.graph import cypher, open_graph_store
from kgflow.ingest.recall import graph_recall
from kgflow.ingest.staging import read_json, run_dir
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag
from kgflow.retrieval import strategy_names
from kgflow.retrieval.engine import RetrievalEngine
from kgflow.vectors.index_store import VectorIndexStore

pytestmark = pytest.mark.slow


def _state(settings: Settings) -> dict:
    with open_graph_store(settings, read_only=True) as g:
        return {"counts": g.counts(), "texts": sorted(r["text"] for r in g.run(cypher.CHUNK_TEXTS)),
                "docs": sorted(d["uri"] for d in g.run(cypher.DOCUMENTS)),
                "version": VectorIndexStore(settings.index_dir).current_version()}


def _questions(truth: dict) -> list[str]:
    """20 questions a user of the sample company would ask: the multi-hop ones, then one per fact."""
    asked = [m["question"] for m in truth["multi_hop"]]
    asked += [f"What does {f['subject']} {f['relation'].replace('_', ' ')}?" for f in truth["facts"]]
    return asked[:20]


def _top5(settings: Settings, questions: list[str]) -> dict[str, list[list[str]]]:
    engine = RetrievalEngine(settings)
    return {mode: [[c.chunk.id for c in engine.retrieve(q, mode=mode).chunks[:5]] for q in questions]
            for mode in strategy_names()}


def _states(dr) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}


@pytest.fixture(scope="module")
def embedded(knowledge_base: Path) -> dict:
    s = Settings(home=knowledge_base, graph_backend="embedded")
    truth = json.loads((knowledge_base / "ground_truth.json").read_text())
    with open_graph_store(s, read_only=True) as g:
        counts, recall = g.counts(), graph_recall(g, truth)
    return {"counts": counts, "recall": recall, "top5": _top5(s, _questions(truth))}


@pytest.fixture(scope="module")
def runs(embedded, neo4j_server, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """(After `embedded`: the session's knowledge base is built on LadybugDB before this sets neo4j.)"""
    neo4j_server.empty()
    home = tmp_path_factory.mktemp("neo4j-ingest")
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(home))
    mp.setenv("KGFLOW_GRAPH_BACKEND", "neo4j")
    mp.setenv("AIRFLOW_CONN_NEO4J_DEFAULT", neo4j_server.conn_uri)
    truth = generate_corpus(home / "landing", n_docs=50)
    s = get_settings()
    out: dict = {"truth": truth, "home": home}
    out["first"] = run_ingest_dag("knowledge_ingest")
    out["after_first"] = _state(s)
    with open_graph_store(s, read_only=True) as g:
        out["recall"] = graph_recall(g, truth)
    out["top5"] = _top5(s, _questions(truth))
    # the documents that hold the golden answers go: the gate blocks the run after publish loaded it
    out["blocked_deleted"] = [d for d in truth["documents"] if d["facts"]][:8]
    for doc in out["blocked_deleted"]:
        (home / "landing" / doc["path"]).unlink()
    out["blocked"] = run_ingest_dag("knowledge_ingest")
    out["after_blocked"] = _state(s)
    changed = next(d for d in truth["documents"] if d["format"] == "md" and d not in out["blocked_deleted"])
    write_md(home / "landing" / changed["path"], "Revised plan", ["Gabriela Santos founded Orbital Freight in Lisbon."])
    out["changed_doc"] = changed
    original = next(d for d in truth["documents"] if d["format"] == "md" and d not in out["blocked_deleted"]
                    and d is not changed and not d["path"].startswith("sales/"))
    out["copy"] = ("sales/copy_" + Path(original["path"]).name, original["path"])
    shutil.copyfile(home / "landing" / original["path"], home / "landing" / out["copy"][0])
    out["changed"] = run_ingest_dag("knowledge_ingest", {"quality_gate": False})
    out["after_changed"] = _state(s)
    out["rerun"] = run_ingest_dag("knowledge_ingest")
    out["after_rerun"] = _state(s)
    yield out
    mp.undo()


def test_the_first_run_succeeds_through_every_task_on_neo4j(runs):
    assert str(runs["first"].state) == "success", _states(runs["first"])


def test_neo4j_holds_the_same_entities_relations_and_chunks_as_the_embedded_graph(runs, embedded):
    assert runs["after_first"]["counts"] == embedded["counts"]


def test_graph_recall_is_identical_on_both_backends(runs, embedded):
    assert runs["recall"] == embedded["recall"]


@pytest.mark.parametrize("mode", strategy_names())
def test_every_strategy_ranks_the_same_top_five_chunks_for_20_questions(runs, embedded, mode):
    assert len(runs["top5"][mode]) == 20
    assert runs["top5"][mode] == embedded["top5"][mode]


def test_a_run_blocked_at_publish_leaves_the_published_graph_as_it_was(runs):
    assert str(runs["blocked"].state) == "failed"
    assert _states(runs["blocked"])["publish"] == "failed"
    gate = read_json(run_dir(get_settings().runs_dir, runs["blocked"].run_id), "quality_gate.json")
    assert gate and not gate["passed"]  # the gate read the loaded candidate, then the load rolled back
    assert runs["after_blocked"] == runs["after_first"]


def test_a_changed_document_replaces_its_content_and_deleted_ones_leave_the_graph(runs):
    assert str(runs["changed"].state) == "success", _states(runs["changed"])
    after = runs["after_changed"]
    assert any("Orbital Freight" in t for t in after["texts"])
    gone = {d["path"] for d in runs["blocked_deleted"]}
    assert not [u for u in after["docs"] if any(u.endswith(p) for p in gone)]
    # the copy filed under sales/ arrived in the same run
    assert after["counts"]["documents"] == runs["after_first"]["counts"]["documents"] - len(gone) + 1


def test_a_rerun_with_nothing_new_changes_nothing(runs):
    assert str(runs["rerun"].state) == "success", _states(runs["rerun"])
    assert runs["after_rerun"]["counts"] == runs["after_changed"]["counts"]
    assert runs["after_rerun"]["texts"] == runs["after_changed"]["texts"]


def test_a_copy_filed_under_another_department_is_published_with_its_acl_and_recorded_as_a_duplicate(runs):
    copy, original = ((runs["home"] / "landing" / p).resolve().as_uri() for p in runs["copy"])
    with open_graph_store(get_settings(), read_only=True) as g:
        docs = {d["uri"]: d for d in g.run(cypher.DOCUMENTS)}
    assert list(docs[copy]["acl"]) == ["sales"]
    summary = read_json(run_dir(get_settings().runs_dir, runs["changed"].run_id), "publish.json")
    assert summary["duplicates"] == {docs[copy]["id"]: docs[original]["id"]}


def test_a_backup_restored_into_an_empty_neo4j_gives_identical_counts(runs, tmp_path):
    from kgflow.ops.backup import backup, restore

    s = get_settings()
    archive = backup(s, str(tmp_path / "backups"))["archive"]
    with open_graph_store(s) as g:  # the server the Connection names, emptied: "restore into an empty Neo4j"
        g.run("MATCH (n) DETACH DELETE n")
    restored = restore(archive, tmp_path / "restored", s.model_copy(update={"home": tmp_path / "restored"}))
    assert restored["graph_loaded"] == runs["after_rerun"]["counts"]
    with open_graph_store(s, read_only=True) as g:
        assert g.counts() == runs["after_rerun"]["counts"]
        assert sorted(r["text"] for r in g.run(cypher.CHUNK_TEXTS)) == runs["after_rerun"]["texts"]


def test_the_restore_drill_finds_a_neo4j_backup_whole(runs, tmp_path):
    from kgflow.ops.backup import backup, drill

    s = get_settings().model_copy(update={"backup_target": str(tmp_path / "backups")})
    backup(s)
    done = drill(s, tmp_path / "scratch", "Who leads Project Falcon?")
    assert done["holds"]["graph_counts"] == runs["after_rerun"]["counts"] and done["chunks_retrieved"]
