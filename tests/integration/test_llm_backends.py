"""One contract for every generation backend in kgflow.llm.BACKENDS, up to the wire.

TGI, vLLM and SGLang need a GPU, which this machine lacks, so the peer is tests/integration/fake_llm.py,
which speaks their wire protocols. Everything on our side of the socket (prompt forms, clients,
parameter mapping, SSE parsing, error mapping) is the real code. The real llama.cpp server is
exercised by the gateway tests.
"""

from __future__ import annotations

import asyncio
import typing

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


def _generate(kind: str, url: str, prompt: Prompt, params: GenParams | None = None):
    return asyncio.run(make_backend(kind, url).generate(prompt, params or GenParams(max_new_tokens=8)))


def _stream(kind: str, url: str, prompt: Prompt):
    async def collect():
        return [p async for p in make_backend(kind, url).stream(prompt, GenParams(max_new_tokens=8))]

    return asyncio.run(collect())


def test_every_backend_the_configuration_accepts_is_registered():
    assert set(typing.get_args(Settings.model_fields["llm_backend"].annotation)) == set(backend_names())


def test_an_unknown_backend_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="one of llamacpp, tgi, vllm"):
        make_backend("mystery", "http://127.0.0.1:1")


@pytest.mark.parametrize("kind", backend_names())
@pytest.mark.parametrize("prompt", [BASE, CHAT], ids=["base", "chat"])
def test_a_backend_answers_a_prompt_of_either_kind(url, kind, prompt):
    assert _generate(kind, url, prompt).text == "Maria Lindqvist"


@pytest.mark.parametrize("kind", backend_names())
def test_a_backend_sends_a_base_prompt_as_it_is_with_its_stop_sequences(url, kind):
    _generate(kind, url, BASE)
    path, body = seen[-1]
    text = body.get("inputs", body.get("prompt"))
    stops = body.get("parameters", {}).get("stop", body.get("stop"))
    assert text == BASE.text and stops == list(BASE.stop)
    assert path in ("/", "/v1/completions")


@pytest.mark.parametrize("kind", backend_names())
def test_a_backend_streams_the_text_it_would_generate(url, kind):
    pieces = _stream(kind, url, CHAT)
    assert "".join(p.text for p in pieces) == "Maria Lindqvist" and pieces[-1].finish_reason


@pytest.mark.parametrize("kind", backend_names())
def test_a_backend_reports_a_healthy_server(url, kind):
    assert asyncio.run(make_backend(kind, url).health())


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
def test_a_request_that_asks_for_no_sampling_is_decoded_greedily(url, kind):
    _generate(kind, url, BASE, GenParams(max_new_tokens=4))
    body = seen[-1][1]
    params = body.get("parameters", body)
    assert params.get("temperature") in (None, 0.0) and not params.get("do_sample")
    if kind != "tgi":  # the OpenAI-compatible servers sample unless told temperature 0
        assert params["temperature"] == 0.0


def test_a_caller_who_asks_for_sampling_gets_it(url):
    _generate("vllm", url, BASE, GenParams(max_new_tokens=4, temperature=0.7, seed=3))
    assert seen[-1][1]["temperature"] == 0.7 and seen[-1][1]["seed"] == 3
