"""Answers a person can trust: never cut short by another request, cited where the cited source holds the
answer, agreeing with the graph's complete answer or refusing plainly, and still answered when the primary
engine dies. Real llama.cpp servers on the packaged model wherever a model answers."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from kgflow.answer.grounding import REFUSAL
from kgflow.answer.service import AnswerService
from kgflow.deploy.base import DeployError
from kgflow.deploy.rollout import smoke_test
from kgflow.gateway.app import create_app
from kgflow.llm.base import Generation, GenParams, LLMBackend
from kgflow.llm.llamacpp import LlamaCppBackend
from kgflow.llm.llamacpp_server import LlamaServer
from kgflow.quality.gate import load_golden
from kgflow.tokens import mint_token
from tests.integration.gateway_harness import (
    SECRET,
    WireServer,
    gateway_processes,
    running_gateway,
    settings_for,
)

pytestmark = pytest.mark.slow
GREEDY = {"max_new_tokens": 16, "temperature": None}
MARKER = re.compile(r"\[(\d+)\]")


def _admin() -> dict:
    return {"Authorization": f"Bearer {mint_token(SECRET, 'tester', 'admin')}"}


class Says(LLMBackend):
    """Answers every prompt with one fixed text (no model: these tests are about what grounding does with
    a given generated answer)."""

    name = "says"

    def __init__(self, text: str) -> None:
        self.text = text

    async def generate(self, prompt, params):
        return Generation(self.text, 5, "eos_token", 100)

    async def stream(self, prompt, params):
        raise AssertionError("the pipeline asks for whole answers")
        yield

    async def health(self) -> bool:
        return True

    def model_id(self) -> str:
        return "says"


def _generate(knowledge_base, engine, tmp_path, said: str, question: str) -> dict:
    s = settings_for(knowledge_base, "http://unused", auth_required=False, serving_state=tmp_path / "up.json")
    with TestClient(create_app(s, backend=Says(said), engine=engine)) as c:
        r = c.post("/generate", json={"inputs": question})
    assert r.status_code == 200, r.text
    return r.json()


# --- whole answers, whatever runs beside them ------------------------------------------------------------

def _ask(url: str, route: str, question: str) -> str:
    """The answer text as the caller assembles it on each route."""
    h = _admin()
    if route in ("generate", "compat"):
        r = httpx.post(f"{url}/{'generate' if route == 'generate' else ''}",
                       json={"inputs": question, "parameters": GREEDY, "stream": False}, headers=h, timeout=300)
        body = r.json()
        return (body[0] if isinstance(body, list) else body)["generated_text"]
    if route in ("generate_stream", "compat_stream"):
        path = "generate_stream" if route == "generate_stream" else ""
        r = httpx.post(f"{url}/{path}", json={"inputs": question, "parameters": GREEDY, "stream": True},
                       headers=h, timeout=300)
        events = [json.loads(x[5:]) for x in r.text.split("\n") if x.startswith("data:")]
        assert "".join(e["token"]["text"] for e in events) == events[-1]["generated_text"]
        return events[-1]["generated_text"]
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": 16,
            "stream": route == "chat_stream"}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, headers=h, timeout=300)
    if route == "chat":
        return r.json()["choices"][0]["message"]["content"]
    events = [json.loads(x[5:]) for x in r.text.split("\n") if x.startswith("data:") and "[DONE]" not in x]
    return "".join(e["choices"][0]["delta"]["content"] or "" for e in events)


ROUTES = ["generate", "generate_stream", "compat", "compat_stream", "chat", "chat_stream"]


def test_eight_concurrent_requests_on_both_workers_and_every_route_get_the_answers_they_get_alone(
        knowledge_base, llama_server):
    golden = load_golden(knowledge_base / "golden_questions.json")
    plan = [(ROUTES[i % len(ROUTES)], golden[i * 3 % len(golden)].question) for i in range(8)]
    env = {"KGFLOW_HOME": str(knowledge_base), "KGFLOW_LLM_URL": llama_server.url, "KGFLOW_JWT_SECRET": SECRET,
           "KGFLOW_RATE_LIMIT_PER_S": "1000", "KGFLOW_RATE_LIMIT_BURST": "1000"}
    with gateway_processes(env, workers=2) as url:
        alone = [_ask(url, route, q) for route, q in plan]
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(lambda p: _ask(url, *p), plan))
    assert all(a.strip() for a in alone)
    assert together == alone


def test_the_openai_clients_whole_chat_answer_equals_its_streamed_one(knowledge_base, engine, llama_server,
                                                                      tmp_path):
    from openai import OpenAI

    s = settings_for(knowledge_base, llama_server.url, serving_state=tmp_path / "up.json")
    with running_gateway(s, engine=engine) as (url, _):
        client = OpenAI(base_url=f"{url}/v1", api_key=mint_token(SECRET, "tester", "admin"))
        ask = {"model": "kgflow", "messages": [{"role": "user", "content": "Who designed Tidewatch?"}],
               "max_tokens": 24, "temperature": 0}
        whole = client.chat.completions.create(**ask)
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**ask, stream=True))
    assert whole.choices[0].message.content == streamed
    assert "Elena Petrova" in streamed
    assert whole.usage.completion_tokens > 2 and whole.usage.prompt_tokens > 100


# --- citations and grounding --------------------------------------------------------------------------------

def test_a_cited_marker_names_a_source_whose_text_holds_the_answers_entity(knowledge_base, engine, llama_server):
    golden = load_golden(knowledge_base / "golden_questions.json")
    service = AnswerService(engine, LlamaCppBackend(llama_server.url), "base")

    async def answers():
        return [await service.answer(i.question, GenParams(max_new_tokens=24, temperature=0.0, seed=0))
                for i in golden]

    checked = 0
    for item, a in zip(golden, asyncio.run(answers()), strict=True):
        for n in map(int, MARKER.findall(a.text)):
            source = a.retrieval.chunks[n - 1].chunk
            if item.answer.casefold() in a.text.casefold():
                assert item.answer.casefold() in f"{source.title} {source.text}".casefold(), (item.question, a.text)
                checked += 1
    assert checked >= len(golden) * 0.8


def test_an_answer_naming_what_no_source_holds_is_refused_with_the_closest_citations(knowledge_base, engine,
                                                                                     tmp_path):
    body = _generate(knowledge_base, engine, tmp_path, " Zorblax Quintero leads it [1].",
                     "Tell me about Project Falcon.")
    assert body["generated_text"].startswith(REFUSAL)
    titles = [c["title"] for c in body["kgflow"]["citations"][:2]]
    assert all(f"[{n}] {t}" in body["generated_text"] for n, t in enumerate(titles, 1))
    assert body["kgflow"]["grounded"] is False
    assert body["kgflow"]["grounding"]["unsupported"] == ["Zorblax Quintero"]


def test_an_answer_whose_names_all_stand_in_its_sources_is_kept(knowledge_base, engine, tmp_path):
    body = _generate(knowledge_base, engine, tmp_path, " Project Falcon uses Corvane Beacon [1].",
                     "Tell me about Project Falcon.")
    assert body["generated_text"].startswith("Project Falcon uses Corvane Beacon")
    assert body["kgflow"]["grounded"] is True and body["kgflow"]["grounding"]["action"] == "kept"


def test_a_generated_answer_contradicting_a_complete_graph_answer_gives_way_to_it(knowledge_base, engine, tmp_path):
    body = _generate(knowledge_base, engine, tmp_path, " David Okafor [4]",
                     "Who leads the project that uses Corvane Beacon?")
    text, ext = body["generated_text"], body["kgflow"]
    assert text.startswith("Maria Lindqvist [")
    assert ext["grounded"] is True and ext["grounding"]["action"] == "rewritten"
    (n,) = map(int, MARKER.findall(text))
    cited = engine.snapshot().graph.chunks[ext["citations"][n - 1]["chunk_id"]]
    assert "Maria Lindqvist" in cited.text
    assert {c["chunk_id"] for c in ext["answer"]["citations"]} <= {c["chunk_id"] for c in ext["citations"]}


def test_a_graph_path_that_leaves_part_of_the_question_unexplained_does_not_override_the_model(
        knowledge_base, engine, tmp_path):
    question = "Which product does Project Falcon use for vessel tracking in winter storms?"
    assert engine.retrieve(question).answer is not None  # a path exists, but says nothing of vessels or storms
    body = _generate(knowledge_base, engine, tmp_path, " Project Falcon uses Harbor OS [1].", question)
    assert body["generated_text"].startswith("Project Falcon uses Harbor OS")
    assert body["kgflow"]["grounding"]["action"] == "kept"


def test_a_generated_answer_agreeing_with_the_graph_answer_is_kept_with_its_marker_moved_to_its_source(
        knowledge_base, engine, tmp_path):
    body = _generate(knowledge_base, engine, tmp_path, " Maria Lindqvist [99]",
                     "Who leads the project that uses Corvane Beacon?")
    text, ext = body["generated_text"], body["kgflow"]
    assert ext["grounding"]["action"] == "kept"
    (n,) = map(int, MARKER.findall(text))
    assert "Maria Lindqvist" in engine.snapshot().graph.chunks[ext["citations"][n - 1]["chunk_id"]].text


def test_a_masked_value_alone_is_no_answer(knowledge_base, engine, tmp_path):
    body = _generate(knowledge_base, engine, tmp_path, " jane.doe@example.com.", "Tell me about Project Falcon.")
    assert body["generated_text"].startswith(REFUSAL) and body["kgflow"]["grounded"] is False


# --- the deploy smoke test reads citations and grounding -------------------------------------------------

def _plain_tgi() -> WireServer:
    """A TGI-protocol server that answers without kgflow's extension (no model: a raw engine where the
    gateway should be), at the wire exactly as TGI's POST / does."""
    return WireServer(lambda body: ("application/json", json.dumps([{"generated_text": "Maria Lindqvist", "details": {
        "finish_reason": "eos_token", "generated_tokens": 3, "seed": None, "prefill": [], "tokens": []}}]).encode()))


def test_a_smoke_test_fails_a_deploy_whose_answers_carry_no_citations():
    plain = _plain_tgi()
    try:
        with pytest.raises(DeployError, match="without citations"):
            smoke_test(plain.url, 30, ["Who leads Project Falcon?"], headers={})
    finally:
        plain.close()


def test_a_smoke_test_passes_cited_grounded_answers_and_reports_the_measure(knowledge_base, engine, tmp_path):
    s = settings_for(knowledge_base, "http://unused", serving_state=tmp_path / "up.json", auth_required=False)
    app = create_app(s, backend=Says(" Maria Lindqvist [1]"), engine=engine)
    with running_gateway(s, app=app) as (url, _):
        report = smoke_test(url, 30, ["Who leads Project Falcon?", "Who leads the project that uses Corvane Beacon?"],
                            headers={})
    assert report["cited_rate"] == 1.0 and report["refusal_rate"] == 0.0
    assert report["unsupported_rate"]["generated"] == 0.0


# --- the fallback engine ---------------------------------------------------------------------------------------

def test_a_primary_killed_mid_load_fails_no_request_and_answers_again_once_back(knowledge_base, engine, session_home,
                                                                                tmp_path):
    primary = LlamaServer(threads=1, log_path=tmp_path / "primary.log").start(supervise=False)
    fallback = LlamaServer(threads=1, log_path=tmp_path / "fallback.log").start(supervise=False)
    s = settings_for(knowledge_base, primary.url, llm_fallback_url=fallback.url, serving_state=tmp_path / "up.json",
                     llm_timeout_s=30)
    engines: list[tuple[float, int, str | None]] = []
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                r = c.post(f"{url}/generate", json={"inputs": "Who designed Tidewatch?",
                                                    "parameters": {"max_new_tokens": 8}}, headers=_admin())
                engines.append((time.monotonic(), r.status_code,
                                r.json()["kgflow"]["engine"] if r.status_code == 200 else None))

    try:
        with running_gateway(s, engine=engine) as (url, _):
            workers = [threading.Thread(target=load, args=(url,)) for _ in range(2)]
            [w.start() for w in workers]
            time.sleep(3)
            primary._proc.send_signal(signal.SIGKILL)  # mid-load: requests are in flight on it
            primary._proc.wait()
            time.sleep(8)
            restarted = time.monotonic()
            primary.start(supervise=False)  # the same port: the gateway's configured primary is back
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(t > restarted + 6 and e == "primary" for t, _, e in engines):
                time.sleep(0.5)
            stop.set()
            [w.join(120) for w in workers]
            info = httpx.get(f"{url}/info", headers=_admin()).json()["kgflow"]
    finally:
        primary.stop()
        fallback.stop()
    assert [st for _, st, _ in engines if st != 200] == []
    assert "fallback" in {e for _, _, e in engines}
    assert engines[-1][2] == "primary" and info["answered_by"] == "primary" and info["fallback"] == fallback.url
