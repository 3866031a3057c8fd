"""The gateway as an attacker and an unlucky client meet it: access control that fails closed, malformed
credentials and bodies that never give a 500, limits that hold, an audit row for every request.

The knowledge base is the sample corpus built by the real DAG; generation is EchoBackend, which answers
with the whole prompt, so whatever retrieval let through would show in the generated text.
"""

from __future__ import annotations

import json
import random
import re
import select
import socket
import time

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kgflow.gateway.app import create_app
from kgflow.llm.prompts import quote
from kgflow.retrieval.engine import RetrievalEngine
from kgflow.tokens import mint_token
from tests.integration.gateway_harness import SECRET, EchoBackend, running_gateway, settings_for

pytestmark = pytest.mark.slow
DEPARTMENTS = ["engineering", "finance", "sales", "legal", "hr"]
_DOC_BLOCK = re.compile(r'<document n="\d+" title="[^"]*">\n(.*?)\n</document>', re.S)


def _client(knowledge_base, engine, **overrides) -> TestClient:
    s = settings_for(knowledge_base, "http://unused", **overrides)
    return TestClient(create_app(s, backend=EchoBackend(), engine=engine), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def clients(knowledge_base, engine):
    with _client(knowledge_base, engine, retrieval_mode="graph") as g, \
            _client(knowledge_base, engine, retrieval_mode="vector") as v:
        yield {"graph": g, "vector": v}


def _bearer(role="api_user", departments=None, **kw) -> dict:
    return {"Authorization": f"Bearer {mint_token(SECRET, 'tester', role, departments, **kw)}"}


class Readable:
    """What a set of departments may read, computed from the graph itself (not from the gateway)."""

    def __init__(self, engine: RetrievalEngine, departments: frozenset[str]) -> None:
        g = engine.snapshot().graph
        ok = {cid for cid, c in g.chunks.items() if "*" in c.acl or departments & set(c.acl)}
        self.chunks = ok
        self.texts = {quote(g.chunks[c].text) for c in ok}
        self.entity_names = {g.names[e] for e, cs in g.chunks_of.items() if ok & set(cs)}


def _leaks(body: dict, readable: Readable) -> list[str]:
    ext = body["kgflow"]
    out = [f"citation {c['uri']}" for c in ext["citations"] if c["chunk_id"] not in readable.chunks]
    out += [f"fact evidence {f['evidence_chunk']}" for f in ext["facts"] if f["evidence_chunk"] not in readable.chunks]
    out += [f"fact entity {n}" for f in ext["facts"] for n in (f["subject"], f["object"])
            if n not in readable.entity_names]
    out += [f"linked entity {n}" for n in ext["linked_entities"] if n not in readable.entity_names]
    out += ["generated text quotes an unreadable chunk" for t in _DOC_BLOCK.findall(body["generated_text"])
            if t not in readable.texts]
    return out


def _questions(engine: RetrievalEngine, n: int, seed: int) -> list[str]:
    g = engine.snapshot().graph
    names = sorted(set(g.names.values()))
    rng = random.Random(seed)
    templates = ["Who leads {a}?", "What is the relation between {a} and {b}?", "Where is {a} based?",
                 "Which project uses {a}?", "Tell me everything about {a}, {b} and {c}.", "{a} {b} budget contract?",
                 "Who audited {a} and who finances {b}?"]
    return [rng.choice(templates).format(a=rng.choice(names), b=rng.choice(names), c=rng.choice(names))
            for _ in range(n)]


@pytest.mark.parametrize("mode", ["graph", "vector"])
def test_a_thousand_cross_department_questions_leak_nothing(clients, engine, mode):
    rng = random.Random(11 if mode == "graph" else 12)
    readable: dict[frozenset[str], Readable] = {}
    leaks, answered = [], 0
    for q in _questions(engine, 1000, seed=len(mode)):
        depts = frozenset(rng.sample(DEPARTMENTS, rng.choice([1, 1, 2])))
        r = clients[mode].post("/generate", json={"inputs": q, "parameters": {"max_new_tokens": 8}},
                               headers=_bearer(departments=sorted(depts)))
        assert r.status_code == 200, r.text
        answered += 1
        readable.setdefault(depts, Readable(engine, depts))
        leaks += [(q, sorted(depts), leak) for leak in _leaks(r.json(), readable[depts])]
    assert answered == 1000
    assert leaks == []


def test_the_leak_check_catches_a_leak_when_access_control_is_off(clients, engine):
    """The check above can fail: an admin token reads everything, and the check sees that as leaks."""
    q = _questions(engine, 1, seed=5)[0]
    r = clients["graph"].post("/generate", json={"inputs": q}, headers=_bearer("admin"))
    assert _leaks(r.json(), Readable(engine, frozenset({"nobody"})))


def test_api_user_claiming_every_department_is_refused(clients):
    r = clients["graph"].post("/generate", json={"inputs": "Who leads Project Falcon?"},
                              headers=_bearer(departments=["*"]))
    assert r.status_code == 403 and r.json()["error_type"] == "forbidden"


def test_legacy_department_claim_is_still_accepted(clients, truth):
    now = int(time.time())
    token = jwt.encode({"sub": "old", "role": "api_user", "iat": now, "exp": now + 60, "department": "hr"}, SECRET)
    r = clients["graph"].post("/generate", json={"inputs": "Where is Helix Logistics headquartered?"},
                              headers={"Authorization": f"Bearer {token}"})
    uris = [c["uri"] for c in r.json()["kgflow"]["citations"]]
    answering = next(f["path"] for f in truth["facts"] if f["relation"] == "headquarter_in")  # an hr document
    assert r.status_code == 200 and any(u.endswith(f"/landing/{answering}") for u in uris)
    assert all("/landing/hr/" in u or "/landing/public/" in u for u in uris)


@pytest.mark.parametrize("claims", [
    {"exp": "9999999999"}, {"department": 5}, {"department": [{}]}, {"departments": ["Finance!"]},
    {"sub": 17}, {"iat": None}, {"department": "hr", "departments": ["hr"]},
])
def test_malformed_claims_are_401_not_500(clients, claims):
    now = int(time.time())
    token = jwt.encode({"sub": "x", "role": "api_user", "iat": now, "exp": now + 60, **claims}, SECRET)
    r = clients["graph"].post("/generate", json={"inputs": "hi"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["error_type"] == "unauthorized"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"url": 5}', b""])
def test_admin_upstream_with_a_bad_body_is_a_4xx(clients, body):
    r = clients["graph"].post("/admin/upstream", content=body, headers=_bearer("admin"))
    assert 400 <= r.status_code < 500 and "error" in r.json()


def test_unknown_paths_share_one_metrics_label(clients):
    for i in range(50):
        clients["graph"].get(f"/probe-{i}")
    text = clients["graph"].get("/metrics").text
    assert "probe-" not in text and '"(unmatched)"' in text


def test_unauthenticated_requests_are_rate_limited_by_address(knowledge_base, engine):
    with _client(knowledge_base, engine, rate_limit_per_s=1.0, rate_limit_burst=5) as c:
        statuses = [c.post("/generate", json={"inputs": "hi"}).status_code for _ in range(12)]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429


def test_production_profile_closes_docs_info_and_metrics(knowledge_base, engine):
    with _client(knowledge_base, engine, profile="production") as c:
        assert c.get("/docs").status_code == 404 and c.get("/openapi.json").status_code == 404
        assert c.get("/info").status_code == 401 and c.get("/metrics").status_code == 401
        assert c.get("/info", headers=_bearer(departments=["hr"])).status_code == 200
        assert c.get("/metrics", headers=_bearer(departments=["hr"])).status_code == 403
        assert c.get("/metrics", headers=_bearer("admin")).status_code == 200


def test_embedded_profile_keeps_docs_open(clients):
    assert clients["graph"].get("/openapi.json").status_code == 200


def test_every_audit_row_has_the_real_subject_status_client_and_request_id(clients):
    gw = clients["graph"].app.state.gw
    ok = clients["graph"].post("/generate", json={"inputs": "Who leads Project Falcon?"},
                               headers={**_bearer(departments=["hr"]), "X-Request-ID": "req-ok-1"})
    clients["graph"].post("/generate", json={"inputs": "x" * 5000},
                          headers={**_bearer(departments=["hr"]), "X-Request-ID": "req-413-1"})
    anon = clients["graph"].post("/generate", json={"inputs": "hi"}, headers={"X-Request-ID": "req-401-1"})
    assert ok.headers["x-request-id"] == "req-ok-1"
    rows = {r["request_id"]: r for r in gw.audit.rows(200)}
    assert (rows["req-ok-1"]["user"], rows["req-ok-1"]["status"]) == ("tester", 200)
    assert (rows["req-413-1"]["user"], rows["req-413-1"]["role"], rows["req-413-1"]["status"]) == \
        ("tester", "api_user", 413)
    assert (rows["req-401-1"]["user"], rows["req-401-1"]["status"]) == ("unauthenticated", anon.status_code)
    assert all(rows[k]["client"] for k in ("req-ok-1", "req-413-1", "req-401-1"))


def test_audit_input_hash_is_keyed_not_plain_sha256(clients):
    import hashlib

    q = "Who negotiated with Nordlys Energy?"
    clients["graph"].post("/generate", json={"inputs": q}, headers={**_bearer("admin"), "X-Request-ID": "req-hash"})
    row = next(r for r in clients["graph"].app.state.gw.audit.rows(50) if r["request_id"] == "req-hash")
    assert row["input_hmac"] and row["input_hmac"] != hashlib.sha256(q.encode()).hexdigest()


def test_a_crash_inside_a_route_is_a_json_500_with_an_audit_row(knowledge_base, engine, monkeypatch):
    with _client(knowledge_base, engine) as c:
        monkeypatch.setattr(c.app.state.gw.engine, "retrieve", lambda *a, **k: 1 / 0)
        r = c.post("/generate", json={"inputs": "hi"}, headers={**_bearer("admin"), "X-Request-ID": "req-500"})
        rows = {row["request_id"]: row for row in c.app.state.gw.audit.rows(20)}
    assert r.status_code == 500 and r.json()["error_type"] == "internal"
    assert rows["req-500"]["status"] == 500 and rows["req-500"]["user"] == "tester"


def test_chunked_body_is_refused_while_streaming_in(knowledge_base, engine):
    """300 MB offered without a Content-Length: the gateway answers 413 after ~64 KiB and reads no more."""
    s = settings_for(knowledge_base, "http://unused")
    with running_gateway(s, engine) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        token = mint_token(SECRET, "tester", "admin")
        sock = socket.create_connection((host, int(port)), timeout=10)
        sock.sendall(f"POST /generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        block = b"x" * 65536
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        sent, answer = 0, b""
        try:
            while sent < 300 * 1024 * 1024:
                if select.select([sock], [], [], 0)[0]:
                    break
                sock.sendall(chunk)
                sent += len(block)
        except OSError:
            pass  # the server closed the connection after answering
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            part = sock.recv(65536)
            if not part:
                break
            answer += part
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 32 * 1024 * 1024


def test_a_refused_request_for_metrics_or_health_has_its_audit_row_too(knowledge_base, engine):
    """Before: /metrics and /health were never audited, so a 403 on /metrics under the production profile left
    no trace."""
    with _client(knowledge_base, engine, profile="production") as c:
        metrics = c.get("/metrics", headers={**_bearer("api_user"), "X-Request-ID": "req-metrics"})
        c.get("/health", headers={"X-Request-ID": "req-health"})
        rows = {r["request_id"]: r for r in c.app.state.gw.audit.rows(20)}
    assert metrics.status_code == 403
    assert (rows["req-metrics"]["endpoint"], rows["req-metrics"]["status"], rows["req-metrics"]["user"]) == (
        "/metrics", 403, "tester")
    assert rows["req-health"]["endpoint"] == "/health"


def test_a_signed_caller_with_a_role_kgflow_lacks_is_audited_under_its_own_subject_and_role(clients):
    """Before: audited as 'unauthenticated' with no role; the subject was lost."""
    headers = {**_bearer("superuser", ["hr"]), "X-Request-ID": "req-superuser"}
    r = clients["graph"].post("/generate", json={"inputs": "hi"}, headers=headers)
    row = next(x for x in clients["graph"].app.state.gw.audit.rows(50) if x["request_id"] == "req-superuser")
    assert r.status_code == 403 and (row["user"], row["role"], row["status"]) == ("tester", "superuser", 403)


def test_a_client_that_hangs_up_mid_body_is_audited_as_499_never_as_a_server_error(knowledge_base, engine):
    """Before: a 500 (ClientDisconnect), audited and counted as one, so any caller could trip the 5xx alert."""
    s = settings_for(knowledge_base, "http://unused")
    with running_gateway(s, engine) as (url, app):
        host, port = url.removeprefix("http://").split(":")
        sock = socket.create_connection((host, int(port)), timeout=10)
        token = mint_token(SECRET, "tester", "admin")
        sock.sendall(f"POST /generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}"
                     "\r\nX-Request-ID: req-gone\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                     '{"inputs": "half a bo'.encode())
        time.sleep(0.3)
        sock.close()
        gw = app.state.gw
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(r["request_id"] == "req-gone" for r in gw.audit.rows(20)):
            time.sleep(0.1)
        row = next(r for r in gw.audit.rows(20) if r["request_id"] == "req-gone")
        served = {k: v for k, v in _samples(gw, "kgflow_requests_total").items() if k[0] == "/generate"}
    assert (row["status"], row["user"]) == (499, "tester")
    assert not any(status.startswith("5") for _, status in served)


def _samples(gw, name: str) -> dict[tuple[str, str], float]:
    """(endpoint, status) -> count of a labelled counter in the gateway's registry."""
    return {(sm.labels.get("endpoint", ""), sm.labels.get("status", "")): sm.value
            for metric in gw.metrics.registry.collect() for sm in metric.samples
            if sm.name == name and "endpoint" in sm.labels}


_printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                     lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                     max_leaves=12)
_claim_values = st.one_of(_json, st.sampled_from(["hr", ["hr", "finance"], "*", ["*"], "admin", "api_user"]))


@st.composite
def _auth_headers(draw) -> dict:
    kind = draw(st.sampled_from(["none", "garbage", "bearer_garbage", "jwt", "api_key"]))
    if kind == "none":
        return {}
    if kind == "garbage":
        return {"Authorization": draw(_printable)}
    if kind == "bearer_garbage":
        return {"Authorization": "Bearer " + draw(_printable)}
    if kind == "api_key":
        return {"X-API-Key": draw(_printable)}
    now = int(time.time())
    claims = {"sub": "fuzz", "role": "api_user", "iat": now, "exp": now + 60}
    for name in draw(st.lists(st.sampled_from(["sub", "role", "iat", "exp", "department", "departments"]),
                              max_size=3, unique=True)):
        claims[name] = draw(_claim_values)
    return {"Authorization": "Bearer " + jwt.encode(claims, SECRET)}


@st.composite
def _bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "tgi", "chat"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        value = draw(_json)
    elif kind == "tgi":
        value = {"inputs": draw(st.text(max_size=60)), "stream": draw(st.booleans()),
                 "parameters": draw(st.dictionaries(st.sampled_from(
                     ["max_new_tokens", "temperature", "top_p", "top_k", "stop", "details", "seed"]), _json,
                     max_size=3))}
    else:
        value = {"messages": draw(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "x"]),
                                                                   "content": _json}), max_size=3)),
                 "stream": draw(st.booleans()), "max_tokens": draw(_json)}
    if isinstance(value, dict):
        value.pop("url", None)  # never point /admin/upstream at a real address
    return json.dumps(value).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(path=st.sampled_from(["/generate", "/", "/generate_stream", "/v1/chat/completions", "/admin/upstream",
                             "/admin/reload", "/info", "/metrics", "/no/such/path"]),
       headers=_auth_headers(), body=_bodies())
def test_fuzzed_credentials_and_bodies_never_get_a_5xx(clients, path, headers, body):
    method = "GET" if path in ("/info", "/metrics") else "POST"
    r = clients["graph"].request(method, path, content=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code >= 400:
        err = r.json()
        assert isinstance(err.get("error"), str) and err.get("error_type")
