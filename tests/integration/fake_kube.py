"""A fake Kubernetes API server and cluster for the Kubernetes deployer's tests: no cluster can run here
(no container runtime, no kubelet, no GPU).

The API side serves the part of the API the deployer calls (Services, Deployments, Pods, KEDA
ScaledObjects, HPAs), at the API's own paths, answering with the API's own Status errors. Every write is
checked strictly against the pinned OpenAPI and CRD schemas (kgflow.deploy.manifests), as the real server's
strict field validation does: a write that fails is answered 422, and every write is recorded with its
verdict and whether it asked for strict validation (fieldValidation=Strict), as a client should.

The cluster side plays the controllers the deployer relies on:
- the Deployment controller: a Deployment's pods are started by `pod_factory` (the tests run fake engine
  servers on loopback addresses 127.0.0.N), and deleted with it after a grace period;
- the kubelet: each pod's readinessProbe.httpGet is polled, and the pod's Ready condition follows it;
- kube-proxy: each Service gets a loopback port that forwards a request to a ready pod its selector matches.
Every change of a Service's selector is logged with the readiness of the pods it then selected.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kgflow.deploy.manifests import Validator
from tests.integration.fake_llm import serve_app

PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/namespaces/(?P<ns>[^/]+)/"
                  r"(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?$")
KINDS = {"services": ("v1", "Service"), "pods": ("v1", "Pod"), "deployments": ("apps/v1", "Deployment"),
         "scaledobjects": ("keda.sh/v1alpha1", "ScaledObject"),
         "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler")}

PodFactory = Callable[[dict], tuple[str, Callable[[], None]]]  # pod -> (its IP, a function that stops it)


def status(code: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                         "message": message, "reason": reason, "code": code}, status_code=code)


def merge(base: dict, patch: dict) -> dict:
    """A merge patch (RFC 7386), which is what a strategic merge patch of maps amounts to."""
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class FakeCluster:
    def __init__(self, namespace: str, validator: Validator, pod_factory: PodFactory, grace_s: float = 1.0) -> None:
        self.namespace, self.validator, self.pod_factory, self.grace_s = namespace, validator, pod_factory, grace_s
        self.objects: dict[tuple[str, str], dict] = {}  # (resource, name) -> object
        self.pods: dict[str, dict] = {}  # name -> {"obj", "stop", "ready", "owner"}
        self.writes: list[dict] = []  # {"method", "path", "code", "errors", "strict"}
        self.selector_log: list[dict] = []  # {"service", "selector", "pods": {name: ready}}
        self.lock = threading.RLock()
        self._stack = ExitStack()
        self._stop = threading.Event()
        self._proxies: dict[str, str] = {}
        self._rr = itertools.count()

    # ---- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> FakeCluster:
        self.url = self._stack.enter_context(serve_app(self._api_app()))
        threading.Thread(target=self._kubelet, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        with self.lock:
            stops = [p["stop"] for p in self.pods.values()]
            self.pods.clear()
        for stop in stops:
            stop()
        self._stack.close()

    def seed(self, objects: list[dict]) -> None:
        """Install objects as `helm install` would (each one validated)."""
        for obj in objects:
            resource = next(r for r, (_, kind) in KINDS.items() if kind == obj["kind"])
            errors = self.validator.errors(obj)
            assert not errors, errors
            self._store(resource, copy.deepcopy(obj))

    def service_url(self, name: str, port: int = 0) -> str:
        """kube-proxy for the Service: a loopback URL that forwards to one of its ready pods."""
        with self.lock:
            if name not in self._proxies:
                self._proxies[name] = self._stack.enter_context(serve_app(self._proxy_app(name)))
            return self._proxies[name]

    # ---- what the tests read ------------------------------------------------------------------------

    def get(self, resource: str, name: str) -> dict | None:
        with self.lock:
            obj = self.objects.get((resource, name))
            return copy.deepcopy(self._with_status(resource, obj)) if obj else None

    def selector(self, service: str) -> dict:
        return self.get("services", service)["spec"]["selector"]

    def ready_pods(self, selector: dict) -> list[str]:
        with self.lock:
            return [n for n, p in self.pods.items() if p["ready"] and matches(selector, p["obj"]["metadata"]["labels"])]

    # ---- the API ------------------------------------------------------------------------------------

    def _api_app(self) -> FastAPI:
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT", "DELETE"])
        async def api(request: Request, path: str):
            m = PATH.match("/" + path)
            if not m or m["resource"] not in KINDS or m["ns"] != self.namespace:
                return status(404, "NotFound", f"the server could not find the requested resource ({path})")
            body = await request.json() if request.method in ("POST", "PATCH", "PUT") else None
            resource, name = m["resource"], m["name"]
            with self.lock:
                return self._serve(request.method, "/" + path, resource, name, body, dict(request.query_params))

        return app

    def _serve(self, method: str, path: str, resource: str, name: str | None, body: dict | None,
               query: dict) -> Response:
        api_version, kind = KINDS[resource]
        if method == "GET" and name is None:
            items = [self._with_status(resource, o) for (r, _), o in self.objects.items() if r == resource]
            if resource == "pods":
                items = [p["obj"] for p in self.pods.values()]
            wanted = dict(kv.split("=", 1) for kv in query.get("labelSelector", "").split(",") if kv)
            items = [o for o in items if matches(wanted, o["metadata"].get("labels") or {})]
            return JSONResponse({"apiVersion": api_version, "kind": f"{kind}List", "metadata": {}, "items": items})
        current = self.objects.get((resource, name)) if name else None
        if method == "GET":
            return JSONResponse(self._with_status(resource, current)) if current else \
                status(404, "NotFound", f'{resource} "{name}" not found')
        if method == "DELETE":
            if not current:
                return status(404, "NotFound", f'{resource} "{name}" not found')
            del self.objects[(resource, name)]
            if resource == "deployments":
                self._delete_pods(name)
            self.writes.append({"method": method, "path": path, "code": 200, "errors": [], "strict": None})
            return JSONResponse({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
        if method == "POST":
            if name is not None or (body or {}).get("kind") != kind:
                return status(400, "BadRequest", f"expected a {kind} posted to its collection")
            name = body["metadata"]["name"]
            if (resource, name) in self.objects:
                return status(409, "AlreadyExists", f'{resource} "{name}" already exists')
            result = body
        elif method == "PATCH":
            if not current:
                return status(404, "NotFound", f'{resource} "{name}" not found')
            result = merge({k: v for k, v in current.items() if k != "status"}, body or {})
        else:
            return status(405, "MethodNotAllowed", f"{method} is not served by this fake")
        errors = self.validator.errors({k: v for k, v in result.items() if k != "status"})
        self.writes.append({"method": method, "path": path, "code": 422 if errors else 200, "errors": errors,
                            "strict": query.get("fieldValidation") == "Strict"})
        if errors:
            return status(422, "Invalid", f'{kind} "{name}" is invalid: ' + "; ".join(errors))
        if current and resource == "deployments" and result.get("spec") != current.get("spec"):
            result["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        self._store(resource, result)
        return JSONResponse(self._with_status(resource, result), status_code=201 if method == "POST" else 200)

    def _store(self, resource: str, obj: dict) -> None:
        meta = obj.setdefault("metadata", {})
        name = meta["name"]
        previous = self.objects.get((resource, name))
        meta.setdefault("namespace", self.namespace)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(int(time.time() * 1e6))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.objects[(resource, name)] = obj
        if resource == "deployments" and previous is None:
            self._start_pods(obj)
        if resource == "services" and (previous is None or previous["spec"].get("selector") != obj["spec"]["selector"]):
            selector = obj["spec"]["selector"]
            self.selector_log.append({"service": name, "selector": dict(selector), "pods": {
                n: p["ready"] for n, p in self.pods.items() if matches(selector, p["obj"]["metadata"]["labels"])}})

    def _with_status(self, resource: str, obj: dict) -> dict:
        if resource != "deployments":
            return obj
        name, want = obj["metadata"]["name"], obj["spec"].get("replicas", 1)
        pods = [p for p in self.pods.values() if p["owner"] == name]
        ready = sum(p["ready"] for p in pods)
        return {**obj, "status": {"observedGeneration": obj["metadata"]["generation"], "replicas": len(pods),
                                  "updatedReplicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                                  "unavailableReplicas": max(0, want - ready)}}

    # ---- the controllers ----------------------------------------------------------------------------

    def _start_pods(self, deployment: dict) -> None:
        template = deployment["spec"]["template"]
        for i in range(deployment["spec"].get("replicas", 1)):
            name = f"{deployment['metadata']['name']}-{uuid.uuid4().hex[:5]}-{i}"
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": self.namespace,
                                "labels": dict(template["metadata"]["labels"]),
                                "annotations": dict(template["metadata"].get("annotations") or {}),
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name":
                                                     deployment["metadata"]["name"], "uid": str(uuid.uuid4())}]},
                   "spec": copy.deepcopy(template["spec"]),
                   "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}}
            ip, stop = self.pod_factory(pod)
            pod["status"] = {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "False"}]}
            self.pods[name] = {"obj": pod, "stop": stop, "ready": False, "owner": deployment["metadata"]["name"]}

    def _delete_pods(self, deployment: str) -> None:
        gone = [n for n, p in self.pods.items() if p["owner"] == deployment]
        stops = [self.pods.pop(n)["stop"] for n in gone]  # out of every endpoint list at once

        def later() -> None:  # the containers stop after the grace period, as SIGTERM then exit would
            time.sleep(self.grace_s)
            for stop in stops:
                stop()

        threading.Thread(target=later, daemon=True).start()

    def _kubelet(self) -> None:
        with httpx.Client(timeout=1.0) as client:
            while not self._stop.is_set():
                with self.lock:
                    pods = list(self.pods.items())
                for name, p in pods:
                    c = p["obj"]["spec"]["containers"][0]
                    probe = c["readinessProbe"]["httpGet"]
                    port = probe["port"] if isinstance(probe["port"], int) else \
                        next(x["containerPort"] for x in c["ports"] if x["name"] == probe["port"])
                    try:
                        r = client.get(f"http://{p['obj']['status']['podIP']}:{port}{probe['path']}")
                        ready = 200 <= r.status_code < 400
                    except httpx.HTTPError:
                        ready = False
                    with self.lock:
                        if name in self.pods:
                            self.pods[name]["ready"] = ready
                            self.pods[name]["obj"]["status"]["conditions"] = [
                                {"type": "Ready", "status": "True" if ready else "False"}]
                time.sleep(0.1)

    def _proxy_app(self, service: str) -> FastAPI:
        app = FastAPI()
        client = httpx.AsyncClient(timeout=120)

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def forward(request: Request, path: str):
            with self.lock:
                selector = self.objects[("services", service)]["spec"]["selector"]
                ready = [p["obj"] for p in self.pods.values()
                         if p["ready"] and matches(selector, p["obj"]["metadata"]["labels"])]
            if not ready:
                return Response(status_code=503, content=b"no ready endpoints")
            pod = ready[next(self._rr) % len(ready)]
            port = next(x["containerPort"] for x in pod["spec"]["containers"][0]["ports"] if x["name"] == "http")
            r = await client.request(request.method, f"http://{pod['status']['podIP']}:{port}/{path}",
                                     content=await request.body(),
                                     headers={"content-type": request.headers.get("content-type", "application/json")})
            return Response(content=r.content, status_code=r.status_code,
                            media_type=r.headers.get("content-type"))

        return app
