"""Gateway overhead over calling llama.cpp directly, split into retrieval and everything else, and
sustained requests/s with 1 and 2 gateway worker processes.

Both paths send the same grounded prompt with the same sampling to the same llama.cpp server; the
gateway path adds auth, rate limiting, retrieval, prompt building, PII masking, metrics and auditing.
The gateway runs as production runs it: uvicorn worker processes (`kgflow serve --workers N`), not in
the bench's process.

- overhead: one question repeated with max_new_tokens=1. llama.cpp reuses the cached prompt prefix, so
  the backend's own cost per request is a few milliseconds and the gateway's share is visible. The gateway
  reports retrieval and generation in its Server-Timing header; everything else (HTTP, auth, rate limit,
  prompt, masking, metrics, audit) is what the client saw less those two.
- sustained: the same bounded load (fixed request count, fixed concurrency, loopback) on the cached
  prompt, requests/s through 1 and through 2 workers beside the direct baseline.
- realistic (--realistic): rotating questions, 16 new tokens: prompt processing dominates on CPU.

    .venv/bin/python bench/gateway_bench.py --kb var
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
    """n requests from `concurrency` workers; returns latencies (ms), errors and wall seconds."""
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
    ap.add_argument("--requests", type=int, default=200, help="per path and concurrency level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--realistic", action="store_true", help="also rotating questions with 16 new tokens")
    args = ap.parse_args()
    os.environ["KGFLOW_HOME"] = str(args.kb.resolve())
    import httpx

    from kgflow.llm import prompts
    from kgflow.llm.base import GenParams
    from kgflow.llm.llamacpp import LlamaCppBackend
    from kgflow.llm.llamacpp_server import LlamaServer
    from kgflow.retrieval.engine import RetrievalEngine
    from kgflow.tokens import mint_token
    from tests.integration.gateway_harness import SECRET, gateway_processes, settings_for

    server = LlamaServer(threads=os.cpu_count()).start(supervise=False)
    try:
        s = settings_for(args.kb.resolve(), server.url)
        engine = RetrievalEngine(s)
        prompt_of = {q: prompts.build_prompt(q, engine.retrieve(q), s.llm_model_kind) for q in QUESTIONS}
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'bench', 'admin')}"}
        env = {"KGFLOW_HOME": str(args.kb.resolve()), "KGFLOW_LLM_URL": server.url, "KGFLOW_JWT_SECRET": SECRET,
               "KGFLOW_RATE_LIMIT_PER_S": "100000", "KGFLOW_RATE_LIMIT_BURST": "100000"}
        overhead, sustained, realistic = [], [], []
        failures: list[str] = []  # the first failed gateway answer, printed: a bench must not hide errors

        async def run(url: str, workers: int) -> None:
            async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=64)) as c:
                split: list[tuple[float, float, float]] = []  # retrieval, generation, everything else (ms)

                def paths(questions: list[str], tokens: int):
                    async def direct(i):
                        path, body = LlamaCppBackend(server.url)._request(prompt_of[questions[i % len(questions)]],
                                                                          GenParams(max_new_tokens=tokens, seed=1),
                                                                          False)
                        r = await c.post(f"{server.url}{path}", json=body)
                        return r.status_code == 200

                    async def gateway(i):
                        t0 = time.perf_counter()
                        r = await c.post(f"{url}/generate", headers=headers, json={
                            "inputs": questions[i % len(questions)],
                            "parameters": {"max_new_tokens": tokens, "seed": 1}})
                        seen = (time.perf_counter() - t0) * 1e3
                        if r.status_code == 200:
                            timing = dict(part.split(";dur=") for part in r.headers["server-timing"].split(", "))
                            split.append((float(timing["retrieval"]), float(timing["generation"]),
                                          seen - float(timing["retrieval"]) - float(timing["generation"])))
                        elif not failures:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                        return r.status_code == 200

                    return {"llama.cpp direct (baseline)": direct, f"gateway, {workers} worker(s)": gateway}

                cached = paths(QUESTIONS[:1], 1)
                # warm-up on fresh connections, which the kernel spreads over the workers: every worker has its
                # embedder and snapshot loaded, and the prompt is in llama.cpp's cache, before anything is timed
                for _ in range(8 * workers):
                    async with httpx.AsyncClient(timeout=300) as fresh:
                        await fresh.post(f"{url}/generate", headers=headers, json={
                            "inputs": QUESTIONS[0], "parameters": {"max_new_tokens": 1, "seed": 1}})
                for send in cached.values():
                    await drive(send, 8, max(args.concurrency))
                for conc in args.concurrency:
                    split.clear()
                    res = {name: await drive(send, args.requests, conc) for name, send in cached.items()}
                    (base, _, _), (gw, _, _) = res.values()
                    for name, (lat, err, wall) in res.items():
                        if workers == 1 or "gateway" in name:
                            sustained.append([name, conc, len(lat), err, len(lat) / wall, pct(lat, 50), pct(lat, 99)])
                    if conc == 1:
                        overhead.append([workers, pct(base, 50), pct(gw, 50), pct([s[1] for s in split], 50),
                                         pct([s[0] for s in split], 50), pct([s[2] for s in split], 50),
                                         pct([s[2] for s in split], 99)])
                if args.realistic and workers == 1:
                    for name, send in paths(QUESTIONS, 16).items():
                        lat, err, wall = await drive(send, 40, 4)
                        realistic.append([name, pct(lat, 50), pct(lat, 99), len(lat) / wall, err])

        for workers in (1, 2):
            with gateway_processes(env, workers=workers) as url:
                asyncio.run(run(url, workers))

        print(f"\n{args.requests} requests per path and level, {os.cpu_count()} cores, gemma3-270m Q4_K_M on one "
              f"llama.cpp server; gateway as uvicorn worker processes; loopback")
        print(table("at concurrency 1: same cached prompt, max_new_tokens=1 (ms, p50 unless named); the gateway's "
                    "split from its Server-Timing header, everything else = seen by the client - retrieval - "
                    "generation", ["workers", "direct (baseline)", "gateway", "of which generation",
                                   "retrieval", "everything else", "everything else p99"], overhead))
        print(table("sustained, bounded load on the cached prompt (same requests)",
                    ["path", "concurrency", "requests", "errors", "req/s", "p50 ms", "p99 ms"], sustained))
        if realistic:
            print(table("realistic: 5 rotating questions, 16 new tokens, concurrency 4, 40 requests",
                        ["path", "p50 ms", "p99 ms", "req/s", "errors"], realistic))
        if failures:
            print(f"\nfirst failed gateway request: {failures[0]}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
