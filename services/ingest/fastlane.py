"""A fast lane for a service's hottest routes: a request to a route declared direct (an endpoint that
takes the Request, see services.ingest.direct_routes) skips Starlette's middleware stack and router and runs
that endpoint at once, with what that stack would have done for it done here, in the same way: the body
limit (413), the app's exception handlers (400, 401, 409, 422, 429, 503…), a 500 for anything else
(then re-raised for the server to log), and the HTTP metrics under the route's template.

Why: a bare ASGI app validating the feedback model answered several times the requests per second of the
same model behind a FastAPI endpoint: the stack's layers (each a coroutine and a `send` wrapper per
request) cost more CPU than ingest's own work. The routes stay in the router,
so the OpenAPI document, `app.routes` and every other path are unchanged. The lane stays closed (all
requests take the stack) when the app has middleware it does not replicate, debug mode, or FastAPI's
own body limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from services.ingest.direct_routes import SCHEMAS
from shared.errors import BodyLimit, BodyTooLarge, too_large
from shared.observability.http import HttpObserver, RequestMetrics, http_observer

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
ExceptionHandler = Callable[[Request, Exception], Any]
REPLICATED: frozenset[object] = frozenset({RequestMetrics, BodyLimit})
"""The middleware build_app installs, whose work the lane does itself."""


class ServiceApp(FastAPI):
    """A FastAPI app whose direct routes take the fast lane (see the module docstring)."""

    def __init__(self, *, service: str, max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service, self.max_body_bytes = service, max_body_bytes
        self._lanes: dict[tuple[str, str], _Lane] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            lanes = self._lanes if self._lanes is not None else self._open_lanes()
            if lanes:
                lane = lanes.get((scope["method"], get_route_path(scope)))
                if lane is not None:
                    await lane(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document with the schema of each direct route's body model (FastAPI registers only
        the models of the parameters it parses itself)."""
        if self.openapi_schema is not None:
            return self.openapi_schema
        schema = super().openapi()
        models: dict[str, type[BaseModel]] = {}
        for context in iter_route_contexts(self.routes):
            model = getattr(context.original_route, "body_model", None)
            if model is not None:
                models[model.__name__] = model
        if models:
            _, found = models_json_schema(
                [(models[name], "validation") for name in sorted(models)], ref_template=SCHEMAS + "{model}"
            )
            known = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in found.get("$defs", {}).items():
                known.setdefault(name, definition)
        return schema

    def _open_lanes(self) -> dict[tuple[str, str], _Lane]:
        """One lane per (method, path) of each direct route; none if the stack does more than the
        lane replicates. Built at the first request, when every route and handler is in place."""
        lanes: dict[tuple[str, str], _Lane] = {}
        replicable = (
            not self.debug
            and self.max_body_size is None
            and all(m.cls in REPLICATED for m in self.user_middleware)
        )
        if replicable:
            handlers = _Handlers(self.exception_handlers)
            observer = http_observer(self.service)
            for context in iter_route_contexts(self.routes):  # with the include prefixes applied
                direct = getattr(context.original_route, "direct_handler", None)
                path = context.path
                if direct is None or path is None or "{" in path:
                    continue
                lane = _Lane(self, path, context, direct, observer, handlers)
                for method in context.methods or ():
                    lanes.setdefault((method, path), lane)
        self._lanes = lanes
        return lanes


class _Handlers:
    """The app's exception handlers, looked up as Starlette's ExceptionMiddleware and
    ServerErrorMiddleware do."""

    def __init__(self, configured: dict[Any, ExceptionHandler]) -> None:
        self.error = configured.get(500) or configured.get(Exception)
        self.by_status = {k: v for k, v in configured.items() if isinstance(k, int) and k != 500}
        self.by_class = {k: v for k, v in configured.items() if isinstance(k, type) and k is not Exception}

    def find(self, exc: Exception) -> ExceptionHandler | None:
        if isinstance(exc, HTTPException) and exc.status_code in self.by_status:
            return self.by_status[exc.status_code]
        return next((self.by_class[c] for c in type(exc).__mro__ if c in self.by_class), None)


async def _call(handler: ExceptionHandler, request: Request, exc: Exception) -> Response:
    if is_async_callable(handler):
        response: Response = await handler(request, exc)
    else:
        response = await run_in_threadpool(handler, request, exc)
    return response


class _Lane:
    def __init__(
        self,
        app: ServiceApp,
        path: str,
        route: object,
        handler: Handler,
        observer: HttpObserver,
        handlers: _Handlers,
    ) -> None:
        self.app, self.path, self.route, self.handler = app, path, route, handler
        self.observer, self.handlers = observer, handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        scope["app"], scope["route"] = self.app, self.route  # as Starlette sets them
        status = 500
        request = Request(scope, self._limited(receive))
        try:
            try:
                response = await self._answer(request, scope)
            except Exception as exc:
                error = self.handlers.error
                fallback = PlainTextResponse("Internal Server Error", status_code=500)
                await (fallback if error is None else await _call(error, request, exc))(scope, receive, send)
                raise
            status = response.status_code
            await response(scope, receive, send)
        finally:
            self.observer.observe(scope["method"], self.path, status, time.perf_counter() - started)

    def _limited(self, receive: Receive) -> Receive:
        """`receive`, raising BodyTooLarge once more than the limit has arrived."""
        limit, seen = self.app.max_body_bytes, 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
            return message

        return limited

    async def _answer(self, request: Request, scope: Scope) -> Response:
        """The handler's response, or the app's answer to what it raised (raises what none handles)."""
        try:
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.app.max_body_bytes:
                    raise BodyTooLarge
            return await self.handler(request)
        except BodyTooLarge:
            return too_large(self.app.service, self.app.max_body_bytes)
        except Exception as exc:
            handler = self.handlers.find(exc)
            if handler is None:
                raise
            response = await _call(handler, request, exc)
            exc.__traceback__ = None  # as Starlette: a reused exception must not grow its traceback
            return response
