"""The query gateway: TGI's API upward (/generate, /generate_stream, POST /, /info, /health), the
OpenAI-compatible /v1/chat/completions, operations (/metrics, /admin/*); graph-augmented retrieval and a
swappable generation backend downward, through one answer pipeline (kgflow.answer.service.AnswerService).

Routes live by protocol in routes_tgi, routes_openai and routes_admin; what they share (state, auth and
body dependencies, the observer) in deps. This module builds the app: state, lifespan, request middleware.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager

from fastapi import FastAPI, Request
from uvicorn.config import STARTUP_FAILURE

from kgflow import __version__
from kgflow.config import Settings, get_settings, offline_env
from kgflow.errors import KgflowError
from kgflow.fsutil import make_private
from kgflow.gateway import routes_admin, routes_openai, routes_tgi
from kgflow.gateway.audit import AuditLog
from kgflow.gateway.auth import Authenticator
from kgflow.gateway.backends import BackendRouter
from kgflow.gateway.deps import Gateway, RequestContext, gateway
from kgflow.gateway.errors import error_response, install_error_handlers
from kgflow.gateway.metrics import GatewayMetrics
from kgflow.gateway.ratelimit import ConcurrencyLimit, RateLimiter
from kgflow.llm import make_backend
from kgflow.llm.base import LLMBackend
from kgflow.llm.upstream import UpstreamFile
from kgflow.retrieval.engine import RetrievalEngine
from kgflow.tokens import local_secret

log = logging.getLogger("kgflow.gateway")
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
UNMATCHED = "(unmatched)"  # metrics label of every path no route serves: 404 scans add no series


@contextmanager
def _worker_boot() -> Iterator[None]:
    """A worker whose app cannot be built exits with uvicorn's startup-failure status, on which its supervisor
    stops the server; any other exit status is restarted, so a boot error would loop until the launcher gave
    up (uvicorn does the same for a failed lifespan startup; gunicorn's arbiter halts on a boot error). One
    line says why."""
    try:
        yield
    except Exception as e:
        if multiprocessing.parent_process() is None:  # one process (or a test's app): the error is the caller's
            raise
        log.error("gateway worker could not start (error: %s); stopping the server", e,
                  exc_info=not isinstance(e, KgflowError))
        sys.exit(STARTUP_FAILURE)


def create_app(settings: Settings | None = None, backend: LLMBackend | None = None,
               engine: RetrievalEngine | None = None) -> FastAPI:
    with _worker_boot():
        return _create_app(settings, backend, engine)


def worker_app() -> FastAPI:
    """What each gateway worker process runs (uvicorn's factory; `kgflow serve`): settings from the
    environment, and torch kept out of a worker that embeds questions with ONNX (kgflow.vectors.embedder.
    keep_torch_out): it would only sit in every worker's memory."""
    from kgflow.vectors.embedder import keep_torch_out

    with _worker_boot():
        s = get_settings()
        keep_torch_out(s.query_embedder_backend)
        return _create_app(s, None, None)


def _create_app(settings: Settings | None, backend: LLMBackend | None, engine: RetrievalEngine | None) -> FastAPI:
    offline_env()
    s = settings or get_settings()
    make_private(s.home)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        gw: Gateway = app.state.gw
        if backend is None:
            gw.router = BackendRouter(
                _primary_backend(gw, s), _fallback_backend(s), follow=UpstreamFile(s.serving_state_path),
                build=lambda up: make_backend(up.backend, up.url, s.llm_timeout_s, model=up.model))
        yield
        await gw.router.aclose()
        if gw.server is not None:
            gw.server.stop()
        gw.audit.close()

    docs = s.exposed("docs")
    app = FastAPI(title="kgflow gateway", version=__version__, lifespan=lifespan,
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    key = (s.audit_hmac_key or local_secret(s.secrets_dir, "audit_hmac_key")).encode()
    app.state.gw = Gateway(s, engine or RetrievalEngine(s), BackendRouter(backend) if backend else None,
                           Authenticator(s), RateLimiter(s.rate_limit_per_s, s.rate_limit_burst, s.rate_limit_storage),
                           AuditLog(s.home / "audit" / "gateway_audit.db", key), GatewayMetrics(),
                           ConcurrencyLimit(s.max_concurrent_requests))
    install_error_handlers(app)
    _observe(app)
    for module in (routes_tgi, routes_openai, routes_admin):
        app.include_router(module.router)
    return app


def _primary_backend(gw: Gateway, s: Settings) -> LLMBackend:
    url = s.llm_url
    if s.llm_backend == "llamacpp" and not url:
        from kgflow.llm.llamacpp_server import LlamaServer

        gw.server = LlamaServer(s.llm_model_path, n_ctx=s.llm_n_ctx,
                                log_path=s.home / "logs" / "llama-server.log").start()
        url = gw.server.url
    return make_backend(s.llm_backend, url, s.llm_timeout_s, model=s.llm_model_name)


def _fallback_backend(s: Settings) -> LLMBackend | None:
    if not s.llm_fallback_url:
        return None
    return make_backend(s.llm_backend, s.llm_fallback_url, s.llm_timeout_s, model="fallback")


def _observe(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        gw = gateway(request)
        given = request.headers.get("x-request-id", "")
        rid = given if 0 < len(given) <= 64 and set(given) <= _REQUEST_ID_OK else uuid.uuid4().hex
        request.state.ctx = ctx = RequestContext(rid, request.client.host if request.client else None)
        try:
            response = await call_next(request)
        except Exception:  # the error handler answers too, but only here does the request get its audit row
            log.exception("unhandled error on %s (request %s)", request.url.path, rid)
            response = error_response(500, f"internal error (logged by the gateway as request {rid})", "internal")
        route = request.scope.get("route")
        endpoint = getattr(route, "path", UNMATCHED)
        latency = time.perf_counter() - start
        gw.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        # a stream's answer is whole and grounded before its first byte: its latency is measured here too
        gw.metrics.latency.labels(endpoint).observe(latency)
        response.headers["X-Request-ID"] = rid
        if ctx.timings_ms:  # W3C Server-Timing: where the request's time went
            response.headers["Server-Timing"] = ", ".join(
                [f"{k};dur={v:.2f}" for k, v in ctx.timings_ms.items()] + [f"total;dur={latency * 1e3:.2f}"])
        gw.audit.record(ctx.row(endpoint, response.status_code, latency * 1e3))  # every request, refused or not
        return response
