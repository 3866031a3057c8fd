"""LoRA fine-tuning with PEFT on the best device present, resumable from checkpoints."""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep this module importable with torch/transformers/peft alone (GPU hosts)
    from kgflow.models.dataset import Example

@dataclass
class TrainConfig:
    steps: int = 20
    batch_size: int = 4
    seq_len: int = 256
    learning_rate: float = 2e-4
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    gradient_checkpointing: bool = False
    checkpoint_every: int = 5
    seed: int = 0


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def encode(tokenizer, examples: list[Example], seq_len: int) -> list[tuple[list[int], list[int]]]:
    """Token ids and labels of each grounded example (kgflow.models.dataset.ground: the gateway's prompt and
    the answer it should get); the loss covers only the answer (prompt labels are -100)."""
    out = []
    for ex in examples:
        if not ex.prompt:
            raise ValueError(f"example {ex.question!r} was never grounded: run kgflow.models.dataset.ground")
        p = tokenizer(ex.prompt, add_special_tokens=True)["input_ids"]
        a = tokenizer(ex.completion, add_special_tokens=False)["input_ids"]
        ids = (p + a)[-seq_len:]
        labels = ([-100] * len(p) + a)[-seq_len:]
        out.append((ids, labels))
    return out


def _batch(items, pad_id: int, dev: str):
    import torch

    width = max(len(i) for i, _ in items)  # pad to the longest in the batch, not to seq_len
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for r, (i, lab) in enumerate(items):
        ids[r, : len(i)] = torch.tensor(i)
        labels[r, : len(lab)] = torch.tensor(lab)
        mask[r, : len(i)] = 1
    return ids.to(dev), labels.to(dev), mask.to(dev)


def load_base(base_dir: Path, dev: str | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dev = dev or device()
    tok = AutoTokenizer.from_pretrained(base_dir)
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, attn_implementation="eager").to(dev)
    return model, tok


def train(base_dir: Path, examples: list[Example], out_dir: Path, cfg: TrainConfig,
          stop_after: int | None = None, model=None, tokenizer=None) -> dict:
    """Train LoRA; save the PEFT adapter to out_dir/adapter. Resumes from out_dir/checkpoint.

    `stop_after` ends the run early after that many steps in this call (an interruption, for tests).
    """
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from peft.utils import get_peft_model_state_dict

    dev = device()
    torch.manual_seed(cfg.seed)
    if model is None:
        model, tokenizer = load_base(base_dir, dev)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    peft_model = get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                                  task_type="CAUSAL_LM"))
    data = encode(tokenizer, [e for e in examples if e.split == "train"], cfg.seq_len)
    if not data:
        raise ValueError("no training examples: the knowledge base has no typed relations yet")
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=cfg.learning_rate)
    ckpt = out_dir / "checkpoint"
    start = 0
    if (ckpt / "state.pt").exists():
        state = torch.load(ckpt / "state.pt", map_location=dev, weights_only=False)
        set_peft_model_state_dict(peft_model, state["adapter"])
        opt.load_state_dict(state["optimizer"])
        start = state["step"]
    rng = random.Random(cfg.seed)
    order = [rng.randrange(len(data)) for _ in range(cfg.steps * cfg.batch_size)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    peft_model.train()
    losses, tokens, t0 = [], 0, time.perf_counter()
    step = start
    for step in range(start, cfg.steps):
        items = [data[i] for i in order[step * cfg.batch_size:(step + 1) * cfg.batch_size]]
        ids, labels, mask = _batch(items, pad, dev)
        with torch.autocast(device_type=dev, dtype=torch.bfloat16):
            loss = peft_model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(peft_model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        tokens += int(mask.sum())
        done = step + 1
        if done % cfg.checkpoint_every == 0 or done == cfg.steps or (stop_after and done - start >= stop_after):
            ckpt.mkdir(parents=True, exist_ok=True)
            torch.save({"adapter": get_peft_model_state_dict(peft_model), "optimizer": opt.state_dict(),
                        "step": done}, ckpt / "state.tmp")
            (ckpt / "state.tmp").replace(ckpt / "state.pt")
        if stop_after and done - start >= stop_after:
            return {"interrupted_at": done, "resumed_from": start}
    seconds = time.perf_counter() - t0
    peft_model.save_pretrained(out_dir / "adapter")
    report = {"device": dev, "steps": cfg.steps, "resumed_from": start, "train_examples": len(data),
              "final_loss": losses[-1] if losses else None, "mean_loss": sum(losses) / max(1, len(losses)),
              "train_seconds": round(seconds, 2), "tokens_per_s": round(tokens / max(seconds, 1e-9), 1),
              "trainable_params": sum(p.numel() for p in peft_model.parameters() if p.requires_grad)}
    if dev == "cuda":
        report["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    (out_dir / "train_report.json").write_text(json.dumps(report, indent=2))
    return report


def heldout_loss(model, tokenizer, examples: list[Example], seq_len: int = 256) -> float:
    """Mean answer-token NLL over the held-out split (perplexity = exp of this)."""
    import torch

    data = encode(tokenizer, [e for e in examples if e.split == "heldout"], seq_len)
    if not data:
        return float("nan")
    dev = next(model.parameters()).device.type
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ids, labels in data:
            i, lab, m = _batch([(ids, labels)], 0, dev)
            n = int((lab != -100).sum()) - 1
            total += float(model(input_ids=i, attention_mask=m, labels=lab).loss) * max(n, 1)
            count += max(n, 1)
    return total / max(count, 1)


def perplexity(loss: float) -> float:
    return math.exp(loss) if loss == loss and loss < 50 else float("inf")
