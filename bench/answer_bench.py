"""Answer accuracy of the packaged model on the sample corpus's questions, by prompt kind, with the
graph's own answer beside it; optionally after a CPU LoRA refresh, with the gate's decision.

The sample corpus goes through the real knowledge_ingest DAG; the packaged gemma3-270m is served by
llama.cpp; every question goes through kgflow.llm.answer (retrieval, the prompt for the kind, the
model), the path the gateway and the refresh gate use. Correct = the gold answer is named in the
generated text (kgflow.quality.answer_accuracy). Baseline: the chat prompt the gateway sent before.

    .venv/bin/python bench/answer_bench.py                       # prompting: chat vs base
    KGFLOW_TRAIN_BATCH_SIZE=1 .venv/bin/python bench/answer_bench.py --refresh-steps 20
        # then a CPU LoRA refresh, the gate's decision, and the refreshed adapter served by llama.cpp
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


def row(name: str, report, seconds: float) -> list:
    a, g = report.accuracy, report.graph_accuracy
    return [name, f"{a.get('single_hop', 0):.2f}", f"{a.get('multi_hop', 0):.2f}", f"{a['overall']:.2f}",
            f"{g.get('multi_hop', 0):.2f}", seconds / max(1, report.questions["overall"])]


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
    from kgflow.quality.answer_accuracy import answer_accuracy
    from kgflow.quality.gate import load_golden
    from kgflow.retrieval.engine import RetrievalEngine

    s = get_settings()
    if not (home / "index" / "CURRENT").exists():
        generate_corpus(s.landing_dir)
        assert str(test_dag("knowledge_ingest").state) == "success"
    golden = load_golden(s.golden_path)
    engine = RetrievalEngine(s)
    out: dict = {"questions": {k: sum(i.kind == k for i in golden) for k in ("single_hop", "multi_hop")}}
    rows = []
    server = LlamaServer(threads=os.cpu_count(), n_ctx=s.llm_n_ctx).start(supervise=False)
    try:
        for kind in ("chat", "base"):
            t0 = time.perf_counter()
            rep = answer_accuracy(golden, engine, LlamaCppBackend(server.url), kind)
            rows.append(row(f"{kind} prompt" + (" (before)" if kind == "chat" else " (default now)"), rep,
                            time.perf_counter() - t0))
            out[kind] = {"accuracy": rep.accuracy, "graph_accuracy": rep.graph_accuracy, "answers": rep.answers}
    finally:
        server.stop()
    header = ["packaged gemma3-270m via llama.cpp", "single-hop", "multi-hop", "overall", "graph answer multi-hop",
              "s/question"]
    print(table(f"answer accuracy on the sample corpus ({out['questions']})", header, rows))
    rows_before = rows
    for a in out["base"]["answers"]:
        print(f"  {'ok ' if a['correct'] else 'MISS'} [{a['kind']}] {a['question']} -> {a['text'].strip()[:80]!r}"
              f"  graph: {a['graph_answer']}")

    if args.refresh_steps:
        from kgflow.models import refresh

        os.environ["KGFLOW_GATE_MAX_QUESTIONS"] = str(len(golden))
        s = Settings()  # built again: the gate now asks every golden question
        work = refresh.work_dir(f"answer-bench-{time.strftime('%Y%m%dT%H%M%S')}", s)  # fresh: no checkpoint to resume
        t0 = time.perf_counter()
        snap = refresh.build_dataset(work, s)
        train = refresh.train_candidate(work, steps=args.refresh_steps, settings=s)
        t1 = time.perf_counter()
        gate = refresh.evaluate_candidate(work, s)
        t2 = time.perf_counter()
        out["refresh"] = {"dataset": snap, "train": train, "gate": gate}
        rows = [[name, f"{m['by_kind'].get('single_hop', 0):.2f}", f"{m['by_kind'].get('multi_hop', 0):.2f}",
                 f"{m['accuracy']:.2f}", m["loss"]] for name, m in (("live (packaged base)", gate["live"]),
                                                                   ("candidate", gate["candidate"]))]
        print(table(f"after a CPU LoRA refresh: {args.refresh_steps} steps of batch {s.train_batch_size}, "
                    f"{snap['train']} train / "
                    f"{snap['heldout']} held-out examples, train {t1 - t0:.0f} s, gate {t2 - t1:.0f} s "
                    f"(transformers, greedy, same prompts)",
                    ["model", "single-hop", "multi-hop", "overall", "held-out loss"], rows))
        print(f"gate: {'PASSED' if gate['passed'] else 'REJECTED'} {gate['reasons']}")
        # the candidate as it would be served: its GGUF adapter on the packaged model in llama.cpp
        lora = refresh.export_candidate(work)
        server = LlamaServer(threads=os.cpu_count(), n_ctx=s.llm_n_ctx, lora_path=str(lora)).start(supervise=False)
        try:
            t0 = time.perf_counter()
            rep = answer_accuracy(golden, engine, LlamaCppBackend(server.url), "base")
            served = row("base prompt, refreshed LoRA (llama.cpp)", rep, time.perf_counter() - t0)
        finally:
            server.stop()
        out["refresh"]["served"] = {"accuracy": rep.accuracy, "answers": rep.answers}
        print(table("served through llama.cpp, all questions", header, [rows_before[-1], served]))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
