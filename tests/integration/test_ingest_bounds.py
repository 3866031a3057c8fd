"""What kgflow does when its own bound breaks, or when most of a run's documents are set aside: the real
knowledge_ingest DAG (Spark, spaCy, Great Expectations, LadybugDB, FAISS) on small generated corpora.

- A chunker that breaks its cap (a test double plugged in at the chunker seam, KGFLOW_CHUNKER, imported by
  the Spark workers like any plug-in) fails the run as kgflow's internal error naming each document and the
  rule; no document is quarantined for it and nothing is published.
- A run that quarantines more than KGFLOW_MAX_QUARANTINE_SHARE of its new documents fails before loading
  anything; the run's max_quarantine_share param lets a deliberate bulk load through.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from kgflow.config import get_settings
from kgflow.corpus.generator import generate_corpus
from kgflow.ingest.staging import read_table, run_dir
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag
from kgflow.vectors.index_store import VectorIndexStore

pytestmark = pytest.mark.slow

OVERLONG = '''
"""Test double at the chunker seam: the real chunker's chunks, each then made longer than any cap."""
from kgflow.chunking.chunker import Chunk, chunk_elements


def overlong(elements, doc_id, max_chars, new_after, overlap, clean=str.strip):
    return [Chunk(c.chunk_id, c.doc_id, c.ord, c.text + " padding" * max_chars, c.page, c.section)
            for c in chunk_elements(elements, doc_id, max_chars, new_after, overlap, clean)]
'''


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture(scope="module")
def broken_chunker(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("bounds")
    plugin = base / "plugins"
    plugin.mkdir()
    (plugin / "kgflow_test_chunkers.py").write_text(textwrap.dedent(OVERLONG))
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(base / "home"))
    mp.setenv("KGFLOW_CHUNKER", "kgflow_test_chunkers:overlong")
    mp.setenv("PYTHONPATH", str(plugin))  # the Spark workers import the plug-in as a deployment would install it
    truth = generate_corpus(base / "home" / "landing", n_docs=6, bad_files=False)
    dr = run_ingest_dag("knowledge_ingest")
    s = get_settings()
    run = run_dir(s.runs_dir, dr.run_id)
    found = {"run": dr, "states": _states(dr), "truth": truth, "run_dir": run,
             "validation": json.loads((run / "validation.json").read_text()),
             "quarantine": read_table(run, "quarantine"), "published": VectorIndexStore(s.index_dir).current_version()}
    mp.undo()  # the broken chunker stays with this run only
    return found


def test_a_chunker_that_breaks_its_cap_fails_the_run_at_validation(broken_chunker):
    assert str(broken_chunker["run"].state) == "failed"
    assert broken_chunker["states"]["parse_chunk"] == "success"
    assert broken_chunker["states"]["validate"] == "failed"
    assert broken_chunker["published"] is None


def test_the_internal_error_names_every_document_the_rule_and_the_module_that_keeps_it(broken_chunker):
    errors = broken_chunker["validation"]["internal_errors"]
    names = {Path(e["uri"].removeprefix("file://")).name for e in errors}
    assert names == {Path(d["path"]).name for d in broken_chunker["truth"]["documents"]}
    assert {e["kept_by"] for e in errors} == {"kgflow.chunking.chunker.pack"}
    assert all("expect_column_value_lengths_to_be_between" in e["rule"] and "chunks" == e["table"] for e in errors)


def test_no_document_is_quarantined_for_kgflows_own_bug(broken_chunker):
    assert broken_chunker["quarantine"].empty


def test_a_run_quarantining_most_of_its_documents_fails_before_loading(tmp_path, monkeypatch):
    monkeypatch.setenv("KGFLOW_HOME", str(tmp_path / "home"))
    generate_corpus(tmp_path / "home" / "landing", n_docs=10)  # 10 good files beside 11 bad ones
    dr = run_ingest_dag("knowledge_ingest")
    states = _states(dr)
    assert str(dr.state) == "failed" and states["validate"] == "failed" and states["load_graph"] != "success"
    share = json.loads((run_dir(get_settings().runs_dir, dr.run_id) / "validation.json").read_text())
    assert share["quarantine_share"]["quarantined"] == 11 and share["quarantine_share"]["pending"] == 21
    assert VectorIndexStore(get_settings().index_dir).current_version() is None

    dr = run_ingest_dag("knowledge_ingest", {"max_quarantine_share": 1.0})  # the documented override
    assert str(dr.state) == "success", _states(dr)
    assert VectorIndexStore(get_settings().index_dir).current_version() is not None
