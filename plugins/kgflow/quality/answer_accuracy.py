"""Answer accuracy: does the generated text name the gold answer?

One evaluation for the model refresh gate and for `bench/answer_bench.py`: each golden question
(kgflow.quality.gate.load_golden: the sample corpus writes single-hop and multi-hop ones) is answered
through kgflow.llm.answer.AnswerService (retrieval, the prompt the gateway sends, the backend under test), and is
correct when the gold answer, case and spacing aside, appears in the generated text. Reported overall
and per question kind. The graph's own answer (no model) is scored the same way beside it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from kgflow.llm.answer import AnswerService
from kgflow.llm.base import GenParams, LLMBackend
from kgflow.llm.prompts import ModelKind
from kgflow.quality.gate import GoldenItem

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def names_answer(gold: str, text: str) -> bool:
    return bool(normalise(gold)) and normalise(gold) in normalise(text)


@dataclass
class AccuracyReport:
    accuracy: dict[str, float] = field(default_factory=dict)  # overall and per kind
    graph_accuracy: dict[str, float] = field(default_factory=dict)
    questions: dict[str, int] = field(default_factory=dict)
    answers: list[dict] = field(default_factory=list)

    @property
    def overall(self) -> float:
        return self.accuracy.get("overall", 0.0)


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


async def _evaluate(items: list[GoldenItem], engine, backend: LLMBackend, kind: ModelKind,
                    max_new_tokens: int) -> AccuracyReport:
    params = GenParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
    service = AnswerService(engine, backend, kind)
    report = AccuracyReport()
    by_kind: dict[str, list[bool]] = {"overall": []}
    graph: dict[str, list[bool]] = {"overall": []}
    for item in items:
        a = await service.answer(item.question, params)
        ok = names_answer(item.answer, a.text)
        graph_ok = a.retrieval.answer is not None and names_answer(item.answer, a.retrieval.answer.entity)
        for key in ("overall", item.kind):
            by_kind.setdefault(key, []).append(ok)
            graph.setdefault(key, []).append(graph_ok)
        report.answers.append({"question": item.question, "gold": item.answer, "kind": item.kind, "text": a.text,
                               "correct": ok, "graph_answer": a.retrieval.answer.entity if a.retrieval.answer
                               else None, "graph_correct": graph_ok})
    report.accuracy = {k: _share(v) for k, v in by_kind.items()}
    report.graph_accuracy = {k: _share(v) for k, v in graph.items()}
    report.questions = {k: len(v) for k, v in by_kind.items()}
    return report


def answer_accuracy(items: list[GoldenItem], engine, backend: LLMBackend, kind: ModelKind,
                    max_new_tokens: int = 24) -> AccuracyReport:
    """Greedy answers (temperature 0, fixed seed): the same model and knowledge base give the same score."""
    return asyncio.run(_evaluate(items, engine, backend, kind, max_new_tokens))
