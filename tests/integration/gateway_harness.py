"""Run the real gateway app on a loopback port in a background thread, for HTTP-level tests."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import uvicorn

from kgflow.config import Settings
from kgflow.gateway.app import create_app
from kgflow.llm.llamacpp_server import free_port

SECRET = "test-secret-for-hs256-signing-only-0123456789"


def settings_for(home, llm_url: str, **overrides) -> Settings:
    base = {"home": home, "llm_backend": "llamacpp", "llm_url": llm_url, "jwt_secret": SECRET,
            "rate_limit_per_s": 1000.0, "rate_limit_burst": 1000, "auth_required": True}
    return Settings(**{**base, **overrides})


@contextmanager
def running_gateway(settings: Settings, engine=None):
    app = create_app(settings, engine=engine)
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
