"""LoRA training throughput of kgflow.models.lora.train on the device present (CUDA on a GPU host).

Nothing can be downloaded on the GPU host and at most 64 MiB travels there, so the model is a Gemma 3
text model of ~1B parameters built from its config with random weights (throughput and memory do not
depend on weight values) and the tokenizer is a stand-in that maps words to ids. The training loop,
LoRA config, batching and checkpointing are kgflow's own. A CPU run of the same code on the same host,
a few steps only, is the baseline.

    PYTHONPATH=plugins python bench/gpu_lora_throughput.py --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace


class WordTokenizer:
    """Stand-in tokenizer: deterministic word -> id; enough to shape real batches."""

    pad_token_id = 0

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def __call__(self, text: str, add_special_tokens: bool = True, **_: object) -> dict:
        ids = [2] if add_special_tokens else []
        return {"input_ids": ids + [3 + (hash(w) % (self.vocab - 3)) for w in text.split()]}


def gemma3_1b():
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.models.gemma3.configuration_gemma3 import Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=262144, hidden_size=1152, intermediate_size=6912, num_hidden_layers=26,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=256, max_position_embeddings=32768,
                           sliding_window=512)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa"), cfg


def examples(n: int, words: int) -> list:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    return [SimpleNamespace(split="train", question=" ".join(rng.choices(vocab, k=12)),
                            context=" ".join(rng.choices(vocab, k=words)), answer=" ".join(rng.choices(vocab, k=24)))
            for _ in range(n)]


def run(dev: str, steps: int, batch: int, seq_len: int, grad_ckpt: bool) -> dict:
    import torch

    from kgflow.models import lora

    model, cfg = gemma3_1b()
    model = model.to(dev, dtype=torch.bfloat16 if dev == "cuda" else torch.float32)
    params = sum(p.numel() for p in model.parameters())
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    lora.device = lambda: dev  # the same code, pinned to the device under test
    tc = lora.TrainConfig(steps=steps, batch_size=batch, seq_len=seq_len, learning_rate=2e-4, rank=16, alpha=32,
                          gradient_checkpointing=grad_ckpt, checkpoint_every=10**9)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        report = lora.train(Path(d), examples(256, seq_len), Path(d), tc, model=model,
                            tokenizer=WordTokenizer(cfg.vocab_size))
        report["wall_seconds"] = round(time.perf_counter() - t0, 2)
    report.update({"params": params, "batch": batch, "seq_len": seq_len, "gradient_checkpointing": grad_ckpt})
    if dev == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    return report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cpu-steps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ".")) / "gpu_lora.json")
    args = ap.parse_args()
    import torch

    results = []
    if torch.cuda.is_available():
        results.append(run("cuda", args.steps, 8, 512, False))
        results.append(run("cuda", args.steps, 8, 512, True))
        results.append(run("cuda", args.steps, 16, 1024, True))
    results.append(run("cpu", args.cpu_steps, 2, 256, False))
    for r in results:
        print(f"{r['device']:4} batch {r['batch']:2} x {r['seq_len']:4} ckpt={r['gradient_checkpointing']!s:5} "
              f"params {r['params'] / 1e9:.2f}B  trainable {r['trainable_params'] / 1e6:.2f}M  "
              f"{r['tokens_per_s']:,.0f} tokens/s  peak {r.get('peak_gpu_mem_gb', '-')} GiB  "
              f"loss {r['final_loss']:.3f}")
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
