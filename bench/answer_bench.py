"""The answer measure (kgflow.quality.answer_measure: accuracy by hop count, unsupported-answer rate, refusal
rate) of the packaged model on the sample corpus's golden questions, for each way to get a grounded answer,
all from one run; optionally after a CPU LoRA refresh, with the gate's decision.

The sample corpus goes through the real knowledge_ingest DAG; the packaged gemma3-270m is served by
llama.cpp; every question goes through kgflow.answer.service (retrieval, the prompt for the kind, the model,
the grounding check), the path the gateway, the refresh gate and the smoke test use. The options, each
scored on the same answers:
- the model alone: its own text (the graph's path leads the facts in its prompt);
- the model + the grounding check: what the caller receives (rewritten to a complete graph answer when the
  model disagrees with it, refused when it names what no source holds);
- the graph's answer alone (no model).

    .venv/bin/python bench/answer_bench.py
    KGFLOW_TRAIN_BATCH_SIZE=1 .venv/bin/python bench/answer_bench.py --refresh-steps 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from common import table, use_home  # noqa: E402


def rows(label: str, m, seconds: float) -> list[list]:
    """One row per option, all from the same answers."""
    s = m.summary()
    per_q = seconds / max(1, s["questions"])

    def acc(a: dict) -> list[str]:
        return [f"{a.get('single_hop', 0):.2f}", f"{a.get('multi_hop', 0):.2f}", f"{a.get('overall', 0):.2f}"]

    return [[f"{label}: model alone", *acc(s["generated_accuracy"]), f"{s['unsupported_rate']['generated']:.2f}",
             "-", per_q],
            [f"{label}: model + grounding check", *acc(s["accuracy"]), f"{s['unsupported_rate']['delivered']:.2f}",
             f"{s['refusal_rate']:.2f}", per_q],
            [f"{label}: graph answer alone", *acc(s["graph_accuracy"]), "-", "-", "-"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--refresh-steps", type=int, default=0, help="0: no refresh")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    home = use_home(args.home, "answer")
    from kgflow.orchestration.airflow_home import airflow_env

    airflow_env()
    from kgflow.config import Settings, get_settings
    from kgflow.corpus.generator import generate_corpus
    from kgflow.llm.llamacpp import LlamaCppBackend
    from kgflow.llm.llamacpp_server import LlamaServer
    from kgflow.orchestration.run_dag import test_dag
    from kgflow.quality.answer_measure import measure_golden
    from kgflow.quality.gate import load_golden
    from kgflow.retrieval.engine import RetrievalEngine

    s = get_settings()
    if not (home / "index" / "CURRENT").exists():
        generate_corpus(s.landing_dir)
        assert str(test_dag("knowledge_ingest").state) == "success"
    golden = load_golden(s.golden_path)
    engine = RetrievalEngine(s)
    out: dict = {"questions": {k: sum(i.kind == k for i in golden) for k in ("single_hop", "multi_hop")}}
    table_rows = []
    server = LlamaServer(threads=os.cpu_count(), n_ctx=s.llm_n_ctx).start(supervise=False)
    try:
        for kind in ("base", "chat"):
            t0 = time.perf_counter()
            m = measure_golden(golden, engine, LlamaCppBackend(server.url), kind)
            table_rows += rows(f"{kind} prompt", m, time.perf_counter() - t0)
            out[kind] = {**m.summary(), "answers": m.answers}
    finally:
        server.stop()
    header = ["packaged gemma3-270m via llama.cpp", "single-hop", "multi-hop", "overall", "unsupported", "refusals",
              "s/question"]
    print(table(f"answer measure on the sample corpus ({out['questions']})", header, table_rows))
    for a in out["base"]["answers"]:
        print(f"  {'ok ' if a['correct'] else 'MISS'} [{a['kind']}] {a['question']} -> {a['text'].strip()[:60]!r}"
              f" ({a['action']}; model said {a['generated'].strip()[:40]!r})")

    if args.refresh_steps:
        from kgflow.models import refresh

        os.environ["KGFLOW_GATE_MAX_QUESTIONS"] = str(len(golden))
        s = Settings()  # built again: the gate now asks every golden question
        work = refresh.work_dir(f"answer-bench-{time.strftime('%Y%m%dT%H%M%S')}", s)  # fresh: no checkpoint to resume
        t0 = time.perf_counter()
        snap = refresh.build_dataset(work, s)
        train = refresh.train_candidate(work, s, steps=args.refresh_steps)
        t1 = time.perf_counter()
        gate = refresh.evaluate_candidate(work, s)
        t2 = time.perf_counter()
        out["refresh"] = {"dataset": snap, "train": train, "gate": gate}
        score_rows = [[name, f"{m['by_kind'].get('single_hop', 0):.2f}", f"{m['by_kind'].get('multi_hop', 0):.2f}",
                       f"{m['accuracy']:.2f}", f"{m['unsupported_rate']:.2f}", f"{m['refusal_rate']:.2f}", m["loss"]]
                      for name, m in (("live (packaged base)", gate["live"]), ("candidate", gate["candidate"]))]
        print(table(f"after a CPU LoRA refresh: {args.refresh_steps} steps of batch {s.train_batch_size}, "
                    f"{snap['train']} train / "
                    f"{snap['heldout']} held-out examples, train {t1 - t0:.0f} s, gate {t2 - t1:.0f} s "
                    f"(transformers, greedy, same prompts, grounding check on)",
                    ["model", "single-hop", "multi-hop", "overall", "unsupported (model)", "refusals",
                     "held-out loss"], score_rows))
        print(f"gate: {'PASSED' if gate['passed'] else 'REJECTED'} {gate['reasons']}")
        # the candidate as it would be served: its GGUF adapter on the packaged model in llama.cpp
        lora = refresh.export_candidate(work, s)
        server = LlamaServer(threads=os.cpu_count(), n_ctx=s.llm_n_ctx, lora_path=str(lora)).start(supervise=False)
        try:
            t0 = time.perf_counter()
            m = measure_golden(golden, engine, LlamaCppBackend(server.url), "base")
            served = rows("refreshed LoRA, base prompt", m, time.perf_counter() - t0)
        finally:
            server.stop()
        out["refresh"]["served"] = {**m.summary(), "answers": m.answers}
        print(table("served through llama.cpp, all questions", header, [*table_rows[:3], *served]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
