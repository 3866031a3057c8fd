"""The quality gate before publish: a golden question file answered from the candidate version and
from the live one; publish is blocked when answer-recall drops by more than the configured margin.

Golden file (KGFLOW_GOLDEN_QUESTIONS; default <home>/golden_questions.json, which the sample corpus
writes): a JSON list of {"question": ..., "answer": ..., "kind": "single_hop" | "multi_hop"} ("kind" is
optional). No file: the gate is skipped with a log line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from kgflow.config import Settings
from kgflow.errors import KgflowError
from kgflow.quality.answer_recall import answer_recall, context_within

log = logging.getLogger("kgflow.quality")


class QualityGateFailed(KgflowError):
    """The candidate answers the golden questions worse than the live version: not published."""
    status, error_type = 409, "quality_gate"


@dataclass(frozen=True)
class GoldenItem:
    question: str
    answer: str
    kind: str = "single_hop"  # or multi_hop: reported apart by the answer evaluation


def load_golden(path: Path) -> list[GoldenItem] | None:
    if not path.exists():
        return None
    items = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("question") and i.get("answer")
                                                for i in items):
        raise ValueError(f"{path}: a golden file is a JSON list of objects with 'question' and 'answer'")
    return [GoldenItem(str(i["question"]), str(i["answer"]), str(i.get("kind") or "single_hop")) for i in items]


def golden_recall(engine, items: list[GoldenItem], budget_chars: int) -> float:
    """Mean answer-recall over the items, as an admin sees the knowledge base (no department filter)."""
    scores = []
    for item in items:
        r = engine.retrieve(item.question, top_k=12, token_budget=budget_chars // 2)
        scores.append(answer_recall(item.answer, context_within([c.chunk.text for c in r.chunks], budget_chars)))
    return sum(scores) / len(scores) if scores else 0.0


def check(settings: Settings, candidate_version: str, candidate_graph: Path | None) -> dict:
    """Report for the candidate vs the live version; raises QualityGateFailed when it regresses."""
    from kgflow.retrieval.engine import NoKnowledgeBase, RetrievalEngine
    from kgflow.vectors.embedder import EmbedderMismatch

    items = load_golden(settings.golden_path)
    if items is None:
        log.info("quality gate skipped: no golden question file at %s", settings.golden_path)
        return {"skipped": True, "golden": str(settings.golden_path)}
    budget = settings.quality_gate_budget_chars
    engine = RetrievalEngine(settings, version=candidate_version, graph_path=candidate_graph)
    candidate = golden_recall(engine, items, budget)
    try:
        live = golden_recall(RetrievalEngine(settings, embedder=engine.embedder), items, budget)  # one model load
    except NoKnowledgeBase:
        live = None
    except EmbedderMismatch:  # the live version lies in another vector space: its engine picks its own embedder
        other = settings.model_copy(update={"query_embedder_backend": "auto"})
        live = golden_recall(RetrievalEngine(other), items, budget)
    report = {"skipped": False, "golden": str(settings.golden_path), "questions": len(items),
              "candidate": round(candidate, 4), "live": None if live is None else round(live, 4),
              "margin": settings.quality_gate_margin,
              "passed": live is None or candidate >= live - settings.quality_gate_margin}
    if not report["passed"]:
        raise QualityGateFailed(f"answer-recall on {len(items)} golden questions fell from {live:.3f} (live) to "
                                f"{candidate:.3f} (candidate), more than the margin of "
                                f"{settings.quality_gate_margin}: not published", report)
    return report
