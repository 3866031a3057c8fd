"""The vLLM deployer, tested up to the Docker Engine API call and up to vLLM's LoRA-load HTTP call: there
is neither a Docker engine nor a GPU here, so the Engine API peer is the fake engine of
test_docker_deployer and the vLLM server is an httpx MockTransport that records each request. The docker
SDK, the container spec, the HTTP requests and the deployer's decisions are the real ones."""

from __future__ import annotations

import httpx

from kgflow.deploy.vllm import VllmDeployer


class FakeVllm:
    """Answers vLLM's adapter endpoints with 200 and records what was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        import json

        self.requests.append((request.url.path, json.loads(request.content or b"{}")))
        return httpx.Response(200, text="Success")


def _deployer(tmp_path, client, vllm: FakeVllm, base: str = "base") -> VllmDeployer:
    return VllmDeployer(tmp_path, client=client, base_model=base, http=vllm.client)


def test_the_first_deploy_starts_a_vllm_container_that_can_load_adapters_at_run_time(docker_engine, tmp_path):
    fake, client = docker_engine
    ep = _deployer(tmp_path, client, FakeVllm()).start("m0001", None, "blue")
    create = next(body for _, path, body in fake.calls if path.endswith("/containers/create"))
    assert create["Image"].startswith("vllm/vllm-openai")
    assert "--enable-lora" in create["Cmd"] and create["Cmd"][create["Cmd"].index("--model") + 1] == "/models/base"
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in create["Env"]
    assert create["HostConfig"]["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert ep.url == "http://kgflow-vllm-blue:8000"


def _first_live(tmp_path, docker_engine) -> tuple:
    """A vLLM deployer whose first version, m0001 on the base model, is live: (fake engine, fake vLLM, deployer,
    its endpoint)."""
    fake, client = docker_engine
    vllm = FakeVllm()
    deployer = _deployer(tmp_path, client, vllm)
    first = deployer.start("m0001", None, "blue")
    deployer.record_live(first)
    return fake, vllm, deployer, first


def test_a_new_version_on_the_same_base_is_loaded_into_the_live_server_not_a_new_container(docker_engine,
                                                                                           tmp_path):
    fake, vllm, deployer, first = _first_live(tmp_path, docker_engine)
    creates = sum(path.endswith("/containers/create") for _, path, _ in fake.calls)
    second = deployer.start("m0002", None, deployer.next_slot())
    assert sum(path.endswith("/containers/create") for _, path, _ in fake.calls) == creates
    assert vllm.requests[-1] == ("/v1/load_lora_adapter",
                                 {"lora_name": "m0002", "lora_path": "/models/registry/m0002/adapter"})
    assert (second.url, second.handle, second.version) == (first.url, first.handle, "m0002")


def test_retiring_a_version_that_shares_the_container_unloads_its_adapter_and_keeps_the_server(docker_engine,
                                                                                               tmp_path):
    fake, vllm, deployer, first = _first_live(tmp_path, docker_engine)
    second = deployer.start("m0002", None, "green")
    deployer.record_live(second)
    deployer.stop(first)
    assert vllm.requests[-1] == ("/v1/unload_lora_adapter", {"lora_name": "m0001"})
    assert fake.containers[first.handle]["State"]["Running"]


def test_a_new_base_model_gets_a_container_of_its_own_blue_green(docker_engine, tmp_path):
    fake, client = docker_engine
    vllm = FakeVllm()
    old = _deployer(tmp_path, client, vllm, base="base").start("m0001", None, "blue")
    _deployer(tmp_path, client, vllm, base="base").record_live(old)
    new = _deployer(tmp_path, client, vllm, base="base-2").start("m0005", None, "green")
    assert new.handle != old.handle and new.url == "http://kgflow-vllm-green:8000"
    assert not [p for p, _ in vllm.requests if p == "/v1/load_lora_adapter"]


def test_a_fresh_server_loads_the_versions_adapter_once_it_is_healthy(docker_engine, tmp_path, monkeypatch):
    from kgflow.deploy.docker import DockerDeployer

    fake, client = docker_engine
    vllm = FakeVllm()
    deployer = _deployer(tmp_path, client, vllm)
    ep = deployer.start("m0003", None, "blue")
    assert not vllm.requests  # not before the server answers
    monkeypatch.setattr(DockerDeployer, "wait_healthy", lambda self, ep, timeout_s: True)
    assert deployer.wait_healthy(ep, 1)
    assert vllm.requests == [("/v1/load_lora_adapter", {"lora_name": "m0003",
                                                        "lora_path": "/models/registry/m0003/adapter"})]
