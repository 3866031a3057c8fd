"""Graph backends side by side on the 1,000-document bench: the whole knowledge_ingest DAG on LadybugDB and
on Neo4j 5.26 (the local server from services/neo4j), and graph load rows/s for each loader on the same rows.

    .venv/bin/python bench/graph_backend_bench.py [--docs 1000] [--batch-sizes 1000,5000,20000]

Correctness, checked in the same run (the bench exits non-zero otherwise):
- both DAG runs succeed and publish identical graph counts;
- every timed load ends with exactly the batch's counts (a fresh, empty store each time).

Loaders: LadybugDB `COPY` (its bulk path: new rows only); Neo4j batched `UNWIND ... MERGE` against the
uniqueness constraints, in auto-commit batches and in the one transaction publish uses. The Neo4j
Connector for Apache Spark is not measured: Maven Central has no build for Spark 4 (the newest is
5.3.8_for_spark_3), and kgflow runs Spark 4.2.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import WIKI, table, use_home  # noqa: E402


def _dag(label: str) -> tuple[float, dict]:
    from kgflow.config import get_settings
    from kgflow.graph import open_graph_store
    from kgflow.orchestration.run_dag import test_dag

    start = time.perf_counter()
    run = test_dag("knowledge_ingest", {"quality_gate": False, "max_quarantine_share": 1.0})
    seconds = time.perf_counter() - start
    if str(run.state) != "success":
        raise SystemExit(f"{label}: the DAG run failed ({run.state})")
    with open_graph_store(get_settings(), read_only=True) as g:
        return seconds, g.counts()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--batch-sizes", default="1000,5000,20000")
    args = ap.parse_args()
    base = use_home(None, "graph-backends")
    from kgflow.orchestration.airflow_home import airflow_env

    airflow_env()
    from kgflow.config import get_settings
    from kgflow.corpus.generator import generate_corpus
    from kgflow.graph import GraphBatch
    from kgflow.graph.embedded import EmbeddedGraphStore
    from kgflow.graph.neo4j_server import local_neo4j
    from kgflow.graph.neo4j_store import Neo4jGraphStore
    from kgflow.ingest.staging import read_table, run_dir

    s = get_settings()
    generate_corpus(s.landing_dir, n_docs=args.docs, wiki_passages=WIKI if WIKI.exists() else None,
                    max_document_bytes=s.max_document_bytes)
    embedded_s, embedded_counts = _dag("LadybugDB")
    newest = max(s.runs_dir.iterdir(), key=lambda p: p.stat().st_mtime)
    staged = {k: read_table(run_dir(s.runs_dir, newest.name), k)
              for k in ("documents", "chunks", "mentions", "entities", "relations")}
    batch = GraphBatch.from_staged(staged["documents"], staged["chunks"], staged["mentions"], staged["entities"],
                                   staged["relations"], "bench")
    rows, want = batch.rows(), batch.counts()
    loads: list[list] = []

    def check(counts: dict, what: str) -> None:
        if counts != want:
            raise SystemExit(f"{what}: loaded {counts}, the batch holds {want}")

    with tempfile.TemporaryDirectory() as d:
        with EmbeddedGraphStore(Path(d) / "copy.lbug") as g:
            start = time.perf_counter()
            g.bulk_write(batch)
            loads.append(["LadybugDB COPY (bulk_write)", "-", time.perf_counter() - start])
            check(g.counts(), "LadybugDB COPY")

    with local_neo4j(base / "neo4j") as server:
        from neo4j import GraphDatabase

        def store(size: int) -> Neo4jGraphStore:  # the store closes its driver: one each
            return Neo4jGraphStore(GraphDatabase.driver(server.bolt_url, auth=("neo4j", server.password)),
                                   batch_size=size)

        for size in [int(x) for x in args.batch_sizes.split(",")]:
            server.empty()
            with store(size) as g:
                start = time.perf_counter()
                g.bulk_write(batch)
                loads.append([f"Neo4j UNWIND/MERGE, batches of {size}", size, time.perf_counter() - start])
                check(g.counts(), f"Neo4j batches of {size}")
        server.empty()
        with store(s.graph_batch_size) as g:
            start = time.perf_counter()
            with g.transaction() as tx:
                tx.bulk_write(batch)
            loads.append([f"Neo4j one transaction (publish), batches of {s.graph_batch_size}",
                          s.graph_batch_size, time.perf_counter() - start])
            check(g.counts(), "Neo4j one transaction")
            print(table("graph load so far", ["loader", "batch", "seconds", "rows/s"],
                        [[name, size, sec, rows / sec] for name, size, sec in loads]), flush=True)
        server.empty()

        neo_home = base / "neo4j-home"
        os.environ.update({"KGFLOW_HOME": str(neo_home), "KGFLOW_GRAPH_BACKEND": "neo4j",
                           "AIRFLOW_CONN_NEO4J_DEFAULT": server.conn_uri})
        generate_corpus(get_settings().landing_dir, n_docs=args.docs,
                        wiki_passages=WIKI if WIKI.exists() else None, max_document_bytes=s.max_document_bytes)
        neo4j_s, neo4j_counts = _dag("Neo4j")
    if neo4j_counts != embedded_counts:
        raise SystemExit(f"the backends disagree: LadybugDB {embedded_counts}, Neo4j {neo4j_counts}")

    print(f"\ncorpus: {args.docs} documents, {rows:,} graph rows {want}; machine: {os.cpu_count()} cores")
    print(table("graph load (same rows, empty store each time; counts checked)", ["loader", "batch", "seconds",
                                                                                 "rows/s"],
                [[name, size, sec, rows / sec] for name, size, sec in loads]))
    print(table("whole knowledge_ingest DAG (counts identical on both)", ["backend", "seconds", "docs/s"],
                [["LadybugDB (embedded)", embedded_s, args.docs / embedded_s],
                 ["Neo4j 5.26", neo4j_s, args.docs / neo4j_s]]))


if __name__ == "__main__":
    main()
