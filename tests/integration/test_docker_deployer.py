"""The docker deployer, tested up to the Docker Engine API: there is no Docker engine on this
machine, so the peer is a small fake Engine API server on loopback that records every call. The
`docker` SDK, the container spec and the deployer's logic are the real ones."""

from __future__ import annotations

from kgflow.deploy.docker import DockerDeployer


def test_start_creates_a_gpu_tgi_container_with_the_versions_adapter(docker_engine, tmp_path):
    fake, client = docker_engine
    ep = DockerDeployer(tmp_path, client=client, quantize="awq").start("m0007", None, "green")
    create = next(body for method, path, body in fake.calls if path.endswith("/containers/create"))
    assert create["Image"].startswith("ghcr.io/huggingface/text-generation-inference")
    assert "LORA_ADAPTERS=kgflow=/models/registry/m0007/adapter" in create["Env"]
    assert create["Cmd"][-2:] == ["--quantize", "awq"] and "--max-batch-total-tokens" in create["Cmd"]
    assert create["HostConfig"]["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert create["Labels"] == {"kgflow.slot": "green", "kgflow.model_version": "m0007"}
    assert ep.url == "http://kgflow-tgi-green:80" and fake.containers[ep.handle]["State"]["Running"]


def test_stop_stops_and_removes_the_old_container(docker_engine, tmp_path):
    fake, client = docker_engine
    deployer = DockerDeployer(tmp_path, client=client)
    ep = deployer.start("m0001", None, "blue")
    deployer.stop(ep)
    assert ep.handle not in fake.containers
    assert any(path.endswith(f"/containers/{ep.handle}/stop") for _, path, _ in fake.calls)
