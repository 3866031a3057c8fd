"""Blue/green rollout through the gateway: start the new slot, switch the gateway, smoke-test through
it with the text-generation client, then promote and stop the old slot — or roll back."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import httpx

from kgflow.config import SCHEMAS_DIR, Settings, get_settings
from kgflow.deploy.base import Deployer, DeployError, Endpoint
from kgflow.gateway.upstream import Upstream, UpstreamFile
from kgflow.models.registry import ModelRegistry

log = logging.getLogger("kgflow.deploy")


def admin_headers() -> dict[str, str]:
    from kgflow.gateway.auth import mint_token
    from kgflow.gateway.local_secret import ensure_local_secret

    return {"Authorization": f"Bearer {mint_token(ensure_local_secret(), 'kgflow-deployer', 'admin', ttl_s=300)}"}


def switch_gateway(s: Settings, ep: Endpoint, backend: str, timeout_s: float = 15.0) -> None:
    """Record the new live endpoint where every gateway worker and replica follows it (the shared
    upstream file), then wait until the gateway answers with it."""
    UpstreamFile(s.serving_state_path).write(Upstream(backend, ep.url, ep.version, ep.version))
    deadline, seen = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{s.gateway_url}/info", headers=admin_headers(), timeout=5,
                          verify=str(s.gateway_ca_file) if s.gateway_ca_file else True)
            seen = r.json()["kgflow"]["upstream"] if r.status_code == 200 else f"HTTP {r.status_code}"
        except (httpx.HTTPError, ValueError, KeyError) as e:
            seen = type(e).__name__
        if seen == ep.version:
            return
        time.sleep(0.2)
    raise DeployError(f"the gateway at {s.gateway_url} still serves {seen!r} {timeout_s:.0f}s after {ep.version} "
                      f"was recorded in {s.serving_state_path}: do the gateway and the deployer share that file?")


def smoke_test(gateway_url: str, max_latency_s: float, questions_file: Path | None = None,
               ca_file: Path | None = None) -> dict:
    """A fixed question set through the gateway: every answer non-empty, cited, and fast enough."""
    if ca_file is not None:
        # text_generation.Client calls requests.post, which trusts REQUESTS_CA_BUNDLE: this task's process only
        os.environ["REQUESTS_CA_BUNDLE"] = str(ca_file)
    from text_generation import Client

    questions = json.loads((questions_file or SCHEMAS_DIR / "smoke_questions.json").read_text())["questions"]
    client = Client(gateway_url, headers=admin_headers(), timeout=int(max_latency_s) + 30)
    results = []
    for q in questions:
        t0 = time.perf_counter()
        r = client.generate(q, max_new_tokens=16)
        latency = time.perf_counter() - t0
        ok = bool(r.generated_text.strip()) and latency <= max_latency_s
        results.append({"question": q, "latency_s": round(latency, 3), "ok": ok, "answer": r.generated_text[:120]})
        if not ok:
            raise DeployError(f"smoke test failed on {q!r}: latency {latency:.2f}s (bound {max_latency_s}s), "
                              f"answer {r.generated_text[:60]!r}")
    return {"questions": len(results), "max_latency_s": max(r["latency_s"] for r in results), "results": results}


def blue_green(version: str, registry: ModelRegistry, deployer: Deployer, settings: Settings | None = None,
               drain_s: float = 5.0, promote: bool = True) -> dict:
    """Deploy `version` ("base" = the plain packaged model). Raises DeployError after rolling back."""
    s = settings or get_settings()
    backend = deployer.backend
    artefacts = None if version == "base" else registry.path(version)
    old = deployer.live()
    slot = deployer.next_slot()
    t0 = time.perf_counter()
    phases: dict[str, float] = {}  # seconds per step, for the deploy bench and the run log

    def mark(step: str) -> None:
        phases[step] = round(time.perf_counter() - t0 - sum(phases.values()), 3)

    new = None
    try:
        new = deployer.start(version, artefacts, slot)
        mark("start")
        if not deployer.wait_healthy(new, 180):
            raise DeployError(f"{slot} ({version}) never became healthy")
        mark("healthy")
        switch_gateway(s, new, backend)
        mark("switch")
        switched = time.perf_counter() - t0
        smoke = smoke_test(s.gateway_url, s.smoke_max_latency_s, ca_file=s.gateway_ca_file)
        mark("smoke")
    except Exception as e:
        if old is not None:
            try:
                switch_gateway(s, old, backend)
            except DeployError as back:
                log.error("rollback switch failed: %s", back)
        if new is not None:
            deployer.stop(new)
        if version != "base":
            registry.set_status(version, "rejected" if registry.get(version)["status"] == "candidate" else
                                registry.get(version)["status"], deploy_error=str(e)[:500])
        raise DeployError(f"deploy of {version} failed and was rolled back to "
                          f"{old.version if old else 'nothing'}: {e}") from e
    deployer.record_live(new)
    if version != "base" and promote:
        registry.promote(version)
    if old is not None:
        time.sleep(drain_s)  # requests already on the old upstream finish before it goes away
        deployer.stop(old)
    mark("promote_drain_stop_old")
    return {"version": version, "slot": slot, "url": new.url, "switch_seconds": round(switched, 3),
            "total_seconds": round(time.perf_counter() - t0, 3), "phases": phases, "smoke": smoke,
            "previous": old.version if old else None}


def make_deployer(settings: Settings | None = None) -> Deployer:
    s = settings or get_settings()
    state = s.home / "deploy"
    if s.deployer == "docker":
        from kgflow.deploy.docker import DockerDeployer

        return DockerDeployer(state)
    if s.deployer == "vllm":
        from kgflow.deploy.vllm import VllmDeployer

        return VllmDeployer(state, base_model=s.base_model)
    from kgflow.deploy.local import LocalDeployer

    return LocalDeployer(state, n_ctx=s.llm_n_ctx, model_path=s.llm_model_path)


def rollback(registry: ModelRegistry, deployer: Deployer, to: str | None = None,
             settings: Settings | None = None) -> dict:
    """Redeploy an earlier live version (default: the one before the current live)."""
    target = registry.get(to) if to else registry.previous_live()
    if target is None:
        raise DeployError("no earlier live version to roll back to")
    if not any(h[0] == "live" for h in target["history"]) and not to:
        raise DeployError(f"{target['version']} was never live")
    return {**blue_green(target["version"], registry, deployer, settings), "rolled_back": True}
