"""Blue/green rollout through the gateway: start the new slot, switch the gateway, smoke-test through
it (the text-generation client's request, scored by the answer measure), then promote and stop the old
slot — or roll back."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx

from kgflow.config import Settings
from kgflow.deploy.base import Deployer, DeployError, Endpoint
from kgflow.llm.upstream import Upstream, UpstreamFile
from kgflow.models.registry import ModelRegistry
from kgflow.netutil import wait_until

log = logging.getLogger("kgflow.deploy")


def admin_headers(s: Settings) -> dict[str, str]:
    """The deployer's own short-lived admin token: it talks to the gateway only over HTTP."""
    from kgflow.tokens import mint_token, signing_secret

    return {"Authorization": f"Bearer {mint_token(signing_secret(s), 'kgflow-deployer', 'admin', ttl_s=300)}"}


def switch_gateway(s: Settings, ep: Endpoint, backend: str, timeout_s: float = 15.0) -> None:
    """Record the new live endpoint where every gateway worker and replica follows it (the shared
    upstream file), then wait until the gateway answers with it."""
    UpstreamFile(s.serving_state_path).write(Upstream(backend, ep.url, ep.version, ep.version))
    seen = None

    def serves_it() -> bool:
        nonlocal seen
        try:
            r = httpx.get(f"{s.gateway_url}/info", headers=admin_headers(s), timeout=5,
                          verify=str(s.gateway_ca_file) if s.gateway_ca_file else True)
            seen = r.json()["kgflow"]["upstream"] if r.status_code == 200 else f"HTTP {r.status_code}"
        except (httpx.HTTPError, ValueError, KeyError) as e:
            seen = type(e).__name__
        return seen == ep.version

    if wait_until(serves_it, timeout_s, interval_s=0.2):
        return
    raise DeployError(f"the gateway at {s.gateway_url} still serves {seen!r} {timeout_s:.0f}s after {ep.version} "
                      f"was recorded in {s.serving_state_path}: do the gateway and the deployer share that file?")


def smoke_questions(s: Settings, n: int = 3) -> list[str]:
    """The knowledge base's own golden questions, each kind in turn (kgflow.quality.gate.load_golden)."""
    from kgflow.models.gate import balanced
    from kgflow.quality.gate import load_golden

    if not s.golden_path.exists():
        raise DeployError(f"no smoke questions: the deploy smoke test asks the golden questions in {s.golden_path}")
    return [item.question for item in balanced(load_golden(s.golden_path), n)]


def smoke_test(gateway_url: str, max_latency_s: float, questions: list[str], headers: dict[str, str],
               ca_file: Path | None = None, max_refusal_rate: float = 0.5) -> dict:
    """The questions through the gateway as `text_generation.Client` sends them (POST /), each answer read with
    its `kgflow` extension and scored by the answer measure (kgflow.quality.answer_measure): every answer
    non-empty, cited, grounding-checked and fast enough, and at most `max_refusal_rate` of them refusals."""
    from text_generation.types import Response

    from kgflow.quality.answer_measure import AnswerMeasure

    m, latencies = AnswerMeasure(), []
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=max_latency_s + 30,
                      verify=str(ca_file) if ca_file else True) as client:
        for q in questions:
            t0 = time.perf_counter()
            r = client.post("/", json={"inputs": q, "parameters": {"max_new_tokens": 24, "details": True},
                                       "stream": False})
            latency = time.perf_counter() - t0
            if r.status_code != 200:
                raise DeployError(f"smoke test failed on {q!r}: HTTP {r.status_code} {r.text[:200]}")
            body = r.json()[0]
            try:
                Response(**body)  # what the text-generation client parses
            except ValueError as e:
                raise DeployError(f"smoke test failed on {q!r}: not TGI's response ({e})") from e
            row = m.add(q, body["generated_text"], body.get("kgflow") or {})
            latencies.append(latency)
            problem = (f"latency {latency:.2f}s over the bound of {max_latency_s}s" if latency > max_latency_s
                       else "an empty answer" if not row["text"].strip()
                       else "an answer without citations" if not row["cited"]
                       else "an answer the gateway did not check against its evidence" if row["grounded"] is None
                       else None)
            if problem:
                raise DeployError(f"smoke test failed on {q!r}: {problem} ({row['text'][:60]!r})")
    summary = m.summary()
    if summary["refusal_rate"] > max_refusal_rate:
        raise DeployError(f"smoke test failed: {summary['refusal_rate']:.0%} of answers were refusals "
                          f"(bound {max_refusal_rate:.0%})")
    return {**summary, "max_latency_s": round(max(latencies), 3), "answers": m.answers}


def blue_green(version: str, registry: ModelRegistry, deployer: Deployer, settings: Settings,
               drain_s: float = 5.0, promote: bool = True) -> dict:
    """Deploy `version` ("base" = the plain packaged model). Raises DeployError after rolling back."""
    s = settings
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
        if not deployer.wait_healthy(new, s.deploy_healthy_timeout_s):
            raise DeployError(f"{slot} ({version}) was not healthy within {s.deploy_healthy_timeout_s:.0f}s")
        mark("healthy")
        deployer.activate(new, s)
        mark("activate")
        switch_gateway(s, new, backend)
        mark("switch")
        switched = time.perf_counter() - t0
        smoke = smoke_test(s.gateway_url, s.smoke_max_latency_s, smoke_questions(s, s.smoke_questions),
                           admin_headers(s), s.gateway_ca_file, s.smoke_max_refusal_rate)
        mark("smoke")
    except Exception as e:
        try:
            deployer.restore(old)
        except DeployError as back:
            log.error("rollback of %s failed: %s", type(deployer).__name__, back)
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
    return {"version": version, "slot": new.slot, "url": new.url, "switch_seconds": round(switched, 3),
            "total_seconds": round(time.perf_counter() - t0, 3), "phases": phases, "smoke": smoke,
            "previous": old.version if old else None}


def make_deployer(settings: Settings) -> Deployer:
    """The deployer KGFLOW_DEPLOYER names (kgflow.seams.DEPLOYERS)."""
    from kgflow.seams import DEPLOYERS

    return DEPLOYERS.resolve(settings.deployer).from_settings(settings)


def rollback(registry: ModelRegistry, deployer: Deployer, settings: Settings, to: str | None = None) -> dict:
    """Redeploy an earlier live version (default: the one before the current live)."""
    target = registry.get(to) if to else registry.previous_live()
    if target is None:
        raise DeployError("no earlier live version to roll back to")
    if not any(h[0] == "live" for h in target["history"]) and not to:
        raise DeployError(f"{target['version']} was never live")
    return {**blue_green(target["version"], registry, deployer, settings), "rolled_back": True}
