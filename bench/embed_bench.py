"""Embedding variants on real text, each beside the previous default (torch fp32, batch 64) in the same run.

Chunks: the GraphRAG-Bench medical guides cut by the project's chunker (real prose, ~1,200-character chunks);
questions: that benchmark's dev questions. For each variant: chunks/s with every core (one process, as the
in-task fallback embeds) and with one thread (one Spark task slot), question-embedding p50/p99 (one question a
call, one thread, as a gateway worker embeds), and mean cosine to torch fp32's vectors.

    .venv/bin/python bench/embed_bench.py [--chunks 1500] [--questions 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, pct, table  # noqa: E402

MEDICAL = REPO.parent / "shared" / "benchmarks" / "graphrag_bench_medical"


def chunks_of_the_medical_guides(limit: int) -> list[str]:
    """Each guide parsed and chunked exactly as ingestion does (a .txt document, default settings)."""
    from kgflow.config import Settings
    from kgflow.parse.document import parse_document
    from kgflow.parse.sniff import Limits

    s = Settings()
    guides = [ln for item in json.loads((MEDICAL / "corpus.json").read_text())
              for ln in item["context"].splitlines() if ln.strip()]
    out: list[str] = []
    for i, guide in enumerate(guides):
        doc = parse_document(guide.encode(), f"guide_{i}.txt", f"doc_{i}", Limits.from_settings(s),
                             s.chunk_max_chars, s.chunk_new_after_chars, s.chunk_overlap_chars)
        out += [c.text for c in doc.chunks]
        if len(out) >= limit:
            break
    return out[:limit]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=1500)
    ap.add_argument("--questions", type=int, default=300)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from kgflow.vectors.embedder import BACKENDS, Embedder, cpu_flags

    texts = chunks_of_the_medical_guides(args.chunks)
    questions = [q["question"] for q in json.loads((MEDICAL / "questions_dev.json").read_text())][:args.questions]
    cores = os.cpu_count() or 1
    variants = [("torch fp32, batch 64 (previous default, baseline)", "torch", 64)] + \
        [(f"{b}, batch 16", b, 16) for b in BACKENDS]
    rows, ref, base = [], None, None
    for label, backend, batch in variants:
        speeds = {}
        for threads in (cores, 1):
            e = Embedder(backend=backend, threads=threads, batch_size=batch)
            e.embed(texts[:batch])  # warm-up
            start = time.perf_counter()
            vectors = e.embed(texts)
            speeds[threads] = len(texts) / (time.perf_counter() - start)
        q = Embedder(backend=backend, threads=1, batch_size=batch)
        q.embed(questions[:5])
        lat = []
        for text in questions:
            t0 = time.perf_counter()
            q.embed([text])
            lat.append((time.perf_counter() - t0) * 1e3)
        ref = vectors if ref is None else ref
        base = speeds[cores] if base is None else base
        cos = float(np.mean(np.sum(ref * vectors, axis=1)))
        rows.append([label, speeds[cores], speeds[cores] / base, speeds[1], pct(lat, 50), pct(lat, 99), cos])
        print(f"  {label}: {speeds[cores]:.1f} chunks/s", flush=True)
    bf16 = "yes" if {"amx_bf16", "avx512_bf16"} & cpu_flags() else "no"
    print(f"\n{len(texts)} chunks ({sum(map(len, texts)) / len(texts):.0f} chars on average), {len(questions)} "
          f"questions; {cores} cores; native bf16: {bf16}")
    print(table("embedding variants (same chunks, same run)",
                ["variant", f"chunks/s ({cores} threads)", "x baseline", "chunks/s (1 thread)",
                 "question p50 ms", "question p99 ms", "cosine to torch fp32"], rows))


if __name__ == "__main__":
    main()
