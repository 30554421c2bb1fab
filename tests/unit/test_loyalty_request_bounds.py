"""Crafted parameters to the loyalty API are a 422 naming the parameter, never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.loyalty.app import create_app
from services.loyalty.config import LoyaltySettings
from tests.support.apps import Untouchable


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The app without its lifespan, whose runtime fails the test if a request reaches it: every request
    here must be answered before any database access."""
    app = create_app(LoyaltySettings(schedule_interval_s=0))
    app.state.runtime = Untouchable()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"X-API-Key": "dev-operator-key"}
    async with httpx.AsyncClient(transport=transport, base_url="http://loyalty", headers=headers) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("GET", "/v1/members/C-1/ledger", {"cursor": str(2**63)}, "query.cursor"),  # past bigint
        ("GET", "/v1/members/C-1/ledger", {"cursor": "-9223372036854775809"}, "query.cursor"),
        ("GET", "/v1/members/C-1/ledger", {"cursor": "0"}, "query.cursor"),
        ("GET", "/v1/members/" + "x" * 201, {}, "path.customer_id"),  # longer than the column
        ("GET", "/v1/members/a%00b/ledger", {}, "path.customer_id"),
        ("POST", "/v1/members/C-1/redemptions/" + "r" * 201 + "/reversal", {}, "path.reference"),
        ("POST", "/v1/ops/schedule", {"at": "9999-12-31T23:59:59-14:00"}, "query.at"),  # past year 9999
        ("POST", "/v1/ops/schedule", {"at": "0001-01-01T00:00:00+14:00"}, "query.at"),
    ],
)
async def test_a_parameter_out_of_range_is_a_422_naming_it(http, method, path, params, field):
    answer = await http.request(method, path, params=params)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["detail"]] == [field]


async def test_a_valid_request_before_the_service_has_started_is_a_503_with_retry_after():
    app = create_app(LoyaltySettings(schedule_interval_s=0))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://loyalty") as client:
        answer = await client.get("/v1/members/C-1", headers={"X-API-Key": "dev-operator-key"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
