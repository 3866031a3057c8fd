"""Kubernetes deployer: model versions rolled out to the engine Deployments that the Helm chart
(deploy/helm/kgflow) installs, through the official `kubernetes` client.

Two kinds of rollout, as the engines allow:
- **Same base model, new adapter** (vLLM, SGLang: LoRA loaded at run time). The adapter is loaded into
  every ready engine pod of the live slot and read back from each pod's /v1/models; only then does the
  gateway switch (its upstream names the adapter). Retiring the old version unloads its adapter.
- **New base model** (or an engine without runtime LoRA): blue/green. The other slot's Deployment is made
  from the live one (same pod spec, the new model), and once every pod is ready the preview Service points
  at it and the engine answers the smoke questions there. Only then is the live Service's selector
  switched, and the autoscaler retargeted; the old Deployment is deleted after the drain. A slot that never
  becomes ready, or fails its smoke test, is deleted without the Service ever pointing at it, so the
  requests in flight never reach it.

Every write asks the API server for strict field validation (`fieldValidation=Strict`, what
`kubectl --validate=strict` sends), so a misspelt field is refused, never silently dropped.

No cluster runs where kgflow's tests run: tests/integration/test_kubernetes_deployer.py drives this class
up to the wire, against a fake API server that validates each write against the pinned OpenAPI schemas
(kgflow.deploy.manifests) and runs fake engine pods on loopback addresses.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from kgflow.config import Settings
from kgflow.deploy.base import SLOTS, Deployer, DeployError, Endpoint
from kgflow.netutil import wait_until

log = logging.getLogger("kgflow.deploy.kubernetes")

# engine kind -> the kgflow backend that speaks to it, its port, and its runtime-LoRA endpoints (None:
# adapters are fixed at start, so a new adapter is a blue/green rollout). The chart's _helpers.tpl holds
# the same table for what it renders.
ENGINES: dict[str, dict] = {
    "vllm": {"backend": "vllm", "lora": ("/v1/load_lora_adapter", "/v1/unload_lora_adapter")},
    "sglang": {"backend": "vllm", "lora": ("/load_lora_adapter", "/unload_lora_adapter")},
    "tgi": {"backend": "tgi", "lora": None},
    "triton": {"backend": "triton", "lora": None},
    "llamacpp": {"backend": "llamacpp", "lora": None},
}
SLOT_LABEL = "kgflow.io/slot"
BASE_ANNOTATION = "kgflow.io/base-model"
ADAPTER_ROOT = "/registry"  # where the chart mounts the model registry in engine pods


def fullname(release: str) -> str:
    """The chart's kgflow.fullname."""
    return (release if "kgflow" in release else f"{release}-kgflow")[:50].rstrip("-")


class KubernetesDeployer(Deployer):
    @classmethod
    def from_settings(cls, settings) -> KubernetesDeployer:
        return cls(settings.home / "deploy", settings.kubernetes_namespace, release=settings.kubernetes_release,
                   engine=settings.kubernetes_engine, base_model=settings.base_model,
                   served_model_name=settings.llm_model_name or "base")

    def __init__(self, state_dir: Path, namespace: str, release: str = "kgflow", engine: str = "vllm",
                 base_model: str = "base", served_model_name: str = "base", api_client=None,
                 http: httpx.Client | None = None, service_url: Callable[[str, int], str] | None = None,
                 poll_s: float = 1.0) -> None:
        super().__init__(state_dir)
        from kubernetes import client, config

        if engine not in ENGINES:
            raise DeployError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
        if api_client is None:  # in a pod: its service account; elsewhere: the kubeconfig
            try:
                config.load_incluster_config()
            except config.ConfigException:
                # KUBECONFIG as it is now: the client reads its default location only once, at import
                config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
            api_client = client.ApiClient()
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.namespace, self.engine, self.base_model = namespace, engine, base_model
        self.served_model_name = served_model_name
        self.backend = ENGINES[engine]["backend"]
        self.full = fullname(release)
        self.http = http or httpx.Client(timeout=60)
        self.poll_s = poll_s
        self._service_url = service_url or (lambda name, port: f"http://{name}.{namespace}.svc:{port}")

    # ---- names and reads --------------------------------------------------------------------------

    @property
    def service(self) -> str:
        return f"{self.full}-engine"

    @property
    def preview(self) -> str:
        return f"{self.full}-engine-preview"

    def deployment_name(self, slot: str) -> str:
        return f"{self.full}-engine-{slot}"

    def _api(self, what: str, call: Callable, *args, missing_ok: bool = False, **kwargs):
        """One API call; a refusal becomes a DeployError naming what was asked. `missing_ok`: an object that
        does not exist (404) is None, not an error."""
        from kubernetes.client.exceptions import ApiException

        try:
            return call(*args, **kwargs)
        except ApiException as e:
            if missing_ok and e.status == 404:
                return None
            detail = (e.body or e.reason or "")[:300]
            raise DeployError(f"Kubernetes refused to {what}: HTTP {e.status} {detail}") from e

    def _service_obj(self, name: str) -> dict:
        return _json(self._api(f"read Service {name}", self.core.read_namespaced_service, name, self.namespace,
                               _preload_content=False))

    def serving_slot(self) -> str:
        """The slot the live Service points at: the truth about what answers, whatever state.json says."""
        slot = (self._service_obj(self.service)["spec"].get("selector") or {}).get(SLOT_LABEL)
        if slot not in SLOTS:
            raise DeployError(f"Service {self.service} selects no slot ({SLOT_LABEL}): was it installed by the chart?")
        return slot

    def _deployment(self, name: str) -> dict | None:
        response = self._api(f"read Deployment {name}", self.apps.read_namespaced_deployment, name, self.namespace,
                             _preload_content=False, missing_ok=True)
        return None if response is None else _json(response)

    def _port(self) -> int:
        ports = self._service_obj(self.service)["spec"]["ports"]
        return int(next(p for p in ports if p.get("name") == "http")["port"])

    def _url(self) -> str:
        return self._service_url(self.service, self._port())

    def ready_pods(self, slot: str) -> list[tuple[str, str]]:
        """(pod name, base URL) of every ready engine pod of the slot."""
        pods = self._api("list engine pods", self.core.list_namespaced_pod, self.namespace,
                         label_selector=f"app.kubernetes.io/component=engine,{SLOT_LABEL}={slot}").items
        out = []
        for pod in pods:
            ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
            if ready and pod.status.pod_ip and not pod.metadata.deletion_timestamp:
                port = next(p.container_port for c in pod.spec.containers for p in (c.ports or []) if p.name == "http")
                out.append((pod.metadata.name, f"http://{pod.status.pod_ip}:{port}"))
        return out

    # ---- the Deployer protocol --------------------------------------------------------------------

    def live(self) -> Endpoint | None:
        """The recorded live version; before the first rollout, what the chart installed: the base model on
        the slot the live Service selects."""
        recorded = super().live()
        if recorded is not None:
            return recorded
        slot = self.serving_slot()
        return Endpoint(slot, self._url(), "base", self.deployment_name(slot))

    def start(self, version: str, artefacts: Path | None, slot: str) -> Endpoint:
        serving = self.serving_slot()
        live_dep = self._deployment(self.deployment_name(serving))
        if live_dep is None:
            raise DeployError(f"the live Service points at slot {serving}, which has no Deployment "
                              f"{self.deployment_name(serving)}")
        live_base = (live_dep["metadata"].get("annotations") or {}).get(BASE_ANNOTATION)
        runtime_lora = ENGINES[self.engine]["lora"] is not None
        if live_base == self.base_model and (version == "base" or runtime_lora):
            if version != "base":
                self.load_adapter_everywhere(serving, version)
            return Endpoint(serving, self._url(), version, self.deployment_name(serving))
        target = next(s for s in SLOTS if s != serving)
        body = self.slot_deployment(live_dep, target)
        name = body["metadata"]["name"]
        if self._deployment(name) is not None:  # left by an earlier attempt that did not finish
            self._delete(name)
        self._api(f"create Deployment {name}", self.apps.create_namespaced_deployment, self.namespace, body,
                  field_validation="Strict")
        log.info("created %s for %s (base %s)", name, version, self.base_model)
        return Endpoint(target, self._url(), version, name)

    def slot_deployment(self, live: dict, slot: str) -> dict:
        """The live engine Deployment (as the API returned it), for another slot and this deployer's base
        model. Helm's ownership labels and annotations come along, so the next `helm upgrade` adopts it."""
        body = copy.deepcopy(live)
        body.pop("status", None)
        meta = body["metadata"]
        body["metadata"] = {"name": self.deployment_name(slot), "namespace": self.namespace,
                            "labels": {**(meta.get("labels") or {}), SLOT_LABEL: slot},
                            "annotations": {**(meta.get("annotations") or {}), BASE_ANNOTATION: self.base_model}}
        spec = body["spec"]
        spec["selector"]["matchLabels"][SLOT_LABEL] = slot
        tmpl = spec["template"]
        tmpl["metadata"]["labels"][SLOT_LABEL] = slot
        tmpl["metadata"].setdefault("annotations", {})[BASE_ANNOTATION] = self.base_model
        old_base = (meta.get("annotations") or {}).get(BASE_ANNOTATION)
        for c in tmpl["spec"]["containers"]:
            c["args"] = [f"/models/{self.base_model}" if a == f"/models/{old_base}" else a for a in c.get("args") or []]
        if live.get("status", {}).get("replicas"):
            spec["replicas"] = live["status"]["replicas"]  # as many pods as serve now: the switch keeps capacity
        return body

    def wait_healthy(self, ep: Endpoint, timeout_s: float) -> bool:
        gone = False

        def rolled_out() -> bool:
            nonlocal gone
            dep = self._deployment(ep.handle)
            if dep is None:
                gone = True
                return False
            want = dep["spec"].get("replicas") or 1
            status = dep.get("status") or {}
            return ((status.get("observedGeneration") or 0) >= (dep["metadata"].get("generation") or 0)
                    and (status.get("readyReplicas") or 0) >= want and len(self.ready_pods(ep.slot)) >= want)

        if not wait_until(rolled_out, timeout_s, self.poll_s, alive=lambda: not gone):
            return False
        if ep.version != "base" and ENGINES[self.engine]["lora"] and not self._shares_live(ep):
            self.load_adapter_everywhere(ep.slot, ep.version)
        return True

    def activate(self, ep: Endpoint, settings: Settings) -> None:
        """Before the gateway switches: a new slot answers the smoke questions through the preview
        Service, then the live Service and the autoscaler move to it, and the preview to the old slot
        (the chart's convention: preview selects the slot not serving). A shared slot needs nothing."""
        if self._shares_live(ep):
            return
        previous = self.serving_slot()
        self._select(self.preview, ep.slot)
        self.engine_smoke(self._service_url(self.preview, self._port()), ep.version, settings)
        self._select(self.service, ep.slot)
        self._retarget_autoscaler(ep.handle)
        self._select(self.preview, previous)
        log.info("Service %s now selects slot %s (%s)", self.service, ep.slot, ep.version)

    def restore(self, old: Endpoint | None) -> None:
        """A rollback after `activate`: the live Service and the autoscaler back on the old slot."""
        if old is None or self.serving_slot() == old.slot:
            return
        self._select(self.service, old.slot)
        self._retarget_autoscaler(old.handle)
        self._select(self.preview, next(s for s in SLOTS if s != old.slot))

    def stop(self, ep: Endpoint) -> None:
        if self._shares_live(ep) or ep.handle == self.deployment_name(self.serving_slot()):
            # the version shares the serving pods: unload its adapter, keep the pods
            if ep.version != "base" and ENGINES[self.engine]["lora"]:
                for pod, url in self.ready_pods(ep.slot):
                    r = self.http.post(f"{url}{ENGINES[self.engine]['lora'][1]}", json={"lora_name": ep.version})
                    if r.status_code >= 400:
                        log.warning("pod %s did not unload %s: HTTP %s", pod, ep.version, r.status_code)
            return
        self._delete(ep.handle)

    # ---- pieces -----------------------------------------------------------------------------------

    def _shares_live(self, ep: Endpoint) -> bool:
        live = self.live()
        return live is not None and live.handle == ep.handle and live.version != ep.version

    def load_adapter_everywhere(self, slot: str, version: str) -> None:
        """Load the version's adapter into every ready pod of the slot and read it back from each; any pod
        that refuses fails the rollout before the gateway switches."""
        pods = self.ready_pods(slot)
        if not pods:
            raise DeployError(f"no ready engine pod in slot {slot} to load {version} into")
        load, _ = ENGINES[self.engine]["lora"]
        for pod, url in pods:
            r = self.http.post(f"{url}{load}", json={"lora_name": version,
                                                     "lora_path": f"{ADAPTER_ROOT}/{version}/adapter"})
            if r.status_code >= 400 and "already" not in r.text:
                raise DeployError(f"engine pod {pod} refused adapter {version}: HTTP {r.status_code} {r.text[:200]}")
            models = self.http.get(f"{url}/v1/models").json().get("data", [])
            if version not in {m.get("id") for m in models}:
                raise DeployError(f"engine pod {pod} accepted adapter {version} but does not list it")
        log.info("adapter %s loaded on %d pods of slot %s", version, len(pods), slot)

    def engine_smoke(self, url: str, version: str, settings: Settings) -> None:
        """The smoke questions straight to the candidate engine: every answer whole and non-empty within the
        latency bound (the gateway's own smoke test, with citations and grounding, follows the switch)."""
        import asyncio

        from kgflow.deploy.rollout import smoke_questions
        from kgflow.llm import make_backend
        from kgflow.llm.base import BackendError, GenParams
        from kgflow.llm.prompts import Prompt

        model = version if version != "base" or not self.served_model_name else self.served_model_name

        async def ask_all() -> None:
            backend = make_backend(self.backend, url, timeout_s=settings.smoke_max_latency_s, model=model)
            try:
                for q in smoke_questions(settings, settings.smoke_questions):
                    t0 = time.perf_counter()
                    try:
                        gen = await backend.generate(Prompt("chat", messages=({"role": "user", "content": q},)),
                                                     GenParams(max_new_tokens=24))
                    except BackendError as e:
                        raise DeployError(f"engine smoke test failed on {q!r}: {e}") from e
                    latency = time.perf_counter() - t0
                    if not gen.text.strip():
                        raise DeployError(f"engine smoke test failed on {q!r}: an empty answer")
                    if latency > settings.smoke_max_latency_s:
                        raise DeployError(f"engine smoke test failed on {q!r}: {latency:.1f}s over the bound")
            finally:
                await backend.aclose()

        asyncio.run(ask_all())

    def _select(self, service: str, slot: str) -> None:
        if self._service_obj(service)["spec"]["selector"].get(SLOT_LABEL) == slot:
            return
        self._api(f"patch Service {service}", self.core.patch_namespaced_service, service, self.namespace,
                  {"spec": {"selector": {SLOT_LABEL: slot}}}, field_validation="Strict")

    def _retarget_autoscaler(self, deployment: str) -> None:
        """The KEDA ScaledObject's target, else the HPA's; with neither, a fixed number of engine pods."""
        patch = {"spec": {"scaleTargetRef": {"name": deployment}}}
        if self._api(f"retarget ScaledObject {self.service}", self.custom.patch_namespaced_custom_object, "keda.sh",
                     "v1alpha1", self.namespace, "scaledobjects", self.service, patch, missing_ok=True,
                     field_validation="Strict") is None:
            self._api(f"retarget HPA {self.service}", self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
                      self.service, self.namespace, patch, missing_ok=True, field_validation="Strict")

    def _delete(self, name: str) -> None:
        from kubernetes import client

        self._api(f"delete Deployment {name}", self.apps.delete_namespaced_deployment, name, self.namespace,
                  body=client.V1DeleteOptions(propagation_policy="Foreground"), missing_ok=True)


def _json(response) -> dict:
    """A read made with _preload_content=False: the object exactly as the API server sent it."""
    import json

    return json.loads(response.data)
