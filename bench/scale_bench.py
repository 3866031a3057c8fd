"""Vector search at 100k / 300k / 1M chunks on this machine: HNSW-flat against the compressed index (IVF + PQ
with exact re-ranking), each through kgflow's own VectorIndexStore (build, then load as a gateway worker does).

Vectors: the Wikipedia passages of ../shared/corpus/wiki_passages.json embedded with kgflow's embedder (real,
6k of them), and around them synthetic chunks, because 1M real embeddings cost hours on 2 cores. The stated
distribution: chunk = normalize(passage + sigma * g / sqrt(dims)), g ~ N(0, I), passage drawn uniformly,
sigma 0.75 (a chunk's cosine to its passage is 0.80 on average, about that of two chunks of one article).
Questions: 500 Wikipedia titles asked as "What is <title>?", embedded as the gateway embeds a question.
Truth: exact inner-product search (IndexFlatIP) over the same vectors, in the same run.

Per index and size: recall@10 against the truth; single-query p50/p99 on one thread (one query a call, as a
gateway worker searches); bytes per vector held in memory and on disk; build seconds; the RSS of a fresh
reader process (a worker) after loading and after the questions.

    .venv/bin/python bench/scale_bench.py [--sizes 100000 300000 1000000] [--out var/bench/scale]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, WIKI, pct, table  # noqa: E402

SIGMA = 0.75


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _anon_mb() -> float:
    """The process's anonymous memory (heap: its own), without the mapped files' pages (RssFile: page cache,
    shared by every worker that maps the same version)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _base(out: Path, queries: int, threads: int):
    """(real passage vectors, question vectors, embedder variant), embedded once and kept under `out`."""
    import numpy as np

    from kgflow.config import Settings
    from kgflow.vectors.embedder import Embedder

    cache = out / "base.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return z["passages"], z["questions"][:queries], str(z["variant"])
    s = Settings()
    passages = json.loads(WIKI.read_text())
    embedder = Embedder.from_settings(s, threads=threads)
    t = time.perf_counter()
    pv = embedder.embed([f"{p['title']}\n{p['text']}" for p in passages])
    print(f"embedded {len(pv):,} passages in {time.perf_counter() - t:.0f} s ({embedder.variant})", flush=True)
    asker = Embedder.from_settings(s, threads=threads, purpose="query", index_variant=embedder.variant)
    titles = [p["title"] for p in passages]
    picked = [titles[i] for i in np.random.default_rng(1).choice(len(titles), 500, replace=False)]
    qv = asker.embed([f"What is {t}?" for t in picked])
    np.savez(cache, passages=pv, questions=qv, variant=embedder.variant)
    return pv, qv[:queries], embedder.variant


def _chunks(passages, n: int, seed: int = 0):
    """n synthetic chunk vectors around the real passages (the module docstring states the distribution)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    dims = passages.shape[1]
    out = np.empty((n, dims), dtype="float32")
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        v = passages[rng.integers(0, len(passages), hi - lo)] + SIGMA * rng.standard_normal(
            (hi - lo, dims), dtype="float32") / np.sqrt(dims)
        out[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _measure(root: Path, name: str, spec, vecs, questions, truth, variant: str, knobs: list[dict],
             threads: int) -> list[list]:
    import faiss
    import numpy as np
    import pandas as pd

    from kgflow.vectors.index_store import VectorIndexStore

    shutil.rmtree(root, ignore_errors=True)
    store = VectorIndexStore(root)
    n = len(vecs)
    rows = pd.DataFrame({"chunk_id": np.arange(n).astype(str), "doc_id": (np.arange(n) // 20).astype(str),
                         "department": "all", "acl": [["all"]] * n})
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    version = store.build("bench", rows, vecs, [], variant, spec)
    build_s = time.perf_counter() - t
    del rows
    gc.collect()
    store.publish(version)
    d = store.version_dir(version)
    index_bytes = (d / "index.faiss").stat().st_size
    disk_bytes = sum(p.stat().st_size for p in d.iterdir())
    # the reader is a fresh process, as a gateway worker is: its RSS is what one worker costs
    np.save(root / "questions.npy", questions)
    np.save(root / "truth.npy", truth)
    import subprocess

    r = subprocess.run([sys.executable, __file__, "--reader", str(root), "--knobs", json.dumps(knobs)],
                       capture_output=True, text=True, check=True)
    reader = json.loads(r.stdout.strip().splitlines()[-1])
    out = []
    for k, res in zip(knobs, reader["knobs"], strict=True):
        knob = ", ".join(f"{a}={b}" for a, b in k.items())
        out.append([name, f"{n:,}", knob, res["recall"], res["p50"], res["p99"], index_bytes / n, disk_bytes / n,
                    build_s, reader["load_s"], reader["rss_loaded"], res["rss"], res["anon"]])
        print(f"  {name} {n:,} {knob}: recall@10 {res['recall']:.3f}, p99 {res['p99']:.2f} ms, "
              f"RSS {res['rss']:.0f} MB (anonymous {res['anon']:.0f})", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    return out


def _reader(root: Path, knobs: list[dict]) -> None:
    """A worker's view: load the published version mapped, ask every question one at a time on one thread;
    prints JSON (absolute RSS after loading and after each knob's questions)."""
    import faiss
    import numpy as np

    from kgflow.vectors.index_store import VectorIndexStore

    faiss.omp_set_num_threads(1)
    questions, truth = np.load(root / "questions.npy"), np.load(root / "truth.npy")
    t = time.perf_counter()
    idx = VectorIndexStore(root).load(mmap=True)
    out = {"load_s": time.perf_counter() - t, "rss_loaded": _rss_mb(), "knobs": []}
    for k in knobs:
        lat, found = [], []
        for i in range(len(questions)):
            t = time.perf_counter()
            _, ids = idx.search(questions[i:i + 1], 10, **k)
            lat.append((time.perf_counter() - t) * 1e3)
            found.append(len(set(ids[0].tolist()) & set(truth[i].tolist())) / 10)
        out["knobs"].append({"recall": float(np.mean(found)), "p50": pct(lat, 50), "p99": pct(lat, 99),
                             "rss": _rss_mb(), "anon": _anon_mb()})
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "scale")
    ap.add_argument("--kinds", nargs="+", default=["hnsw_flat", "ivf_pq"])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="for embedding and building")
    ap.add_argument("--reader", type=Path, help=argparse.SUPPRESS)  # internal: the worker process
    ap.add_argument("--knobs", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader:
        return _reader(args.reader, json.loads(args.knobs))
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KGFLOW_HOME", str((args.out / "home").absolute()))
    import faiss

    from kgflow.vectors.index_store import IndexSpec

    passages, questions, variant = _base(args.out, args.queries, args.threads)
    specs = {"hnsw_flat": (IndexSpec("hnsw_flat"), [{"ef_search": ef} for ef in (128, 256, 512)]),
             "ivf_pq": (IndexSpec("ivf_pq"), [{"nprobe": p, "refine_factor": r} for p, r in
                                              ((32, 8), (64, 16), (128, 16), (256, 32))])}
    results = []
    for n in args.sizes:
        vecs = _chunks(passages, n)
        exact = faiss.IndexFlatIP(vecs.shape[1])
        exact.add(vecs)
        faiss.omp_set_num_threads(args.threads)
        _, truth = exact.search(questions, 10)
        del exact
        for kind in args.kinds:
            spec, knobs = specs[kind]
            results += _measure(args.out / "index", kind, spec, vecs, questions, truth, variant, knobs, args.threads)
    header = ["index", "vectors", "search knobs", "recall@10", "p50 ms", "p99 ms", "B/vector in index",
              "B/vector on disk", "build s", "load s", "worker RSS loaded MB", "worker RSS after questions MB",
              "of which anonymous MB"]
    print(f"\n{len(questions)} questions; vectors: {len(passages):,} real passage embeddings ({variant}) and "
          f"synthetic chunks around them (sigma {SIGMA}); truth: exact search over the same vectors")
    print(table("vector index at scale (this machine, one run)", header, results))
    (args.out / "index_results.json").write_text(json.dumps([dict(zip(header, r, strict=True)) for r in results],
                                                            indent=2))


if __name__ == "__main__":
    main()
