"""The one answer measure: the refresh gate, the deploy smoke test and `bench/answer_bench.py` all score
answers with `AnswerMeasure`.

Per answer it takes what a caller receives (the text and the `kgflow` extension's grounding and citations)
and, where the question has one, the gold answer. It reports:
- **accuracy** overall and per question kind (single_hop, multi_hop): the gold answer, case and spacing aside,
  is named in the delivered text;
- **unsupported rate**: share of answers naming something their evidence lacks. `generated` is the model's
  own text (what the grounding check caught), `delivered` what the caller got (after it);
- **refusal rate**: share of delivered answers that say the sources do not answer;
- **cited rate**: share of answers with at least one citation.
The model's own text is scored for accuracy beside the delivered one, and so is the graph's answer, so each
option (the model alone, the model with the check, the graph alone) is measured on the same run.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from kgflow.answer.grounding import is_refusal
from kgflow.answer.service import Answer, AnswerService
from kgflow.llm.base import GenParams, LLMBackend
from kgflow.llm.prompts import ModelKind
from kgflow.quality.gate import GoldenItem

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip().casefold()


def names_answer(gold: str, text: str) -> bool:
    return bool(normalise(gold)) and normalise(gold) in normalise(text)


def _share(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else 0.0


@dataclass
class AnswerMeasure:
    answers: list[dict] = field(default_factory=list)

    def add(self, question: str, text: str, extension: dict, gold: str | None = None, kind: str | None = None,
            generated: str | None = None, delivered_unsupported: tuple[str, ...] = ()) -> dict:
        """One answer as the caller sees it. `generated`: the model's own text, when the scorer can see it;
        `delivered_unsupported`: claims of the delivered text its evidence lacks, when the scorer holds the
        evidence (in-process); over HTTP the extension's verdict is all there is."""
        grounding = extension.get("grounding") or {}
        graph = (extension.get("answer") or {}).get("entity")
        row = {"question": question, "kind": kind, "gold": gold, "text": text, "grounded": extension.get("grounded"),
               "action": grounding.get("action"), "generated": generated,
               "generated_unsupported": list(grounding.get("unsupported") or []),
               "delivered_unsupported": list(delivered_unsupported), "refused": is_refusal(text),
               "cited": bool(extension.get("citations")), "graph_answer": graph}
        if gold is not None:
            row["correct"] = names_answer(gold, text)
            row["generated_correct"] = names_answer(gold, generated) if generated is not None else None
            row["graph_correct"] = graph is not None and names_answer(gold, graph)
        self.answers.append(row)
        return row

    def _by_kind(self, key: str) -> dict[str, float]:
        scored = [a for a in self.answers if a.get(key) is not None]
        out = {"overall": _share([a[key] for a in scored])} if scored else {}
        for kind in sorted({a["kind"] for a in scored if a["kind"]}):
            out[kind] = _share([a[key] for a in scored if a["kind"] == kind])
        return out

    @property
    def accuracy(self) -> dict[str, float]:
        return self._by_kind("correct")

    @property
    def overall(self) -> float:
        return self.accuracy.get("overall", float("nan"))

    def summary(self) -> dict:
        a = self.answers
        return {"questions": len(a), "accuracy": self.accuracy,
                "generated_accuracy": self._by_kind("generated_correct"),
                "graph_accuracy": self._by_kind("graph_correct"),
                "unsupported_rate": {"generated": _share([bool(x["generated_unsupported"]) for x in a]),
                                     "delivered": _share([bool(x["delivered_unsupported"]) for x in a])},
                "refusal_rate": _share([x["refused"] for x in a]), "cited_rate": _share([x["cited"] for x in a]),
                "grounding": {k: sum(x["action"] == k for x in a) for k in ("kept", "rewritten", "refused")}}


def measure_answer(m: AnswerMeasure, a: Answer, question: str, service: AnswerService, gold: str | None = None,
                   kind: str | None = None) -> dict:
    """Score an in-process Answer: its extension as the gateway would send it, the model's own text, and the
    delivered text checked once more against the same evidence."""
    return m.add(question, a.text, a.extension().model_dump(mode="json"), gold, kind, a.generated_text,
                 service.unsupported(a.text, a.retrieval, question))


async def _measure(items: list[GoldenItem], service: AnswerService, max_new_tokens: int) -> AnswerMeasure:
    params = GenParams(max_new_tokens=max_new_tokens, temperature=0.0, seed=0)
    m = AnswerMeasure()
    for item in items:
        a = await service.answer(item.question, params)
        measure_answer(m, a, item.question, service, item.answer, item.kind)
    return m


def measure_golden(items: list[GoldenItem], engine, backend: LLMBackend, kind: ModelKind,
                   max_new_tokens: int = 24) -> AnswerMeasure:
    """Greedy answers (temperature 0, fixed seed) to golden questions through the answer pipeline: the same
    model and knowledge base give the same measure."""
    return asyncio.run(_measure(items, AnswerService(engine, backend, kind), max_new_tokens))
