"""With the broker down a service stays up (/healthz 200, /readyz 503), refuses to claim a publish,
and reconnects with backoff when the broker returns. Uses a broker of its own so others are unaffected."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from scripts.infra import KafkaNode, free_port, port_open
from services.sentiment.app import create_app
from services.sentiment.config import SentimentSettings
from services.sentiment.models import processed_events
from shared.contracts.registry import TOPICS
from shared.kafka.admin import ensure_topics
from shared.kafka.producer import BrokerUnavailable
from shared.settings import KafkaSettings
from tests.integration.helpers import eventually, feedback_received, to_bytes

pytestmark = pytest.mark.integration


async def wait_status(client: httpx.AsyncClient, path: str, status: int, timeout_s: float) -> None:
    async def answers() -> bool:
        return (await client.get(path)).status_code == status

    await eventually(answers, timeout_s, f"{path} answering {status}")


async def test_service_survives_broker_outage_and_reconnects(tmp_path: Path, database):
    node = KafkaNode(home=tmp_path / "kafka", broker_port=free_port(), controller_port=free_port())
    if port_open(node.broker_port):
        pytest.fail(f"port {node.broker_port} is busy")
    kafka = KafkaSettings(bootstrap_servers=node.bootstrap, topic_suffix="", publish_timeout_s=3)
    group = f"sentiment-{uuid.uuid4().hex[:8]}"
    app = create_app(SentimentSettings(kafka=kafka, consumer_group=group))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            # Starting with no broker at all: alive, not ready.
            assert (await client.get("/healthz")).status_code == 200
            await wait_status(client, "/readyz", 503, 5)

            await asyncio.to_thread(node.start)
            await ensure_topics(kafka, list(TOPICS.values()))
            await wait_status(client, "/readyz", 200, 60)

            await asyncio.to_thread(node.stop)
            await wait_status(client, "/readyz", 503, 20)
            assert (await client.get("/healthz")).status_code == 200
            producer = app.state.runtime.producer
            with pytest.raises(BrokerUnavailable):
                await producer.send_raw_many("feedback.received.v1", [(b"k", b"{}", [])])

            await asyncio.to_thread(node.start)
            await wait_status(client, "/readyz", 200, 60)
            doc = feedback_received("C-after-outage")
            await producer.send_raw_many("feedback.received.v1", [(b"C", to_bytes(doc), [])])
            for _ in range(300):
                async with database.transaction() as session:
                    found = await session.scalar(
                        select(processed_events.c.event_id).where(processed_events.c.consumer_group == group)
                    )
                if found is not None:
                    break
                await asyncio.sleep(0.2)
            assert str(found) == doc["event_id"], "the consumer reconnected and consumed"
    finally:
        await asyncio.to_thread(node.stop)
        async with database.transaction() as session:
            await session.execute(delete(processed_events).where(processed_events.c.consumer_group == group))
