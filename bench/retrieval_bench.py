"""Retrieval at scale: p50/p99 of vector-only vs graph-augmented retrieval over ~100k chunks of real
Wikipedia text, and FAISS HNSW recall@10 against exact search on the same embeddings.

Chunks: sentence windows of ../shared/corpus/wiki_passages.json. Graph: one entity per passage
title; a chunk mentions every title it contains; co-occurring titles are RELATED (bulk loaded).

    .venv/bin/python bench/retrieval_bench.py --chunks 100000
    .venv/bin/python bench/retrieval_bench.py --vectors DIR   # chunk vectors from bench/gpu_embed.py (GPU)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import WIKI, mean, pct, table, timed, use_home  # noqa: E402


def windows(passages: list[dict], target: int) -> list[tuple[str, str]]:
    """(title, text) chunks: sentence windows of width 1, 2, ... 8 until `target` chunks exist (the Wikipedia
    file has ~23k sentences; widths 1-7 yield ~104k windows)."""
    out: list[tuple[str, str]] = []
    split = [(p["title"], re.split(r"(?<=[.!?])\s+", p["text"])) for p in passages]
    for width in range(1, 9):
        for title, sents in split:
            for i in range(0, max(1, len(sents) - width + 1)):
                out.append((title, " ".join(sents[i:i + width])))
                if len(out) >= target:
                    return out
    return out


def _memory_mb() -> dict[str, float]:
    """This process's resident memory now: rss, pss (shared pages divided among the processes mapping them)
    and uss (pages no other process shares), in MB."""
    out = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                out[key] = int(rest.split()[0]) / 1024
    return {"rss": out["Rss"], "pss": out["Pss"], "uss": out["Private_Clean"] + out["Private_Dirty"]}


def worker(how: str, queries: list[str], hold_s: float) -> dict:
    """One gateway worker's view of the published version: `mapped` opens the version's kb/ and maps the
    index (today); `store` reads the graph store and copies the index into its own memory (before)."""
    from kgflow.config import get_settings
    from kgflow.graph import open_graph_store
    from kgflow.retrieval.engine import RetrievalEngine
    from kgflow.retrieval.graph_view import GraphView
    from kgflow.retrieval.lexical import LexicalIndex
    from kgflow.retrieval.ppr import walk_for
    from kgflow.retrieval.types import Snapshot

    s = get_settings()
    engine = RetrievalEngine(s)
    engine.embedder.embed(["warm up"])
    base = _memory_mb()
    t0 = time.perf_counter()
    if how == "mapped":
        engine.snapshot()
    else:
        store = engine._store
        with open_graph_store(s, read_only=True) as g:
            view = GraphView.load(g)
        snap = Snapshot(store.current_version(), store.load(), view)
        snap.cache["lexical"] = LexicalIndex.build(view.findable_texts(), view.chunk_ids)
        walk_for(snap, s)
        engine._snap, engine._checked, engine._pinned = snap, float("inf"), snap.version
    load_s = time.perf_counter() - t0
    for q in queries:
        engine.retrieve(q, mode="hybrid", top_k=8)
    time.sleep(hold_s)  # the other worker is up too: shared pages count half in each one's pss
    now = _memory_mb()
    return {"load_s": load_s, **{k: now[k] - base[k] for k in now}}


def workers(how: str, n: int, queries: list[str]) -> list[dict]:
    """n worker processes side by side, each loading the version and answering the same queries."""
    import subprocess

    procs = [subprocess.Popen([sys.executable, __file__, "--worker", how, "--home", os.environ["KGFLOW_HOME"]],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    payload = json.dumps(queries)
    outs = [p.communicate(payload)[0] for p in procs]
    return [json.loads(o.strip().splitlines()[-1]) for o in outs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--vectors", type=Path, help="int8 chunk vectors from bench/gpu_embed.py (same chunks)")
    ap.add_argument("--reuse", action="store_true", help="measure the knowledge base already in --home")
    ap.add_argument("--worker", choices=["mapped", "store"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    use_home(args.home, "retrieval")
    if args.worker:  # a child of workers(): queries on stdin, figures on the last line of stdout
        print(json.dumps(worker(args.worker, json.loads(sys.stdin.read()), hold_s=20.0)))
        return
    import faiss
    import numpy as np
    import pandas as pd

    from kgflow.config import get_settings, offline_env
    from kgflow.graph import GraphBatch
    from kgflow.graph.embedded import EmbeddedGraphStore
    from kgflow.ids import stable_id
    from kgflow.nlp.normalize import entity_id
    from kgflow.retrieval.engine import RetrievalEngine
    from kgflow.retrieval.kb_snapshot import is_complete, write_snapshot
    from kgflow.vectors.embedder import Embedder
    from kgflow.vectors.index_store import IndexSpec, VectorIndexStore

    offline_env()
    s = get_settings()
    passages = json.loads(WIKI.read_text())
    chunks = windows(passages, args.chunks)
    titles = sorted({p["title"] for p in passages})
    by_lower = {t.lower(): t for t in titles}
    t: dict[str, float] = {}

    rows, mentions, rels = [], [], []
    max_words = max(len(x.split()) for x in titles)
    for i, (title, text) in enumerate(chunks):
        cid, did = stable_id("chk", title, i, text), stable_id("doc", title)
        rows.append((cid, did, title, text, i))
        words = re.findall(r"[\w'-]+", text.lower())
        found = {title}
        for n in range(1, min(max_words, 5) + 1):
            for j in range(len(words) - n + 1):
                hit = by_lower.get(" ".join(words[j:j + n]))
                if hit:
                    found.add(hit)
        for name in found:
            mentions.append((cid, entity_id(name), name))
        for other in found - {title}:
            rels.append((entity_id(title), entity_id(other), cid))
    ch = pd.DataFrame(rows, columns=["chunk_id", "doc_id", "title", "text", "ord"])
    docs = ch.drop_duplicates("doc_id")[["doc_id", "title"]]
    docs = docs.assign(uri="wiki://" + docs["title"], sha256="-", department="public", acl=[["*"]] * len(docs))
    men = pd.DataFrame(mentions, columns=["chunk_id", "entity_id", "name"]).drop_duplicates(["chunk_id", "entity_id"])
    ents = men.drop_duplicates("entity_id")[["entity_id", "name"]].assign(label="ENTITY")
    ents["aliases"] = [[n] for n in ents["name"]]
    rel = pd.DataFrame(rels, columns=["src", "dst", "evidence_chunk"]).drop_duplicates()
    rel = rel.assign(type="co_occurs", weight=1.0, rel_id=[stable_id("rel", a, b, c) for a, b, c in rel.values])
    batch = GraphBatch.from_staged(docs, ch.assign(page=1), men.assign(count=1), ents, rel, "bench")
    store = VectorIndexStore(s.index_dir)
    emb = Embedder.from_settings(s, threads=os.cpu_count())
    if args.reuse:
        vecs = store.load().vectors()
    else:
        with EmbeddedGraphStore(s.graph_path) as g, timed(t, "graph_bulk_load"):
            g.bulk_write(batch)
        with timed(t, "embed"):
            if args.vectors:  # embedded on a GPU: dequantise and re-normalise (questions are embedded here)
                vecs = np.concatenate([np.load(f) for f in sorted(args.vectors.glob("vectors_*.npy"))]).astype("f4")
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                assert len(vecs) == len(ch), f"{len(vecs)} vectors for {len(ch)} chunks"
            else:
                vecs = emb.embed(ch["text"].tolist())
        meta = pd.DataFrame({"chunk_id": ch["chunk_id"], "doc_id": ch["doc_id"], "department": "public",
                             "acl": [["*"]] * len(ch)})
        with timed(t, "hnsw_build"):
            version = store.build("bench", meta, vecs, [], s.embedder, IndexSpec.from_settings(s))
        store.publish(version)
    if not is_complete(store.version_dir(store.current_version())):
        with EmbeddedGraphStore(s.graph_path, read_only=True) as g, timed(t, "kb_snapshot"):
            write_snapshot(g, store.version_dir(store.current_version()), s)  # as the publish step does

    rng = random.Random(0)
    with_edges = rel.sample(min(args.queries, len(rel)), random_state=0)
    names = dict(zip(ents["entity_id"], ents["name"], strict=True))
    questions = [f"How is {names[a]} connected to {names[b]}?" for a, b in zip(with_edges["src"], with_edges["dst"],
                                                                             strict=True)]
    questions += [f"Tell me about {rng.choice(titles)}." for _ in range(max(0, args.queries - len(questions)))]

    per_worker = {how: workers(how, 2, questions[:20]) for how in ("store", "mapped")}
    # the gateway's engine embeds questions its own way (settings: the index space's fastest single-call
    # variant, query_embed_threads); the baseline embeds them with the batch embedder on every core
    base_q = Embedder(s.embedder, "torch", os.cpu_count() or 1, s.embed_batch_size)  # before issue 14: torch fp32
    engine, baseline = RetrievalEngine(s), RetrievalEngine(s, embedder=base_q)
    modes = ("vector", "graph", "ppr", "hybrid")
    lat = {m: [] for m in modes}
    base_lat = {m: [] for m in ("vector", "hybrid")}
    for q in questions:
        for eng, out in ((engine, lat), (baseline, base_lat)):
            for mode in out:
                t0 = time.perf_counter()
                eng.retrieve(q, mode=mode, top_k=8)
                out[mode].append((time.perf_counter() - t0) * 1e3)
    q_ms = {}
    for label, e in ((f"{base_q.backend}, {base_q.threads} threads (baseline)", base_q),
                     (f"{engine.embedder.backend}, {engine.embedder.threads} thread(s) (gateway)", engine.embedder)):
        q_ms[label] = []
        for q in questions:
            t0 = time.perf_counter()
            e.embed([q])
            q_ms[label].append((time.perf_counter() - t0) * 1e3)

    qv = emb.embed(questions)
    exact = faiss.IndexFlatIP(vecs.shape[1])
    exact.add(vecs)
    _, truth = exact.search(qv, 10)
    index = store.load()
    recall_rows = []
    for ef in (16, 32, 64, 128, 256):
        t0 = time.perf_counter()
        _, got = index.search(qv, 10, ef_search=ef)
        ms = (time.perf_counter() - t0) * 1e3 / len(qv)
        r = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth, strict=True)])
        recall_rows.append([f"HNSW efSearch={ef}", float(r), ms])
    t0 = time.perf_counter()
    exact.search(qv, 10)
    recall_rows.append(["exact (IndexFlatIP), baseline", 1.0, (time.perf_counter() - t0) * 1e3 / len(qv)])

    print(f"\n{len(ch):,} chunks, {len(ents):,} entities, {len(rel):,} relations, {len(men):,} mentions; "
          f"{len(questions)} queries; {os.cpu_count()} cores")
    print(table("question embedding alone (ms)", ["embedder", "p50", "p99"],
                [[k, pct(v, 50), pct(v, 99)] for k, v in q_ms.items()]))
    print(table("retrieval latency per query (ms, includes embedding the question)", ["mode", "p50", "p99", "mean"],
                [*([f"{m}, baseline question embedder", pct(v, 50), pct(v, 99), sum(v) / len(v)]
                   for m, v in base_lat.items()),
                 *([f"{m}, gateway's", pct(v, 50), pct(v, 99), sum(v) / len(v)] for m, v in lat.items())]))
    print(table("FAISS HNSW (M=16, efC=200) vs exact search, same embeddings", ["index", "recall@10", "ms/query"],
                recall_rows))
    print(table("one published version in 2 gateway workers side by side (each: load, 20 hybrid queries; "
                "MB added to the worker)", ["how a worker loads it", "load s", "rss MB", "pss MB", "uss MB"],
                [[label, *(mean([w[k] for w in per_worker[how]]) for k in ("load_s", "rss", "pss", "uss"))]
                 for how, label in (("store", "reads the graph store, copies the index (before)"),
                                    ("mapped", "maps the version's kb/ and index (now)"))]))
    steps = {"embed": "embed chunks" + (" (loaded: GPU-embedded)" if args.vectors else ""), "hnsw_build": "HNSW build",
             "graph_bulk_load": "graph bulk load", "kb_snapshot": "kb snapshot write at publish"}
    print(table("build", ["step", "seconds", "chunks per second"],
                [[label, t[k], len(ch) / t[k]] for k, label in steps.items() if k in t]))


if __name__ == "__main__":
    main()
