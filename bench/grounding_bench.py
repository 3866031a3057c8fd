"""Grounding on real documents without gold entity answers: GraphRAG-Bench Medical's guides (Markdown, as a
person saves them) through the real knowledge_ingest DAG, its dev questions through the answer pipeline with
the packaged model on llama.cpp, scored by the one answer measure (kgflow.quality.answer_measure).

What it shows: how often the model's own text names something its evidence lacks (caught), how often the
check refuses, rewrites to the graph's answer or keeps, and whether a kept answer still holds the gold
answer's key terms (recall of the gold answer's content words, the same for the model's text and the
delivered one: a check that refused or rewrote good answers would lower it).

    .venv/bin/python bench/grounding_bench.py --questions 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from common import table, use_home  # noqa: E402

_WORD = re.compile(r"[a-z][a-z-]{3,}")


def term_recall(gold: str, text: str) -> float:
    """Share of the gold answer's content words (4+ letters) the text contains."""
    terms = set(_WORD.findall(gold.lower()))
    return len(terms & set(_WORD.findall(text.lower()))) / len(terms) if terms else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    home = use_home(args.home, "grounding")
    from kgflow.orchestration.airflow_home import airflow_env

    airflow_env()
    from quality_bench import BENCH, ingest

    from kgflow.answer.service import AnswerService
    from kgflow.config import get_settings
    from kgflow.llm.base import GenParams
    from kgflow.llm.llamacpp import LlamaCppBackend
    from kgflow.llm.llamacpp_server import LlamaServer
    from kgflow.quality.answer_measure import AnswerMeasure, measure_answer
    from kgflow.retrieval.engine import RetrievalEngine

    if not (home / "index" / "CURRENT").exists():
        print(ingest(home, "md"))
    s = get_settings()
    questions = json.loads((BENCH / "questions_dev.json").read_text())[: args.questions]
    server = LlamaServer(threads=os.cpu_count(), n_ctx=s.llm_n_ctx).start(supervise=False)
    m, recall = AnswerMeasure(), {"model": [], "delivered": []}
    service = AnswerService(RetrievalEngine(s), LlamaCppBackend(server.url), s.llm_model_kind)
    t0 = time.perf_counter()

    async def ask_all() -> None:  # one event loop: the backend's HTTP client lives in it
        for q in questions:
            a = await service.answer(q["question"], GenParams(max_new_tokens=48, temperature=0.0, seed=0))
            row = measure_answer(m, a, q["question"], service, kind=q["question_type"])
            recall["model"].append(term_recall(q["answer"], a.generated_text))
            recall["delivered"].append(term_recall(q["answer"], a.text))
            row["gold"] = q["answer"]

    try:
        asyncio.run(ask_all())
    finally:
        server.stop()
    summary = m.summary()
    n = max(1, summary["questions"])
    print(table(f"grounding on {summary['questions']} GraphRAG-Bench Medical dev questions "
                f"({(time.perf_counter() - t0) / n:.1f} s/question)",
                ["", "unsupported", "refusals", "kept", "rewritten", "refused", "gold-term recall"],
                [["model alone", f"{summary['unsupported_rate']['generated']:.2f}", "-", "-", "-", "-",
                  f"{sum(recall['model']) / n:.2f}"],
                 ["model + grounding check", f"{summary['unsupported_rate']['delivered']:.2f}",
                  f"{summary['refusal_rate']:.2f}", summary["grounding"]["kept"], summary["grounding"]["rewritten"],
                  summary["grounding"]["refused"], f"{sum(recall['delivered']) / n:.2f}"]]))
    for a in m.answers[:12]:
        print(f"  [{a['action']}] {a['question'][:60]} -> {a['text'][:70]!r}  (model: {a['generated'][:50]!r};"
              f" unsupported {a['generated_unsupported']})")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "recall": recall, "answers": m.answers}, indent=2))


if __name__ == "__main__":
    main()
