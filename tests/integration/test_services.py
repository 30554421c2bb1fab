"""Each service starts with its lifespan, answers health and readiness, exports metrics, and its
consumer records what it consumes, once, in its own schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from services.alerting.app import create_app as alerting_app
from services.alerting.config import AlertingSettings
from services.ingest.app import create_app as ingest_app
from services.ingest.config import IngestSettings
from services.loyalty.app import create_app as loyalty_app
from services.loyalty.config import LoyaltySettings
from services.sentiment.app import create_app as sentiment_app
from services.sentiment.config import SentimentSettings
from services.sentiment.models import processed_events as sentiment_processed
from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.settings import KafkaSettings, ServiceSettings
from tests.conftest import spec_topic
from tests.integration.helpers import eventually, feedback_received, to_bytes
from tests.support.kafka import wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]

APPS: dict[str, tuple[Callable[[Any], FastAPI], type[ServiceSettings]]] = {
    "ingest": (ingest_app, IngestSettings),
    "sentiment": (sentiment_app, SentimentSettings),
    "alerting": (alerting_app, AlertingSettings),
    "loyalty": (loyalty_app, LoyaltySettings),
}


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


@pytest.mark.parametrize("name", list(APPS))
async def test_service_is_healthy_ready_and_exports_metrics(name, kafka_settings):
    factory, settings_cls = APPS[name]
    settings = settings_cls(kafka=kafka_settings)
    if hasattr(settings, "consumer_group"):
        settings.consumer_group = f"{name}-{uuid.uuid4().hex[:8]}"
    async with running(factory(settings)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        await eventually(lambda: ready(client), 30, f"{name} ready")
        body = (await client.get("/readyz")).json()
        assert body["status"] == "ready", body
        assert body["checks"]["database"]
        assert body["checks"]["kafka"]
        metrics = await client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert (
            f'http_requests_total{{method="GET",route="/readyz",service="{name}",status="200"}}'
            in metrics.text
        )
        docs = await client.get("/openapi.json")
        assert docs.status_code == 200


async def test_operator_endpoint_needs_the_operator_key(kafka_settings):
    settings = SentimentSettings(kafka=kafka_settings, consumer_group=f"s-{uuid.uuid4().hex[:8]}")
    async with running(sentiment_app(settings)) as client:
        assert (await client.get("/v1/ops/consumers")).status_code == 401
        wrong = await client.get("/v1/ops/consumers", headers={"X-API-Key": "guess"})
        assert wrong.status_code == 401
        ok = await client.get("/v1/ops/consumers", headers={"X-API-Key": "dev-operator-key"})
        assert ok.status_code == 200
        assert ok.json()[0]["group_id"] == settings.consumer_group


async def test_sentiment_consumer_records_each_event_once_in_its_schema(
    kafka_settings: KafkaSettings, producer, database
):
    group = f"sentiment-{uuid.uuid4().hex[:8]}"
    settings = SentimentSettings(kafka=kafka_settings, consumer_group=group)
    first, second = feedback_received("C77"), feedback_received("C78")
    # Published twice: at-least-once delivery must not mean twice the effect.
    for _ in range(2):
        await producer.send_raw_many(
            spec_topic(FEEDBACK_RECEIVED, kafka_settings),
            [(b"C77", to_bytes(first), []), (b"C78", to_bytes(second), [])],
        )

    async def recorded() -> list[tuple[str, str]]:
        async with database.transaction() as session:
            rows = await session.execute(
                select(sentiment_processed.c.event_id, sentiment_processed.c.event_type).where(
                    sentiment_processed.c.consumer_group == group
                )
            )
            return sorted((str(r[0]), r[1]) for r in rows)

    seen: list[tuple[str, str]] = []
    try:
        async with running(sentiment_app(settings)):
            topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
            await wait_caught_up(kafka_settings.bootstrap_servers, group, [topic])
            seen = await recorded()
        assert seen == sorted(
            [(first["event_id"], "feedback.received"), (second["event_id"], "feedback.received")]
        )
    finally:
        async with database.transaction() as session:
            await session.execute(
                delete(sentiment_processed).where(sentiment_processed.c.consumer_group == group)
            )
