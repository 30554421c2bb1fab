"""The batching producer on the real broker: concurrent callers all get their batches acknowledged."""

from __future__ import annotations

import asyncio

import pytest

from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.kafka import EventProducer
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.helpers import feedback_received, to_bytes
from tests.support.kafka import read_exactly

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


async def test_concurrent_batch_sends_are_all_acknowledged(
    kafka_settings: KafkaSettings, producer: EventProducer
) -> None:
    """Eight callers, five 1,000-record sends each, over every partition at once. aiokafka's own
    `send_batch` let callers overtaken at a partition time out within half a second (4 callers were
    enough here); every send must be acknowledged and every record land once."""
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    callers, sends, size = 8, 5, 1000
    chunks: list[list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = [
        [(f"C{i % 997}".encode(), to_bytes(feedback_received(f"C{i % 997}")), []) for i in range(size)]
        for _ in range(callers * sends)
    ]
    queue: asyncio.Queue[list] = asyncio.Queue()  # type: ignore[type-arg]
    for chunk in chunks:
        queue.put_nowait(chunk)

    async def caller() -> int:
        sent = 0
        while not queue.empty():
            await producer.send_raw_many(topic, queue.get_nowait(), as_batches=True)
            sent += 1
        return sent

    results = await asyncio.gather(*(caller() for _ in range(callers)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures
    assert sum(results) == callers * sends  # type: ignore[arg-type]
    landed = await read_exactly(kafka_settings.bootstrap_servers, topic, callers * sends * size, timeout_s=60)
    assert len(landed) == callers * sends * size
    assert len({r.value for r in landed}) == callers * sends * size  # each record once (ids differ)
