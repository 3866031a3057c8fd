"""The per-caller rate limit across gateway workers: counts kept by the `limits` library in a real Redis
(Debian's redis-server, started here) are shared, so two workers together hold a caller to the
configured rate; in-process memory storage counts per worker."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from kgflow.config import Settings
from kgflow.gateway.app import create_app
from kgflow.netutil import free_port
from kgflow.tokens import mint_token
from tests.integration.gateway_harness import SECRET, EchoBackend

RATE = 20.0
SECONDS = 2.9


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is missing: scripts/install.sh installs it")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def _allowed_over_two_workers(tmp_path, storage: str) -> int:
    """Two workers (two apps), one caller hammering both for SECONDS; how many requests got through."""
    s = Settings(home=tmp_path, jwt_secret=SECRET, rate_limit_per_s=RATE, rate_limit_burst=int(RATE),
                 rate_limit_storage=storage, llm_url="http://unused")
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'burst-client', 'api_user')}"}
    workers = [TestClient(create_app(s, backend=EchoBackend())) for _ in range(2)]

    def hammer(c: TestClient) -> int:
        ok, end = 0, time.monotonic() + SECONDS
        while time.monotonic() < end:
            ok += c.get("/v1/models", headers=headers).status_code == 200
        return ok

    with workers[0], workers[1], ThreadPoolExecutor(2) as pool:
        return sum(pool.map(hammer, workers))


def test_a_burst_spread_over_two_workers_is_held_to_the_configured_rate(tmp_path, redis_url):
    allowed = _allowed_over_two_workers(tmp_path, redis_url)
    assert abs(allowed - RATE * SECONDS) <= 0.1 * RATE * SECONDS, allowed


def test_with_memory_storage_each_worker_counts_alone(tmp_path):
    allowed = _allowed_over_two_workers(tmp_path, "memory://")
    assert allowed > 1.5 * RATE * SECONDS, allowed


def test_a_refused_request_says_when_to_come_back(tmp_path, redis_url):
    s = Settings(home=tmp_path, jwt_secret=SECRET, rate_limit_per_s=1, rate_limit_burst=1,
                 rate_limit_storage=redis_url, llm_url="http://unused")
    headers = {"Authorization": f"Bearer {mint_token(SECRET, 'one-shot', 'api_user')}"}
    with TestClient(create_app(s, backend=EchoBackend())) as c:
        assert c.get("/v1/models", headers=headers).status_code == 200
        r = c.get("/v1/models", headers=headers)
    assert r.status_code == 429 and r.json()["error_type"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
