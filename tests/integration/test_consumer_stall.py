"""A partition that stops moving is visible: /readyz answers 503 and kafka_consumer_stalled is 1 until it
moves again (a service built by shared.service on the real broker and database)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.kafka.consumer import ConsumedEvent
from shared.service import ConsumerSpec, build_app
from shared.settings import ServiceSettings
from tests.conftest import spec_topic
from tests.integration.helpers import feedback_received, to_bytes

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics", "database")]


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 30.0) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not await check():
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what} not reached within {timeout_s}s") from None


async def test_a_partition_held_up_by_a_failing_handler_turns_readiness_503_until_it_moves(
    kafka_settings, producer
):
    settings = ServiceSettings(kafka=kafka_settings.model_copy(update={"stall_after_s": 0.5}))
    group = f"g-{uuid.uuid4().hex[:8]}"
    database_down = True
    partitions: set[int] = set()
    applied: list[str] = []

    def build(runtime: Any) -> Callable[[list[ConsumedEvent]], Awaitable[None]]:
        async def handle(events: list[ConsumedEvent]) -> None:
            partitions.update(e.partition for e in events)
            if database_down:
                raise ConnectionRefusedError(111, "Connection refused")
            applied.extend(str(e.envelope.event_id) for e in events)

        return handle

    app = build_app(
        service="tests",
        settings=settings,
        title="tests",
        description="a consumer whose database is away",
        consumers=[ConsumerSpec(group, [FEEDBACK_RECEIVED], build)],
    )
    doc = feedback_received("C-stalled")
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    await producer.send_raw_many(topic, [(b"C-stalled", to_bytes(doc), [])])

    def stalled_gauge() -> float | None:
        if not partitions:
            return None
        labels = {"service": "tests", "group": group, "topic": topic, "partition": str(min(partitions))}
        return REGISTRY.get_sample_value("kafka_consumer_stalled", labels)

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tests") as http,
    ):

        async def stalled_and_unready() -> bool:
            return stalled_gauge() == 1 and (await http.get("/readyz")).status_code == 503

        async def moving_and_ready() -> bool:
            return stalled_gauge() == 0 and (await http.get("/readyz")).status_code == 200

        await until(stalled_and_unready, "stalled: gauge set, not ready")
        body = (await http.get("/readyz")).json()
        assert body["checks"] == {"database": True, "kafka": True, "consumers": False}
        assert body["messages"] == {"consumers": f"{group} stalled on {topic}[{min(partitions)}]"}
        assert partitions == {min(partitions)}, "one key, one partition"

        database_down = False
        await until(moving_and_ready, "gauge cleared and ready again once the handler succeeds")
        assert applied == [doc["event_id"]]
