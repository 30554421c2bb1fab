"""Fixtures for integration tests of the services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import text

from services.loyalty.app import create_app
from services.loyalty.config import LoyaltySettings
from shared.contracts.registry import LOYALTY_CHANGES
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.alerting_helpers import Receiver


@pytest.fixture
def loyalty_group() -> str:
    """The consumer group of the `loyalty` fixture's app: a test waits on its lag."""
    return f"loyalty-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def loyalty(
    kafka_settings: KafkaSettings, database, topics, loyalty_group: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A running loyalty app (consumer, outbox relay) on this test's topics; its outbox rows removed after."""
    app = create_app(LoyaltySettings(kafka=kafka_settings, consumer_group=loyalty_group))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://loyalty") as http,
    ):
        yield http
    async with database.connection() as conn:
        await conn.execute(
            text("DELETE FROM loyalty.outbox WHERE topic = :t"),
            {"t": spec_topic(LOYALTY_CHANGES, kafka_settings)},
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP endpoint that records what alerting sends it (webhooks, robots, SMS)."""
    r = Receiver().start()
    yield r
    r.stop()
