"""The query gateway: TGI's API upward (/generate, /generate_stream, POST /, /v1/chat/completions,
/info, /health, /metrics), graph-augmented retrieval and a swappable generation backend downward."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from kgflow import __version__
from kgflow.config import Settings, get_settings, offline_env
from kgflow.gateway.audit import AuditLog, AuditRow
from kgflow.gateway.auth import Authenticator, Principal, require_role
from kgflow.gateway.backends import BackendRouter, make_backend
from kgflow.gateway.errors import ApiError, error_body, error_response, install_error_handlers
from kgflow.gateway.local_secret import local_secret
from kgflow.gateway.metrics import GatewayMetrics
from kgflow.gateway.ratelimit import ConcurrencyLimit, RateLimiter
from kgflow.gateway.requests import ChatRequest, TgiRequest, UpstreamSwitch, parse_body
from kgflow.gateway.upstream import Upstream, UpstreamFile
from kgflow.llm import prompts
from kgflow.llm.answer import Answer, AnswerService, AnswerStream
from kgflow.llm.base import BackendError, BackendUnavailable, GenParams, LLMBackend
from kgflow.retrieval.engine import NoKnowledgeBase, RetrievalEngine, RetrievalResult

log = logging.getLogger("kgflow.gateway")
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")
UNMATCHED = "(unmatched)"  # metrics label of every path no route serves: 404 scans add no series


@dataclass
class RequestContext:
    """Who is asking and under which id; every audit row of the request is written from it."""

    request_id: str
    client: str | None
    principal: Principal | None = None
    input_text: str | None = None
    output_chars: int = 0
    deferred: bool = False  # a stream audits itself when it ends

    def row(self, endpoint: str, status: int, latency_ms: float) -> AuditRow:
        p = self.principal
        return AuditRow(self.request_id, p.sub if p else "unauthenticated", p.role if p else None, self.client,
                        endpoint, self.input_text, self.output_chars, latency_ms, status)


@dataclass
class Gateway:
    settings: Settings
    engine: RetrievalEngine
    router: BackendRouter
    auth: Authenticator
    limiter: RateLimiter
    audit: AuditLog
    metrics: GatewayMetrics
    slots: ConcurrencyLimit
    answers: AnswerService | None = None  # built with the router
    server: object | None = None  # the supervised llama.cpp server, when the gateway started one


def create_app(settings: Settings | None = None, backend: LLMBackend | None = None,
               engine: RetrievalEngine | None = None) -> FastAPI:
    offline_env()
    s = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        gw: Gateway = app.state.gw
        if backend is None:
            gw.router = BackendRouter(_primary_backend(gw, s), _fallback_backend(s), follow=UpstreamFile(
                s.serving_state_path), build=lambda up: make_backend(up.backend, up.url, s, model=up.model))
            gw.answers = AnswerService(gw.engine, gw.router, s.llm_model_kind)
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
                           Authenticator(s), RateLimiter(s.rate_limit_per_s, s.rate_limit_burst),
                           AuditLog(s.home / "audit" / "gateway_audit.db", key), GatewayMetrics(),
                           ConcurrencyLimit(s.max_concurrent_requests))
    gw = app.state.gw
    if gw.router is not None:
        gw.answers = AnswerService(gw.engine, gw.router, s.llm_model_kind)
    install_error_handlers(app)
    _routes(app)
    return app


def _primary_backend(gw: Gateway, s: Settings) -> LLMBackend:
    url = s.llm_url
    if s.llm_backend == "llamacpp" and not url:
        from kgflow.llm.llamacpp_server import LlamaServer

        gw.server = LlamaServer(s.llm_model_path, n_ctx=s.llm_n_ctx,
                                log_path=s.home / "logs" / "llama-server.log").start()
        url = gw.server.url
    return make_backend(s.llm_backend, url, s, model=s.llm_model_name)


def _fallback_backend(s: Settings) -> LLMBackend | None:
    return make_backend(s.llm_backend, s.llm_fallback_url, s, model="fallback") if s.llm_fallback_url else None


def _gw(request: Request) -> Gateway:
    return request.app.state.gw


def _ctx(request: Request) -> RequestContext:
    return request.state.ctx


def _guard(request: Request, *roles: str) -> Principal:
    gw = _gw(request)
    ctx = _ctx(request)
    try:
        p = gw.auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except ApiError as e:
        # failed credentials are limited per client address, so guessing tokens is slow too
        wait = gw.limiter.acquire(f"addr:{ctx.client}") if e.status == 401 else 0.0
        if wait > 0:
            raise ApiError(429, "too many unauthenticated requests from this address",
                           headers={"Retry-After": str(max(1, round(wait)))}) from e
        raise
    ctx.principal = p
    require_role(p, *(roles or ("admin", "api_user")))
    wait = gw.limiter.acquire(p.key)
    if wait > 0:
        raise ApiError(429, f"rate limit of {gw.settings.rate_limit_per_s:g} requests/s exceeded",
                       headers={"Retry-After": str(max(1, round(wait)))})
    return p


def _params(gw: Gateway, max_new_tokens: int | None, **kw) -> GenParams:
    limit = gw.settings.max_new_tokens_limit
    n = max_new_tokens or min(128, limit)
    if n > limit:
        raise ApiError(422, f"Input validation error: `max_new_tokens` must be <= {limit}. Given: {n}", "validation")
    stop = list(kw.pop("stop", None) or [])[:4]  # the prompt's own stops are added by the backend, up to 4
    return GenParams(max_new_tokens=n, stop=stop, **{k: v for k, v in kw.items() if v is not None})


def _check_input(gw: Gateway, text: str) -> None:
    if len(text) > gw.settings.max_input_chars:
        raise ApiError(413, f"input of {len(text)} characters exceeds the limit of {gw.settings.max_input_chars}")


@dataclass
class RequestObserver:
    """The gateway's side of the answer pipeline: metrics and the audit row, the same for every route."""

    gw: Gateway
    ctx: RequestContext
    endpoint: str
    streamed: bool

    def retrieved(self, r: RetrievalResult) -> None:
        self.gw.metrics.retrieval.labels(r.mode).observe(r.timings_ms["total"] / 1e3)

    def backend_state(self, up: bool) -> None:
        self.gw.metrics.backend_up.set(1 if up else 0)

    def finished(self, answer: Answer, failed: bool, seconds: float) -> None:
        self.gw.metrics.tokens.inc(answer.generated_tokens)
        self.ctx.output_chars = len(answer.text)
        if self.streamed:  # the middleware only saw the response start: the stream times and audits itself
            self.gw.metrics.latency.labels(self.endpoint).observe(seconds)
            self.gw.audit.record(self.ctx.row(self.endpoint, 503 if failed else 200, seconds * 1e3))


async def _answering(call):
    """Run an AnswerService call, turning its errors into the API's statuses."""
    try:
        return await call
    except NoKnowledgeBase as e:
        raise ApiError(503, str(e), "not_ready") from e
    except BackendUnavailable as e:
        raise ApiError(503, f"generation backend unavailable: {e}", "overloaded") from e
    except BackendError as e:
        raise ApiError(e.status, str(e), "generation") from e


def _take_slot(gw: Gateway) -> Callable[[], None]:
    """A generation slot or TGI's 429 "overloaded"; returns the release (once, whoever calls it)."""
    if not gw.slots.try_acquire():
        raise ApiError(429, f"Model is overloaded: {gw.slots.limit} requests in flight on this worker",
                       "overloaded", headers={"Retry-After": "1"})
    gw.metrics.in_flight.set(gw.slots.active)
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            gw.slots.release()
            gw.metrics.in_flight.set(gw.slots.active)

    return release


def _extension(r: RetrievalResult) -> dict:
    return {"citations": prompts.citations(r), "facts": prompts.facts(r), "answer": prompts.graph_answer(r),
            "linked_entities": r.linked_entities,
            "retrieval": {"mode": r.mode, "index_version": r.version, "ms": round(r.timings_ms["total"], 2)}}


def _sse(payload: dict) -> str:
    return f"data:{json.dumps(payload)}\n\n"


def _routes(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        gw = _gw(request)
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
        if not ctx.deferred:  # a stream observes its latency when it ends, not at its first byte
            gw.metrics.latency.labels(endpoint).observe(latency)
        response.headers["X-Request-ID"] = rid
        if endpoint not in ("/metrics", "/health") and not ctx.deferred:
            gw.audit.record(ctx.row(endpoint, response.status_code, latency * 1e3))
        return response

    async def tgi_generate(request: Request, force_stream: bool | None, as_list: bool) -> Response:
        gw, ctx = _gw(request), _ctx(request)
        p = _guard(request)
        body: TgiRequest = await parse_body(request, TgiRequest, gw.settings.max_request_bytes)
        ctx.input_text = body.inputs
        _check_input(gw, body.inputs)
        tp = body.parameters
        params = _params(gw, tp.max_new_tokens, temperature=tp.temperature, top_p=tp.top_p, top_k=tp.top_k,
                         repetition_penalty=tp.repetition_penalty, seed=tp.seed, stop=tp.stop or None)
        streamed = force_stream if force_stream is not None else body.stream
        endpoint = request.scope["route"].path
        obs = RequestObserver(gw, ctx, endpoint, streamed)
        release = _take_slot(gw)
        try:
            if streamed:
                started = await _answering(gw.answers.stream(body.inputs, params, p.departments, observer=obs))
                ctx.deferred = True
                return StreamingResponse(_tgi_events(started, release), media_type="text/event-stream",
                                         background=BackgroundTask(release))
            a = await _answering(gw.answers.answer(body.inputs, params, p.departments, observer=obs))
        finally:
            if not ctx.deferred:
                release()
        out = {"generated_text": a.text, "kgflow": _extension(a.retrieval)}
        if tp.details:
            out["details"] = {"finish_reason": a.finish_reason, "generated_tokens": a.generated_tokens,
                              "seed": tp.seed, "prefill": [], "tokens": [], "top_tokens": None,
                              "best_of_sequences": None}
        return JSONResponse([out] if as_list else out)

    @app.post("/generate")
    async def generate(request: Request) -> Response:
        return await tgi_generate(request, False, as_list=False)

    @app.post("/generate_stream")
    async def generate_stream(request: Request) -> Response:
        return await tgi_generate(request, True, as_list=False)

    @app.post("/")
    async def compat_generate(request: Request) -> Response:
        """What text_generation.Client calls: the base URL, `stream` in the body, a list when not streaming."""
        return await tgi_generate(request, None, as_list=True)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        gw = _gw(request)
        p = _guard(request)
        body: ChatRequest = await parse_body(request, ChatRequest, gw.settings.max_request_bytes)
        users = [m for m in body.messages if m.role == "user" and m.content]
        if not users:
            raise ApiError(422, "Input validation error: messages: at least one user message with content")
        question = users[-1].content
        _ctx(request).input_text = question
        _check_input(gw, "".join(m.content or "" for m in body.messages))
        stop = [body.stop] if isinstance(body.stop, str) else body.stop
        params = _params(gw, body.max_tokens, temperature=body.temperature or None, top_p=body.top_p,
                         seed=body.seed, repetition_penalty=body.repetition_penalty, stop=stop)
        # earlier turns stay as they were; only the last question gets the retrieved context
        last = max(i for i, m in enumerate(body.messages) if m.role == "user" and m.content)
        history = [{"role": m.role, "content": m.content or ""} for m in body.messages[:last] if m.role != "system"]
        obs = RequestObserver(gw, _ctx(request), "/v1/chat/completions", body.stream)
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), gw.router.current.model_id()
        release = _take_slot(gw)
        try:
            if body.stream:
                started = await _answering(gw.answers.stream(question, params, p.departments, history, obs))
                _ctx(request).deferred = True
                fingerprint = f"kgflow-{__version__}-{started.retrieval.version}"
                return StreamingResponse(_chat_events(started, cid, created, model, fingerprint, release),
                                         media_type="text/event-stream", background=BackgroundTask(release))
            a = await _answering(gw.answers.answer(question, params, p.departments, history, obs))
        finally:
            if not _ctx(request).deferred:
                release()
        return JSONResponse({
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": f"kgflow-{__version__}-{a.retrieval.version}",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": a.text}, "logprobs": None,
                         "finish_reason": "length" if a.finish_reason == "length" else "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": a.generated_tokens,
                      "total_tokens": a.generated_tokens},
            "kgflow": _extension(a.retrieval)})

    @app.get("/info")
    async def info(request: Request) -> dict:
        gw = _gw(request)
        s = gw.settings
        if not s.exposed("info"):
            _guard(request)
        try:
            version = await run_in_threadpool(lambda: gw.engine.snapshot().version)
        except NoKnowledgeBase:
            version = None
        backend = gw.router.current
        return {"model_id": backend.model_id(), "model_sha": None, "model_dtype": backend.dtype,
                "model_device_type": backend.device_type, "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": s.max_concurrent_requests, "max_best_of": 1, "max_stop_sequences": 4,
                "max_input_tokens": s.max_input_chars // 4, "max_total_tokens": s.llm_n_ctx,
                "validation_workers": 1, "max_client_batch_size": 1, "router": "kgflow-gateway",
                "version": __version__, "sha": None, "docker_label": None,
                "kgflow": {"backend": backend.name, "upstream": gw.router.label, "index_version": version,
                           "retrieval_mode": s.retrieval_mode}}

    @app.get("/health")
    async def health(request: Request) -> Response:
        gw = _gw(request)
        ok = await gw.router.current.health()
        gw.metrics.backend_up.set(1 if ok else 0)
        if not ok:
            return JSONResponse(error_body("generation backend is not answering", "overloaded"), status_code=503)
        return Response(status_code=200)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        gw = _gw(request)
        if not gw.settings.exposed("metrics"):
            _guard(request, "admin")
        try:
            gw.metrics.index_vectors.set(gw.engine.snapshot().index.manifest["count"])
        except NoKnowledgeBase:
            pass
        return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/upstream")
    async def switch_upstream(request: Request) -> dict:
        """Blue/green: point generation at another backend URL; in-flight requests finish on the old one."""
        gw = _gw(request)
        _guard(request, "admin")
        body: UpstreamSwitch = await parse_body(request, UpstreamSwitch, gw.settings.max_request_bytes)
        kind, url = body.backend or gw.settings.llm_backend, body.url
        try:
            backend = make_backend(kind, url, gw.settings, model=body.model)
        except (KeyError, ValueError) as e:
            raise ApiError(422, f"Input validation error: backend: unknown backend {kind!r}", "validation") from e
        if not await backend.health():
            await backend.aclose()
            raise ApiError(503, f"new upstream {url} is not healthy; not switching", "overloaded")
        # recorded for every worker and replica, which follow the file within a second
        await gw.router.switch(backend, body.label or url, Upstream(kind, url, body.label or url, body.model))
        return {"upstream": gw.router.label, "url": url}

    @app.post("/admin/reload")
    async def reload(request: Request) -> dict:
        gw = _gw(request)
        _guard(request, "admin")
        gw.engine.refresh()
        snap = await run_in_threadpool(gw.engine.snapshot)
        return {"index_version": snap.version}


async def _tgi_events(started: AnswerStream, release: Callable[[], None]) -> AsyncIterator[str]:
    """TGI's stream: one event per text delta; the last carries generated_text, details and citations."""
    n = 0
    try:
        async for piece in started.events:
            n += 1
            token = {"id": -1, "text": piece.text, "logprob": None, "special": False}
            if piece.finish_reason is None:
                yield _sse({"index": n, "token": token, "top_tokens": None, "generated_text": None, "details": None})
                continue
            yield _sse({"index": n, "token": token, "top_tokens": None, "generated_text": started.answer.text,
                        "details": {"finish_reason": piece.finish_reason, "generated_tokens": piece.generated_tokens,
                                    "seed": None}, "kgflow": _extension(started.retrieval)})
    except (BackendUnavailable, BackendError) as e:
        yield _sse(error_body(f"generation backend failed mid-stream: {e}", "generation"))
    finally:
        release()


async def _chat_events(started: AnswerStream, cid: str, created: int, model: str, fingerprint: str,
                       release: Callable[[], None]) -> AsyncIterator[str]:
    def chunk(content: str | None, reason: str | None, ext: dict | None = None) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": fingerprint,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": content, "tool_calls": None},
                             "logprobs": None, "finish_reason": reason}]}
        if ext:
            body["kgflow"] = ext
        return _sse(body)

    try:
        async for piece in started.events:
            if piece.finish_reason is None:
                yield chunk(piece.text, None)
            else:
                yield chunk(piece.text, "length" if piece.finish_reason == "length" else "stop",
                            _extension(started.retrieval))
    except (BackendUnavailable, BackendError) as e:
        yield _sse(error_body(f"generation backend failed mid-stream: {e}", "generation"))
    finally:
        release()
