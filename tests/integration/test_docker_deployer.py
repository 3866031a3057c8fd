"""The docker deployer, tested up to the Docker Engine API: there is no Docker engine on this
machine, so the peer is a small fake Engine API server on loopback that records every call. The
`docker` SDK, the container spec and the deployer's logic are the real ones."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

import docker
from kgflow.deploy.docker import DockerDeployer
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


@pytest.fixture()
def engine():
    fake = FakeEngine()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.05)
    yield fake, docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version=API)
    server.should_exit = True
    t.join(5)


def test_start_creates_a_gpu_tgi_container_with_the_versions_adapter(engine, tmp_path):
    fake, client = engine
    ep = DockerDeployer(tmp_path, client=client, quantize="awq").start("m0007", None, "green")
    create = next(body for method, path, body in fake.calls if path.endswith("/containers/create"))
    assert create["Image"].startswith("ghcr.io/huggingface/text-generation-inference")
    assert "LORA_ADAPTERS=kgflow=/models/registry/m0007/adapter" in create["Env"]
    assert create["Cmd"][-2:] == ["--quantize", "awq"] and "--max-batch-total-tokens" in create["Cmd"]
    assert create["HostConfig"]["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert create["Labels"] == {"kgflow.slot": "green", "kgflow.model_version": "m0007"}
    assert ep.url == "http://kgflow-tgi-green:80" and fake.containers[ep.handle]["State"]["Running"]


def test_stop_stops_and_removes_the_old_container(engine, tmp_path):
    fake, client = engine
    deployer = DockerDeployer(tmp_path, client=client)
    ep = deployer.start("m0001", None, "blue")
    deployer.stop(ep)
    assert ep.handle not in fake.containers
    assert any(path.endswith(f"/containers/{ep.handle}/stop") for _, path, _ in fake.calls)
