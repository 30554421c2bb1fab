"""Clear answers to bad requests: 413 for oversized bodies, 400 for malformed JSON, 422 naming each field;
what no route handled is answered by shared.http_failures (4xx, 503, or a 500 logged with its request id)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http_failures import install_failure_answers
from shared.params import NUL_MESSAGE as NUL_MESSAGE  # re-exported: its historic home

REJECTIONS = Counter(
    "http_request_rejections_total", "Requests refused before reaching a handler.", ["service", "reason"]
)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware answering 413 when a request body exceeds max_bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int, service: str) -> None:
        self.app, self.max_bytes, self.service = app, max_bytes, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        await too_large(self.service, self.max_bytes)({"type": "http"}, _empty_receive, send)


def too_large(service: str, max_bytes: int) -> JSONResponse:
    """The 413 answer to a body over `max_bytes` (counted as a rejection)."""
    REJECTIONS.labels(service, "too_large").inc()
    return JSONResponse({"detail": f"request body exceeds {max_bytes} bytes"}, status_code=413)


async def read_body(request: Request, max_bytes: int, service: str) -> bytes:
    """The body of a route that takes less than the app's limit (answered 413 above `max_bytes`, declared
    or streamed, like BodyLimit): read by the route itself, because FastAPI reads a declared body before
    any of the route's code runs."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        _refuse_large(service, max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            _refuse_large(service, max_bytes)
    return bytes(body)


def _refuse_large(service: str, max_bytes: int) -> None:
    REJECTIONS.labels(service, "too_large").inc()
    raise HTTPException(413, detail=f"request body exceeds {max_bytes} bytes")


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def field_path(loc: tuple[Any, ...]) -> str:
    """`("body", "records", 3, "csat")` → `records[3].csat`."""
    parts = [p for p in loc if p not in ("body",)]
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "where, e.g. records[3].csat"},
        "message": {"type": "string"},
        "type": {"type": "string", "description": "the kind of error, e.g. missing, value_error"},
    },
}


def document_field_errors(app: FastAPI) -> None:
    """The OpenAPI document describes 422 bodies as they are sent (field, message), not FastAPI's default."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI after the first call; the edit below is idempotent
        schemas = schema.get("components", {}).get("schemas", {})
        if "ValidationError" in schemas:
            schemas["ValidationError"] = FIELD_ERROR_SCHEMA
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI, service: str) -> None:
    document_field_errors(app)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        malformed = [e for e in errors if e.get("type") == "json_invalid"]
        if malformed:
            REJECTIONS.labels(service, "malformed_json").inc()
            context = malformed[0].get("ctx", {})
            return JSONResponse(
                {"detail": f"malformed JSON: {context.get('error', 'cannot be parsed')}"}, status_code=400
            )
        REJECTIONS.labels(service, "validation").inc()
        detail = [
            {"field": field_path(tuple(e["loc"])), "message": e["msg"], "type": e["type"]} for e in errors
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    install_failure_answers(app)
