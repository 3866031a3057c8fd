"""Operations: /metrics (Prometheus), /admin/upstream (blue/green), /admin/reload (pick up a new index)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from kgflow.gateway.deps import Admin, UpstreamBody, body_schema, gateway, guard
from kgflow.gateway.errors import ApiError
from kgflow.gateway.requests import UpstreamSwitch
from kgflow.gateway.schemas import ERRORS, Reloaded, UpstreamSwitched
from kgflow.llm import make_backend
from kgflow.llm.upstream import Upstream
from kgflow.retrieval.engine import NoKnowledgeBase

router = APIRouter(tags=["operations"])


@router.get("/metrics", responses=ERRORS)
async def metrics(request: Request) -> Response:
    gw = gateway(request)
    if not gw.settings.exposed("metrics"):
        guard(request, "admin")
    try:
        gw.metrics.index_vectors.set(gw.engine.snapshot().index.manifest["count"])
    except NoKnowledgeBase:
        pass
    return Response(generate_latest(gw.metrics.exposition_registry()), media_type=CONTENT_TYPE_LATEST)


@router.post("/admin/upstream", response_model=UpstreamSwitched, responses=ERRORS,
             openapi_extra=body_schema(UpstreamSwitch))
async def switch_upstream(request: Request, _: Admin,
                          body: UpstreamBody) -> dict:
    """Blue/green: point generation at another backend; every worker and replica follows within a second,
    and in-flight requests finish on the old one."""
    gw = gateway(request)
    kind, url = body.backend or gw.settings.llm_backend, body.url
    try:
        backend = make_backend(kind, url, gw.settings.llm_timeout_s, model=body.model)
    except (KeyError, ValueError) as e:
        raise ApiError(422, f"Input validation error: backend: unknown backend {kind!r}", "validation") from e
    if not await backend.health():
        await backend.aclose()
        raise ApiError(503, f"new upstream {url} is not healthy; not switching", "overloaded")
    await gw.router.switch(backend, body.label or url, Upstream(kind, url, body.label or url, body.model))
    return {"upstream": gw.router.label, "url": url}


@router.post("/admin/reload", response_model=Reloaded, responses=ERRORS)
async def reload(request: Request, _: Admin) -> dict:
    gw = gateway(request)
    gw.engine.refresh()
    snap = await run_in_threadpool(gw.engine.snapshot)
    return {"index_version": snap.version}
