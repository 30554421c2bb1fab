"""The fast lane answers a direct route exactly as FastAPI's middleware stack would: same status, body
and headers for success, 401, 400, 422, 413 (declared and streamed) and 500, and the same metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import REGISTRY
from pydantic import BaseModel, TypeAdapter

from services.ingest.direct_routes import direct_route, is_json, parse_raw
from services.ingest.fastlane import ServiceApp
from shared.service import build_app
from shared.settings import ServiceSettings

SERVICE = "lanetest"


class Thing(BaseModel):
    name: str
    size: int


THING = TypeAdapter(Thing)


async def thing_handler(request: Request) -> Response:
    if request.headers.get("x-key") != "k":
        raise HTTPException(401, "missing or invalid key", headers={"WWW-Authenticate": "ApiKey"})
    thing = parse_raw(await request.body(), is_json(request.headers.get("content-type")), THING)
    if thing.name == "boom":
        raise RuntimeError("boom")
    return Response(thing.model_dump_json(), status_code=202, media_type="application/json")


def lane_app() -> ServiceApp:
    router = APIRouter(prefix="/v1")

    router.add_api_route(
        "/thing",
        thing_handler,
        methods=["POST"],
        response_model=None,
        route_class_override=direct_route(Thing),
    )
    app = build_app(
        service=SERVICE,
        settings=ServiceSettings(),
        title="t",
        description="t",
        routers=[router],
        max_body_bytes=2048,
        app_class=partial(ServiceApp, service=SERVICE, max_body_bytes=2048),
    )
    assert isinstance(app, ServiceApp)
    return app


@pytest.fixture
async def clients() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(through the lane, through the stack): two apps alike but for the lane."""
    lane, stack = lane_app(), lane_app()
    assert ("POST", "/v1/thing") in lane._open_lanes()
    stack._lanes = {}  # closed: every request takes the middleware stack
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url="http://t") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=stack), base_url="http://t") as b,
    ):
        yield a, b


def requests_total(status: int) -> float:
    labels = {"service": SERVICE, "method": "POST", "route": "/v1/thing", "status": str(status)}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def requests_total_any_route(status: int) -> float:
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "http_requests"
        for sample in metric.samples
        if sample.name == "http_requests_total"
        and sample.labels.get("service") == SERVICE
        and sample.labels.get("status") == str(status)
    )


def chunks(body: bytes, size: int = 512) -> Any:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), size):
            yield body[start : start + size]

    return stream()


CASES: dict[str, dict[str, Any]] = {
    "accepted": {"json": {"name": "a", "size": 1}, "headers": {"x-key": "k"}},
    "unauthorized": {"json": {"name": "a", "size": 1}},
    "malformed": {"content": b'{"name": ', "headers": {"x-key": "k", "content-type": "application/json"}},
    "invalid": {"json": {"name": "a", "size": "big", "extra": 1}, "headers": {"x-key": "k"}},
    "declared_too_large": {"json": {"name": "x" * 3000, "size": 1}, "headers": {"x-key": "k"}},
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_lane_answers_as_the_stack_does(clients, case):
    lane, stack = clients
    expected_status = {"accepted": 202, "unauthorized": 401, "malformed": 400, "invalid": 422}
    status = expected_status.get(case, 413)
    before = requests_total(status)
    via_lane = await lane.post("/v1/thing", **CASES[case])
    assert requests_total(status) == before + 1  # counted under the route template
    via_stack = await stack.post("/v1/thing", **CASES[case])
    assert via_lane.status_code == via_stack.status_code == status
    assert via_lane.json() == via_stack.json()
    for header in ("content-type", "www-authenticate"):
        assert via_lane.headers.get(header) == via_stack.headers.get(header)


async def test_a_streamed_body_over_the_limit_is_413_in_the_lane_too(clients):
    lane, stack = clients
    body = b'{"name": "' + b"x" * 4000 + b'", "size": 1}'
    headers = {"x-key": "k", "content-type": "application/json"}
    via_lane = await lane.post("/v1/thing", content=chunks(body), headers=headers)
    via_stack = await stack.post("/v1/thing", content=chunks(body), headers=headers)
    assert "content-length" not in via_lane.request.headers  # chunked: only counting can catch it
    assert via_lane.status_code == via_stack.status_code == 413
    assert via_lane.json() == via_stack.json()


async def test_the_stack_counts_a_streamed_413_as_413_not_500(clients):
    """RequestMetrics is the outermost middleware, so it sees the status BodyLimit answers."""
    _, stack = clients
    body = b'{"name": "' + b"x" * 4000 + b'", "size": 1}'
    before = requests_total_any_route(413), requests_total_any_route(500)
    answer = await stack.post("/v1/thing", content=chunks(body), headers={"x-key": "k"})
    assert answer.status_code == 413
    assert (requests_total_any_route(413), requests_total_any_route(500)) == (before[0] + 1, before[1])


def test_ingest_s_hot_routes_take_the_lane():
    from services.ingest.app import create_app

    lanes = create_app()._open_lanes()  # type: ignore[attr-defined]
    assert {("POST", "/v1/feedback"), ("POST", "/v1/feedback/batch")} <= set(lanes)


async def test_an_unhandled_error_is_a_500_then_raised_for_the_server_to_log():
    for closed in (False, True):
        app = lane_app()
        if closed:
            app._lanes = {}
        before = requests_total(500)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            answer = await http.post("/v1/thing", json={"name": "boom", "size": 1}, headers={"x-key": "k"})
        assert (answer.status_code, answer.text) == (500, "Internal Server Error")
        assert requests_total(500) == before + 1
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            with pytest.raises(RuntimeError, match="boom"):
                await http.post("/v1/thing", json={"name": "boom", "size": 1}, headers={"x-key": "k"})


def test_the_lane_stays_closed_when_the_app_has_middleware_it_does_not_replicate():
    app = lane_app()
    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    assert app._open_lanes() == {}
    assert ("POST", "/v1/thing") in lane_app()._open_lanes()


async def test_other_methods_and_paths_still_take_the_router(clients):
    lane, _ = clients
    assert (await lane.get("/v1/thing")).status_code == 405
    assert (await lane.get("/healthz")).json() == {"status": "ok"}
    assert "/v1/thing" in (await lane.get("/openapi.json")).json()["paths"]


def test_a_direct_route_is_documented_as_a_declared_body_parameter_would_be():
    """The endpoint that runs takes the Request; its operation still names the body model (whose schema
    is in the document), the key and the 422."""
    document = lane_app().openapi()
    operation = document["paths"]["/v1/thing"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Thing"
    }
    assert operation["security"] == [{"APIKeyHeader": []}]
    assert {"400", "413", "422", "401"} <= set(operation["responses"])
    assert document["components"]["schemas"]["Thing"]["required"] == ["name", "size"]
