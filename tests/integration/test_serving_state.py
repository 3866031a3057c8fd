"""Serving state shared by every gateway worker and replica: the live upstream is one file that each
worker follows, so a switch made through one worker (or written by the deployer) reaches them all."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from kgflow.config import Settings
from kgflow.gateway.app import create_app
from kgflow.llm.upstream import Upstream, UpstreamFile
from kgflow.retrieval.engine import RetrievalEngine
from kgflow.tokens import mint_token
from tests.integration.fake_llm import fake_llm_server
from tests.integration.gateway_harness import SECRET, EchoBackend, running_gateway, settings_for

pytestmark = pytest.mark.slow


@pytest.fixture()
def upstreams():
    with fake_llm_server() as first, fake_llm_server() as second:
        yield first, second


def _settings(home, url: str) -> Settings:
    return Settings(home=home, llm_backend="llamacpp", llm_url=url, jwt_secret=SECRET)


def _admin() -> dict[str, str]:
    """Minted when used: a token minted at collection would expire before a long suite reaches the test."""
    return {"Authorization": f"Bearer {mint_token(SECRET, 'ops', 'admin')}"}


def _label(client: TestClient) -> str:
    return client.get("/info").json()["kgflow"]["upstream"]


def _eventually(check, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_switch_through_one_worker_reaches_another_worker_within_seconds(tmp_path, upstreams):
    first, second = upstreams
    worker_a, worker_b = create_app(_settings(tmp_path, first)), create_app(_settings(tmp_path, first))
    with TestClient(worker_a) as a, TestClient(worker_b) as b:
        assert _label(a) == _label(b) == "primary"
        r = a.post("/admin/upstream", json={"url": second, "backend": "vllm", "label": "v2", "model": "kgflow-v2"},
                   headers=_admin())
        assert r.status_code == 200 and _label(a) == "v2"
        assert _eventually(lambda: _label(b) == "v2")
        assert b.get("/info").json()["kgflow"]["backend"] == "vllm"


def test_a_worker_started_after_a_deploy_serves_the_recorded_upstream(tmp_path, upstreams):
    first, second = upstreams
    UpstreamFile(_settings(tmp_path, first).serving_state_path).write(Upstream("llamacpp", second, "v7"))
    with TestClient(create_app(_settings(tmp_path, first))) as c:
        assert _label(c) == "v7"


def test_a_damaged_state_file_leaves_a_worker_on_its_current_upstream(tmp_path, upstreams):
    first, _ = upstreams
    s = _settings(tmp_path, first)
    with TestClient(create_app(s)) as c:
        assert _label(c) == "primary"
        s.serving_state_path.parent.mkdir(parents=True, exist_ok=True)
        s.serving_state_path.write_text("{not json")
        time.sleep(1.1)
        assert _label(c) == "primary" and c.get("/health").status_code == 200


def test_an_unhealthy_upstream_is_refused_and_not_recorded(tmp_path, upstreams):
    first, _ = upstreams
    s = _settings(tmp_path, first)
    with TestClient(create_app(s)) as c:
        r = c.post("/admin/upstream", json={"url": "http://127.0.0.1:9", "label": "dead"}, headers=_admin())
        assert r.status_code == 503 and r.json()["error_type"] == "overloaded"
    assert not s.serving_state_path.exists()


class SlowBackend(EchoBackend):
    """Holds each request for a while (no model: the test is about the gateway's admission)."""

    async def generate(self, prompt, params):
        await asyncio.sleep(1.5)
        return await super().generate(prompt, params)


def test_requests_past_the_concurrency_limit_get_tgis_overloaded_error_and_the_rest_are_answered(knowledge_base):
    s = settings_for(knowledge_base, "http://unused", max_concurrent_requests=2)
    app = create_app(s, backend=SlowBackend(), engine=RetrievalEngine(s))
    with running_gateway(s, app=app) as (url, _):
        body = {"inputs": "Who leads Project Falcon?", "parameters": {"max_new_tokens": 4}}
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: httpx.post(f"{url}/generate", json=body, headers=_admin(), timeout=30),
                                    range(4)))
        codes = sorted(r.status_code for r in replies)
        assert codes == [200, 200, 429, 429]
        refused = next(r for r in replies if r.status_code == 429)
        assert refused.json()["error_type"] == "overloaded" and refused.headers["retry-after"] == "1"
        assert httpx.post(f"{url}/generate", json=body, headers=_admin(), timeout=30).status_code == 200
        assert httpx.get(f"{url}/info").json()["max_concurrent_requests"] == 2
