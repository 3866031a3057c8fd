"""One contract for every generation backend in kgflow.llm.BACKENDS, up to the wire.

TGI, vLLM, SGLang and Triton need a GPU, which this machine lacks, so the peer is
tests/integration/fake_llm.py, which speaks their wire protocols (for Triton, its OpenAI frontend's strict
request schema). Everything on our side of the socket (prompt forms, clients,
parameter mapping, SSE parsing, error mapping) is the real code. The real llama.cpp server is
exercised by the gateway tests.
"""

from __future__ import annotations

import asyncio

import pytest

from kgflow.config import Settings
from kgflow.llm import backend_names, make_backend
from kgflow.llm.base import BackendUnavailable, GenParams
from kgflow.llm.prompts import Prompt
from kgflow.netutil import free_port
from tests.integration.fake_llm import fake_llm_server, seen

BASE = Prompt("base", text="Question: Who leads Project Falcon?\nAnswer:", stop=("\n\n", "\nQuestion:"))
CHAT = Prompt("chat", messages=({"role": "user", "content": "Who leads Project Falcon?"},), stop=("\nQuestion:",))


@pytest.fixture(scope="module")
def url():
    with fake_llm_server() as u:
        yield u


@pytest.fixture(scope="module")
def peer(url):
    """Each backend's peer: Triton's is strict about OpenAI's schema, as its frontend is."""
    with fake_llm_server(strict_openai=True) as strict:
        yield lambda kind: strict if kind == "triton" else url


def _generate(kind: str, url: str, prompt: Prompt, params: GenParams | None = None):
    return asyncio.run(make_backend(kind, url).generate(prompt, params or GenParams(max_new_tokens=8)))


def _stream(kind: str, url: str, prompt: Prompt):
    async def collect():
        return [p async for p in make_backend(kind, url).stream(prompt, GenParams(max_new_tokens=8))]

    return asyncio.run(collect())


def test_the_configuration_accepts_every_registered_backend_and_refuses_others():
    assert all(Settings(llm_backend=kind).llm_backend == kind for kind in backend_names())
    with pytest.raises(ValueError, match="unknown generation backend 'mystery'"):
        Settings(llm_backend="mystery")


def test_an_unknown_backend_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="one of llamacpp, tgi, vllm, triton"):
        make_backend("mystery", "http://127.0.0.1:1")


@pytest.mark.parametrize("kind", backend_names())
@pytest.mark.parametrize("prompt", [BASE, CHAT], ids=["base", "chat"])
def test_a_backend_answers_a_prompt_of_either_kind(peer, kind, prompt):
    assert _generate(kind, peer(kind), prompt).text == "Maria Lindqvist"


@pytest.mark.parametrize("kind", backend_names())
def test_a_backend_sends_a_base_prompt_as_it_is_with_its_stop_sequences(peer, kind):
    _generate(kind, peer(kind), BASE)
    path, body = seen[-1]
    text = body.get("inputs", body.get("prompt"))
    stops = body.get("parameters", {}).get("stop", body.get("stop"))
    assert text == BASE.text and stops == list(BASE.stop)
    assert path in ("/", "/v1/completions")


@pytest.mark.parametrize("kind", backend_names())
def test_a_backend_streams_the_text_it_would_generate(peer, kind):
    pieces = _stream(kind, peer(kind), CHAT)
    assert "".join(p.text for p in pieces) == "Maria Lindqvist" and pieces[-1].finish_reason


@pytest.mark.parametrize("kind", backend_names())
def test_a_backend_reports_a_healthy_server(peer, kind):
    assert asyncio.run(make_backend(kind, peer(kind)).health())


@pytest.mark.parametrize("kind", backend_names())
def test_an_unreachable_server_is_unavailable_not_an_error(kind):
    with pytest.raises(BackendUnavailable):
        _generate(kind, f"http://127.0.0.1:{free_port()}", BASE)


def test_vllm_requests_name_the_served_model_and_llamacpp_requests_do_not(url):
    asyncio.run(make_backend("vllm", url, model="kgflow-v3").generate(BASE, GenParams()))
    assert seen[-1][1]["model"] == "kgflow-v3"
    _generate("llamacpp", url, BASE)
    assert "model" not in seen[-1][1]


@pytest.mark.parametrize(("kind", "key"), [("vllm", "repetition_penalty"), ("llamacpp", "repeat_penalty")])
def test_the_repetition_penalty_goes_by_each_engines_name(url, kind, key):
    _generate(kind, url, BASE, GenParams(max_new_tokens=4, repetition_penalty=1.2))
    assert seen[-1][1][key] == 1.2


@pytest.mark.parametrize("kind", backend_names())
def test_a_request_that_asks_for_no_sampling_is_decoded_greedily(peer, kind):
    _generate(kind, peer(kind), BASE, GenParams(max_new_tokens=4))
    body = seen[-1][1]
    params = body.get("parameters", body)
    assert params.get("temperature") in (None, 0.0) and not params.get("do_sample")
    if kind != "tgi":  # the OpenAI-compatible servers sample unless told temperature 0
        assert params["temperature"] == 0.0


def test_a_caller_who_asks_for_sampling_gets_it(url):
    _generate("vllm", url, BASE, GenParams(max_new_tokens=4, temperature=0.7, seed=3))
    assert seen[-1][1]["temperature"] == 0.7 and seen[-1][1]["seed"] == 3


def test_triton_is_never_sent_a_sampling_field_its_schema_forbids(peer):
    gen = _generate("triton", peer("triton"), CHAT, GenParams(max_new_tokens=4, top_k=5, repetition_penalty=1.2,
                                                               temperature=0.5))
    body = seen[-1][1]
    assert gen.text == "Maria Lindqvist" and body["temperature"] == 0.5
    assert not {"top_k", "repetition_penalty", "repeat_penalty"} & set(body)


def test_the_strict_peer_refuses_what_triton_refuses(peer):
    import httpx

    r = httpx.post(f"{peer('triton')}/v1/completions", json={"model": "kgflow", "prompt": "x", "top_k": 5})
    assert r.status_code == 422


def test_triton_is_healthy_only_when_its_frontend_reports_ready():
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from tests.integration.fake_llm import serve_app

    loading = FastAPI()  # models listed, engine not ready yet: Triton's frontend answers 400 at /health/ready
    loading.get("/v1/models")(lambda: {"data": [{"id": "kgflow"}]})
    loading.get("/health/ready")(lambda: JSONResponse({"detail": "not ready"}, status_code=400))
    with serve_app(loading) as u:
        assert not asyncio.run(make_backend("triton", u).health())
        assert asyncio.run(make_backend("vllm", u).health())  # the same server passes vLLM's check
