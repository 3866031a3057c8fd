"""TGI-shaped JSON errors ({"error", "error_type"}) with a status a client can act on."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from kgflow.errors import KgflowError

log = logging.getLogger("kgflow.gateway")

_TYPES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          413: "payload_too_large", 422: "validation", 429: "rate_limited", 499: "client_closed",
          503: "overloaded"}


class ApiError(KgflowError):
    """A request the gateway refuses (auth, limits, input): raised by the gateway's own checks."""

    def __init__(self, status: int, message: str, error_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, status=status, error_type=error_type or _TYPES.get(status, "error"),
                         headers=headers)


def error_body(message: str, error_type: str) -> dict:
    return {"error": message, "error_type": error_type}


def error_response(status: int, message: str, error_type: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, error_type or _TYPES.get(status, "error")), status_code=status,
                        headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KgflowError)
    async def _kgflow(_: Request, e: KgflowError) -> JSONResponse:
        if e.status >= 500:
            log.warning("%s: %s", type(e).__name__, e.message)
        return error_response(e.status, e.message, e.error_type, e.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error_response(422, f"Input validation error: {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return error_response(e.status_code, str(e.detail))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> JSONResponse:
        # nginx's 499: the caller hung up mid-body. Nobody reads the answer; it is no server error (no 5xx, no alert)
        log.info("client closed the request before its body arrived: %s", request.url.path)
        return error_response(499, "client closed the request before sending all of it")

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal error (logged by the gateway)", "internal")
