"""The knowledge_ingest stages as plain functions. The DAG wires them; the CLI and benches call them."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from kgflow.config import Settings, get_settings
from kgflow.graph import GraphBatch, open_graph_store
from kgflow.ingest.staging import read_json, read_table, run_dir, write_json
from kgflow.quality.validate import ValidationFailed, validate_tables
from kgflow.sources.changes import PENDING, change_set, load_manifest, updated_manifest
from kgflow.vectors.index_store import VectorIndexStore

log = logging.getLogger("kgflow.ingest")
STAGED = ("documents", "chunks", "quarantine", "mentions", "entities", "relations")


def discover(run_id: str, source: str | None = None, full_rebuild: bool = False,
             max_documents: int | None = None, settings: Settings | None = None) -> dict:
    s = settings or get_settings()
    landing = Path(source.removeprefix("file://")) if source else s.landing_dir
    if not landing.is_dir():
        raise FileNotFoundError(f"landing zone {landing} does not exist")
    run = run_dir(s.runs_dir, run_id)
    run.mkdir(parents=True, exist_ok=True)
    changes = change_set(landing, load_manifest(s.manifest_path), full_rebuild, max_documents)
    changes.to_parquet(run / "changes.parquet", index=False)
    counts = changes["change"].value_counts().to_dict()
    summary = {"run_dir": str(run), "landing": str(landing), "full_rebuild": full_rebuild,
               **{k: int(counts.get(k, 0)) for k in ("new", "changed", "unchanged", "deleted")}}
    write_json(run, "discover.json", summary)
    log.info("discovered %s", summary)
    return summary


def pending_documents(run: Path) -> int:
    changes = pd.read_parquet(run / "changes.parquet", columns=["change"])
    return int(changes["change"].isin(PENDING).sum())


def staged_tables(run: Path) -> dict[str, pd.DataFrame]:
    return {name: read_table(run, name) for name in STAGED}


def validate(run: Path) -> dict:
    """Great Expectations over the staged tables; the report is saved as <run>/validation.json."""
    report = validate_tables(staged_tables(run))
    write_json(run, "validation.json", report)
    if not report["success"]:
        failed = {t: r["failed"] for t, r in report["suites"].items() if not r["success"]}
        raise ValidationFailed(f"staged data failed validation (kept in {run}): {failed}")
    return {t: r["rows"] for t, r in report["suites"].items()}


def retired_documents(run: Path) -> list[str]:
    changes = pd.read_parquet(run / "changes.parquet", columns=["doc_id", "change"])
    return changes.loc[changes["change"].isin(["changed", "deleted"]), "doc_id"].tolist()


def load_graph(run: Path, settings: Settings | None = None) -> dict:
    """Retire changed/deleted documents, then write the staged rows; every step is idempotent."""
    s = settings or get_settings()
    t = staged_tables(run)
    batch = GraphBatch.from_staged(t["documents"], t["chunks"], t["mentions"], t["entities"], t["relations"],
                                   ingested_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    start = time.perf_counter()
    with open_graph_store(s) as g:
        g.retire_documents(retired_documents(run))
        written = g.bulk_write(batch)
        counts = g.counts()
    seconds = round(time.perf_counter() - start, 3)
    result = {"written": written, "graph": counts, "rows": batch.rows(), "seconds": seconds}
    write_json(run, "graph_load.json", result)
    return result


def build_index(run: Path, full_rebuild: bool = False, settings: Settings | None = None) -> dict:
    """Embed the run's chunks and write a new index version (not yet current)."""
    from kgflow.vectors.embedder import Embedder

    s = settings or get_settings()
    chunks = read_table(run, "chunks")
    docs = read_table(run, "documents").set_index("doc_id")
    start = time.perf_counter()
    vectors = Embedder().embed(chunks["text"].tolist())
    embed_s = time.perf_counter() - start
    rows = pd.DataFrame({"chunk_id": chunks["chunk_id"], "doc_id": chunks["doc_id"],
                         "department": chunks["doc_id"].map(docs["department"]),
                         "acl": chunks["doc_id"].map(docs["acl"]).map(list)})
    version = VectorIndexStore(s.index_dir).build(
        run.name, rows, vectors, retired_documents(run), s.embedder, s.hnsw_m, s.hnsw_ef_construction,
        s.rebuild_tombstone_ratio, full_rebuild)
    result = {"version": version, "embedded": len(chunks), "embed_seconds": round(embed_s, 3)}
    write_json(run, "index.json", result)
    return result


def publish(run: Path, run_id: str, settings: Settings | None = None) -> dict:
    """Check the new index against the graph, switch `current`, and record the manifest."""
    s = settings or get_settings()
    store = VectorIndexStore(s.index_dir)
    version = read_json(run, "index.json")["version"]
    index = store.load(version)
    with open_graph_store(s) as g:
        graph = g.counts()
    problems = _index_problems(index, graph["chunks"])
    if problems:
        raise ValidationFailed(f"index {version} not published: {problems}")
    store.publish(version)
    changes = pd.read_parquet(run / "changes.parquet")
    quarantined = set(read_table(run, "quarantine")["doc_id"])
    manifest = updated_manifest(load_manifest(s.manifest_path), changes, quarantined, run_id)
    s.manifest_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = s.manifest_path.with_suffix(".tmp")
    manifest.to_parquet(tmp, index=False)
    tmp.replace(s.manifest_path)
    store.prune(keep=3)
    summary = {"version": version, "index_vectors": index.manifest["count"], "graph": graph,
               "quarantined": read_table(run, "quarantine")[["uri", "reason", "detail"]].to_dict("records")}
    write_json(run, "publish.json", summary)
    return summary


def _index_problems(index, graph_chunks: int) -> list[str]:
    import numpy as np

    problems = []
    if index.manifest["count"] != graph_chunks:
        problems.append(f"{index.manifest['count']} active vectors but {graph_chunks} chunks in the graph")
    active = index.active
    if len(active):
        sample = active.sample(min(20, len(active)), random_state=0)
        vecs = index.vectors()[np.searchsorted(index.ids["faiss_id"].to_numpy(), sample["faiss_id"].to_numpy())]
        _, hits = index.search(vecs, 1)
        self_recall = float((hits[:, 0] == sample["faiss_id"].to_numpy()).mean())
        if self_recall < 0.9:
            problems.append(f"self-retrieval {self_recall:.2f} < 0.9")
    return problems
