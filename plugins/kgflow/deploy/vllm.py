"""vLLM deployer: `vllm serve` containers on the GPUs through the Docker Engine API, with LoRA adapters
from the registry loaded into the running server.

A new model version on the same base needs no new container: its adapter is loaded at run time
(`--enable-lora`, VLLM_ALLOW_RUNTIME_LORA_UPDATING, `POST /v1/load_lora_adapter`) under the version's
name, and the gateway's upstream names that model. Blue/green (a second container, then the switch)
is used when the base model changes, or when nothing is live yet. Stopping a version that shares the
container with the live one unloads its adapter instead of stopping the container.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from kgflow.deploy.base import DeployError, Endpoint
from kgflow.deploy.docker import DockerDeployer
from kgflow.fsutil import atomic_write_text

PORT = 8000


class VllmDeployer(DockerDeployer):
    backend = "vllm"

    @classmethod
    def from_settings(cls, settings) -> VllmDeployer:
        return cls(settings.home / "deploy", base_model=settings.base_model)

    def __init__(self, state_dir: Path, client=None, image: str = "vllm/vllm-openai:v0.11.0",
                 network: str = "kgflow", models_volume: str = "kgflow_models", base_model: str = "base",
                 max_lora_rank: int = 64, http: httpx.Client | None = None) -> None:
        super().__init__(state_dir, client=client, image=image, network=network, models_volume=models_volume,
                         quantize=None, base_model_dir=f"/models/{base_model}")
        self.base_model = base_model
        self.max_lora_rank = max_lora_rank
        self.http = http or httpx.Client(timeout=60)
        self._pending: dict[str, str] = {}

    def container_spec(self, version: str, slot: str) -> dict:
        return {
            "image": self.image,
            "name": f"kgflow-vllm-{slot}",
            "command": ["--model", self.base_model_dir, "--served-model-name", "base", "--enable-lora",
                        "--max-lora-rank", str(self.max_lora_rank), "--port", str(PORT)],
            "environment": {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "HF_HUB_OFFLINE": "1"},
            "volumes": {self.models_volume: {"bind": "/models", "mode": "ro"}},
            "network": self.network,
            "labels": {"kgflow.slot": slot, "kgflow.model_version": version, "kgflow.base_model": self.base_model},
            "shm_size": "8g",
            "ipc_mode": "host",
            "detach": True,
        }

    def _url(self, name: str) -> str:
        return f"http://{name}:{PORT}"

    def start(self, version: str, artefacts: Path | None, slot: str) -> Endpoint:
        live = self.live()
        if live is not None and self._base_of(live) == self.base_model:
            # same base: load the version's adapter into the running server, no new container
            if version != "base":
                self.load_adapter(live.url, version)
            return Endpoint(live.slot, live.url, version, live.handle)
        ep = super().start(version, artefacts, slot)
        ep = Endpoint(ep.slot, self._url(f"kgflow-vllm-{slot}"), version, ep.handle)
        self._remember_base(ep)
        self._pending[ep.handle] = version  # a fresh server loads the adapter once it answers
        return ep

    def wait_healthy(self, ep: Endpoint, timeout_s: float) -> bool:
        if not super().wait_healthy(ep, timeout_s):
            return False
        version = self._pending.pop(ep.handle, None)
        if version and version != "base":
            self.load_adapter(ep.url, version)
        return True

    def load_adapter(self, url: str, version: str) -> None:
        r = self.http.post(f"{url}/v1/load_lora_adapter",
                           json={"lora_name": version, "lora_path": f"/models/registry/{version}/adapter"})
        if r.status_code != 200:
            raise DeployError(f"vLLM at {url} refused adapter {version}: {r.status_code} {r.text[:200]}")

    def stop(self, ep: Endpoint) -> None:
        live = self.live()
        if live is not None and live.handle == ep.handle and live.version != ep.version:
            # the old version shares the live container: unload its adapter, keep the server
            if ep.version != "base":
                self.http.post(f"{ep.url}/v1/unload_lora_adapter", json={"lora_name": ep.version})
            return
        super().stop(ep)

    def _bases(self) -> dict:
        f = self.state_dir / "vllm_bases.json"
        return json.loads(f.read_text()) if f.exists() else {}

    def _base_of(self, ep: Endpoint) -> str | None:
        return self._bases().get(ep.handle)

    def _remember_base(self, ep: Endpoint) -> None:
        atomic_write_text(self.state_dir / "vllm_bases.json", json.dumps({**self._bases(), ep.handle: self.base_model}))
