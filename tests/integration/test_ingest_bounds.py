"""The ingest API refuses, with a 422 naming the field, what no consumer could store or compute with (times
out of the window, amounts past the ledger's range, numbers where a time or a boolean where a number is
meant), and accepts the largest amount, which loyalty can then decode."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.ingest.app import create_app
from services.ingest.config import IngestSettings
from shared.contracts import decode
from shared.contracts.bounds import MAX_AMOUNT
from shared.contracts.registry import COMMERCE_EVENTS, FEEDBACK_RECEIVED
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.support.kafka import read_exactly

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
KEY = {"X-API-Key": "dev-ingest-key"}


def feedback(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": f"t-{uuid.uuid4().hex}",
        "channel": "web",
        "customer_id": "C10086",
        "text": "包装破损",
        "csat": 3,
        "occurred_at": "2026-11-20T09:30:00+08:00",
    }
    return {**body, **overrides}


def purchase(**overrides: Any) -> dict[str, Any]:
    body = {
        "type": "purchase",
        "external_id": f"p-{uuid.uuid4().hex}",
        "order_id": "O-1",
        "customer_id": "C1",
        "amount": "1288.00",
        "currency": "CNY",
        "occurred_at": "2026-11-20T09:10:00+08:00",
        "items": [{"sku": "S", "quantity": 2, "unit_price": "644"}],
    }
    return {**body, **overrides}


@pytest.fixture
async def client(kafka_settings: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(IngestSettings(kafka=kafka_settings, rate_limit_per_s=1000))
    async with app.router.lifespan_context(app):
        await app.state.runtime.producer.wait_connected(30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
            yield http


async def refused_fields(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[str]:
    response = await client.post(path, json=body, headers=KEY)
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (feedback(occurred_at="0001-01-01T00:00:00+00:00"), "occurred_at"),  # as seen: it was a 202
        (feedback(occurred_at="1999-12-31T23:59:59Z"), "occurred_at"),
        (feedback(occurred_at=0), "occurred_at"),
        (feedback(occurred_at="1700000000"), "occurred_at"),
        (feedback(csat=True), "csat"),
    ],
    ids=lambda v: str(v)[:20] if isinstance(v, str) else "",
)
async def test_a_feedback_out_of_bounds_is_422_naming_the_field(client, body, field):
    assert await refused_fields(client, "/v1/feedback", body) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (purchase(amount="999999999999.99"), "purchase.amount"),  # as seen: it was a 202
        (purchase(amount="10000000000.00"), "purchase.amount"),
        (purchase(occurred_at="0001-01-01T00:00:00+00:00"), "purchase.occurred_at"),
        (purchase(items=[{"sku": "S", "quantity": True, "unit_price": "1"}]), "purchase.items[0].quantity"),
        (purchase(items=[{"sku": "S", "quantity": 1, "unit_price": "1e11"}]), "purchase.items[0].unit_price"),
        (
            {
                "type": "refund",
                "external_id": "r",
                "order_id": "O",
                "customer_id": "C",
                "amount": "999999999999.99",
            },
            "refund.amount",
        ),
        (
            {
                "type": "survey_completed",
                "external_id": "s",
                "customer_id": "C",
                "survey_id": "S",
                "occurred_at": 0,
            },
            "survey_completed.occurred_at",
        ),
    ],
    ids=lambda v: str(v)[:30] if isinstance(v, str) else "",
)
async def test_a_business_event_out_of_bounds_is_422_naming_the_field(client, body, field):
    assert await refused_fields(client, "/v1/events", body) == [field]


async def test_a_transcript_segment_time_is_a_number_not_a_boolean(client):
    call = {
        "call_id": uuid.uuid4().hex,
        "customer_id": "C5",
        "started_at": "2026-11-20T09:00:00+08:00",
        "segments": [{"speaker": "customer", "text": "车门生锈了", "start_s": False}],
    }
    assert await refused_fields(client, "/v1/adapters/call-transcript", call) == ["segments[0].start_s"]


async def test_a_batch_rejects_only_its_record_out_of_bounds(client, kafka_settings):
    good, bad = feedback(), feedback(occurred_at="0001-01-01T00:00:00+00:00")
    response = await client.post("/v1/feedback/batch", json={"records": [bad, good]}, headers=KEY)
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted"]
    assert [e["field"] for e in results[0]["errors"]] == ["occurred_at"]
    [record] = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(FEEDBACK_RECEIVED, kafka_settings), 1
    )
    assert json.loads(record.value)["payload"]["external_id"] == good["external_id"]


async def test_the_largest_amount_is_accepted_and_decodes_for_loyalty_and_a_cent_more_is_not(
    client, kafka_settings
):
    a_cent_more = purchase(amount=str(MAX_AMOUNT + Decimal("0.01")))
    assert await refused_fields(client, "/v1/events", a_cent_more) == ["purchase.amount"]
    response = await client.post("/v1/events", json=purchase(amount=str(MAX_AMOUNT)), headers=KEY)
    assert response.status_code == 202, response.text
    [record] = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(COMMERCE_EVENTS, kafka_settings), 1
    )
    assert decode(COMMERCE_EVENTS, record.value).payload.amount == MAX_AMOUNT  # type: ignore[attr-defined]
