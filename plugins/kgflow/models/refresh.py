"""model_refresh stages as plain functions (the DAG wires them; tests and benches call them)."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from kgflow.config import Settings
from kgflow.models.dataset import Example, build_examples, ground, to_records
from kgflow.models.registry import ModelRegistry
from kgflow.vectors.index_store import VectorIndexStore


def work_dir(run_id: str, settings: Settings) -> Path:
    from kgflow.ingest.staging import run_dir

    d = run_dir(settings.models_dir / "work", run_id)
    d.mkdir(parents=True, exist_ok=True)
    return d


def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.models_dir / "registry")


def new_content_since_last_refresh(settings: Settings) -> int:
    """Chunks in the published index that no registered model was trained on."""
    s = settings
    index = VectorIndexStore(s.index_dir).load()
    if index is None:
        return 0
    last = max((v.get("data_snapshot", {}).get("chunks", 0) for v in registry(s).versions()), default=0)
    return max(0, index.manifest["count"] - last)


def build_dataset(work: Path, settings: Settings) -> dict:
    s = settings
    from kgflow.retrieval.engine import RetrievalEngine

    engine = RetrievalEngine(s)
    view = engine.snapshot().graph  # the published version, as the gateway reads it
    # prompted as the gateway prompts them, so the model learns the form it is asked in
    examples = ground(build_examples(view), engine, s.llm_model_kind)
    (work / "dataset.json").write_text(json.dumps(to_records(examples), indent=2))
    index = VectorIndexStore(s.index_dir).load()
    snapshot = {"index_version": index.manifest["version"] if index else None, "chunks": len(view.chunks),
                "questions": len(examples), "model_kind": s.llm_model_kind,
                "train": sum(e.split == "train" for e in examples),
                "heldout": sum(e.split == "heldout" for e in examples)}
    (work / "snapshot.json").write_text(json.dumps(snapshot, indent=2))
    return snapshot


def load_dataset(work: Path) -> list[Example]:
    return [Example(**r) for r in json.loads((work / "dataset.json").read_text())]


def train_candidate(work: Path, settings: Settings, steps: int | None = None, learning_rate: float | None = None,
                    rank: int | None = None, stop_after: int | None = None) -> dict:
    from kgflow.models.base_model import hf_base_dir
    from kgflow.models.lora import TrainConfig, train

    s = settings
    cfg = TrainConfig(steps=steps or s.train_steps, batch_size=s.train_batch_size, seq_len=s.train_seq_len,
                      learning_rate=learning_rate or s.learning_rate, rank=rank or s.lora_rank,
                      alpha=s.lora_alpha if rank is None else round(s.lora_alpha * rank / s.lora_rank),
                      dropout=s.lora_dropout, checkpoint_every=s.checkpoint_every)
    t0 = time.perf_counter()
    base = hf_base_dir(s)
    load_s = time.perf_counter() - t0
    report = train(base, load_dataset(work), work / "candidate", cfg, stop_after=stop_after)
    report["config"] = asdict(cfg)
    report["base_prepare_seconds"] = round(load_s, 2)
    return report


def export_candidate(work: Path, s: Settings) -> Path:
    from kgflow.models.base_model import hf_base_dir
    from kgflow.models.export import adapter_to_gguf

    cand = work / "candidate"
    return adapter_to_gguf(cand / "adapter", hf_base_dir(s), cand / "lora.gguf")


def evaluate_candidate(work: Path, settings: Settings) -> dict:
    from kgflow.models.base_model import hf_base_dir
    from kgflow.models.gate import evaluate
    from kgflow.quality.gate import load_golden
    from kgflow.retrieval.engine import RetrievalEngine

    s = settings
    live = registry(s).live()
    live_adapter = registry(s).path(live["version"]) / "adapter" if live else None
    golden = load_golden(s.golden_path) or []
    decision = evaluate(hf_base_dir(s), work / "candidate" / "adapter", live_adapter, load_dataset(work), golden,
                        RetrievalEngine(s), s.llm_model_kind, s.gate_loss_margin, s.gate_accuracy_margin,
                        s.gate_max_questions)
    report = {**decision.report(), "live_version": live["version"] if live else "base", "golden": str(s.golden_path),
              "model_kind": s.llm_model_kind}
    (work / "gate.json").write_text(json.dumps(report, indent=2))
    return report


def register_candidate(work: Path, run_id: str, settings: Settings) -> dict:
    """Registered as candidate when the gate passed, as rejected (with its report) otherwise."""
    s = settings
    gate = json.loads((work / "gate.json").read_text())
    artefacts = work / "artefacts"
    shutil.rmtree(artefacts, ignore_errors=True)
    artefacts.mkdir()
    shutil.copytree(work / "candidate" / "adapter", artefacts / "adapter")
    if (work / "candidate" / "lora.gguf").exists():
        shutil.copy2(work / "candidate" / "lora.gguf", artefacts / "lora.gguf")
    for f in ("gate.json", "snapshot.json"):
        shutil.copy2(work / f, artefacts / f)
    train_report = json.loads((work / "candidate" / "train_report.json").read_text())
    meta = {"base": s.base_model, "model_kind": s.llm_model_kind, "run_id": run_id,
            "data_snapshot": json.loads((work / "snapshot.json").read_text()),
            "metrics": {"gate": gate, "train": train_report}}
    return registry(s).register(artefacts, meta, status="candidate" if gate["passed"] else "rejected")
