"""HTTP metrics middleware and the /healthz, /readyz and /metrics routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

ReadinessCheck = Callable[[], Awaitable[bool | str]]
"""True when ready; False, or a message saying what is wrong, when not."""


class HttpObserver:
    """Counts and times requests of one service by (method, route template, status)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        """Metric children by (method, route, status): `labels()` takes a lock and builds keys each call."""

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(self.service, method, route, str(status)),
                HTTP_LATENCY.labels(self.service, method, route),
            )
            if len(self._children) < 10_000:  # bounded: methods are free-form
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


_OBSERVERS: dict[str, HttpObserver] = {}


def http_observer(service: str) -> HttpObserver:
    """The service's observer (one per service name in a process)."""
    observer = _OBSERVERS.get(service)
    if observer is None:
        observer = _OBSERVERS[service] = HttpObserver(service)
    return observer


class RequestMetrics:
    """Pure ASGI middleware counting requests and timing them by route template (low cardinality).

    Pure ASGI rather than BaseHTTPMiddleware, which costs a task group and stream copies per request.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.observer = app, http_observer(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            self.observer.observe(scope["method"], route, status, time.perf_counter() - started)


def instrument(app: FastAPI, service: str) -> None:
    app.add_middleware(RequestMetrics, service=service)


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    """Each dependency's check; `messages` says what is wrong where a check said more than no."""

    status: str
    checks: dict[str, bool]
    messages: dict[str, str] | None = None


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    """/healthz: the process answers. /readyz: every dependency in `checks` answers (else 503)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health()

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is not ready; see Retry-After"}},
    )
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(checks[name]() for name in names), return_exceptions=True)
        status = {name: result is True for name, result in zip(names, results, strict=True)}
        ready = all(status.values())
        body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": status}
        messages = {name: r for name, r in zip(names, results, strict=True) if isinstance(r, str)}
        if messages:
            body["messages"] = messages
        headers = {} if ready else {"Retry-After": "5"}
        return JSONResponse(body, status_code=200 if ready else 503, headers=headers)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
