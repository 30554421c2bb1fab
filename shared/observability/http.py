"""HTTP metrics middleware and the /healthz, /readyz and /metrics routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

ReadinessCheck = Callable[[], Awaitable[bool]]


def _route_template(request: Request) -> str:
    """The matched path template (`/v1/members/{customer_id}`), keeping label cardinality low."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def instrument(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def record_request(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = _route_template(request)
            HTTP_REQUESTS.labels(service, request.method, route, str(status)).inc()
            HTTP_LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    """/healthz: the process answers. /readyz: every dependency in `checks` answers (else 503)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(*(checks[name]() for name in names), return_exceptions=True)
        status = {name: result is True for name, result in zip(names, results, strict=True)}
        ready = all(status.values())
        body = {"status": "ready" if ready else "unavailable", "checks": status}
        headers = {} if ready else {"Retry-After": "5"}
        return JSONResponse(body, status_code=200 if ready else 503, headers=headers)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
