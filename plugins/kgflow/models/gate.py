"""Evaluation gate: a candidate must match or beat the live model on the held-out split, by loss and
by answer accuracy on grounded questions asked through the real retrieval path."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from kgflow.models.dataset import Example
from kgflow.models.lora import heldout_loss, perplexity


@dataclass
class ModelScore:
    loss: float
    perplexity: float
    accuracy: float
    answered: int


@dataclass
class GateDecision:
    passed: bool
    candidate: ModelScore
    live: ModelScore
    reasons: list[str]

    def report(self) -> dict:
        return {"passed": self.passed, "candidate": asdict(self.candidate), "live": asdict(self.live),
                "reasons": self.reasons}


def grounded_accuracy(model, tokenizer, examples: list[Example], engine, max_questions: int,
                      max_new_tokens: int = 16) -> tuple[float, int]:
    """Ask each held-out question through retrieval + the grounded prompt; correct = names the entity."""
    import torch

    from kgflow.llm.prompts import grounded_messages
    from kgflow.models.lora import TURN

    # one question per fact, a bounded number: CPU generation is the slow part of the gate
    held = [e for e in examples if e.split == "heldout" and e.asks_relation]
    held = held[:max_questions]
    if not held:
        return float("nan"), 0
    dev = next(model.parameters()).device
    correct = 0
    model.eval()
    for ex in held:
        r = engine.retrieve(ex.question)
        prompt = TURN.format(prompt=grounded_messages(ex.question, r)[-1]["content"])
        ids = tokenizer(prompt, return_tensors="pt").to(dev)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False)
        answer = tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
        correct += ex.expected.lower() in answer.lower()
    return correct / len(held), len(held)


def score(model, tokenizer, examples: list[Example], engine, max_questions: int) -> ModelScore:
    loss = heldout_loss(model, tokenizer, examples)
    acc, n = grounded_accuracy(model, tokenizer, examples, engine, max_questions)
    return ModelScore(round(loss, 5), round(perplexity(loss), 4), acc, n)


def decide(candidate: ModelScore, live: ModelScore, loss_margin: float, accuracy_margin: float) -> GateDecision:
    reasons = []
    if not candidate.loss == candidate.loss or candidate.loss > live.loss + loss_margin:
        reasons.append(f"held-out loss {candidate.loss} > live {live.loss} + margin {loss_margin}")
    if candidate.accuracy == candidate.accuracy and candidate.accuracy < live.accuracy - accuracy_margin:
        reasons.append(f"grounded accuracy {candidate.accuracy:.2f} < live {live.accuracy:.2f} - margin "
                       f"{accuracy_margin}")
    return GateDecision(not reasons, candidate, live, reasons)


def evaluate(base_dir: Path, candidate_adapter: Path, live_adapter: Path | None, examples: list[Example], engine,
             loss_margin: float, accuracy_margin: float, max_questions: int) -> GateDecision:
    from peft import PeftModel

    from kgflow.models.lora import load_base

    model, tok = load_base(base_dir)
    live_model = PeftModel.from_pretrained(model, live_adapter) if live_adapter else model
    live = score(live_model, tok, examples, engine, max_questions)
    if live_adapter:
        model = live_model.unload()
    cand = score(PeftModel.from_pretrained(model, candidate_adapter), tok, examples, engine, max_questions)
    return decide(cand, live, loss_margin, accuracy_margin)
