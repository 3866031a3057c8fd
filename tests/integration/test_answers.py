"""Answers on the embedded default: the prompt follows the configured model kind, the graph answers
multi-hop questions by itself (deterministic, cited, access-controlled), and the answer evaluation the
refresh gate uses scores a backend by what it says over the wire."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from kgflow.corpus.facts import MULTI_HOP
from kgflow.gateway.app import create_app
from kgflow.llm.base import Generation
from kgflow.llm.llamacpp import LlamaCppBackend
from kgflow.models.gate import measure
from kgflow.quality.gate import load_golden
from tests.integration.gateway_harness import EchoBackend, WireServer, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def golden(knowledge_base):
    return load_golden(knowledge_base / "golden_questions.json")


class RecordingBackend(EchoBackend):
    """Keeps the prompt it was sent (no model: the test is about what the gateway sends)."""

    def __init__(self) -> None:
        self.prompts = []

    async def generate(self, prompt, params):
        self.prompts.append(prompt)
        return Generation("Maria Lindqvist [1]", 4, "eos_token", 100)


@pytest.mark.parametrize("kind", ["base", "chat"])
def test_the_gateway_prompts_the_model_the_way_its_configured_kind_needs(knowledge_base, engine, kind):
    backend = RecordingBackend()
    app = create_app(settings_for(knowledge_base, "http://unused", auth_required=False, llm_model_kind=kind),
                     backend=backend, engine=engine)
    with TestClient(app) as c:
        assert c.post("/generate", json={"inputs": "Who leads Project Falcon?"}).status_code == 200
    (prompt,) = backend.prompts
    assert prompt.kind == kind
    if kind == "base":
        assert prompt.text.endswith("Question: Who leads Project Falcon?\nAnswer:") and not prompt.messages
    else:
        assert prompt.messages[-1]["content"].endswith("Question: Who leads Project Falcon?\nAnswer:")


def test_a_two_hop_question_gets_the_end_of_its_path_as_the_graph_answer(engine):
    a = engine.retrieve("Who leads the project that uses Corvane Beacon?").answer
    assert a.entity == "Maria Lindqvist"
    assert [(f.subject, f.relation, f.object) for f in a.path] == [
        ("Project Falcon", "use", "Corvane Beacon"), ("Maria Lindqvist", "lead", "Project Falcon")]


@pytest.mark.parametrize("hop", MULTI_HOP, ids=[h["answer"] for h in MULTI_HOP])
def test_every_multi_hop_question_of_the_sample_corpus_gets_the_right_graph_answer_citing_both_hops(
        engine, truth, hop):
    a = engine.retrieve(hop["question"]).answer
    assert a is not None and a.entity == hop["answer"]
    wanted = next(h for h in truth["multi_hop"] if h["question"] == hop["question"])["paths"]
    assert sorted(c.uri.rsplit("/", 2)[-2] + "/" + c.uri.rsplit("/", 1)[-1] for c in a.evidence) == sorted(wanted)


def test_the_graph_answer_is_deterministic(engine):
    q = MULTI_HOP[3]["question"]
    assert len({engine.retrieve(q).answer for _ in range(3)}) == 1


def test_the_graph_answer_never_rests_on_a_chunk_the_caller_may_not_read(engine, truth):
    hop = MULTI_HOP[0]
    first_hop_department = next(h for h in truth["multi_hop"] if h["question"] == hop["question"])["paths"][0]
    others = frozenset({"engineering", "finance", "sales", "legal", "hr", "public"}) - {
        first_hop_department.split("/")[0]}
    a = engine.retrieve(hop["question"], departments=others).answer
    assert a is None or a.entity != hop["answer"]


def test_the_gateway_carries_the_graph_answer_with_its_citations(knowledge_base, engine):
    app = create_app(settings_for(knowledge_base, "http://unused", auth_required=False), backend=EchoBackend(),
                     engine=engine)
    with TestClient(app) as c:
        body = c.post("/generate", json={"inputs": MULTI_HOP[0]["question"]}).json()
    answer = body["kgflow"]["answer"]
    assert answer["entity"] == "Maria Lindqvist" and len(answer["path"]) == len(answer["citations"]) == 2
    assert all(c["chunk_id"] and c["uri"] for c in answer["citations"])


def _fake_completion_server(answers: dict[str, str]) -> WireServer:
    """A fake llama.cpp server (no model runs in it): it speaks the OpenAI-compatible /v1/completions wire
    format and answers each question with a fixed table. The real backend client talks to it over HTTP,
    so the evaluation is tested up to the wire."""

    def reply(body: dict) -> tuple[str, bytes]:
        question = re.findall(r"Question: (.*)\nAnswer:", body["prompt"])[-1]
        text = f" {answers.get(question, 'I do not know')}"
        if body.get("stream"):
            return "text/event-stream", (f"data: {json.dumps({'choices': [{'text': text, 'finish_reason': 'stop'}]})}"
                                         "\n\ndata: [DONE]\n\n").encode()
        return "application/json", json.dumps({"choices": [{"text": text, "finish_reason": "stop"}],
                                               "usage": {"completion_tokens": 3, "prompt_tokens": 100}}).encode()

    return WireServer(reply)


@pytest.mark.parametrize(("answers_right", "expected"), [(True, 1.0), (False, 0.0)], ids=["knows", "does-not"])
def test_the_gate_scores_a_model_by_whether_its_own_answers_name_the_gold_answer(engine, golden, answers_right,
                                                                                 expected):
    fake = _fake_completion_server({i.question: f"{i.answer} [1]" for i in golden} if answers_right else {})
    try:
        m = measure(LlamaCppBackend(fake.url), golden, engine, "base", 6)
    finally:
        fake.close()
    summary = m.summary()
    assert (summary["generated_accuracy"]["overall"], summary["questions"]) == (expected, 6)
    assert set(m.accuracy) == {"overall", "single_hop", "multi_hop"}
