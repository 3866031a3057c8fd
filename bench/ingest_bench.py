"""Ingest throughput: the whole knowledge_ingest DAG vs each stage standalone, on the same documents.

Documents: the sample-corpus generator with real Wikipedia text (../shared/corpus/wiki_passages.json).
Prints docs/s and MB/s for the DAG and for parse, NER, embed and graph load run alone in one
process, the no-change rerun vs the full run, and graph rows/s for MERGE vs the store's bulk loader.

    .venv/bin/python bench/ingest_bench.py --docs 1000 [--dag-only]
    .venv/bin/python bench/ingest_bench.py --share ../shared/corpus/handbook

--share ingests a real file share in place (its landing/ folder, or the folder itself) through the DAG and
prints, by format: files, published, lost, chunks, the longest chunk against the cap, parse time per
document; and, when the share has a MANIFEST.json with section headings, section self-retrieval per format.

Peak RSS per task: the bench process and its children (spark-submit, Python workers), sampled every 0.1 s
and attributed to the task that was running.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import WIKI, table, timed, use_home  # noqa: E402


class RssSampler:
    """Resident memory of this process and all its descendants, sampled in a thread."""

    def __init__(self, every_s: float = 0.1) -> None:
        import threading

        self.every_s, self.samples, self._stop = every_s, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        import time

        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            rss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.samples.append((time.time(), rss))
            self._stop.wait(self.every_s)

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join()
        return self.samples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--dag-only", action="store_true", help="the DAG runs only (an A/B across commits)")
    ap.add_argument("--share", type=Path, default=None, help="a real file share to ingest in place")
    args = ap.parse_args()
    use_home(args.home, "ingest")
    if args.share:
        return share_bench(args.share.resolve())
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
    source = open_source(s.source_configs[0], s)
    files = scan(source)
    files = files[files["size_bytes"] <= s.max_document_bytes]  # the oversized file is quarantined unread
    mb = files["size_bytes"].sum() / 1e6
    n = len(files)
    t: dict[str, float] = {}

    sampler = RssSampler().start()
    with timed(t, "dag_full"):
        run = test_dag("knowledge_ingest")
    samples = sampler.stop()
    assert str(run.state) == "success", run.state
    tis = [ti for ti in run.get_task_instances() if ti.start_date and ti.end_date]
    task_s = {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in tis}
    peak = {ti.task_id: max((r for ts, r in samples if ti.start_date.timestamp() <= ts <= ti.end_date.timestamp()),
                            default=0) / 2**20 for ti in tis}
    with timed(t, "dag_rerun"):
        rerun = test_dag("knowledge_ingest")
    assert str(rerun.state) == "success"
    print(f"\ncorpus: {n} files ({mb:.1f} MB); machine: {os.cpu_count()} cores")
    print(table("knowledge_ingest DAG", ["what", "seconds", "docs/s", "chunks/s", "peak RSS MB"],
                [["whole DAG", t["dag_full"], n / t["dag_full"], "-", max(peak.values(), default=0)],
                 *[[f"  {k}", v, "-", "-", peak[k]] for k, v in task_s.items()],
                 ["no-change rerun", t["dag_rerun"], "-", "-", "-"]]))
    if args.dag_only:
        return

    staged = run_dir(s.runs_dir, run.run_id)
    chunks = read_table(staged, "chunks")
    texts = chunks["text"].tolist()

    limits = Limits.from_settings(s)
    with timed(t, "parse"):  # the same call the Spark job makes per document, one process, no Spark
        for row in files.itertuples():
            data = source.read(row.rel_path)
            parse_document(data, Path(row.rel_path).name, row.doc_id, limits, s.chunk_max_chars,
                           s.chunk_new_after_chars, s.chunk_overlap_chars, tuple(s.document_languages))
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
                 ["  embed task (Spark, 2 workers)", task_s.get("embed", 0.0), "-", "-",
                  len(texts) / task_s.get("embed", 1)],
                 ["  build_index task (HNSW)", task_s.get("build_index", 0.0), "-", "-",
                  len(texts) / task_s.get("build_index", 1)],
                 ["  embed standalone", t["embed"], "-", "-", len(texts) / t["embed"]]]))
    print(table("graph load (same rows)", ["path", "seconds", "rows/s"],
                [["load_graph task (retire + bulk)", task_s.get("load_graph", 0.0),
                  rows_total / task_s.get("load_graph", 1)],
                 ["bulk loader standalone (dedupe + COPY)", t["graph_bulk"], rows_total / t["graph_bulk"]],
                 ["UNWIND/MERGE standalone", t["graph_merge"], rows_total / t["graph_merge"]]]))
    print(table("incremental", ["run", "seconds"], [["full run", t["dag_full"]], ["no-change rerun", t["dag_rerun"]]]))
    print("\nper-task seconds:", {k: round(v, 1) for k, v in task_s.items()})


def share_bench(share: Path) -> None:
    """A real share through the DAG, reported by format, with 0 documents lost checked in the same run."""
    import json
    import time
    from collections import defaultdict

    landing = share / "landing" if (share / "landing").is_dir() else share
    os.environ["KGFLOW_SOURCES"] = json.dumps([{"name": "share", "url": str(landing)}])
    from kgflow.orchestration.airflow_home import airflow_env

    airflow_env()
    from kgflow.config import get_settings
    from kgflow.ingest.staging import read_table, run_dir
    from kgflow.orchestration.run_dag import test_dag
    from kgflow.parse.document import parse_document
    from kgflow.parse.sniff import Limits, extension

    s = get_settings()
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    sampler = RssSampler().start()
    start = time.perf_counter()
    run = test_dag("knowledge_ingest")
    dag_s = time.perf_counter() - start
    peak = max((r for _, r in sampler.stop()), default=0) / 2**20
    staged = run_dir(s.runs_dir, run.run_id)
    docs, chunks, quarantine = (read_table(staged, t) for t in ("documents", "chunks", "quarantine"))
    published = set(docs["uri"]) if str(run.state) == "success" else set()
    limits, parse_s = Limits.from_settings(s), defaultdict(float)
    for p in files:  # the same call the Spark job makes per document, one process, timed by format
        t0 = time.perf_counter()
        parse_document(p.read_bytes(), p.name, "bench", limits, s.chunk_max_chars, s.chunk_new_after_chars,
                       s.chunk_overlap_chars, tuple(s.document_languages), s.chunker)
        parse_s[extension(p.name)] += time.perf_counter() - t0
    by_doc = docs.set_index("doc_id")
    chunks = chunks.assign(format=chunks["doc_id"].map(by_doc["format"]))
    rows = []
    for fmt in sorted({extension(p.name) for p in files}):
        mine = [p for p in files if extension(p.name) == fmt]
        uris = {p.resolve().as_uri() for p in mine}
        fc = chunks[chunks["format"] == fmt]
        rows.append([fmt, len(mine), len(uris & published), len(uris - published), len(fc),
                     f"{int(fc['n_chars'].max()) if len(fc) else 0} / {s.chunk_max_chars}",
                     parse_s[fmt] / max(1, len(mine))])
    lost = len(files) - len(published)
    print(f"\nshare: {landing} ({len(files)} files), run {run.state}, machine: {os.cpu_count()} cores")
    print(table("real share through the knowledge_ingest DAG (one run)",
                ["format", "files", "published", "lost", "chunks", "longest / cap", "parse s/doc"], rows))
    print(f"\nwhole DAG: {dag_s:.1f} s, {len(files) / dag_s:.2f} docs/s, peak RSS {peak:.0f} MB, "
          f"documents lost: {lost}, quarantined: {len(quarantine)}")
    manifest = share / "MANIFEST.json"
    if manifest.exists() and published:
        from kgflow.quality.section_retrieval import Section, self_retrieval
        from kgflow.retrieval.engine import RetrievalEngine

        entries = json.loads(manifest.read_text())["files"]
        sections = [Section((share / e["path"]).resolve().as_uri(), h, e["format"])
                    for e in entries for h in e.get("headings") or []]
        start = time.perf_counter()
        rates = self_retrieval(RetrievalEngine(s), sections)
        print(table(f"section self-retrieval: a heading of 3+ words finds its own document in the top 3 "
                    f"(default strategy, {time.perf_counter() - start:.0f} s)", ["format", "headings", "hits", "rate"],
                    [[f, r["headings"], r["hits"], r["rate"]] for f, r in sorted(rates.items())]))


if __name__ == "__main__":
    main()
