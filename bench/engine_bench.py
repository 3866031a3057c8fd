"""Per-engine throughput: grounded prompts (as the gateway builds them) sent straight to one engine, at
several concurrencies, each answer checked whole against the same prompt's solo answer. The figure the
Helm chart's autoscaling arithmetic needs (README, "Kubernetes"): requests/s one engine pod sustains.

By default it starts the packaged llama.cpp server here (the chart's CPU values); on a GPU node, point it
at the engine pod with --url and --backend (vllm, triton, tgi) through `kubectl port-forward`.

- solo: each prompt alone, greedy: the reference answers;
- loaded: R requests cycling through the prompts from C concurrent clients; a request counts only if its
  whole answer (text and finish reason) equals the solo answer for its prompt. Requests/s is reported
  beside the number of mismatched and failed requests, which must be 0 for the figure to stand.
- scale-out: replicas for a target load (default 1,000 requests/s) at the best sustained rate, and the
  queueing delay a waiting-requests target adds (waiting / rate, Little's law).

    .venv/bin/python bench/engine_bench.py --kb var --requests 24 --concurrency 1 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from common import pct, table  # noqa: E402


async def run_load(backend, prompts: list, params, n: int, concurrency: int, solo: list) -> dict:
    from kgflow.llm.base import BackendError

    latencies, mismatched, failed = [], 0, 0
    queue = list(range(n))

    async def client() -> None:
        nonlocal mismatched, failed
        while queue:
            i = queue.pop(0)
            t0 = time.perf_counter()
            try:
                gen = await backend.generate(prompts[i % len(prompts)], params)
            except BackendError:
                failed += 1
                continue
            latencies.append(time.perf_counter() - t0)
            ref = solo[i % len(prompts)]
            mismatched += (gen.text, gen.finish_reason) != (ref.text, ref.finish_reason)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": n, "wall_s": round(wall, 2),
            "requests_per_s": round((n - failed - mismatched) / wall, 3), "p50_s": round(pct(latencies, 50), 2),
            "p99_s": round(pct(latencies, 99), 2), "mismatched": mismatched, "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", type=Path, required=True, help="a KGFLOW_HOME with a published knowledge base")
    ap.add_argument("--url", help="an engine to measure; default: start the packaged llama.cpp server here")
    ap.add_argument("--backend", default="llamacpp", help="the kgflow backend that speaks to --url")
    ap.add_argument("--model", help="the served model name (vLLM's --served-model-name)")
    ap.add_argument("--questions", type=int, default=6, help="distinct grounded prompts")
    ap.add_argument("--requests", type=int, default=24, help="per concurrency level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--target-qps", type=float, default=1000.0)
    ap.add_argument("--waiting-target", type=int, default=8,
                    help="the chart's engine.autoscaling.waitingRequestsTarget")
    args = ap.parse_args()
    os.environ["KGFLOW_HOME"] = str(args.kb.resolve())

    from kgflow.config import get_settings
    from kgflow.llm import make_backend, prompts
    from kgflow.llm.base import GenParams
    from kgflow.quality.gate import load_golden
    from kgflow.retrieval.engine import RetrievalEngine

    s = get_settings()
    questions = [g.question for g in load_golden(s.golden_path)][: args.questions]
    engine = RetrievalEngine(s)
    grounded = [prompts.build_prompt(q, engine.retrieve(q), s.llm_model_kind) for q in questions]
    params = GenParams(max_new_tokens=args.max_new_tokens)  # greedy: the same answer every time it is asked

    server = None
    if args.url is None:
        from kgflow.llm.llamacpp_server import LlamaServer

        server = LlamaServer(threads=os.cpu_count()).start(supervise=False)
    url = args.url or server.url
    where = (f"{args.backend} at {args.url}" if args.url
             else f"llama.cpp (gemma3-270m q4_k_m) on {os.cpu_count()} CPU cores here")
    try:
        async def measure() -> dict:
            backend = make_backend(args.backend, url, timeout_s=600, model=args.model)
            for p in grounded:  # warm-up: the engine's first answers include loading and compiling
                await backend.generate(p, params)
            solo = [await backend.generate(p, params) for p in grounded]  # the reference answers
            tokens = sum(g.generated_tokens for g in solo)
            loaded = [await run_load(backend, grounded, params, args.requests, c, solo) for c in args.concurrency]
            await backend.aclose()
            return {"solo_tokens": tokens, "loaded": loaded}

        out = asyncio.run(measure())
    finally:
        if server is not None:
            server.stop()
    best = max(r["requests_per_s"] for r in out["loaded"] if not r["mismatched"] and not r["failed"])
    replicas = math.ceil(args.target_qps / best)
    report = {"engine": where, "prompts": len(grounded), "max_new_tokens": args.max_new_tokens, **out,
              "scale_out": {"target_qps": args.target_qps, "per_engine_qps": best, "replicas": replicas,
                            "waiting_target": args.waiting_target,
                            "added_queueing_s": round(args.waiting_target / best, 2)}}
    print(table(f"one engine: {where}; answers checked whole against solo answers",
                ["concurrency", "requests", "req/s", "p50 s", "p99 s", "mismatched", "failed"],
                [[r["concurrency"], r["requests"], r["requests_per_s"], r["p50_s"], r["p99_s"], r["mismatched"],
                  r["failed"]] for r in out["loaded"]]))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
