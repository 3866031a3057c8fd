"""Gateway overhead over calling llama.cpp directly, under concurrent load, and sustained requests/s.

Both paths generate from the same grounded prompt with the same sampling on the same llama.cpp
server; the gateway path adds auth, rate limiting, retrieval, prompt building, PII masking and
auditing. The load generator is bounded (fixed request count, fixed concurrency, loopback only).

    .venv/bin/python bench/gateway_bench.py --kb var --requests 40 --concurrency 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from common import pct, table  # noqa: E402

QUESTIONS = ["Who leads Project Falcon?", "Where is Helix Logistics headquartered?", "Who manages Corvane Atlas?",
             "Which company supplies Corvane Systems?", "Who runs Baltic Freight Group?"]


async def drive(send, n: int, concurrency: int) -> tuple[list[float], int, float]:
    lat: list[float] = []
    errors = 0
    queue = list(range(n))

    async def worker():
        nonlocal errors
        while queue:
            i = queue.pop()
            t0 = time.perf_counter()
            ok = await send(i)
            lat.append((time.perf_counter() - t0) * 1e3)
            errors += not ok

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kb", type=Path, required=True, help="a KGFLOW_HOME with a published knowledge base")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    args = ap.parse_args()
    os.environ["KGFLOW_HOME"] = str(args.kb.resolve())
    import httpx

    from kgflow.gateway.auth import mint_token
    from kgflow.llm import prompts
    from kgflow.llm.llamacpp_server import LlamaServer
    from kgflow.retrieval.engine import RetrievalEngine
    from tests.integration.gateway_harness import SECRET, running_gateway, settings_for

    server = LlamaServer(threads=os.cpu_count()).start(supervise=False)
    try:
        s = settings_for(args.kb.resolve(), server.url)
        engine = RetrievalEngine(s)
        messages = {q: prompts.grounded_messages(q, engine.retrieve(q)) for q in QUESTIONS}
        body = {"max_tokens": args.max_new_tokens, "seed": 1, "stop": prompts.STOP}
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench', 'admin', ttl_s=900)}"}
        results = {}
        with running_gateway(s, engine) as (url, _):
            async def run_all():
                async with httpx.AsyncClient(timeout=300) as c:
                    async def direct(i):
                        r = await c.post(f"{server.url}/v1/chat/completions",
                                         json={"messages": messages[QUESTIONS[i % len(QUESTIONS)]], **body})
                        return r.status_code == 200

                    async def gateway(i):
                        r = await c.post(f"{url}/generate", headers=headers, json={
                            "inputs": QUESTIONS[i % len(QUESTIONS)],
                            "parameters": {"max_new_tokens": args.max_new_tokens, "seed": 1}})
                        return r.status_code == 200

                    await drive(direct, 4, 2)  # warm-up
                    results["llama.cpp direct (baseline)"] = await drive(direct, args.requests, args.concurrency)
                    results["gateway /generate"] = await drive(gateway, args.requests, args.concurrency)
                    t0 = time.perf_counter()
                    for q in QUESTIONS * 4:
                        engine.retrieve(q)
                    results["_retrieval_ms"] = (time.perf_counter() - t0) * 1e3 / (len(QUESTIONS) * 4)

            asyncio.run(run_all())
        retrieval_ms = results.pop("_retrieval_ms")
        rows = [[k, pct(lat, 50), pct(lat, 99), len(lat) / wall, err] for k, (lat, err, wall) in results.items()]
        base, gw = results["llama.cpp direct (baseline)"][0], results["gateway /generate"][0]
        print(f"\n{args.requests} requests per path, concurrency {args.concurrency}, max_new_tokens "
              f"{args.max_new_tokens}, {os.cpu_count()} cores, gemma3-270m Q4_K_M")
        print(table("gateway vs llama.cpp direct", ["path", "p50 ms", "p99 ms", "req/s", "errors"], rows))
        print(f"overhead: p50 +{pct(gw, 50) - pct(base, 50):.1f} ms, p99 +{pct(gw, 99) - pct(base, 99):.1f} ms "
              f"(retrieval alone, sequential: {retrieval_ms:.1f} ms/query)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
