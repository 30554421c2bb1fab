"""The waiting helpers other tests rely on can fail: an extra record fails `read_exactly`, and a group
that has not committed every record is reported lagging, partition by partition."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.kafka import lagging, read_exactly, wait_caught_up

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(kafka_settings) -> str:
    name = f"support-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(count):
            await producer.send_and_wait(topic, f"record {i}".encode(), partition=i % 2)
    finally:
        await producer.stop()


async def test_read_exactly_fails_on_a_record_more_than_expected(kafka_settings, topic):
    bootstrap = kafka_settings.bootstrap_servers
    await produce(bootstrap, topic, 2)
    assert len(await read_exactly(bootstrap, topic, 2)) == 2
    await produce(bootstrap, topic, 1)
    with pytest.raises(AssertionError, match="3 records, expected exactly 2"):
        await read_exactly(bootstrap, topic, 2)
    with pytest.raises(AssertionError, match="expected 4"):
        await read_exactly(bootstrap, topic, 4, timeout_s=2)


async def test_a_group_is_lagging_until_it_commits_every_record(kafka_settings, topic):
    bootstrap, group = kafka_settings.bootstrap_servers, f"support-{uuid.uuid4().hex[:8]}"
    await produce(bootstrap, topic, 3)
    assert await lagging(bootstrap, group, [topic]) == {f"{topic}/0": 2, f"{topic}/1": 1}
    with pytest.raises(AssertionError, match="still to commit"):
        await wait_caught_up(bootstrap, group, [topic], timeout_s=1)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 3:
            seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=500)).values())
        await consumer.commit()
    finally:
        await consumer.stop()
    await wait_caught_up(bootstrap, group, [topic], timeout_s=10)
    assert await lagging(bootstrap, group, [topic]) == {}
