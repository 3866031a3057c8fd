"""The knowledge_ingest stages as plain functions. The DAG wires them; the CLI and benches call them."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from kgflow.config import Settings
from kgflow.fsutil import atomic_path
from kgflow.graph import GraphBatch, GraphStore, open_graph_store, promote_graph, staged_graph
from kgflow.ingest.isolate import documents_of_rows, drop_documents, quarantine_rows, write_table
from kgflow.ingest.staging import private_dir, read_json, read_table, run_dir, write_json
from kgflow.quality.gate import QualityGateFailed
from kgflow.quality.gate import check as check_quality
from kgflow.quality.validate import BoundBroken, QuarantineShareExceeded, ValidationFailed, validate_tables
from kgflow.retrieval.kb_snapshot import write_snapshot
from kgflow.sources import kind_of, open_source, select_sources
from kgflow.sources.changes import PENDING, change_set, load_manifest, updated_manifest
from kgflow.vectors.index_store import IndexSpec, VectorIndexStore

log = logging.getLogger("kgflow.ingest")
STAGED = ("documents", "chunks", "quarantine", "mentions", "entities", "relations")


_STATE_DIRS = ("secrets", "state", "runs", "graph", "index", "audit", "models", "airflow", "logs", "bench")


def forbidden_paths(s: Settings) -> list[Path]:
    """kgflow's own state and secrets: never a source, never read as a document."""
    home = s.home.resolve()
    keep: set[str] = set()  # top folders of home that hold a local source (the landing folder by default)
    for c in s.source_configs:
        if kind_of(c.url) == "local":
            root = Path(c.url.removeprefix("file://")).expanduser().resolve()
            if root.is_relative_to(home) and root != home:
                keep.add(root.relative_to(home).parts[0])
    children = {p.name for p in home.iterdir()} if home.is_dir() else set()
    paths = [home / n for n in sorted(children | set(_STATE_DIRS)) if n not in keep]
    if not keep:
        paths.append(home)
    paths += [Path(p) for p in (s.api_keys_file,) if p]
    return paths


def discover(run_id: str, settings: Settings, source: str | None = None, full_rebuild: bool = False,
             max_documents: int | None = None) -> dict:
    """List the run's sources (all configured ones, or the one named), diff them against the manifest.

    The sources scanned are saved with the run (`sources.json`): the Spark stages rebuild them from it on
    every executor and read each document through its own source."""
    s = settings
    configs = select_sources(s, source)
    forbidden = forbidden_paths(s)
    sources = [open_source(c, s, forbidden) for c in configs]
    for src in sources:
        src.check()
    run = run_dir(s.runs_dir, run_id)
    private_dir(run)
    write_json(run, "sources.json", [c.model_dump() for c in configs])
    changes = change_set(sources, load_manifest(s.manifest_path), full_rebuild, max_documents)
    changes.to_parquet(run / "changes.parquet", index=False)
    counts = changes["change"].value_counts().to_dict()
    rejected = changes["reason"].notna() & changes["change"].isin(PENDING)
    summary = {"run_dir": str(run), "sources": [c.name for c in configs], "full_rebuild": full_rebuild,
               **{k: int(counts.get(k, 0)) for k in ("new", "changed", "unchanged", "deleted")},
               "rejected_at_discovery": int(rejected.sum())}
    write_json(run, "discover.json", summary)
    log.info("discovered %s", summary)
    return summary


def run_sources(run: Path, s: Settings) -> dict:
    """The run's sources by name, rebuilt from what discovery saved (on whichever host reads documents)."""
    from kgflow.config import SourceConfig

    return {c["name"]: open_source(SourceConfig(**c), s) for c in read_json(run, "sources.json")}


def pending_documents(run: Path) -> int:
    changes = pd.read_parquet(run / "changes.parquet", columns=["change"])
    return int(changes["change"].isin(PENDING).sum())


def staged_tables(run: Path) -> dict[str, pd.DataFrame]:
    return {name: read_table(run, name) for name in STAGED}


def validate(run: Path, settings: Settings, max_rounds: int = 3) -> dict:
    """Great Expectations over the staged tables; the report is saved as <run>/validation.json.

    Documents quarantined by parse or extract leave every staged table first. A document whose own rows
    break a row-level expectation is quarantined ('invalid') and the suites run again without it. Two
    failures stop the run instead, before anything is loaded:
    - a bound kgflow keeps itself (an expectation with "kept_by") was broken: an internal error naming the
      documents and the rule (BoundBroken), never the documents' fault;
    - more than KGFLOW_MAX_QUARANTINE_SHARE of the run's new and changed documents were quarantined
      (QuarantineShareExceeded): a share failing wholesale is a defect to look at, not a nightly detail.
    A failure no document can be blamed for (a table-level expectation) fails the run too.
    """
    s = settings
    tables = staged_tables(run)
    changes = pd.read_parquet(run / "changes.parquet") if (run / "changes.parquet").exists() else None
    earlier = pd.concat([tables["quarantine"], read_table(run, "quarantine_extract")], ignore_index=True)
    tables = drop_documents(tables, set(earlier["doc_id"]))
    invalid: dict[str, tuple[str, str, str]] = {}
    internal: list[dict] = []
    for _ in range(max_rounds):
        report = validate_tables(tables, s)
        if report["success"]:
            break
        blamed: dict[str, tuple[str, str, str]] = {}
        for table, suite in report["suites"].items():
            for f in suite["failed"]:
                rule = f"{table}: {f['expectation']} {f['kwargs']}"[:500]
                for d in sorted(documents_of_rows(tables, table, f["rows"] or [])):
                    if f["kept_by"]:
                        internal.append({"doc_id": d, "table": table, "rule": rule, "kept_by": f["kept_by"],
                                         "examples": f["examples"]})
                    else:
                        blamed.setdefault(d, ("invalid", rule, "validate"))
        if internal or not blamed:
            break
        invalid.update(blamed)
        tables = drop_documents(tables, set(blamed))
    quarantine = earlier
    if invalid and changes is not None:
        quarantine = pd.concat([earlier, quarantine_rows(changes, invalid)], ignore_index=True)
    if changes is not None:  # extract-stage rows know only their doc_id
        known = changes.set_index("doc_id")
        quarantine["uri"] = quarantine["uri"].fillna(quarantine["doc_id"].map(known["uri"]))
        quarantine["sha256"] = quarantine["sha256"].fillna(quarantine["doc_id"].map(known["sha256"]))
        for row in internal:
            row["uri"] = known["uri"].get(row["doc_id"])
        for name in ("documents", "chunks", "mentions", "entities", "relations"):
            write_table(run, name, tables[name])
        write_table(run, "quarantine", quarantine)
    for suite in report["suites"].values():
        for f in suite["failed"]:
            f["rows"] = f["rows"][:20] if f["rows"] is not None else None
    report["quarantined_by_validation"] = sorted(invalid)
    report["internal_errors"] = internal
    pending = int(changes["change"].isin(PENDING).sum()) if changes is not None else 0
    share = len(quarantine) / pending if pending else 0.0
    report["quarantine_share"] = {"quarantined": len(quarantine), "pending": pending, "share": round(share, 4),
                                  "max": s.max_quarantine_share, "min_documents": s.quarantine_share_min_documents}
    write_json(run, "validation.json", report)
    if internal:
        where = "; ".join(f"{r['uri'] or r['doc_id']}: {r['rule']} (kept by {r['kept_by']})" for r in internal[:5])
        raise BoundBroken(f"internal error: kgflow broke its own bound on {len(internal)} document(s), which "
                          f"are not at fault; nothing was published (report: {run / 'validation.json'}): {where}",
                          internal)
    if not report["success"]:
        failed = {t: r["failed"] for t, r in report["suites"].items() if not r["success"]}
        raise ValidationFailed(f"staged data failed validation (kept in {run}): {failed}")
    if pending >= s.quarantine_share_min_documents and share > s.max_quarantine_share:
        reasons = quarantine["reason"].value_counts().to_dict()
        raise QuarantineShareExceeded(
            f"{len(quarantine)} of {pending} new or changed documents quarantined ({share:.0%} > "
            f"KGFLOW_MAX_QUARANTINE_SHARE={s.max_quarantine_share:.0%}); nothing was published. By reason: "
            f"{reasons}. Fix the cause, or set KGFLOW_MAX_QUARANTINE_SHARE=1.0 (or the run's "
            f"max_quarantine_share param) to publish the rest anyway (table: {run / 'quarantine'})",
            len(quarantine), pending)
    return {**{t: r["rows"] for t, r in report["suites"].items()}, "quarantined": len(quarantine),
            "internal_errors": 0}


def retired_documents(run: Path) -> list[str]:
    changes = pd.read_parquet(run / "changes.parquet", columns=["doc_id", "change"])
    return changes.loc[changes["change"].isin(["changed", "deleted"]), "doc_id"].tolist()


def changed_documents(run: Path) -> list[str]:
    """Every document the run added, changed or deleted."""
    changes = pd.read_parquet(run / "changes.parquet", columns=["doc_id", "change"])
    return changes.loc[changes["change"] != "unchanged", "doc_id"].tolist()


def _graph_batch(run: Path) -> GraphBatch:
    t = staged_tables(run)
    return GraphBatch.from_staged(t["documents"], t["chunks"], t["mentions"], t["entities"], t["relations"],
                                  ingested_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def _load(g: GraphStore, run: Path) -> dict:
    """Retire the run's changed and deleted documents, then write its rows; safe to repeat."""
    batch = _graph_batch(run)
    start = time.perf_counter()
    g.retire_documents(retired_documents(run))
    written = g.bulk_write(batch)
    return {"written": written, "rows": batch.rows(), "seconds": round(time.perf_counter() - start, 3)}


def load_graph(run: Path, settings: Settings) -> dict:
    """Load the run into the graph it will publish, never into the published one.

    Embedded: into a copy of the live graph (afresh on every attempt), which publish renames into place
    together with the index. Neo4j has one database a run cannot copy: publish loads it there in one
    transaction, committed only once everything else is published-ready, so this task only checks that
    the run's rows make a graph batch."""
    s = settings
    copy = staged_graph(s, run.name, fresh=True)
    if copy is None:
        result = {"loaded_by": "publish", "rows": _graph_batch(run).rows()}
    else:
        with open_graph_store(s, path=copy) as g:
            result = {**_load(g, run), "graph": g.counts()}
    write_json(run, "graph_load.json", result)
    return result


@contextmanager
def candidate_graph(s: Settings, run: Path) -> Iterator[tuple[GraphStore, dict | None]]:
    """The graph a run publishes, and the load done here (None when load_graph did it): the embedded staged
    copy, or Neo4j inside one transaction that loads the run now and commits only when the block ends
    without an error. A run that fails before then leaves the published graph as it was."""
    copy = staged_graph(s, run.name)
    if copy is not None:
        with open_graph_store(s, read_only=True, path=copy) as g:
            yield g, None
        return
    with open_graph_store(s) as store, store.transaction() as tx:
        yield tx, _load(tx, run)


def staged_vectors(run: Path, chunks: pd.DataFrame) -> tuple[np.ndarray, str] | None:
    """The embed stage's vectors in the order of `chunks`, and the variant that made them; None when the
    stage did not run (a caller without Spark embeds in process)."""
    info = read_json(run, "embed.json")
    if not info:
        return None
    staged = read_table(run, "vectors")
    by_id = dict(zip(staged["chunk_id"], staged["vector"], strict=True))
    missing = [c for c in chunks["chunk_id"] if c not in by_id]
    if missing:
        raise ValidationFailed(f"the embed stage has no vector for {len(missing)} of {len(chunks)} chunks "
                               f"(e.g. {missing[0]}): rerun the run from its embed task")
    dims = len(staged["vector"].iloc[0]) if len(staged) else 384
    vectors = np.stack([np.asarray(by_id[c], "float32") for c in chunks["chunk_id"]]) if len(chunks) else \
        np.zeros((0, dims), "float32")
    return vectors, info["variant"]


def build_index(run: Path, settings: Settings, full_rebuild: bool = False) -> dict:
    """Write a new index version (not yet current) from the run's vectors: the embed stage's, or embedded
    here when it did not run."""
    s = settings
    chunks = read_table(run, "chunks")
    docs = read_table(run, "documents").set_index("doc_id")
    start = time.perf_counter()
    staged = staged_vectors(run, chunks)
    if staged is None:
        from kgflow.chunking.chunker import findable_text
        from kgflow.vectors.embedder import Embedder

        embedder = Embedder.from_settings(s)
        titles = chunks["doc_id"].map(docs["title"]).fillna("")
        texts = [findable_text(t, s_ or "", x) for t, s_, x in zip(titles, chunks["section"].fillna(""), chunks["text"],
                                                                  strict=True)]
        vectors, variant = embedder.embed(texts), embedder.variant
    else:
        vectors, variant = staged
    embed_s = time.perf_counter() - start
    rows = pd.DataFrame({"chunk_id": chunks["chunk_id"], "doc_id": chunks["doc_id"],
                         "department": chunks["doc_id"].map(docs["department"]),
                         "acl": chunks["doc_id"].map(docs["acl"]).map(list)})
    version = VectorIndexStore(s.index_dir).build(
        run.name, rows, vectors, retired_documents(run), variant, IndexSpec.from_settings(s),
        s.rebuild_tombstone_ratio, full_rebuild)
    result = {"version": version, "embedded": len(chunks), "embedder": variant,
              "embedded_by": "spark" if staged is not None else "task", "embed_seconds": round(embed_s, 3)}
    write_json(run, "index.json", result)
    return result


def publish(run: Path, run_id: str, settings: Settings, quality_gate: bool = True) -> dict:
    """Check the new index against the graph, switch `current`, and record the manifest."""
    s = settings
    store = VectorIndexStore(s.index_dir)
    version = read_json(run, "index.json")["version"]
    index = store.load(version)
    graph_copy = staged_graph(s, run.name)
    with candidate_graph(s, run) as (g, loaded):
        if loaded is not None:
            write_json(run, "graph_load.json", loaded)
        graph = g.counts()
        problems = _index_problems(index, graph["chunks"])
        if problems:
            raise ValidationFailed(f"index {version} not published: {problems}")
        # what every gateway worker maps: the change since the published version's base, or whole
        current = store.current_version()
        kb = write_snapshot(g, store.version_dir(version), s, store.version_dir(current) if current else None,
                            changed_documents(run))
        try:
            gate = check_quality(s, version, graph_copy) if quality_gate else {"skipped": True,
                                                                               "reason": "turned off"}
        except QualityGateFailed as e:
            write_json(run, "quality_gate.json", e.args[1])
            raise
        write_json(run, "quality_gate.json", gate)
    promote_graph(s, run.name)
    store.publish(version)
    changes = pd.read_parquet(run / "changes.parquet")
    quarantined = set(read_table(run, "quarantine")["doc_id"])
    manifest = updated_manifest(load_manifest(s.manifest_path), changes, quarantined, run_id)
    with atomic_path(s.manifest_path) as tmp:
        manifest.to_parquet(tmp, index=False)
    store.prune(keep=3)
    docs = read_table(run, "documents")
    dups = docs[docs["duplicate_of"].notna()]
    summary = {"version": version, "index_vectors": index.manifest["count"], "graph": graph, "kb_snapshot": kb,
               "quarantined": read_table(run, "quarantine")[["uri", "reason", "detail"]].to_dict("records"),
               "duplicates": dict(zip(dups["doc_id"], dups["duplicate_of"], strict=True)), "quality_gate": gate,
               "graph_load": loaded}
    write_json(run, "publish.json", summary)
    return summary


def _index_problems(index, graph_chunks: int) -> list[str]:
    problems = []
    if index.manifest["count"] != graph_chunks:
        problems.append(f"{index.manifest['count']} active vectors but {graph_chunks} chunks in the graph")
    active = index.active
    if len(active):
        sample = active.sample(min(20, len(active)), random_state=0)
        vecs = index.reconstruct(sample["faiss_id"].tolist())
        scores, hits = index.search(vecs, 1)
        # an identical text (a duplicate document, a copy in another folder) is as good a hit as itself
        found = (hits[:, 0] == sample["faiss_id"].to_numpy()) | (scores[:, 0] >= 1.0 - 1e-4)
        self_recall = float(found.mean())
        if self_recall < 0.9:
            problems.append(f"self-retrieval {self_recall:.2f} < 0.9")
    return problems
