"""A fake Docker Engine API server (there is no Docker engine on this machine): it records every call and keeps
containers' state, so the real `docker` SDK and the deployers' container specs are tested up to the wire."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request, Response

import docker
from kgflow.netutil import free_port

API = "1.45"


class FakeEngine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict | None]] = []
        self.containers: dict[str, dict] = {}
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
        async def any_call(path: str, request: Request):
            body = await request.json() if request.method == "POST" and await request.body() else None
            self.calls.append((request.method, "/" + path.split("/", 1)[-1] if path.startswith("v") else "/" + path,
                               body))
            return self.answer(request.method, path, dict(request.query_params), body)

        self.app = app

    def answer(self, method: str, path: str, query: dict, body: dict | None):
        parts = path.split("/")
        if path.endswith("version") or path == "_ping":
            return {"ApiVersion": API, "Version": "28.2.2"}
        if parts[-1] == "json" and parts[-2] == "containers":
            return []
        if parts[-1] == "create":
            cid = f"c{len(self.containers) + 1:03d}"
            self.containers[cid] = {"Id": cid, "Name": "/" + query.get("name", cid), "Config": body,
                                    "State": {"Status": "created", "Running": False}}
            return {"Id": cid, "Warnings": []}
        cid = parts[2] if len(parts) > 2 else ""
        if parts[-1] == "start":
            self.containers[cid]["State"] = {"Status": "running", "Running": True}
            return Response(status_code=204)
        if parts[-1] == "stop":
            self.containers[cid]["State"] = {"Status": "exited", "Running": False}
            return Response(status_code=204)
        if method == "DELETE":
            self.containers.pop(cid, None)
            return Response(status_code=204)
        if parts[-1] == "json":
            return self.containers[cid]
        return Response(status_code=404)


@contextmanager
def fake_docker_engine() -> Iterator[tuple[FakeEngine, docker.DockerClient, str]]:
    """(the fake, a client of it, its DOCKER_HOST)."""
    fake = FakeEngine()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield fake, docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version=API), f"tcp://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(5)



