"""Evaluation gate: a candidate must match or beat the live model by held-out loss and by the answer measure
(kgflow.quality.answer_measure, the one the smoke test and the answer bench use): the golden questions
answered through the gateway's own answer path (retrieval, the prompt for the model kind, the model, the
grounding check). Accuracy may not fall, and neither the unsupported rate (the model naming what its
evidence lacks) nor the refusal rate may rise, each beyond its margin."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from kgflow.llm.base import LLMBackend
from kgflow.models.dataset import Example
from kgflow.models.lora import heldout_loss, perplexity
from kgflow.quality.gate import GoldenItem


@dataclass
class ModelScore:
    loss: float
    perplexity: float
    accuracy: float
    answered: int
    by_kind: dict[str, float] | None = None
    unsupported_rate: float = 0.0  # the model's own answers naming something their evidence lacks
    refusal_rate: float = 0.0
    generated_accuracy: dict[str, float] | None = None  # the model's text before the grounding check


@dataclass
class GateDecision:
    passed: bool
    candidate: ModelScore
    live: ModelScore
    reasons: list[str]

    def report(self) -> dict:
        return {"passed": self.passed, "candidate": asdict(self.candidate), "live": asdict(self.live),
                "reasons": self.reasons}


def measure(backend: LLMBackend, golden: list[GoldenItem], engine, kind: str, max_questions: int):
    """The answer measure on a bounded number of golden questions (CPU generation is the slow part);
    None when there are none."""
    from kgflow.quality.answer_measure import measure_golden

    items = balanced(golden, max_questions)
    return measure_golden(items, engine, backend, kind) if items else None


def balanced(golden: list[GoldenItem], n: int) -> list[GoldenItem]:
    """Up to n items taking each kind in turn (file order within a kind): multi-hop questions count even
    when the file lists them last."""
    kinds: dict[str, list[GoldenItem]] = {}
    for item in golden:
        kinds.setdefault(item.kind, []).append(item)
    out: list[GoldenItem] = []
    while len(out) < n and any(kinds.values()):
        for queue in kinds.values():
            if queue and len(out) < n:
                out.append(queue.pop(0))
    return out


def score(model, tokenizer, examples: list[Example], golden: list[GoldenItem], engine, kind: str,
          max_questions: int, name: str) -> ModelScore:
    from kgflow.llm.transformers_local import TransformersBackend

    loss = heldout_loss(model, tokenizer, examples)
    m = measure(TransformersBackend(model, tokenizer, name), golden, engine, kind, max_questions)
    if m is None:
        return ModelScore(round(loss, 5), round(perplexity(loss), 4), float("nan"), 0)
    summary = m.summary()
    return ModelScore(round(loss, 5), round(perplexity(loss), 4), m.overall, summary["questions"], m.accuracy,
                      summary["unsupported_rate"]["generated"], summary["refusal_rate"],
                      summary["generated_accuracy"])


def decide(candidate: ModelScore, live: ModelScore, loss_margin: float, accuracy_margin: float) -> GateDecision:
    """`accuracy_margin` bounds each rate of the measure: accuracy may trail, unsupported and refusal rates may
    exceed the live model's by at most that much."""
    reasons = []
    if not candidate.loss == candidate.loss or candidate.loss > live.loss + loss_margin:
        reasons.append(f"held-out loss {candidate.loss} > live {live.loss} + margin {loss_margin}")
    if candidate.accuracy == candidate.accuracy and candidate.accuracy < live.accuracy - accuracy_margin:
        reasons.append(f"answer accuracy {candidate.accuracy:.2f} < live {live.accuracy:.2f} - margin "
                       f"{accuracy_margin}")
    for rate in ("unsupported_rate", "refusal_rate"):
        c, v = getattr(candidate, rate), getattr(live, rate)
        if candidate.answered and c > v + accuracy_margin:
            reasons.append(f"{rate.replace('_', ' ')} {c:.2f} > live {v:.2f} + margin {accuracy_margin}")
    return GateDecision(not reasons, candidate, live, reasons)


def evaluate(base_dir: Path, candidate_adapter: Path, live_adapter: Path | None, examples: list[Example],
             golden: list[GoldenItem], engine, kind: str, loss_margin: float, accuracy_margin: float,
             max_questions: int) -> GateDecision:
    from peft import PeftModel

    from kgflow.models.lora import load_base

    model, tok = load_base(base_dir)
    live_model = PeftModel.from_pretrained(model, live_adapter) if live_adapter else model
    live = score(live_model, tok, examples, golden, engine, kind, max_questions, "live")
    if live_adapter:
        model = live_model.unload()
    cand = score(PeftModel.from_pretrained(model, candidate_adapter), tok, examples, golden, engine, kind,
                 max_questions, "candidate")
    return decide(cand, live, loss_margin, accuracy_margin)
