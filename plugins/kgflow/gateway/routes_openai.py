"""The OpenAI-compatible protocol: /v1/chat/completions (whole or streamed) and /v1/models."""

from __future__ import annotations

import time
import uuid

import text_generation.types as tgt
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from kgflow import __version__
from kgflow.answer.service import AnswerStream
from kgflow.gateway.deps import (
    Caller,
    ChatBody,
    RequestObserver,
    body_schema,
    check_input,
    context,
    gateway,
    gen_params,
    respond,
)
from kgflow.gateway.errors import ApiError
from kgflow.gateway.requests import ChatRequest
from kgflow.gateway.schemas import ERRORS, ChatChunk, ChatResponse, Model, ModelList, Usage
from kgflow.llm.base import StreamPiece

router = APIRouter(tags=["OpenAI-compatible"])


@router.post("/v1/chat/completions", response_model=ChatResponse, openapi_extra=body_schema(ChatRequest),
             responses={200: {"content": {"text/event-stream": {}}}, **ERRORS})
async def chat(request: Request, p: Caller, body: ChatBody):
    gw, ctx = gateway(request), context(request)
    users = [m for m in body.messages if m.role == "user" and m.content]
    if not users:
        raise ApiError(422, "Input validation error: messages: at least one user message with content")
    question = users[-1].content
    ctx.input_text = question
    check_input(gw, "".join(m.content or "" for m in body.messages))
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    params = gen_params(gw, body.max_tokens, temperature=body.temperature or None, top_p=body.top_p, seed=body.seed,
                        repetition_penalty=body.repetition_penalty, stop=stop)
    # earlier turns stay as they were; only the last question gets the retrieved context
    last = max(i for i, m in enumerate(body.messages) if m.role == "user" and m.content)
    history = [{"role": m.role, "content": m.content or ""} for m in body.messages[:last] if m.role != "system"]
    obs = RequestObserver(gw, ctx, body.stream)
    cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), gw.router.current.model_id()

    def chunk(started: AnswerStream, piece: StreamPiece, n: int) -> ChatChunk:
        """One `chat.completion.chunk`; the last carries the finish reason and the citations."""
        return ChatChunk(id=cid, object="chat.completion.chunk", created=created, model=model,
                         system_fingerprint=f"kgflow-{__version__}-{started.retrieval.version}",
                         choices=[tgt.Choice(index=0, delta=tgt.ChoiceDelta(role="assistant", content=piece.text,
                                                                             tool_calls=None),
                                             logprobs=None, finish_reason=_finish(piece.finish_reason))],
                         kgflow=started.answer.extension() if piece.finish_reason is not None else None)

    a = await respond(gw, ctx, obs, question, params, p.departments, history, chunk)
    if isinstance(a, StreamingResponse):
        return a
    prompt_tokens = a.prompt_tokens or 0
    return ChatResponse(
        id=cid, object="chat.completion", created=created, model=model,
        system_fingerprint=f"kgflow-{__version__}-{a.retrieval.version}",
        choices=[tgt.ChatCompletionComplete(index=0, message=tgt.Message(role="assistant", content=a.text),
                                            logprobs=None, finish_reason=_finish(a.finish_reason))],
        usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=a.generated_tokens,
                    total_tokens=prompt_tokens + a.generated_tokens),
        kgflow=a.extension())


def _finish(tgi_reason: str | None) -> str | None:
    """OpenAI's finish reason for TGI's (None while the stream goes on)."""
    if tgi_reason is None:
        return None
    return "length" if tgi_reason == "length" else "stop"


@router.get("/v1/models", response_model=ModelList, responses=ERRORS)
async def models(request: Request, _: Caller) -> ModelList:
    """The one model this gateway answers with (OpenAI clients list models before they ask)."""
    return ModelList(data=[Model(id=gateway(request).router.current.model_id(), owned_by="kgflow", created=0)])
