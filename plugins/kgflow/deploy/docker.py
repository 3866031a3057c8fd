"""Docker deployer: TGI containers through the Docker Engine API, one per slot (blue/green).

The new container mounts the base weights and the registry, loads the version's PEFT adapter via
LORA_ADAPTERS, and joins the compose network so the gateway reaches it by name.
"""

from __future__ import annotations

from pathlib import Path

from kgflow.deploy.base import Deployer, DeployError, Endpoint
from kgflow.netutil import wait_http


class DockerDeployer(Deployer):
    backend = "tgi"

    @classmethod
    def from_settings(cls, settings) -> DockerDeployer:
        return cls(settings.home / "deploy")

    def __init__(self, state_dir: Path, client=None, image: str = "ghcr.io/huggingface/text-generation-inference:3.3.4",
                 network: str = "kgflow", models_volume: str = "kgflow_models", quantize: str | None = "awq",
                 max_batch_total_tokens: int = 32768, base_model_dir: str = "/models/base") -> None:
        super().__init__(state_dir)
        if client is None:
            import docker

            client = docker.from_env()
        self.client = client
        self.image = image
        self.network = network
        self.models_volume = models_volume
        self.quantize = quantize
        self.max_batch_total_tokens = max_batch_total_tokens
        self.base_model_dir = base_model_dir

    def container_spec(self, version: str, slot: str) -> dict:
        command = ["--model-id", self.base_model_dir, "--max-batch-total-tokens", str(self.max_batch_total_tokens),
                   "--port", "80"]
        if self.quantize:
            command += ["--quantize", self.quantize]
        return {
            "image": self.image,
            "name": f"kgflow-tgi-{slot}",
            "command": command,
            "environment": {"LORA_ADAPTERS": f"kgflow=/models/registry/{version}/adapter", "HF_HUB_OFFLINE": "1"},
            "volumes": {self.models_volume: {"bind": "/models", "mode": "ro"}},
            "network": self.network,
            "labels": {"kgflow.slot": slot, "kgflow.model_version": version},
            "shm_size": "1g",
            "detach": True,
        }

    def start(self, version: str, artefacts: Path | None, slot: str) -> Endpoint:
        import docker

        spec = self.container_spec(version, slot)
        try:
            stale = self.client.containers.list(all=True, filters={"name": spec["name"]})
            for c in stale:
                c.remove(force=True)
            container = self.client.containers.run(
                device_requests=[docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])], **spec)
        except docker.errors.DockerException as e:
            raise DeployError(f"Docker Engine refused {spec['name']} for {version}: {e}") from e
        return Endpoint(slot, f"http://{spec['name']}:80", version, container.id)

    def wait_healthy(self, ep: Endpoint, timeout_s: float) -> bool:
        def running() -> bool:
            return self.client.containers.get(ep.handle).status not in ("exited", "dead")

        return wait_http(f"{ep.url}/health", timeout_s, alive=running, ok_below=300, interval_s=2)

    def stop(self, ep: Endpoint) -> None:
        import docker

        try:
            container = self.client.containers.get(ep.handle)
            container.stop(timeout=30)
            container.remove()
        except docker.errors.NotFound:
            pass
