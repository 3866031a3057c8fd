"""The production TGI backend through the real `text-generation` client, up to the wire.

TGI needs a GPU and a container engine, neither of which exists on this machine, so the peer here
is a minimal HTTP server that speaks TGI's /generate and /generate_stream protocol. Everything on
our side of the socket (prompt rendering, the client, parameter mapping, error mapping) is real.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from kgflow.llm.base import BackendUnavailable, GenParams
from kgflow.llm.prompts import Prompt
from kgflow.llm.tgi import TgiBackend, render
from kgflow.netutil import free_port
from tests.integration.fake_llm import serve_app

seen: list[dict] = []


def _fake_tgi() -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def root(request: Request):
        body = await request.json()
        seen.append(body)
        if body.get("stream"):
            async def events():
                for i, word in enumerate(["Maria", " Lindqvist"]):
                    last = i == 1
                    yield "data:" + json.dumps({
                        "token": {"id": i, "text": word, "logprob": -0.1, "special": False},
                        "generated_text": "Maria Lindqvist" if last else None,
                        "details": {"finish_reason": "eos_token", "generated_tokens": 2, "seed": None} if last
                        else None}) + "\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse([{"generated_text": "Maria Lindqvist", "details": {
            "finish_reason": "length", "generated_tokens": 2, "seed": None, "prefill": [], "tokens": []}}])

    @app.get("/health")
    async def health():
        return {}

    return app


@pytest.fixture(scope="module")
def tgi_url():
    with serve_app(_fake_tgi()) as url:
        yield url


MESSAGES = [{"role": "user", "content": "Who leads Project Falcon?"}]
CHAT = Prompt("chat", messages=tuple(MESSAGES))


def test_generate_sends_a_rendered_prompt_and_maps_the_response(tgi_url):
    gen = asyncio.run(TgiBackend(tgi_url).generate(CHAT, GenParams(max_new_tokens=7, temperature=0.5)))
    assert gen.text == "Maria Lindqvist" and gen.finish_reason == "length" and gen.generated_tokens == 2
    sent = seen[-1]
    assert sent["inputs"] == render(MESSAGES) and sent["parameters"]["max_new_tokens"] == 7
    assert sent["parameters"]["do_sample"] is True


def test_a_base_model_prompt_is_sent_as_it_is_with_its_stop_sequences(tgi_url):
    prompt = Prompt("base", text="Question: Who leads Project Falcon?\nAnswer:", stop=("\n\n", "\nQuestion:"))
    asyncio.run(TgiBackend(tgi_url).generate(prompt, GenParams(max_new_tokens=7, temperature=0.0)))
    sent = seen[-1]
    assert sent["inputs"] == prompt.text
    assert sent["parameters"]["stop"] == ["\n\n", "\nQuestion:"]
    assert sent["parameters"].get("temperature") is None and not sent["parameters"].get("do_sample")


def test_stream_yields_tokens_and_the_finish_reason(tgi_url):
    async def collect():
        return [p async for p in TgiBackend(tgi_url).stream(CHAT, GenParams())]

    pieces = asyncio.run(collect())
    assert "".join(p.text for p in pieces) == "Maria Lindqvist" and pieces[-1].finish_reason == "eos_token"


def test_unreachable_tgi_is_backend_unavailable():
    with pytest.raises(BackendUnavailable):
        asyncio.run(TgiBackend(f"http://127.0.0.1:{free_port()}").generate(CHAT, GenParams()))
