"""Answer quality on real documents: GraphRAG-Bench Medical through the real knowledge_ingest DAG.

Writes the benchmark corpus as documents into a landing zone (one guide per line, duplicates kept),
ingests it with the real DAG (Spark, spaCy, GX, LadybugDB, FAISS), then prints answer-recall per
question type for every retrieval strategy at the same context budget, with retrieval p50/p99.

Metric (kgflow.quality.answer_recall): share of the gold answer's content words (lower-cased, stop words
removed, plural folded) present in the retrieved context, cut at exactly --budget characters.

    .venv/bin/python bench/quality_bench.py                      # ingest into a fresh home, evaluate
    .venv/bin/python bench/quality_bench.py --home var/bench/quality --reuse   # evaluate a home again
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import REPO, mean, pct, table, use_home  # noqa: E402

BENCH = Path(os.environ.get("KGFLOW_QUALITY_BENCH", REPO.parent / "shared" / "benchmarks" / "graphrag_bench_medical"))
TYPES = ["Fact Retrieval", "Complex Reasoning", "Contextual Summarize", "Creative Generation"]


def write_landing(landing: Path, fmt: str = "txt") -> int:
    """One file per guide (the corpus is one item whose context holds one guide per line, duplicates kept):
    plain text, or Markdown as a person saves a guide, a `# Title` line (its opening words) and its text."""
    corpus = json.loads((BENCH / "corpus.json").read_text())
    lines = [ln for item in corpus for ln in item["context"].split("\n") if ln.strip()]
    folder = landing / "guides"
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(lines):
        body = f"# {' '.join(text.split()[:6])}\n\n{text}\n" if fmt == "md" else text + "\n"
        (folder / f"guide_{i:03d}.{fmt}").write_text(body, encoding="utf-8")
    return len(lines)


def ingest(home: Path, fmt: str = "txt") -> dict:
    from kgflow.config import Settings
    from kgflow.ingest.staging import read_json, run_dir
    from kgflow.orchestration.run_dag import test_dag

    n = write_landing(home / "landing", fmt)
    start = time.perf_counter()
    run = test_dag("knowledge_ingest")
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    if str(run.state) != "success":
        raise SystemExit(f"ingest failed: {states}")
    published = read_json(run_dir(Settings().runs_dir, run.run_id), "publish.json")
    return {"format": fmt, "documents": n, "published": published["graph"]["documents"],
            "duplicates": len(published["duplicates"]), "quarantined": len(published["quarantined"]),
            "seconds": round(time.perf_counter() - start, 1)}


def evaluate(strategies: list[str], budget: int, limit: int | None, top_k: int) -> dict:
    from kgflow.config import Settings
    from kgflow.quality.answer_recall import answer_recall, context_within
    from kgflow.retrieval.engine import RetrievalEngine

    questions = json.loads((BENCH / "questions_dev.json").read_text())[:limit]
    engine = RetrievalEngine(Settings())
    engine.retrieve("warm up", mode=strategies[0])
    out: dict[str, dict] = {}
    for strategy in strategies:
        scores: dict[str, list[float]] = defaultdict(list)
        latencies = []
        per_question = []
        for q in questions:
            t0 = time.perf_counter()
            r = engine.retrieve(q["question"], mode=strategy, top_k=top_k, token_budget=budget // 2)
            latencies.append((time.perf_counter() - t0) * 1e3)
            context = context_within([c.chunk.text for c in r.chunks], budget)
            score = answer_recall(q["answer"], context)
            scores[q["question_type"]].append(score)
            scores["overall"].append(score)
            per_question.append(score)
        out[strategy] = {"recall": {k: mean(v) for k, v in scores.items()}, "p50": pct(latencies, 50),
                         "p99": pct(latencies, 99), "per_question": per_question}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path)
    ap.add_argument("--reuse", action="store_true", help="evaluate the knowledge base already in --home")
    ap.add_argument("--budget", type=int, default=6000, help="context characters for every strategy")
    ap.add_argument("--top-k", type=int, default=12)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--strategies", default="")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("--format", choices=["txt", "md"], default="txt", help="how each guide is saved")
    args = ap.parse_args()
    home = use_home(args.home, "quality")
    os.environ.setdefault("KGFLOW_TORCH_THREADS", "2")
    from kgflow.retrieval import strategy_names

    info = {"home": str(home)}
    if not (args.reuse and (home / "index" / "CURRENT").exists()):
        info |= ingest(home, args.format)
    strategies = [s for s in args.strategies.split(",") if s] or strategy_names()
    results = evaluate(strategies, args.budget, args.limit, args.top_k)
    base = results.get("vector")
    rows = []
    for name, r in results.items():
        rec = r["recall"]
        row = [name, *[f"{rec.get(t, float('nan')):.3f}" for t in ["overall", *TYPES]], r["p50"], r["p99"]]
        if base and name != "vector":
            pairs = list(zip(r["per_question"], base["per_question"], strict=True))
            row.append(f"{sum(a > b for a, b in pairs)}/{sum(a < b for a, b in pairs)}")
        else:
            row.append("-")
        rows.append(row)
    print(f"ingest: {info}")
    print(table(f"answer-recall at {args.budget} chars (GraphRAG-Bench Medical dev, "
                f"{len(base['per_question']) if base else '?'} questions)",
                ["strategy", "overall", *TYPES, "p50 ms", "p99 ms", "wins/losses vs vector"], rows))
    if args.json:
        args.json.write_text(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "per_question"}
                                         for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
