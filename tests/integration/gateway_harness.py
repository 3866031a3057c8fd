"""Run the real gateway app on a loopback port in a background thread, and a bounded load generator
against it, for HTTP-level tests and benches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn

from kgflow.config import Settings
from kgflow.gateway.app import create_app
from kgflow.llm.base import LLMBackend
from kgflow.llm.transformers_local import prompt_text
from kgflow.netutil import free_port, wait_http
from kgflow.tokens import mint_token

SECRET = "test-secret-for-hs256-signing-only-0123456789"


def settings_for(home, llm_url: str, **overrides) -> Settings:
    base = {"home": home, "llm_backend": "llamacpp", "llm_url": llm_url, "jwt_secret": SECRET,
            "rate_limit_per_s": 1000.0, "rate_limit_burst": 1000, "auth_required": True}
    return Settings(**{**base, **overrides})


@contextmanager
def running_gateway(settings: Settings, engine=None, app=None):
    app = app or create_app(settings, engine=engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def gateway_processes(env: dict[str, str], workers: int = 2, timeout_s: float = 120):
    """The gateway as production runs it: uvicorn with N worker processes, configured by environment."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "kgflow.gateway.app:worker_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                             "--log-level", "warning"], env={**os.environ, **env}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_http(f"{url}/health", timeout_s, alive=lambda: proc.poll() is None, ok_below=300):
            raise RuntimeError(f"gateway with {workers} workers did not become healthy")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def answers_by_worker(url: str, tries: int = 80) -> dict[int, str]:
    """Which upstream each worker reports, from fresh connections (the kernel spreads them over workers)."""
    seen: dict[int, str] = {}
    for _ in range(tries):
        k = httpx.get(f"{url}/info", timeout=10).json()["kgflow"]
        seen[k["worker"]] = k["upstream"]
    return seen


class WireServer:
    """A loopback HTTP server whose POST answers come from `reply(body) -> (content type, bytes)`: for the
    fakes that stand in, at the wire, for servers that cannot run here (no model runs in them)."""

    def __init__(self, reply) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                kind, out = reply(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


class LoadGenerator:
    """Bounded loop of /generate requests on loopback (one client, back to back); records each request's
    start time, latency and status."""

    def __init__(self, url: str, max_requests: int = 200, max_seconds: float = 120,
                 question: str = "Who leads Project Falcon?", max_new_tokens: int = 4) -> None:
        self.url, self.max_requests, self.max_seconds = url, max_requests, max_seconds
        self.body = {"inputs": question, "parameters": {"max_new_tokens": max_new_tokens}}
        self.records: list[tuple[float, float, int]] = []  # (start, seconds, status), monotonic clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        headers = {"Authorization": f"Bearer {mint_token(SECRET, 'load', 'admin')}"}
        with httpx.Client(timeout=60) as c:
            while not self._stop.is_set() and len(self.records) < self.max_requests and time.monotonic() < deadline:
                t0 = time.monotonic()
                try:
                    status = c.post(f"{self.url}/generate", json=self.body, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0  # connection-level failure: counted, never hidden
                self.records.append((t0, time.monotonic() - t0, status))

    @property
    def statuses(self) -> list[int]:
        return [status for _, _, status in self.records]

    def failed(self) -> int:
        return sum(s != 200 for s in self.statuses)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=90)


class EchoBackend(LLMBackend):
    """Test double for the generation backend (a real model would only hide leaks): it answers with
    the whole prompt it was sent, so anything retrieval put in front of the model shows in the answer.
    This is the worst case for access-control leaks; it never talks to a model server."""

    name = "echo"

    async def generate(self, prompt, params):
        from kgflow.llm.base import Generation

        text = prompt_text(prompt)
        return Generation(text, max(1, len(text) // 4), "eos_token", len(text) // 4)

    async def stream(self, prompt, params):
        from kgflow.llm.base import StreamPiece

        text = prompt_text(prompt)
        for i in range(0, len(text), 256):
            yield StreamPiece(text[i:i + 256])
        yield StreamPiece("", "eos_token", max(1, len(text) // 4))

    async def health(self) -> bool:
        return True

    def model_id(self) -> str:
        return "echo"

    async def aclose(self) -> None:
        pass
