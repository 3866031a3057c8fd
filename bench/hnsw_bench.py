"""FAISS HNSW degree M on real embeddings: recall@10 against exact search, query latency and memory.

Vectors: the published index of a home built by bench/retrieval_bench.py (100k Wikipedia chunks by default);
queries: Wikipedia titles asked as questions, embedded as the gateway embeds a question. Each M is built with
the same efConstruction; the baseline is the current default (M=16) in the same run.

    .venv/bin/python bench/hnsw_bench.py [--home var/bench/retrieval100k] [--queries 500]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WIKI, pct, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=REPO / "var" / "bench" / "retrieval100k")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--m", type=int, nargs="+", default=[16, 24, 32])
    ap.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    args = ap.parse_args()
    os.environ["KGFLOW_HOME"] = str(args.home.absolute())
    import faiss
    import numpy as np

    from kgflow.config import Settings
    from kgflow.vectors.embedder import Embedder
    from kgflow.vectors.index_store import VectorIndexStore, new_hnsw

    s = Settings()
    index = VectorIndexStore(s.index_dir).load()
    vecs = np.ascontiguousarray(index.vectors()).astype("float32")
    titles = [p["title"] for p in json.loads(WIKI.read_text())[-args.queries:]]
    q = Embedder.from_settings(s, threads=os.cpu_count(), purpose="query",
                               index_variant=index.manifest.get("embedder")).embed([f"What is {t}?" for t in titles])
    faiss.omp_set_num_threads(1)  # one query a call, as a gateway worker searches
    exact = faiss.IndexFlatIP(vecs.shape[1])
    exact.add(vecs)
    _, truth = exact.search(q, 10)
    rows = []
    for m in args.m:
        hnsw = new_hnsw(vecs.shape[1], m, s.hnsw_ef_construction)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        t0 = time.perf_counter()
        hnsw.add_with_ids(vecs, np.arange(len(vecs), dtype="int64"))
        build_s = time.perf_counter() - t0
        faiss.omp_set_num_threads(1)
        size_mb = faiss.serialize_index(hnsw).nbytes / 2**20
        for ef in args.ef_search:
            faiss.downcast_index(hnsw.index).hnsw.efSearch = ef
            lat, found = [], []
            for i in range(len(q)):
                t = time.perf_counter()
                _, ids = hnsw.search(q[i:i + 1], 10)
                lat.append((time.perf_counter() - t) * 1e3)
                found.append(len(set(ids[0]) & set(truth[i])) / 10)
            rows.append([f"M={m}" + (" (default)" if m == s.hnsw_m else ""), ef, float(np.mean(found)),
                         pct(lat, 50), pct(lat, 99), size_mb, build_s])
            print(f"  M={m} ef={ef}: recall@10 {np.mean(found):.3f}", flush=True)
    print(f"\n{len(vecs):,} vectors x {vecs.shape[1]} ({index.manifest.get('embedder')}), {len(q)} questions; "
          f"efConstruction {s.hnsw_ef_construction}; exact search (IndexFlatIP) is the truth")
    print(table("HNSW degree M vs exact search (same vectors, same run)",
                ["index", "efSearch", "recall@10", "p50 ms", "p99 ms", "index MB", "build s"], rows))


if __name__ == "__main__":
    main()
