"""Response types of the gateway, declared once: TGI's and OpenAI's own (from `text_generation.types`)
extended by the `kgflow` field that carries citations, graph facts and the graph's answer. The routes
document them in the OpenAPI schema and tests validate real responses against them."""

from __future__ import annotations

from typing import Literal

import text_generation.types as tgt
from pydantic import BaseModel, ConfigDict

from kgflow.answer.types import KgflowExtension  # its parts are the answer pipeline's types, declared there


class GenerateResponse(tgt.Response):
    """TGI's /generate body; `details` only when the request asked for it."""

    details: tgt.Details | None = None
    kgflow: KgflowExtension


class StreamEvent(tgt.StreamResponse):
    """One event of TGI's stream; the last one also carries `kgflow`."""

    index: int
    kgflow: KgflowExtension | None = None


class ChatResponse(tgt.ChatComplete):
    kgflow: KgflowExtension


class ChatChunk(tgt.ChatCompletionChunk):
    """One event of a streamed chat answer; the last one also carries `kgflow`."""

    kgflow: KgflowExtension | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str
    created: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class KgflowInfo(BaseModel):
    backend: str
    engine: str  # the server behind the backend: "vLLM server", "Triton Inference Server (...)", ...
    upstream: str
    index_version: str | None
    fallback: str | None  # KGFLOW_LLM_FALLBACK_URL: the engine answering while the primary is down
    answered_by: Literal["primary", "fallback"] | None  # this worker's latest answer
    retrieval_mode: str
    worker: int  # the answering worker's process id: which of N workers said this


class Info(BaseModel):
    """TGI's /info, with what kgflow adds."""

    model_config = ConfigDict(protected_namespaces=())
    model_id: str
    model_sha: str | None
    model_dtype: str | None
    model_device_type: str
    model_pipeline_tag: str
    max_concurrent_requests: int
    max_best_of: int
    max_stop_sequences: int
    max_input_tokens: int
    max_total_tokens: int
    validation_workers: int
    max_client_batch_size: int
    router: str
    version: str
    sha: str | None
    docker_label: str | None
    kgflow: KgflowInfo


class ErrorBody(BaseModel):
    """Every error: a message a person can act on and TGI's error type."""

    error: str
    error_type: str


class UpstreamSwitched(BaseModel):
    upstream: str
    url: str


class Reloaded(BaseModel):
    index_version: str


ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 413, 422, 429, 503)}
