"""A real file share through the real knowledge_ingest DAG: the 18F handbook (246 public-domain pages in six
formats, by department folder), read in place from ../shared/corpus/handbook with its MANIFEST.json.

Every page is published, none is quarantined, no chunk breaks the cap, and a query made of any section
heading of three words or more finds a chunk of its own page among the top three (default strategy).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from kgflow.config import REPO_ROOT, get_settings
from kgflow.ingest.staging import read_table, run_dir
from kgflow.orchestration.run_dag import test_dag as run_ingest_dag

pytestmark = pytest.mark.slow

HANDBOOK = Path(os.environ.get("KGFLOW_HANDBOOK", REPO_ROOT.parent / "shared" / "corpus" / "handbook"))
FORMATS = ("md", "docx", "html", "pdf", "pptx", "eml")


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not (HANDBOOK / "MANIFEST.json").exists():
        pytest.skip(f"no handbook share at {HANDBOOK} (KGFLOW_HANDBOOK)")
    home = tmp_path_factory.mktemp("handbook")
    mp = pytest.MonkeyPatch()
    mp.setenv("KGFLOW_HOME", str(home))
    mp.setenv("KGFLOW_SOURCES", json.dumps([{"name": "handbook", "url": str(HANDBOOK / "landing")}]))
    dr = run_ingest_dag("knowledge_ingest")
    s = get_settings()
    run = run_dir(s.runs_dir, dr.run_id)
    manifest = json.loads((HANDBOOK / "MANIFEST.json").read_text())["files"]
    found = {"run": dr, "states": {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}, "settings": s,
             "manifest": manifest, "documents": read_table(run, "documents"), "chunks": read_table(run, "chunks"),
             "quarantine": read_table(run, "quarantine")}
    yield found
    mp.undo()


def _uri(entry: dict) -> str:
    return (HANDBOOK / entry["path"]).resolve().as_uri()


def test_the_whole_share_ingests_through_publish(handbook):
    assert str(handbook["run"].state) == "success", handbook["states"]


def test_every_page_is_published_and_none_is_quarantined(handbook):
    assert handbook["quarantine"].empty, handbook["quarantine"][["uri", "reason", "detail"]].to_dict("records")
    assert set(handbook["documents"]["uri"]) == {_uri(e) for e in handbook["manifest"]}


def test_no_chunk_is_longer_than_the_cap_in_any_format(handbook):
    docs, chunks = handbook["documents"].set_index("doc_id"), handbook["chunks"]
    chunks = chunks.assign(format=chunks["doc_id"].map(docs["format"]))
    rows = []
    for fmt in FORMATS:
        mine = chunks[chunks["format"] == fmt]
        rows.append((fmt, int((docs["format"] == fmt).sum()), len(mine), int(mine["n_chars"].max())))
    print(f"\nformat  published  chunks  longest (cap {handbook['settings'].chunk_max_chars})")
    for fmt, published, n, longest in rows:
        print(f"{fmt:<7} {published:9d} {n:7d} {longest:8d}")
    assert max(r[3] for r in rows) <= handbook["settings"].chunk_max_chars


def test_a_title_from_front_matter_is_the_documents_title_not_its_file_name(handbook):
    docs = handbook["documents"].set_index("uri")
    entry = next(e for e in handbook["manifest"] if e["format"] == "md" and e["title"] and "\n" not in e["title"])
    assert docs.loc[_uri(entry), "title"] == " ".join(entry["title"].split())


def test_each_formats_section_headings_find_their_own_page(handbook):
    from kgflow.quality.section_retrieval import Section, self_retrieval
    from kgflow.retrieval.engine import RetrievalEngine

    sections = [Section(_uri(e), h, e["format"]) for e in handbook["manifest"] for h in e["headings"]]
    rates = self_retrieval(RetrievalEngine(handbook["settings"]), sections)
    print("\nsection self-retrieval (top 3):", {f: (r["hits"], r["headings"], r["rate"]) for f, r in rates.items()})
    low = {f: r["rate"] for f, r in rates.items() if r["rate"] < 0.95}
    assert not low, {f: rates[f]["misses"][:5] for f in low}


def test_template_tags_reach_no_chunk(handbook):
    texts = handbook["chunks"]["text"]
    assert not texts.str.contains(r"\{\{|\{%", regex=True).any()


def test_each_department_folder_is_its_documents_department(handbook):
    docs = handbook["documents"].set_index("uri")
    per = defaultdict(set)
    for e in handbook["manifest"]:
        if e["department"]:
            per[e["department"]].add(docs.loc[_uri(e), "department"])
    assert all(found == {dept} for dept, found in per.items()), per
