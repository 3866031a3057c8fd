"""One answer pipeline (kgflow.answer.service.AnswerService) behind every route: what the routes used to do
each their own way (and got different) now happens once, for streamed and whole answers alike."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from fastapi.testclient import TestClient

from kgflow.gateway.app import create_app
from kgflow.llm.base import BackendUnavailable, Generation, LLMBackend, StreamPiece
from tests.integration.gateway_harness import settings_for

pytestmark = pytest.mark.slow
QUESTION = "Who leads Project Falcon?"


class ScriptedBackend(LLMBackend):
    """Answers with fixed pieces (no model: these tests are about the pipeline around it)."""

    name = "scripted"
    device_type = "cpu"

    def __init__(self, pieces: list[StreamPiece], delay_s: float = 0.0, up: bool = True) -> None:
        self.pieces, self.delay_s, self.up = pieces, delay_s, up
        self.params = None  # what the latest request asked the engine for

    async def generate(self, prompt, params):
        self.params = params
        if not self.up:
            raise BackendUnavailable("scripted backend is down")
        await asyncio.sleep(self.delay_s * len(self.pieces))
        return Generation("".join(p.text for p in self.pieces), self.pieces[-1].generated_tokens,
                          self.pieces[-1].finish_reason, 11)

    async def stream(self, prompt, params):
        raise AssertionError("the pipeline asks the engine for the whole answer, then checks it")
        yield

    async def health(self) -> bool:
        return self.up

    def model_id(self) -> str:
        return "scripted"

    async def aclose(self) -> None:
        pass


SEVEN_TOKENS = [StreamPiece("Maria "), StreamPiece("Lindqvist"), StreamPiece(" [1]", "eos_token", 7)]


def _client(knowledge_base, engine, backend, tmp_path) -> TestClient:
    s = settings_for(knowledge_base, "http://unused", auth_required=False, serving_state=tmp_path / "up.json")
    return TestClient(create_app(s, backend=backend, engine=engine))


def _metric(c: TestClient, name: str, **labels) -> float:
    return c.app.state.gw.metrics.registry.get_sample_value(name, labels) or 0.0


ROUTES = {
    "generate": ("/generate", {"inputs": QUESTION}),
    "generate_stream": ("/generate_stream", {"inputs": QUESTION}),
    "compat_stream": ("/", {"inputs": QUESTION, "stream": True}),
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
    "chat_stream": ("/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}], "stream": True}),
}


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_counts_the_tokens_the_engine_generated_not_the_events_it_sent(knowledge_base, engine,
                                                                                  tmp_path, route):
    path, body = ROUTES[route]
    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS), tmp_path) as c:
        assert c.post(path, json=body).status_code == 200
        assert _metric(c, "kgflow_generated_tokens_total") == 7


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_marks_the_backend_down_when_it_is(knowledge_base, engine, tmp_path, route):
    path, body = ROUTES[route]
    with _client(knowledge_base, engine, ScriptedBackend([], up=False), tmp_path) as c:
        r = c.post(path, json=body)
        assert r.status_code == 503 and r.json()["error_type"] == "overloaded"
        assert _metric(c, "kgflow_backend_up", engine="primary") == 0


@pytest.mark.parametrize("route", ["generate_stream", "chat_stream"])
def test_a_streams_latency_includes_its_generation(knowledge_base, engine, tmp_path, route):
    path, body = ROUTES[route]
    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS, delay_s=0.3), tmp_path) as c:
        assert c.post(path, json=body).status_code == 200
        endpoint = path
        assert _metric(c, "kgflow_request_latency_seconds_sum", endpoint=endpoint) >= 0.9


def test_a_stream_on_the_base_url_is_audited_under_its_own_route(knowledge_base, engine, tmp_path):
    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS), tmp_path) as c:
        assert c.post("/", json={"inputs": QUESTION, "stream": True}).status_code == 200
    db = sqlite3.connect(knowledge_base / "audit" / "gateway_audit.db")
    endpoint, status, chars = db.execute(
        "SELECT endpoint, status, output_chars FROM audit ORDER BY rowid DESC LIMIT 1").fetchone()
    assert (endpoint, status, chars) == ("/", 200, len("Maria Lindqvist [1]"))


def test_a_streamed_answer_is_the_whole_answer_with_pii_masked(knowledge_base, engine, tmp_path):
    pieces = [StreamPiece("Call +47 912 "), StreamPiece("34 567 about it"), StreamPiece(".", "eos_token", 5)]
    question = "Tell me about Project Falcon."  # no wh-question: nothing for the graph's answer to replace
    with _client(knowledge_base, engine, ScriptedBackend(pieces), tmp_path) as c:
        whole = c.post("/generate", json={"inputs": question}).json()["generated_text"]
        streamed = c.post("/generate_stream", json={"inputs": question}).text
    events = [json.loads(line[5:]) for line in streamed.splitlines() if line.startswith("data:")]
    said = "".join(e["token"]["text"] for e in events) + (events[-1]["generated_text"] or "")
    assert "912" not in whole and whole.startswith("Call ") and whole.endswith("about it.")
    assert "912" not in said and events[-1]["generated_text"] == whole  # what the stream says, not its ids


def test_info_reports_what_the_backend_says_of_itself(knowledge_base, engine, tmp_path):
    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS), tmp_path) as c:
        info = c.get("/info").json()
    assert (info["model_device_type"], info["model_dtype"], info["kgflow"]["backend"]) == ("cpu", None, "scripted")


def test_responses_are_what_the_openapi_schema_says_they_are(knowledge_base, engine, tmp_path):
    from kgflow.gateway.schemas import ChatResponse, GenerateResponse, Info, StreamEvent

    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS), tmp_path) as c:
        GenerateResponse.model_validate(c.post("/generate", json={"inputs": QUESTION}).json())
        GenerateResponse.model_validate(c.post("/generate", json={"inputs": QUESTION,
                                                                  "parameters": {"details": True}}).json())
        [GenerateResponse.model_validate(x) for x in c.post("/", json={"inputs": QUESTION}).json()]
        ChatResponse.model_validate(c.post(ROUTES["chat"][0], json=ROUTES["chat"][1]).json())
        Info.model_validate(c.get("/info").json())
        events = [line[5:] for line in c.post("/generate_stream", json={"inputs": QUESTION}).text.splitlines()
                  if line.startswith("data:")]
        parsed = [StreamEvent.model_validate_json(e) for e in events]
        assert parsed[-1].generated_text == "Maria Lindqvist [1]" and parsed[-1].kgflow is not None
        spec = c.get("/openapi.json").json()["paths"]
    generate = spec["/generate"]["post"]
    assert generate["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("GenerateResponse")
    assert "inputs" in generate["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert spec["/v1/chat/completions"]["post"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"].endswith("ChatResponse")


@pytest.mark.parametrize(("parameters", "temperature"), [({"do_sample": True}, 1.0), ({}, None),
                                                         ({"do_sample": True, "temperature": 0.3}, 0.3)])
def test_do_sample_asks_the_engine_to_sample_as_tgi_does(knowledge_base, engine, tmp_path, parameters, temperature):
    backend = ScriptedBackend(SEVEN_TOKENS)
    with _client(knowledge_base, engine, backend, tmp_path) as c:
        assert c.post("/generate", json={"inputs": QUESTION, "parameters": parameters}).status_code == 200
    assert backend.params.temperature == temperature


@pytest.mark.parametrize("field", ["frequency_penalty", "presence_penalty"])
def test_a_penalty_no_engine_applies_is_refused_naming_it_not_ignored(knowledge_base, engine, tmp_path, field):
    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS), tmp_path) as c:
        r = c.post("/v1/chat/completions", json={**ROUTES["chat"][1], field: 0.5})
        assert (r.status_code, r.json()["error_type"]) == (422, "validation") and field in r.json()["error"]
        assert c.post("/v1/chat/completions", json={**ROUTES["chat"][1], field: 0}).status_code == 200


def test_more_stop_sequences_than_the_engines_take_are_refused_not_cut(knowledge_base, engine, tmp_path):
    with _client(knowledge_base, engine, ScriptedBackend(SEVEN_TOKENS), tmp_path) as c:
        chat = c.post("/v1/chat/completions", json={**ROUTES["chat"][1], "stop": list("abcde")})
        tgi = c.post("/generate", json={"inputs": QUESTION, "parameters": {"stop": list("abcde")}})
    assert (chat.status_code, tgi.status_code) == (422, 422) and "stop" in chat.json()["error"]
