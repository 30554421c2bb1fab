"""What a request answers when its handling raised something no route caught.

The request's content is at fault (4xx) when the database refused one of its values: a data exception
(SQLSTATE class 22: out of range, invalid text, NUL) is a 422, an integrity violation (class 23) a 409.
A dependency that failed (connection refused or lost, timeout, shutdown, deadlock: what retrying can
cure) is a 503 with Retry-After. Anything else is a bug: a 500, logged with the request's id, which the
answer carries in X-Request-ID so a report can be matched to its log line.
"""

from __future__ import annotations

import re
import socket
import uuid
from typing import Literal

import asyncpg
import sqlalchemy.exc
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from shared.params import NUL_MESSAGE

log = structlog.get_logger(__name__)

Verdict = Literal["bad_value", "conflict", "unavailable"]
BY_SQLSTATE_CLASS: dict[str, Verdict] = {
    "22": "bad_value",
    "23": "conflict",
    "08": "unavailable",  # connection exception
    "40": "unavailable",  # serialization failure, deadlock: the same request can succeed again
    "53": "unavailable",  # insufficient resources (too many connections, disk full)
    "57": "unavailable",  # operator intervention: shutdown, statement timeout
    "58": "unavailable",  # system error (I/O)
}
UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    sqlalchemy.exc.TimeoutError,  # no pooled connection in time
)
NUL_STATES = frozenset({"22021", "22P05"})
"""PostgreSQL's SQLSTATEs for text it cannot store (a NUL character, in text or jsonb)."""
RETRY_AFTER_S = 5
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _database_error(exc: BaseException) -> BaseException | None:
    """The exception carrying a SQLSTATE in `exc`'s chain (SQLAlchemy wraps asyncpg's in `orig`)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(getattr(seen, "sqlstate", None), str):
            return seen
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def verdict(exc: BaseException) -> Verdict | None:
    """What `exc` says about the request; None for a bug."""
    found = _database_error(exc)
    if found is not None:
        return BY_SQLSTATE_CLASS.get(str(getattr(found, "sqlstate", ""))[:2])
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return "unavailable"
    return "unavailable" if isinstance(exc, UNAVAILABLE_TYPES) else None


def request_id(request: Request) -> str:
    """The caller's X-Request-ID when it is a plain token, else a new one (kept for the request)."""
    known: str | None = getattr(request.state, "request_id", None)
    if known is None:
        presented = request.headers.get("x-request-id", "")
        known = presented if _REQUEST_ID.fullmatch(presented) else uuid.uuid4().hex
        request.state.request_id = known
    return known


async def residual_error(request: Request, exc: Exception) -> Response:
    """The answer to an exception no route handled (re-raised when it is a bug, for `internal_error`)."""
    kind = verdict(exc)
    if kind is None:
        raise exc
    rid, found = request_id(request), _database_error(exc)
    log.warning("request_failed", request_id=rid, verdict=kind, error=f"{type(exc).__name__}: {exc}"[:500])
    headers = {"X-Request-ID": rid}
    if kind == "unavailable":
        unavailable = {"detail": "database or broker unavailable; retry after Retry-After seconds"}
        return JSONResponse(unavailable, 503, headers | {"Retry-After": str(RETRY_AFTER_S)})
    state = str(getattr(found, "sqlstate", ""))
    field = "body" if request.headers.get("content-length", "0") != "0" else "request"
    if state in NUL_STATES:
        message, code = NUL_MESSAGE, "string_nul"
    else:
        reason = str(found).splitlines()[0][:200] if found is not None else type(exc).__name__
        what = "conflicts with stored data" if kind == "conflict" else "is out of range or not valid"
        message, code = f"a value of {request.method} {request.url.path} {what}: {reason}", "data_exception"
    detail = [{"field": field, "message": message, "type": code}]
    return JSONResponse({"detail": detail}, 409 if kind == "conflict" else 422, headers)


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback and the request id; the 500 carries the id in X-Request-ID."""
    rid = request_id(request)
    log.error("request_error", request_id=rid, method=request.method, path=request.url.path, exc_info=exc)
    return PlainTextResponse("Internal Server Error", 500, {"X-Request-ID": rid})


def install_failure_answers(app: FastAPI) -> None:
    for kind in (sqlalchemy.exc.SQLAlchemyError, asyncpg.PostgresError, *UNAVAILABLE_TYPES):
        app.add_exception_handler(kind, residual_error)
    app.add_exception_handler(Exception, internal_error)
