"""The extract stage's spaCy pipeline on real text: nlp.pipe batch size, what each component costs (and
which extraction output needs it), and processes per executor, each beside the stage's setting in one run.

Chunks: the GraphRAG-Bench medical guides cut by the project's chunker (as bench/embed_bench.py).
One thread per process (as one Spark task slot runs it).

    .venv/bin/python bench/spacy_bench.py [--chunks 600]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one Spark task slot: one thread
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402
from embed_bench import chunks_of_the_medical_guides  # noqa: E402

# what kgflow.nlp reads from each optional component (so none can be left out of the stage)
NEEDED_BY = {
    "lemmatizer": "concept names (head lemma), relation types (verb lemma)",
    "attribute_ruler": "POS: concept trimming, SVO verbs, adjective filter (and the lemmatizer's input)",
    "entity_ruler": "the domain patterns' labels (entity_patterns.jsonl)",
}


def _rate(n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=600)
    args = ap.parse_args()
    from kgflow.nlp.extract import extract_chunks
    from kgflow.nlp.pipeline import load_nlp

    texts = chunks_of_the_medical_guides(args.chunks)
    n = len(texts)
    nlp = load_nlp(None)
    list(nlp.pipe(texts[:64]))  # warm-up
    base = _rate(n, lambda: list(nlp.pipe(texts, batch_size=64)))
    rows = [["batch 64 (the stage's setting, baseline)", base, 1.0]]
    for bs in (16, 256, 1000):
        r = _rate(n, lambda bs=bs: list(nlp.pipe(texts, batch_size=bs)))
        rows.append([f"batch {bs}", r, r / base])
    comp = []
    for name, needed in NEEDED_BY.items():
        off = [name, "lemmatizer"] if name == "attribute_ruler" else [name]  # the lemmatizer reads its POS
        with nlp.select_pipes(disable=off):
            r = _rate(n, lambda: list(nlp.pipe(texts, batch_size=64)))
        comp.append([f"without {' + '.join(off)}", r, 1 - base / r, needed])
    cores = os.cpu_count() or 1
    procs = _rate(n, lambda: list(nlp.pipe(texts, batch_size=64, n_process=cores)))
    rows_e = [["spaCy + kgflow's rules (extract_chunks), 1 process", _rate(n, lambda: list(extract_chunks(
        [{"chunk_id": f"c{i}", "doc_id": f"d{i // 4}", "text": t} for i, t in enumerate(texts)])))]]

    print(f"\n{n} chunks ({sum(map(len, texts)) / n:.0f} chars on average); {cores} cores; pipeline {nlp.pipe_names}")
    print(table("nlp.pipe batch size (1 process, 1 thread)", ["setting", "chunks/s", "x baseline"], rows))
    print(table("components (each left out once; share = the part of the stage's spaCy time it costs)",
                ["pipeline", "chunks/s", "share", "kgflow needs it for"], comp))
    print(table("processes", ["how", "chunks/s", "x baseline"],
                [["1 process (baseline)", base, 1.0],
                 [f"nlp.pipe(n_process={cores}) in one task", procs, procs / base],
                 *[[label, r, r / base] for label, r in rows_e]]))


if __name__ == "__main__":
    main()
