"""Ingest throughput: the whole knowledge_ingest DAG vs each stage standalone, on the same documents.

Documents: the sample-corpus generator with real Wikipedia text (../shared/corpus/wiki_passages.json).
Prints docs/s and MB/s for the DAG and for parse, NER, embed and graph load run alone in one
process, the no-change rerun vs the full run, and graph rows/s for MERGE vs the store's bulk loader.

    .venv/bin/python bench/ingest_bench.py --docs 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import WIKI, table, timed, use_home  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--home", type=Path, default=None)
    args = ap.parse_args()
    use_home(args.home, "ingest")
    from kgflow.orchestration.airflow_home import airflow_env

    airflow_env()
    from kgflow.config import get_settings
    from kgflow.corpus.generator import generate_corpus
    from kgflow.graph import GraphBatch
    from kgflow.graph.embedded import EmbeddedGraphStore
    from kgflow.ingest.staging import read_table, run_dir
    from kgflow.nlp.extract import extract_chunks
    from kgflow.orchestration.run_dag import test_dag
    from kgflow.parse.document import parse_document
    from kgflow.parse.sniff import Limits
    from kgflow.sources import open_source
    from kgflow.sources.changes import scan
    from kgflow.vectors.embedder import Embedder

    s = get_settings()
    generate_corpus(s.landing_dir, n_docs=args.docs, wiki_passages=WIKI if WIKI.exists() else None,
                    max_document_bytes=s.max_document_bytes)
    files = scan(open_source(s.source_configs[0], s))
    files = files[files["size_bytes"] <= s.max_document_bytes]  # the oversized file is quarantined unread
    mb = files["size_bytes"].sum() / 1e6
    n = len(files)
    t: dict[str, float] = {}

    with timed(t, "dag_full"):
        run = test_dag("knowledge_ingest")
    assert str(run.state) == "success", run.state
    task_s = {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in run.get_task_instances()
              if ti.start_date and ti.end_date}
    with timed(t, "dag_rerun"):
        rerun = test_dag("knowledge_ingest")
    assert str(rerun.state) == "success"

    staged = run_dir(s.runs_dir, run.run_id)
    chunks = read_table(staged, "chunks")
    texts = chunks["text"].tolist()

    limits = Limits.from_settings(s)
    with timed(t, "parse"):  # the same call the Spark job makes per document, one process, no Spark
        for row in files.itertuples():
            data = (Path(row.root) / row.rel_path).read_bytes()
            parse_document(data, Path(row.rel_path).name, row.doc_id, limits, s.chunk_max_chars,
                           s.chunk_new_after_chars, s.chunk_overlap_chars)
    with timed(t, "ner"):
        rows = chunks[["chunk_id", "doc_id", "text"]].to_dict("records")
        for _ in extract_chunks(rows):
            pass
    with timed(t, "embed"):
        Embedder.from_settings(s, threads=os.cpu_count()).embed(texts)

    t_names = {k: read_table(staged, k) for k in ("documents", "chunks", "mentions", "entities", "relations")}
    batch = GraphBatch.from_staged(t_names["documents"], t_names["chunks"], t_names["mentions"],
                                   t_names["entities"], t_names["relations"], "bench")
    rows_total = batch.rows()
    with tempfile.TemporaryDirectory() as d:
        with EmbeddedGraphStore(Path(d) / "bulk.lbug") as g, timed(t, "graph_bulk"):
            g.bulk_write(batch)
        with EmbeddedGraphStore(Path(d) / "merge.lbug") as g, timed(t, "graph_merge"):
            g.write(batch)

    print(f"\ncorpus: {n} files ({mb:.1f} MB), {len(texts)} chunks, {rows_total} graph rows; "
          f"machine: {os.cpu_count()} cores; Spark local[2]")
    print(table("whole DAG vs stages standalone (same documents, same run)",
                ["what", "seconds", "docs/s", "MB/s", "chunks/s"],
                [["knowledge_ingest DAG (all tasks)", t["dag_full"], n / t["dag_full"], mb / t["dag_full"],
                  len(texts) / t["dag_full"]],
                 ["  parse_chunk task (Spark, 2 workers)", task_s.get("parse_chunk", 0.0),
                  n / task_s.get("parse_chunk", 1), mb / task_s.get("parse_chunk", 1), "-"],
                 ["  parse standalone (1 process)", t["parse"], n / t["parse"], mb / t["parse"], "-"],
                 ["  extract task (Spark, 2 workers)", task_s.get("extract", 0.0), "-", "-",
                  len(texts) / task_s.get("extract", 1)],
                 ["  NER+relations standalone (1 process)", t["ner"], "-", "-", len(texts) / t["ner"]],
                 ["  build_index task (embed + HNSW)", task_s.get("build_index", 0.0), "-", "-",
                  len(texts) / task_s.get("build_index", 1)],
                 ["  embed standalone", t["embed"], "-", "-", len(texts) / t["embed"]]]))
    print(table("graph load (same rows)", ["path", "seconds", "rows/s"],
                [["load_graph task (retire + bulk)", task_s.get("load_graph", 0.0),
                  rows_total / task_s.get("load_graph", 1)],
                 ["bulk loader standalone (dedupe + COPY)", t["graph_bulk"], rows_total / t["graph_bulk"]],
                 ["UNWIND/MERGE standalone", t["graph_merge"], rows_total / t["graph_merge"]]]))
    print(table("incremental", ["run", "seconds"], [["full run", t["dag_full"]], ["no-change rerun", t["dag_rerun"]]]))
    print("\nper-task seconds:", {k: round(v, 1) for k, v in task_s.items()})


if __name__ == "__main__":
    main()
