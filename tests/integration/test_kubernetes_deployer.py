"""The Kubernetes deployer, up to the wire: no cluster can run here, so the API server is
tests/integration/fake_kube.py, which checks every request against the pinned Kubernetes and CRD schemas
and plays the Deployment controller, the kubelet's probes and kube-proxy. The objects it starts from are
the Helm chart's own render; the engine pods are fake vLLM servers on loopback addresses that load LoRA
adapters as vLLM does and answer through the real llama.cpp server; the gateway, its smoke test, the
registry, blue_green and the `kubernetes` client are the real ones."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kgflow.deploy.base import DeployError
from kgflow.deploy.kubernetes import KubernetesDeployer
from kgflow.deploy.manifests import Validator, render
from kgflow.deploy.rollout import blue_green
from kgflow.models.registry import ModelRegistry
from kgflow.netutil import free_port
from tests.integration.fake_kube import FakeCluster
from tests.integration.fake_llm import serve_app
from tests.integration.gateway_harness import SECRET, running_gateway, settings_for

pytestmark = pytest.mark.slow
NS = "kgflow"
HELM = str(Path(__import__("sys").prefix) / "bin" / "helm")


class EnginePod:
    """One engine pod: vLLM's LoRA endpoints and model list, its readiness at /health, and its answers from
    the real llama.cpp server. A base model named `broken-*` answers with empty text; `unready-*` never
    passes its readiness probe."""

    def __init__(self, base: str, llama_url: str) -> None:
        self.base, self.llama_url = base, llama_url
        self.adapters: dict[str, float] = {}  # name -> when it was loaded
        self.completions = 0

    def app(self) -> FastAPI:
        app = FastAPI()
        client = httpx.AsyncClient(base_url=self.llama_url, timeout=120)

        @app.get("/health")
        async def health():
            return JSONResponse({}, status_code=503 if self.base.startswith("unready-") else 200)

        @app.get("/v1/models")
        async def models():
            return {"data": [{"id": "base"}, *({"id": a} for a in self.adapters)]}

        @app.post("/v1/load_lora_adapter")
        async def load(request: Request):
            body = await request.json()
            if body["lora_name"] in self.adapters:
                return JSONResponse({"message": f"The lora adapter '{body['lora_name']}' has already been loaded."},
                                    status_code=400)
            self.adapters[body["lora_name"]] = time.time()
            return JSONResponse("Success: LoRA adapter loaded")

        @app.post("/v1/unload_lora_adapter")
        async def unload(request: Request):
            self.adapters.pop((await request.json())["lora_name"], None)
            return JSONResponse("Success: LoRA adapter unloaded")

        async def generate(request: Request, path: str):
            body = await request.json()
            if body.get("model") not in {"base", *self.adapters}:
                return JSONResponse({"error": {"message": f"The model `{body.get('model')}` does not exist."}},
                                    status_code=404)
            self.completions += 1
            if self.base.startswith("broken-"):
                choice = {"index": 0, "finish_reason": "stop",
                          **({"message": {"content": ""}} if "messages" in body else {"text": ""})}
                return {"choices": [choice], "usage": {"completion_tokens": 0, "prompt_tokens": 1}}
            body = {k: v for k, v in body.items() if k != "model"}
            if "repetition_penalty" in body:
                body["repeat_penalty"] = body.pop("repetition_penalty")
            r = await client.post(path, json=body)
            return JSONResponse(r.json(), status_code=r.status_code)

        @app.post("/v1/completions")
        async def completions(request: Request):
            return await generate(request, "/v1/completions")

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            return await generate(request, "/v1/chat/completions")

        return app


class Cluster:
    """The chart rendered and installed into the fake cluster, with engine pods on 127.0.0.N."""

    def __init__(self, validator: Validator, llama_url: str, values: dict, tmp_path: Path) -> None:
        self.validator, self.llama_url = validator, llama_url
        self.port = free_port()
        self.pods: dict[str, EnginePod] = {}
        self._next_ip = iter(range(2, 250))
        self._lock = threading.Lock()
        f = tmp_path / "values.yaml"
        f.write_text(yaml.safe_dump(values))
        self.objects = render([f], namespace=NS, helm=HELM)
        for obj in self.objects:  # the engine listens on a free port here
            if obj["kind"] == "Deployment" and "-engine-" in obj["metadata"]["name"]:
                obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = self.port

    def pod_factory(self, pod: dict):
        args = pod["spec"]["containers"][0]["args"]
        base = args[args.index("--model") + 1].removeprefix("/models/")
        engine = EnginePod(base, self.llama_url)
        with self._lock:
            ip = f"127.0.0.{next(self._next_ip)}"
        self.pods[pod["metadata"]["name"]] = engine
        stack = ExitStack()
        stack.enter_context(serve_app(engine.app(), host=ip, port=self.port))
        return ip, stack.close

    def __enter__(self) -> Cluster:
        self.fake = FakeCluster(NS, self.validator, self.pod_factory, grace_s=1.0).__enter__()
        self.fake.seed([o for o in self.objects if o["kind"] in
                        ("Deployment", "Service", "ScaledObject", "HorizontalPodAutoscaler")
                        and "gateway" not in o["metadata"]["name"]])
        deadline = time.monotonic() + 20
        while len(self.fake.ready_pods({"kgflow.io/slot": "blue"})) < self.replicas() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self

    def replicas(self) -> int:
        dep = next(o for o in self.objects if o["kind"] == "Deployment" and "-engine-" in o["metadata"]["name"])
        return dep["spec"].get("replicas", 1)

    def __exit__(self, *exc) -> None:
        self.fake.__exit__(*exc)

    def kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose current context is this cluster's API server, in the test namespace."""
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.fake.url}}],
            "users": [{"name": "deployer", "user": {"token": "unused-by-the-fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "deployer", "namespace": NS}}]}))
        return path

    def deployer(self, tmp_path: Path, base_model: str = "base") -> KubernetesDeployer:
        from kubernetes import client

        api = client.ApiClient(client.Configuration(host=self.fake.url))
        return KubernetesDeployer(tmp_path / "deploy", NS, release="kgflow", engine="vllm", base_model=base_model,
                                  api_client=api, service_url=self.fake.service_url, poll_s=0.2)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.load()


@pytest.fixture()
def env(knowledge_base, tmp_path, monkeypatch):
    for k, v in {"KGFLOW_HOME": str(knowledge_base), "KGFLOW_JWT_SECRET": SECRET,
                 "KGFLOW_SERVING_STATE": str(tmp_path / "upstream.json")}.items():
        monkeypatch.setenv(k, v)
    return knowledge_base


def _settings(kb: Path, cluster: Cluster, tmp_path: Path, gateway: str = "http://127.0.0.1:1"):
    # one smoke question, and a latency bound CPU generation meets: these tests are about the rollout
    return settings_for(kb, cluster.fake.service_url("kgflow-engine"), llm_backend="vllm", llm_model_name="base",
                        serving_state=tmp_path / "upstream.json", smoke_questions=1, smoke_max_latency_s=120,
                        deploy_healthy_timeout_s=10, gateway_url=gateway)


def _registry(tmp_path: Path, *versions: str) -> ModelRegistry:
    reg = ModelRegistry(tmp_path / "registry")
    artefacts = tmp_path / "artefacts"
    (artefacts / "adapter").mkdir(parents=True, exist_ok=True)
    (artefacts / "adapter" / "adapter_config.json").write_text("{}")
    for version in versions:
        assert reg.register(artefacts, {"base": "base"})["version"] == version
    return reg


class Load:
    """Requests to the live engine Service, back to back, as the gateway sends them, while a rollout runs."""

    def __init__(self, url: str) -> None:
        self.url, self.statuses = url, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as c:
            while not self._stop.is_set():
                try:
                    r = c.post(f"{self.url}/v1/completions", json={"model": "base", "prompt": "Hello",
                                                                     "max_tokens": 2, "temperature": 0.0})
                    self.statuses.append(r.status_code if r.status_code != 200 or r.json()["choices"] else 0)
                except (httpx.HTTPError, ValueError, KeyError):
                    self.statuses.append(0)  # a connection-level failure: counted, never hidden

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _upstream(gateway: str) -> str:
    return httpx.get(f"{gateway}/info", timeout=10).json()["kgflow"]["upstream"]


def _switches(fake: FakeCluster, service: str = "kgflow-engine") -> list[str]:
    return [e["selector"]["kgflow.io/slot"] for e in fake.selector_log if e["service"] == service]


def _every_write_valid(fake: FakeCluster) -> None:
    """Every write the deployer sent passed the schema check, and asked the server for strict validation."""
    assert fake.writes and [w for w in fake.writes if w["code"] != 200] == []
    assert [w for w in fake.writes if w["method"] != "DELETE" and not w["strict"]] == []


def _never_selected_an_unready_pod(fake: FakeCluster) -> None:
    """Each time a rollout changed the live Service's selector (after the install), every pod it then
    selected was ready, and some were."""
    for entry in [e for e in fake.selector_log if e["service"] == "kgflow-engine"][1:]:
        assert entry["pods"] and all(entry["pods"].values()), entry


def test_an_adapter_rollout_loads_it_on_every_engine_pod_before_the_gateway_switches(env, llama_server, validator,
                                                                                      tmp_path):
    values = {"engine": {"replicas": 3, "autoscaling": {"mode": "none"}}}
    reg = _registry(tmp_path, "m0001")
    with Cluster(validator, llama_server.url, values, tmp_path) as cluster:
        s = _settings(env, cluster, tmp_path)
        with running_gateway(s) as (gateway, _):
            result = blue_green("m0001", reg, cluster.deployer(tmp_path), settings=s.model_copy(
                update={"gateway_url": gateway}), drain_s=0.5)
            switched_at = (tmp_path / "upstream.json").stat().st_mtime
            assert _upstream(gateway) == "m0001"
        pods = list(cluster.pods.values())
        assert len(pods) == 3 and all("m0001" in p.adapters for p in pods)
        assert max(p.adapters["m0001"] for p in pods) < switched_at
        assert result["slot"] == "blue" and _switches(cluster.fake) == ["blue"]
        assert not [w for w in cluster.fake.writes if w["method"] == "POST"]  # no new Deployment for an adapter
        assert reg.live()["version"] == "m0001"


def test_a_new_base_model_is_rolled_out_blue_green_and_the_service_switches_after_the_smoke_test(
        env, llama_server, validator, tmp_path):
    reg = _registry(tmp_path, "m0001")
    with Cluster(validator, llama_server.url, {}, tmp_path) as cluster:
        fake = cluster.fake
        s = _settings(env, cluster, tmp_path)
        with running_gateway(s) as (gateway, _), Load(fake.service_url("kgflow-engine")) as load:
            time.sleep(0.5)
            result = blue_green("m0001", reg, cluster.deployer(tmp_path, base_model="base-2"),
                                settings=s.model_copy(update={"gateway_url": gateway}), drain_s=1.0)
            time.sleep(1.5)  # past the old pods' grace period
            assert _upstream(gateway) == "m0001"
        print(f"blue/green under load: {len(load.statuses)} requests, {sum(x != 200 for x in load.statuses)} failed")
        assert load.statuses and set(load.statuses) == {200}, load.statuses
        assert result["slot"] == "green" and _switches(fake) == ["blue", "green"]
        assert _switches(fake, "kgflow-engine-preview") == ["green", "blue"]
        assert fake.get("deployments", "kgflow-engine-blue") is None
        green = fake.get("deployments", "kgflow-engine-green")
        assert green["metadata"]["annotations"]["kgflow.io/base-model"] == "base-2"
        assert "/models/base-2" in green["spec"]["template"]["spec"]["containers"][0]["args"]
        assert fake.get("scaledobjects", "kgflow-engine")["spec"]["scaleTargetRef"]["name"] == "kgflow-engine-green"
        assert result["phases"]["activate"] > 0 and reg.live()["version"] == "m0001"
        _never_selected_an_unready_pod(fake)
        _every_write_valid(fake)


def _failed_rollout(env, cluster: Cluster, tmp_path: Path, base_model: str, reason: str) -> Load:
    """A rollout of m0001 on `base_model` that must fail and roll back, under load through the live Service;
    afterwards the gateway still answers from the base model."""
    s = _settings(env, cluster, tmp_path)
    with running_gateway(s) as (gateway, _), Load(cluster.fake.service_url("kgflow-engine")) as load:
        time.sleep(0.5)
        with pytest.raises(DeployError, match=f"rolled back.*{reason}"):
            blue_green("m0001", _registry(tmp_path, "m0001"), cluster.deployer(tmp_path, base_model=base_model),
                       settings=s.model_copy(update={"gateway_url": gateway}))
        time.sleep(1.5)
        assert _upstream(gateway) == "base"
    print(f"failed rollout ({reason}) under load: {len(load.statuses)} requests, "
          f"{sum(x != 200 for x in load.statuses)} failed")
    return load


def test_a_failed_smoke_test_rolls_back_without_a_failed_request(env, llama_server, validator, tmp_path):
    with Cluster(validator, llama_server.url, {}, tmp_path) as cluster:
        load = _failed_rollout(env, cluster, tmp_path, "broken-base", "engine smoke test failed")
        fake = cluster.fake
        assert load.statuses and set(load.statuses) == {200}, load.statuses
        assert _switches(fake) == ["blue"]  # the live Service never left the old slot
        assert _switches(fake, "kgflow-engine-preview") == ["green"]
        assert fake.get("deployments", "kgflow-engine-green") is None
        assert ModelRegistry(tmp_path / "registry").get("m0001")["status"] == "rejected"
        _every_write_valid(fake)


def test_a_slot_whose_pods_never_pass_their_probe_is_never_selected(env, llama_server, validator, tmp_path):
    with Cluster(validator, llama_server.url, {}, tmp_path) as cluster:
        load = _failed_rollout(env, cluster, tmp_path, "unready-base", "not healthy within")
        fake = cluster.fake
        assert load.statuses and set(load.statuses) == {200}, load.statuses
        assert _switches(fake) == ["blue"] and _switches(fake, "kgflow-engine-preview") == ["green"]
        assert fake.get("deployments", "kgflow-engine-green") is None
        _never_selected_an_unready_pod(fake)


def test_the_fake_api_server_refuses_an_object_the_schema_refuses(validator, llama_server, tmp_path):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with Cluster(validator, llama_server.url, {}, tmp_path) as cluster:
        body = cluster.fake.get("deployments", "kgflow-engine-blue")
        body.pop("status")
        body["metadata"] = {"name": "kgflow-engine-green"}
        body["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
        apps = client.AppsV1Api(client.ApiClient(client.Configuration(host=cluster.fake.url)))
        with pytest.raises(ApiException) as refused:
            apps.create_namespaced_deployment(NS, body)
        assert refused.value.status == 422 and "imagePullPolicyy" in refused.value.body


def test_the_deploy_dag_builds_the_kubernetes_deployer_from_settings_and_a_kubeconfig(validator, llama_server,
                                                                                      tmp_path, monkeypatch):
    from kgflow.config import Settings
    from kgflow.deploy.rollout import make_deployer

    with Cluster(validator, llama_server.url, {}, tmp_path) as cluster:
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(tmp_path / "kubeconfig")))
        deployer = make_deployer(Settings(home=tmp_path, deployer="kubernetes", kubernetes_namespace=NS,
                                          kubernetes_release="kgflow", base_model="base"))
        assert isinstance(deployer, KubernetesDeployer) and deployer.backend == "vllm"
        assert deployer.live().handle == "kgflow-engine-blue" and deployer.live().version == "base"
