"""Model refresh wall time by stage on CPU, and blue/green deploy switch time with failed requests.

Refresh: every model_refresh stage called standalone on a knowledge base (the sample corpus through the
real knowledge_ingest DAG), with the GGUF -> HF base preparation cold; then the model_refresh DAG on the
same knowledge base, whose per-task durations are the baseline (the same code inside Airflow).

Deploy: the real gateway in front of llama.cpp servers started by the LocalDeployer. A bounded load
generator (one client, back to back, loopback) hits /generate with no deployment going on (baseline),
then during blue/green switches (candidate -> second version -> rollback); every request is counted.

    .venv/bin/python bench/refresh_bench.py --steps 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from common import pct, table, timed, use_home  # noqa: E402


def load_row(name: str, load) -> list:
    ms = [r[1] * 1e3 for r in load.records]
    wall = (load.records[-1][0] + load.records[-1][1] - load.records[0][0]) if load.records else float("nan")
    return [name, len(load.statuses), load.failed(), pct(ms, 50), pct(ms, 99), max(ms, default=float("nan")),
            len(ms) / wall]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--learning-rate", type=float, default=5e-4)
    ap.add_argument("--gate-questions", type=int, default=3)
    ap.add_argument("--baseline-seconds", type=float, default=30)
    ap.add_argument("--home", type=Path, default=None)
    args = ap.parse_args()
    home = use_home(args.home, "refresh")
    from tests.integration.gateway_harness import SECRET, LoadGenerator, running_gateway, settings_for

    os.environ.update({"KGFLOW_JWT_SECRET": SECRET, "KGFLOW_GATE_MAX_QUESTIONS": str(args.gate_questions)})
    from kgflow.orchestration.airflow_home import airflow_env

    airflow_env()
    from kgflow.config import get_settings
    from kgflow.corpus.generator import generate_corpus
    from kgflow.deploy.local import LocalDeployer
    from kgflow.deploy.rollout import blue_green, rollback
    from kgflow.llm.llamacpp_server import LlamaServer
    from kgflow.models import refresh
    from kgflow.models.base_model import hf_base_dir
    from kgflow.orchestration.run_dag import test_dag

    s = get_settings()
    generate_corpus(s.landing_dir)
    assert str(test_dag("knowledge_ingest").state) == "success"

    # ---- refresh, stage by stage, standalone ----
    t: dict[str, float] = {}
    work = refresh.work_dir("bench-standalone", s)
    with timed(t, "build_dataset"):
        snapshot = refresh.build_dataset(work, s)
    with timed(t, "base_prepare"):
        hf_base_dir(s)
    with timed(t, "train"):
        train = refresh.train_candidate(work, s, steps=args.steps, learning_rate=args.learning_rate)
    with timed(t, "export"):
        refresh.export_candidate(work, s)
    with timed(t, "evaluate"):
        gate = refresh.evaluate_candidate(work, s)
    with timed(t, "register"):
        entry = refresh.register_candidate(work, "bench-standalone", s)

    # ---- the same stages inside the model_refresh DAG (base already prepared: cached) ----
    with timed(t, "dag"):
        run = test_dag("model_refresh", {"steps": args.steps, "learning_rate": args.learning_rate})
    assert str(run.state) == "success", {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    task_s = {ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in run.get_task_instances()
              if ti.start_date and ti.end_date}
    reg = refresh.registry(s)
    second = reg.versions()[-1]["version"]

    stages = {"build_dataset": "build_dataset", "base_prepare": None, "train": "train", "export": "export_gguf",
              "evaluate": "evaluate", "register": "register"}
    stage_rows = [[k, t[k], task_s.get(task, 0.0) if task else "cached"] for k, task in stages.items()]
    stage_rows.append(["total (DAG: whole run)", sum(t[k] for k in stages), t["dag"]])

    print(f"\nknowledge base: sample corpus, {snapshot['chunks']} chunks -> {snapshot['train']} train / "
          f"{snapshot['heldout']} held-out examples; {args.steps} LoRA steps (batch {train['config']['batch_size']}"
          f" x {train['config']['seq_len']}, rank {train['config']['rank']}) on {train['device']}; "
          f"{os.cpu_count()} cores")
    print(table("model refresh wall time by stage (s): standalone vs the model_refresh DAG task",
                ["stage", "standalone", "DAG task"], stage_rows))
    print(f"train: {train['tokens_per_s']:.0f} tokens/s; held-out loss base {gate['live']['loss']:.3f} -> "
          f"candidate {gate['candidate']['loss']:.3f}; gate passed: {gate['passed']}")

    # ---- deploy: switch time and failed requests under load ----
    boot = LlamaServer(threads=1).start(supervise=False)
    deployer = LocalDeployer(home / "deploy", threads=1)
    switches, loads, phases = [], [], []
    try:
        with running_gateway(settings_for(home, boot.url)) as (url, _):
            os.environ["KGFLOW_GATEWAY_URL"] = url
            blue_green(entry["version"], reg, deployer, s, drain_s=1)
            boot.stop()
            with LoadGenerator(url, max_requests=10_000, max_seconds=args.baseline_seconds) as base_load:
                time.sleep(args.baseline_seconds)
            loads.append(load_row("no deploy (baseline)", base_load))
            for name, deploy in ((f"blue/green -> {second}", lambda: blue_green(second, reg, deployer, s, drain_s=3)),
                                 ("rollback -> previous live", lambda: rollback(reg, deployer, s))):
                with LoadGenerator(url, max_requests=10_000, max_seconds=600) as load:
                    time.sleep(2)
                    result = deploy()
                    time.sleep(2)
                phases = list(result["phases"])
                switches.append([name, *result["phases"].values(), result["switch_seconds"], result["total_seconds"]])
                loads.append(load_row(f"during {name}", load))
    finally:
        boot.stop()
        if deployer.live():
            deployer.stop(deployer.live())

    print(table("blue/green deploy phases (s), local llama.cpp slots behind the gateway",
                ["deploy", *phases, "start->switched", "total"], switches))
    print(table("bounded load on /generate (one client, back to back, 4 new tokens)",
                ["window", "requests", "failed", "p50 ms", "p99 ms", "max ms", "req/s"], loads))
    print("\nper-task seconds:", {k: round(v, 1) for k, v in task_s.items()})


if __name__ == "__main__":
    main()
