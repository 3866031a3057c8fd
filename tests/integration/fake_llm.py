"""A fake generation server for tests (no model runs in it): it speaks TGI's protocol (POST /, /health)
and the OpenAI-compatible one (/v1/completions, /v1/chat/completions, /v1/models) and always answers
"Maria Lindqvist". TGI, vLLM and SGLang need a GPU this machine lacks; with this peer everything on
kgflow's side of the socket is real. Requests are recorded in `seen`."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kgflow.netutil import free_port

ANSWER = ["Maria", " Lindqvist"]
seen: list[tuple[str, dict]] = []


# the request fields of OpenAI's API that Triton's OpenAI-compatible frontend accepts; its schema forbids
# any other (pydantic extra="forbid": HTTP 422)
OPENAI_FIELDS = frozenset({
    "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "min_tokens", "temperature", "top_p",
    "seed", "stop", "stream", "stream_options", "n", "frequency_penalty", "presence_penalty", "logit_bias",
    "logprobs", "top_logprobs", "user", "echo", "best_of", "suffix", "ignore_eos", "tools", "tool_choice"})


def _fake_server(strict_openai: bool = False) -> FastAPI:
    """strict_openai: answer as Triton's OpenAI frontend does, refusing fields outside OpenAI's schema and
    reporting readiness only at /health/ready."""
    app = FastAPI()

    @app.post("/")
    async def tgi(request: Request):
        body = await request.json()
        seen.append(("/", body))
        if body.get("stream"):
            async def events():
                for i, word in enumerate(ANSWER):
                    last = i == len(ANSWER) - 1
                    yield "data:" + json.dumps({
                        "token": {"id": i, "text": word, "logprob": -0.1, "special": False},
                        "generated_text": "".join(ANSWER) if last else None,
                        "details": {"finish_reason": "eos_token", "generated_tokens": 2, "seed": None} if last
                        else None}) + "\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse([{"generated_text": "".join(ANSWER), "details": {
            "finish_reason": "eos_token", "generated_tokens": 2, "seed": None, "prefill": [], "tokens": []}}])

    async def openai(request: Request, chat: bool):
        body = await request.json()
        seen.append((request.url.path, body))
        if strict_openai and (set(body) - OPENAI_FIELDS or "model" not in body):
            return JSONResponse({"detail": [{"type": "extra_forbidden", "loc": ["body", k]}
                                            for k in sorted(set(body) - OPENAI_FIELDS)] or "model is required"},
                                status_code=422)

        def choice(text: str, reason: str | None) -> dict:
            if chat:
                return {"index": 0, "delta" if body.get("stream") else "message": {"content": text},
                        "finish_reason": reason}
            return {"index": 0, "text": text, "finish_reason": reason}

        if body.get("stream"):
            async def events():
                for i, word in enumerate(ANSWER):
                    yield "data: " + json.dumps({"choices": [choice(word, "stop" if i == len(ANSWER) - 1
                                                                     else None)]}) + "\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        return {"choices": [choice("".join(ANSWER), "stop")], "usage": {"completion_tokens": 2, "prompt_tokens": 9}}

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await openai(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        return await openai(request, chat=True)

    if not strict_openai:
        @app.get("/health")
        async def health():
            return {}

    @app.get("/health/ready")
    async def ready():
        return {}

    @app.get("/v1/models")
    async def models():
        return {"data": [{"id": "kgflow"}]}

    return app


@contextmanager
def fake_llm_server(strict_openai: bool = False):
    """The fake server on a loopback port; yields its base URL."""
    with serve_app(_fake_server(strict_openai)) as url:
        yield url


@contextmanager
def serve_app(app: FastAPI, host: str = "127.0.0.1", port: int | None = None):
    """Any ASGI test peer on a loopback address (any of 127.0.0.0/8) and port, in a thread; yields its
    base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        t.join(5)
