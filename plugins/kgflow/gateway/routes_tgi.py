"""TGI's protocol: /generate, /generate_stream, POST / (what text_generation.Client calls), /info, /health."""

from __future__ import annotations

import os

import text_generation.types as tgt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from kgflow import __version__
from kgflow.answer.service import AnswerStream
from kgflow.gateway.auth import Principal
from kgflow.gateway.deps import (
    Caller,
    RequestObserver,
    TgiBody,
    body_schema,
    check_input,
    context,
    gateway,
    gen_params,
    guard,
    respond,
)
from kgflow.gateway.errors import error_body
from kgflow.gateway.requests import TgiRequest
from kgflow.gateway.schemas import ERRORS, GenerateResponse, Info, KgflowInfo, StreamEvent
from kgflow.llm.base import MAX_STOP_SEQUENCES, StreamPiece
from kgflow.retrieval.engine import NoKnowledgeBase

router = APIRouter(tags=["TGI"])
STREAM = {200: {"description": "server-sent events, one `StreamEvent` each", "model": StreamEvent,
                "content": {"text/event-stream": {}}}}


async def _generate(request: Request, p: Principal, body: TgiRequest, streamed: bool,
                    as_list: bool) -> GenerateResponse | list[GenerateResponse] | StreamingResponse:
    gw, ctx = gateway(request), context(request)
    ctx.input_text = body.inputs
    check_input(gw, body.inputs)
    tp = body.parameters
    params = gen_params(gw, tp.max_new_tokens, temperature=tp.sampling_temperature(), top_p=tp.top_p, top_k=tp.top_k,
                        repetition_penalty=tp.repetition_penalty, seed=tp.seed, stop=tp.stop or None)
    obs = RequestObserver(gw, ctx, streamed)
    a = await respond(gw, ctx, obs, body.inputs, params, p.departments, None, _event)
    if isinstance(a, StreamingResponse):
        return a
    details = tgt.Details(finish_reason=a.finish_reason, generated_tokens=a.generated_tokens, seed=tp.seed,
                          prefill=[], tokens=[], top_tokens=None, best_of_sequences=None) if tp.details else None
    out = GenerateResponse(generated_text=a.text, details=details, kgflow=a.extension())
    return [out] if as_list else out


def _event(started: AnswerStream, piece: StreamPiece, n: int) -> StreamEvent:
    """One event of TGI's stream; the last carries generated_text, details and the citations."""
    token = tgt.Token(id=-1, text=piece.text, logprob=None, special=False)
    if piece.finish_reason is None:
        return StreamEvent(index=n, token=token, top_tokens=None, generated_text=None, details=None)
    return StreamEvent(index=n, token=token, top_tokens=None, generated_text=started.answer.text,
                       details=tgt.StreamDetails(finish_reason=piece.finish_reason,
                                                 generated_tokens=piece.generated_tokens, seed=None),
                       kgflow=started.answer.extension())


@router.post("/generate", response_model=GenerateResponse, responses=ERRORS, openapi_extra=body_schema(TgiRequest))
async def generate(request: Request, p: Caller, body: TgiBody):
    return await _generate(request, p, body, streamed=False, as_list=False)


@router.post("/generate_stream", responses={**STREAM, **ERRORS}, openapi_extra=body_schema(TgiRequest))
async def generate_stream(request: Request, p: Caller,
                          body: TgiBody) -> StreamingResponse:
    return await _generate(request, p, body, streamed=True, as_list=False)


@router.post("/", response_model=list[GenerateResponse], responses={**STREAM, **ERRORS},
             openapi_extra=body_schema(TgiRequest))
async def compat_generate(request: Request, p: Caller, body: TgiBody):
    """What text_generation.Client calls: the base URL, `stream` in the body, a list when not streaming."""
    return await _generate(request, p, body, streamed=body.stream, as_list=True)


@router.get("/info", response_model=Info, responses=ERRORS)
async def info(request: Request):
    gw = gateway(request)
    s = gw.settings
    if not s.exposed("info"):
        guard(request)
    try:
        version = await run_in_threadpool(lambda: gw.engine.snapshot().version)
    except NoKnowledgeBase:
        version = None
    backend = gw.router.current
    return Info(
        model_id=backend.model_id(), model_sha=None, model_dtype=backend.dtype, model_device_type=backend.device_type,
        model_pipeline_tag="text-generation", max_concurrent_requests=s.max_concurrent_requests, max_best_of=1,
        max_stop_sequences=MAX_STOP_SEQUENCES, max_input_tokens=s.max_input_chars // 4,
        max_total_tokens=s.llm_n_ctx, validation_workers=1, max_client_batch_size=1, router="kgflow-gateway",
        version=__version__, sha=None, docker_label=None,
        kgflow=KgflowInfo(backend=backend.name, engine=backend.engine, upstream=gw.router.label,
                          fallback=s.llm_fallback_url, answered_by=gw.last_engine, index_version=version,
                          retrieval_mode=s.retrieval_mode, worker=os.getpid()))


@router.get("/health", responses={503: ERRORS[503]})
async def health(request: Request) -> Response:
    gw = gateway(request)
    ok = await gw.router.current.health()
    gw.metrics.backend_up.labels("primary").set(1 if ok else 0)
    if not ok and gw.router.fallback is not None:  # answers still come, from the fallback engine
        ok = await gw.router.fallback.health()
        gw.metrics.backend_up.labels("fallback").set(1 if ok else 0)
    if not ok:
        return JSONResponse(error_body("generation backend is not answering", "overloaded"), status_code=503)
    return Response(status_code=200)
