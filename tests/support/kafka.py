"""Kafka as a test sees it: end offsets, a group's committed offsets, waiting until a group has caught up,
and reading a topic exactly (so that an extra, duplicated record fails the test instead of going unseen)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.waiting import eventually


def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of `topics`, from the metadata of a consumer started subscribed to them."""
    found = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise AssertionError(f"topic {topic} has no partitions (does it exist?)")
        found += [TopicPartition(topic, p) for p in sorted(numbers)]
    return found


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(_partitions(consumer, topics)))
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items()}


async def lagging(bootstrap: str, group: str, topics: Sequence[str]) -> dict[str, int]:
    """Each partition of `topics` holding records that `group` has not committed yet, with how many."""
    ends = await end_offsets(bootstrap, topics)
    committed = await committed_offsets(bootstrap, group)
    return {
        f"{tp.topic}/{tp.partition}": end - committed.get(tp, 0)
        for tp, end in ends.items()
        if end > committed.get(tp, 0)
    }


async def wait_caught_up(bootstrap: str, group: str, topics: Sequence[str], timeout_s: float = 30) -> None:
    """Returns once `group` has committed every record on `topics` (lag 0): its handlers' effects are
    durable then, since offsets are committed only after them."""
    last: dict[str, int] = {}

    async def caught_up() -> bool:
        nonlocal last
        last = await lagging(bootstrap, group, topics)
        return not last

    try:
        await eventually(caught_up, timeout_s, f"{group} at lag 0")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still to commit: {last}") from None


async def read_to_end(bootstrap: str, topic: str, at_least: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record on `topic` up to its end offsets, once at least `at_least` have arrived (fails when
    fewer arrive within `timeout_s`)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        partitions = _partitions(consumer, [topic])
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(timeout_s):
            while True:
                ends = await consumer.end_offsets(partitions)
                positions = {tp: await consumer.position(tp) for tp in ends}
                if sum(ends.values()) >= at_least and all(positions[tp] >= end for tp, end in ends.items()):
                    break
                for part in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(part)
    except TimeoutError:
        raise AssertionError(
            f"{topic}: {len(records)} records within {timeout_s}s, expected {at_least}"
        ) from None
    finally:
        await consumer.stop()
    return records


async def read_exactly(bootstrap: str, topic: str, expected: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record on `topic` up to its end offsets once `expected` have arrived; fails when fewer
    arrive in time or when there are more (a duplicate is an extra record, not one to stop before)."""
    records = await read_to_end(bootstrap, topic, expected, timeout_s)
    assert len(records) == expected, f"{topic}: {len(records)} records, expected exactly {expected}"
    return records
