"""Request bodies, parsed by hand so that each failure gets its own status:
too large -> 413, not UTF-8 or not JSON -> 400, wrong shape -> 422."""

from __future__ import annotations

import json

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from kgflow.gateway.errors import ApiError
from kgflow.llm.base import MAX_STOP_SEQUENCES


class TgiParameters(BaseModel):
    model_config = ConfigDict(extra="ignore")
    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    repetition_penalty: float | None = Field(default=None, gt=0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list, max_length=MAX_STOP_SEQUENCES)
    details: bool = False
    do_sample: bool = False  # as TGI: sample (at temperature 1 unless one is given) instead of greedy decoding

    def sampling_temperature(self) -> float | None:
        return self.temperature if self.temperature is not None or not self.do_sample else 1.0


class TgiRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    inputs: str = Field(min_length=1)
    parameters: TgiParameters = Field(default_factory=TgiParameters)
    stream: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str = Field(pattern="^(system|user|assistant)$")
    content: str | None = None


class ChatRequest(BaseModel):
    """OpenAI/TGI chat body. The text-generation client sends every unset field as null: accept that."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: list[str] | str | None = None
    stream: bool = False
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_max_stops(cls, v: list[str] | str | None) -> list[str] | str | None:
        if isinstance(v, list) and len(v) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences, got {len(v)}")
        return v

    @field_validator("frequency_penalty", "presence_penalty")
    @classmethod
    def _no_penalties(cls, v: float | None, info: ValidationInfo) -> float | None:
        # not every engine behind the gateway applies them (TGI's generate has neither): refused, never ignored
        if v:
            raise ValueError(f"{info.field_name} is not supported: leave it out or 0; repetition_penalty is")
        return v


class UpstreamSwitch(BaseModel):
    """POST /admin/upstream: point generation at another backend (blue/green)."""

    model_config = ConfigDict(extra="ignore")
    url: str = Field(min_length=1, max_length=2048, pattern=r"^https?://")
    backend: str | None = None
    model: str | None = None
    label: str | None = Field(default=None, max_length=200)


async def read_capped(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it passes max_bytes: a chunked upload without a
    Content-Length is never buffered past the limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {max_bytes}")
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > max_bytes:
            raise ApiError(413, f"request body exceeds the limit of {max_bytes} bytes")
        parts.append(part)
    return b"".join(parts)


async def parse_body(request: Request, model: type[BaseModel], max_bytes: int):
    raw = await read_capped(request, max_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"request body is not valid UTF-8 (byte {e.start})") from e
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ApiError(400, f"request body is not valid JSON: {getattr(e, 'msg', 'nested too deeply')}") from e
    if not isinstance(data, dict):
        raise ApiError(422, "Input validation error: body: must be a JSON object", "validation")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "body"
        raise ApiError(422, f"Input validation error: {where}: {first['msg']}"[:500], "validation") from e
