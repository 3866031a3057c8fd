"""What every route shares: the gateway's state, FastAPI dependencies for auth + rate limit and for
bodies, generation limits, the observer that meters and audits answers, and the `kgflow` extension."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from kgflow.answer.service import Answer, AnswerService, AnswerStream
from kgflow.config import Settings
from kgflow.gateway.audit import AuditLog, AuditRow
from kgflow.gateway.auth import Authenticator, Principal, RoleRefused, require_role
from kgflow.gateway.backends import BackendRouter
from kgflow.gateway.errors import ApiError
from kgflow.gateway.metrics import GatewayMetrics
from kgflow.gateway.ratelimit import ConcurrencyLimit, RateLimiter
from kgflow.gateway.requests import ChatRequest, TgiRequest, UpstreamSwitch, parse_body
from kgflow.llm.base import GenParams, StreamPiece
from kgflow.retrieval.engine import RetrievalEngine, RetrievalResult


@dataclass
class RequestContext:
    """Who is asking and under which id; every audit row of the request is written from it."""

    request_id: str
    client: str | None
    principal: Principal | None = None
    claimed: tuple[str, str] | None = None  # (subject, role) of a signed caller refused for its role
    input_text: str | None = None
    output_chars: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)  # the answer's, for Server-Timing

    def row(self, endpoint: str, status: int, latency_ms: float) -> AuditRow:
        sub, role = (self.principal.sub, self.principal.role) if self.principal else \
            self.claimed or ("unauthenticated", None)
        return AuditRow(self.request_id, sub, role, self.client, endpoint, self.input_text, self.output_chars,
                        latency_ms, status)


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
    server: object | None = None  # the supervised llama.cpp server, when the gateway started one
    last_engine: str | None = None  # the engine that answered this worker's latest request (/info)

    @cached_property
    def answers(self) -> AnswerService:
        """Built on first use, after the lifespan has set the router (it follows the live upstream itself)."""
        return AnswerService(self.engine, self.router, self.settings.llm_model_kind)


def gateway(request: Request) -> Gateway:
    return request.app.state.gw


def context(request: Request) -> RequestContext:
    return request.state.ctx


def guard(request: Request, *roles: str) -> Principal:
    gw = gateway(request)
    ctx = context(request)
    try:
        p = gw.auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except RoleRefused as e:
        ctx.claimed = (e.sub, e.role)
        raise
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
        gw.metrics.rejected.labels("rate_limited").inc()
        raise ApiError(429, f"rate limit of {gw.settings.rate_limit_per_s:g} requests/s exceeded",
                       headers={"Retry-After": str(max(1, round(wait)))})
    return p


def gen_params(gw: Gateway, max_new_tokens: int | None, **kw) -> GenParams:
    limit = gw.settings.max_new_tokens_limit
    n = max_new_tokens or min(128, limit)
    if n > limit:
        raise ApiError(422, f"Input validation error: `max_new_tokens` must be <= {limit}. Given: {n}", "validation")
    stop = list(kw.pop("stop", None) or [])  # at most MAX_STOP_SEQUENCES (requests); the prompt's are added later
    return GenParams(max_new_tokens=n, stop=stop, **{k: v for k, v in kw.items() if v is not None})


def check_input(gw: Gateway, text: str) -> None:
    if len(text) > gw.settings.max_input_chars:
        raise ApiError(413, f"input of {len(text)} characters exceeds the limit of {gw.settings.max_input_chars}")


@dataclass
class RequestObserver:
    """The gateway's side of the answer pipeline: metrics, and what the request's audit row records, the same
    for every route."""

    gw: Gateway
    ctx: RequestContext
    streamed: bool

    def retrieved(self, r: RetrievalResult) -> None:
        self.gw.metrics.retrieval.labels(r.mode).observe(r.timings_ms["total"] / 1e3)

    def backend_state(self, engine: str, up: bool) -> None:
        self.gw.metrics.backend_up.labels(engine).set(1 if up else 0)
        if up:
            self.gw.last_engine = engine

    def finished(self, answer: Answer, seconds: float) -> None:
        self.ctx.timings_ms = answer.timings_ms
        self.gw.metrics.tokens.inc(answer.generated_tokens)
        self.gw.metrics.answers.labels(answer.engine, answer.grounding.action if answer.grounding else "kept").inc()
        self.ctx.output_chars = len(answer.text)


Render = Callable[[AnswerStream, StreamPiece, int], BaseModel]  # a stream's n-th piece as the protocol's event


async def respond(gw: Gateway, ctx: RequestContext, obs: RequestObserver, question: str, params: GenParams,
                  departments: frozenset[str] | None, history: list[dict] | None,
                  render: Render) -> Answer | StreamingResponse:
    """Answer within a generation slot: the whole Answer, or (when `obs.streamed`) an SSE response whose events
    `render` shapes per protocol. The answer is whole and grounded before either starts, so every error is a
    status, never a broken stream."""
    release = take_slot(gw)
    try:
        if obs.streamed:
            started = await gw.answers.stream(question, params, departments, history, obs)
            return StreamingResponse(_sse_events(started, render), media_type="text/event-stream")
        return await gw.answers.answer(question, params, departments, history, obs)
    finally:
        release()


async def _sse_events(started: AnswerStream, render: Render) -> AsyncIterator[str]:
    """One event per piece of the answer; the last carries the finish."""
    n = 0
    async for piece in started.events:
        n += 1
        yield sse(render(started, piece, n))


def take_slot(gw: Gateway) -> Callable[[], None]:
    """A generation slot or TGI's 429 "overloaded"; returns the release (once, whoever calls it)."""
    if not gw.slots.try_acquire():
        gw.metrics.rejected.labels("overloaded").inc()
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


def sse(event: BaseModel) -> str:
    return f"data:{event.model_dump_json()}\n\n"


def caller(request: Request) -> Principal:
    """Dependency: an authenticated caller of any role, within its rate limit."""
    return guard(request)


def admin(request: Request) -> Principal:
    """Dependency: an authenticated admin, within its rate limit."""
    return guard(request, "admin")


def json_body(model: type) -> Callable:
    """Dependency: the request body as `model`, read capped (413), then JSON (400), then shape (422)."""

    async def parse(request: Request):
        return await parse_body(request, model, gateway(request).settings.max_request_bytes)

    parse.__name__ = f"{model.__name__.lower()}_body"
    return Depends(parse)


def body_schema(model: type) -> dict:
    """OpenAPI for a body read by json_body (FastAPI cannot see it): the documented schema stays true."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


# Annotated dependencies for route signatures (declared once; FastAPI resolves them in this order)
Caller = Annotated[Principal, Depends(caller)]
Admin = Annotated[Principal, Depends(admin)]
TgiBody = Annotated[TgiRequest, json_body(TgiRequest)]
ChatBody = Annotated[ChatRequest, json_body(ChatRequest)]
UpstreamBody = Annotated[UpstreamSwitch, json_body(UpstreamSwitch)]
