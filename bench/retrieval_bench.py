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
from common import WIKI, pct, table, timed, use_home  # noqa: E402


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


def _rss_mb() -> float:
    """Resident memory of this process now (not the peak), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--vectors", type=Path, help="int8 chunk vectors from bench/gpu_embed.py (same chunks)")
    args = ap.parse_args()
    use_home(args.home, "retrieval")
    import faiss
    import numpy as np
    import pandas as pd

    from kgflow.config import get_settings, offline_env
    from kgflow.graph import GraphBatch
    from kgflow.graph.embedded import EmbeddedGraphStore
    from kgflow.ids import stable_id
    from kgflow.nlp.normalize import entity_id
    from kgflow.retrieval.engine import RetrievalEngine
    from kgflow.vectors.embedder import Embedder
    from kgflow.vectors.index_store import VectorIndexStore

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
    with EmbeddedGraphStore(s.graph_path) as g, timed(t, "graph_bulk_load"):
        g.bulk_write(batch)

    emb = Embedder(threads=os.cpu_count())
    with timed(t, "embed"):
        if args.vectors:  # embedded on a GPU: dequantise and re-normalise (questions are embedded here)
            vecs = np.concatenate([np.load(f) for f in sorted(args.vectors.glob("vectors_*.npy"))]).astype("float32")
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            assert len(vecs) == len(ch), f"{len(vecs)} vectors for {len(ch)} chunks"
        else:
            vecs = emb.embed(ch["text"].tolist())
    store = VectorIndexStore(s.index_dir)
    meta = pd.DataFrame({"chunk_id": ch["chunk_id"], "doc_id": ch["doc_id"], "department": "public",
                         "acl": [["*"]] * len(ch)})
    with timed(t, "hnsw_build"):
        version = store.build("bench", meta, vecs, [], s.embedder, s.hnsw_m, s.hnsw_ef_construction)
    store.publish(version)

    rng = random.Random(0)
    with_edges = rel.sample(min(args.queries, len(rel)), random_state=0)
    names = dict(zip(ents["entity_id"], ents["name"], strict=True))
    questions = [f"How is {names[a]} connected to {names[b]}?" for a, b in zip(with_edges["src"], with_edges["dst"],
                                                                             strict=True)]
    questions += [f"Tell me about {rng.choice(titles)}." for _ in range(max(0, args.queries - len(questions)))]

    engine = RetrievalEngine(s, embedder=emb)
    rss_before = _rss_mb()
    with timed(t, "snapshot_load"):
        engine.snapshot()  # index + graph view + lexical index of the published version
    snapshot_mb = _rss_mb() - rss_before
    modes = ("vector", "graph", "ppr", "hybrid")
    lat = {m: [] for m in modes}
    for q in questions:
        for mode in modes:
            t0 = time.perf_counter()
            engine.retrieve(q, mode=mode, top_k=8)
            lat[mode].append((time.perf_counter() - t0) * 1e3)

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
    print(table("retrieval latency per query (ms, includes embedding the question)", ["mode", "p50", "p99", "mean"],
                [[m, pct(v, 50), pct(v, 99), sum(v) / len(v)] for m, v in lat.items()]))
    print(table("FAISS HNSW (M=16, efC=200) vs exact search, same embeddings", ["index", "recall@10", "ms/query"],
                recall_rows))
    print(table("build", ["step", "seconds", "per second"],
                [[f"snapshot load (one worker; +{snapshot_mb:.0f} MB resident)", t["snapshot_load"],
                  len(ch) / t["snapshot_load"]],
                 ["embed chunks" + (" (loaded: GPU-embedded)" if args.vectors else ""), t["embed"],
                  len(ch) / t["embed"]], ["HNSW build", t["hnsw_build"],
                 len(ch) / t["hnsw_build"]], ["graph bulk load (rows)", t["graph_bulk_load"],
                                             batch.rows() / t["graph_bulk_load"]]]))


if __name__ == "__main__":
    main()
