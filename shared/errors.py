"""Clear answers to bad requests: 413 for oversized bodies, 400 for malformed JSON, 422 naming each field."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL_MESSAGE = "must not contain NUL (U+0000) characters, which cannot be stored"

REJECTIONS = Counter(
    "http_request_rejections_total", "Requests refused before reaching a handler.", ["service", "reason"]
)


class BodyTooLarge(Exception):
    pass


UNSTORABLE_TEXT = frozenset({"22021", "22P05"})
"""PostgreSQL's SQLSTATEs for text it cannot store (a NUL character, in text or jsonb): bad input."""


def _sqlstate(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


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

    async def unstorable_text(request: Request, exc: Exception) -> JSONResponse:
        if _sqlstate(exc) not in UNSTORABLE_TEXT:
            raise exc
        REJECTIONS.labels(service, "validation").inc()
        detail = [{"field": "body", "message": NUL_MESSAGE, "type": "string_nul"}]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(DBAPIError, unstorable_text)
    app.add_exception_handler(asyncpg.PostgresError, unstorable_text)
