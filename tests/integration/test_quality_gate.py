"""The quality gate before publish, through the real DAG: a good candidate publishes, a degraded one is
blocked with its report saved, and a blocked run moves neither the graph nor the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgflow.config import get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.corpus.writers import write_md
from kgflow.graph import open_graph_store
from kgflow.ingest.staging import run_dir
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag
from kgflow.vectors.index_store import VectorIndexStore

pytestmark = pytest.mark.slow


def _state() -> dict:
    s = get_settings()
    with open_graph_store(s, read_only=True) as g:
        counts = g.counts()
    return {"counts": counts, "version": VectorIndexStore(s.index_dir).current_version()}


def _gate(dr) -> dict:
    return json.loads((run_dir(get_settings().runs_dir, dr.run_id) / "quality_gate.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("gate")
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(home))
    truth = generate_corpus(home / "landing", n_docs=14, bad_files=False)
    out: dict = {"first": run_ingest_dag("knowledge_ingest")}
    out["after_first"] = _state()
    write_md(home / "landing" / "sales" / "extra.md", "Extra note", ["Gabriela Santos visited Hamburg in May."])
    out["good"] = run_ingest_dag("knowledge_ingest")
    out["after_good"] = _state()
    for doc in truth["documents"]:  # the documents that hold the golden answers go: a degraded candidate
        if doc["facts"]:
            (home / "landing" / doc["path"]).unlink()
    out["degraded"] = run_ingest_dag("knowledge_ingest")
    out["after_degraded"] = _state()
    yield out
    mp.undo()


def test_the_sample_corpus_writes_a_golden_question_file(runs):
    golden = json.loads(get_settings().golden_path.read_text())
    assert golden and all(item["question"] and item["answer"] for item in golden)


def test_the_first_publish_passes_the_gate_with_nothing_live_to_compare(runs):
    assert str(runs["first"].state) == "success"
    gate = _gate(runs["first"])
    assert gate["passed"] and gate["live"] is None and gate["candidate"] > 0.5


def test_a_good_candidate_passes_the_gate_and_publishes(runs):
    assert str(runs["good"].state) == "success"
    gate = _gate(runs["good"])
    assert gate["passed"] and gate["candidate"] >= gate["live"] - gate["margin"]
    assert runs["after_good"]["version"] != runs["after_first"]["version"]


def test_a_degraded_candidate_is_blocked_and_its_report_saved(runs):
    assert str(runs["degraded"].state) == "failed"
    states = {ti.task_id: str(ti.state) for ti in runs["degraded"].get_task_instances()}
    assert states["publish"] == "failed"
    gate = _gate(runs["degraded"])
    assert not gate["passed"] and gate["candidate"] < gate["live"] - gate["margin"]


def test_a_blocked_run_moves_neither_the_graph_nor_the_index(runs):
    assert runs["after_degraded"] == runs["after_good"]


def test_a_blocked_run_keeps_its_staged_data(runs):
    run = run_dir(get_settings().runs_dir, runs["degraded"].run_id)
    assert (run / "changes.parquet").exists() and (run / "validation.json").exists()
    assert Path(get_settings().graph_path.parent / "staging" / f"{run.name}.lbug").exists()


def test_the_gate_can_be_turned_off_for_a_reviewed_change(runs):
    dr = run_ingest_dag("knowledge_ingest", {"quality_gate": False})
    assert str(dr.state) == "success"
    assert _gate(dr) == {"skipped": True, "reason": "turned off"}
